/**
 * Adversarial files that cost far more than their size (issue 18, classes 2, 6, 7 and 11's file
 * messages): decompression bombs in PNG and gzip IDX, tiny model files declaring huge layers,
 * oversized files. Every hostile input is built here, in a temp dir, and each test checks that a
 * limit refuses it early (within a second or so beyond nabla's start-up, without inflating or allocating the bomb).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { nabla, assertUserError } from '../cliRunner.ts';
import { writeMnistFixture } from '../cliFixtures.ts';
import { PNG_SIGNATURE, ihdr, pngChunk as chunk } from '../pngChunks.ts';
import {
  Dense, JsBackend, NablaError, Sequential, TensorBuffer, decodeModel, decodeSafetensors, encodeModel, encodeSafetensors,
  rgbaToInk, Tensor,
} from 'nabla';

const dir = mkdtempSync(join(tmpdir(), 'nabla-bombs-'));

// ---- a tiny PNG writer: any header, any IDAT bytes ---------------------------------------------

/** A PNG with the given header fields and IDAT payload (already deflated). */
function png(width: number, height: number, idat: Uint8Array, o: { interlace?: number; colorType?: number; depth?: number } = {}): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE, chunk('IHDR', ihdr(width, height, o.depth ?? 8, o.colorType ?? 0, o.interlace ?? 0)),
    chunk('IDAT', idat), chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Filtered grey scanlines (filter byte 0) of a w×h image with a white bar: an honest digit. */
function greyRows(w: number, h: number): Buffer {
  const rows = Buffer.alloc(h * (w + 1));
  for (let y = Math.floor(h / 4); y < Math.floor((3 * h) / 4); y++) {
    for (let x = Math.floor(w / 2) - 1; x <= Math.floor(w / 2) + 1; x++) rows[y * (w + 1) + 1 + x] = 255;
  }
  return rows;
}

let modelPath: string | undefined;
/** A small (untrained) 784 → 10 model file for predict. */
function model(): string {
  modelPath ??= write('m.safetensors', encodeModel(new Sequential([new Dense(10)], { inputShape: [784], seed: 1 })));
  return modelPath;
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/**
 * The wall time of a command that only starts nabla and reads the model (measured once): how slow
 * this machine is right now. On a loaded machine a refusal takes longer too, while a bomb that is
 * really inflated takes tens of seconds and gigabytes, so the limit grows with it.
 */
let startup: number | undefined;
function startupMs(): number {
  if (startup === undefined) {
    const t0 = Date.now();
    assert.equal(nabla('summary', model()).code, 0);
    startup = Date.now() - t0;
  }
  return startup;
}

/** Run a command, and check it took less than `ms` wall time beyond three plain start-ups. */
function timed<T>(ms: number, run: () => T): T {
  const limit = ms + 3 * startupMs();
  const t0 = Date.now();
  const r = run();
  const took = Date.now() - t0;
  assert.ok(took < limit, `took ${took} ms (limit ${limit} ms: ${ms} ms + 3 start-ups of ${startupMs()} ms)`);
  return r;
}

// ---- class 2: decompression bombs ---------------------------------------------------------------

test('[class 2] a 100-byte PNG declaring 20000×20000 is refused from its header, before inflating', () => {
  // An honest stream for a 20000-pixel-wide first row only: the header alone is the bomb.
  const p = write('huge-header.png', png(20000, 20000, deflateSync(Buffer.alloc(10))));
  const r = timed(5000, () => nabla('predict', model(), p));
  assertUserError(r, p, '20000×20000', 'at most 4194304 pixels');
});

test('[class 2] 8000×8000 declared, data deflated from zeros: refused by the pixel budget', () => {
  const p = write('8k.png', png(8000, 8000, deflateSync(Buffer.alloc(8001 * 100))));
  assertUserError(timed(5000, () => nabla('predict', model(), p)), p, '8000×8000', 'pixels');
});

test('[class 2] an interlaced PNG within the budget whose data inflates far past its size is refused', () => {
  // 64×64 interlaced grey needs ~4.6 kB of scanlines; this stream inflates to 64 MiB.
  const bomb = deflateSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
  const p = write('interlaced-bomb.png', png(64, 64, bomb, { interlace: 1 }));
  assertUserError(timed(5000, () => nabla('predict', model(), p)), p, 'inflates to more than');
});

test('[class 2] a PNG whose image data stops short (complete zlib stream, half the rows) is refused', () => {
  const rows = greyRows(40, 40);
  const p = write('half-rows.png', png(40, 40, deflateSync(rows.subarray(0, rows.length / 2))));
  assertUserError(nabla('predict', model(), p), p, 'ends early', 'truncated');
});

test('[class 2] a PNG whose zlib stream is cut (chunks and CRCs intact) is refused', () => {
  const z = deflateSync(greyRows(40, 40));
  const p = write('cut-stream.png', png(40, 40, z.subarray(0, z.length - 10)));
  assertUserError(nabla('predict', model(), p), p, 'ends early');
});

test('[class 11] a PNG of width 0 is refused naming the file (not "rgbaToInk" or a filter error)', () => {
  const p = write('zero-width.png', png(0, 40, deflateSync(Buffer.alloc(40))));
  const r = nabla('predict', model(), p);
  assertUserError(r, p, '0×40');
  assert.doesNotMatch(r.stderr, /rgbaToInk|filter type/);
});

test('[class 2] within the pixel budget, 16-bit RGBA past the 16 MiB data budget is refused from the header', () => {
  // 2048×2048 RGBA at 16 bits: 4.2 Mpixels (allowed) but 33.6 MB of scanlines (not).
  const p = write('rgba16.png', png(2048, 2048, deflateSync(Buffer.alloc(1000)), { colorType: 6, depth: 16 }));
  assertUserError(timed(5000, () => nabla('predict', model(), p)), p, 'at most 16777216 bytes once decompressed', '2048×2048 RGBA');
});

test('[class 2] an honest PNG still predicts (interlaced and not)', () => {
  const a = write('ok.png', png(40, 40, deflateSync(greyRows(40, 40))));
  // Adam7: 7 passes of zero-filtered blank rows, each pass its own size.
  let passes = 0;
  const sizes: number[] = [];
  for (const [x0, dx, y0, dy] of [[0, 8, 0, 8], [4, 8, 0, 8], [0, 4, 4, 8], [2, 4, 0, 4], [0, 2, 2, 4], [1, 2, 0, 2], [0, 1, 1, 2]]) {
    const w = Math.ceil(Math.max(0, 40 - x0) / dx);
    const h = Math.ceil(Math.max(0, 40 - y0) / dy);
    if (w > 0 && h > 0) sizes.push(h * (w + 1));
    passes++;
  }
  assert.equal(passes, 7);
  const b = write('ok-interlaced.png', png(40, 40, deflateSync(Buffer.alloc(sizes.reduce((s, n) => s + n, 0))), { interlace: 1 }));
  const r = nabla('predict', model(), a, b, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).file), [a, b]);
});

/** A gzipped fixture folder whose t10k images file is replaced by `images` (raw IDX bytes, gzipped here). */
function dataWithTestImages(images: Uint8Array, gz = true): string {
  const data = writeMnistFixture({ train: 30, test: 30, gzip: gz });
  writeFileSync(join(data, `t10k-images-idx3-ubyte${gz ? '.gz' : ''}`), gz ? gzipSync(images, { level: 9 }) : images);
  return data;
}

/** An IDX header for uint8 data of `shape`, with no data after it. */
function idxHeader(shape: number[]): Uint8Array {
  const b = Buffer.alloc(4 + 4 * shape.length);
  b[2] = 0x08;
  b[3] = shape.length;
  shape.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
}

test('[class 2] a .gz IDX file whose header declares 30 images but which inflates to 64 MiB stops inflating at the declared size', () => {
  const header = idxHeader([30, 28, 28]);
  const bomb = Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]);
  const data = dataWithTestImages(bomb);
  const r = timed(8000, () => nabla('eval', model(), '--data', data));
  assertUserError(r, 't10k-images-idx3-ubyte.gz', 'inflation was stopped');
});

test('[class 2] a .gz IDX file whose header declares 70000×100×100 (700 MB) is refused from the header, before inflating', () => {
  const data = dataWithTestImages(Buffer.concat([idxHeader([70000, 100, 100]), Buffer.alloc(1000)]));
  const r = timed(8000, () => nabla('eval', model(), '--data', data));
  assertUserError(r, 't10k-images-idx3-ubyte.gz', '70000×100×100', 'at most 268435456 bytes');
});

test('[class 2] a plain IDX file over the IDX limit (sparse, 300 MiB) is refused by its size, before reading', () => {
  const data = writeMnistFixture({ train: 30, test: 30 });
  const images = join(data, 't10k-images-idx3-ubyte');
  truncateSync(images, 300 * 2 ** 20);
  const r = timed(8000, () => nabla('eval', model(), '--data', data));
  assertUserError(r, images, 'at most');
});

test('[class 2] an honest gzipped data set still evaluates', () => {
  const r = nabla('eval', model(), '--data', writeMnistFixture({ train: 30, test: 30, gzip: true }), '--json');
  assert.equal(r.code, 0, r.stderr);
});

// ---- class 6: files too large to read -----------------------------------------------------------

test('[class 6] a 3 GiB model file (sparse) is refused by its size with one line, not ERR_FS_FILE_TOO_LARGE', () => {
  const p = join(dir, 'three-gib.safetensors');
  writeFileSync(p, '');
  truncateSync(p, 3 * 2 ** 30);
  const r = timed(5000, () => nabla('summary', p));
  assertUserError(r, p, 'at most 1073741824 bytes', '3 GiB');
  assert.doesNotMatch(r.stderr, /ERR_FS_FILE_TOO_LARGE/);
});

/** A model file whose architecture is `layers` on a 784 input, holding `tensors` (tiny by default). */
function modelFile(name: string, layers: object[], tensors: Array<[string, Tensor]> = [['0.bias', new Tensor([1])]]): string {
  return write(name, encodeSafetensors(tensors, {
    format: 'pt', nabla: '1', architecture: JSON.stringify({ inputShape: [784], layers }), training: '{}',
  }));
}

test('[class 6] a model file declaring Dense(1e9): one line naming the layer, on js and wasm alike', () => {
  const p = modelFile('giga.safetensors', [{ type: 'Dense', units: 1e9, bias: true, init: 'he' }]);
  for (const backend of ['js', 'wasm']) {
    const r = timed(5000, () => nabla('eval', p, '--backend', backend, '--data', writeMnistFixture({ train: 30, test: 30 })));
    assertUserError(r, p, 'layer 0 (Dense)', 'at most 268435456 values');
    assert.doesNotMatch(r.stderr, /Invalid typed array length/);
  }
});

test('[class 6] import --arch and --layers with a 1e9-unit layer: one line naming the layer', () => {
  const w = write('w.safetensors', encodeSafetensors([['0.weight', new Tensor([10, 784])], ['0.bias', new Tensor([10])]]));
  const out = join(dir, 'imported.safetensors');
  assertUserError(timed(5000, () => nabla('import', w, '--arch', '784-1000000000-10 relu', '--out', out)), 'layer 0 (Dense)', 'at most 268435456');
  assertUserError(timed(5000, () => nabla('import', w, '--layers', 'dense:1000000000,relu,dense:10', '--out', out)), 'layer 0 (Dense)', 'at most');
});

test('[class 6] train --backend js with a 1e9-unit hidden layer: one line naming the layer', () => {
  const data = writeMnistFixture({ train: 30, test: 30 });
  const r = timed(8000, () => nabla('train', '--data', data, '--hidden', '1000000000', '--backend', 'js', '--epochs', '1', '--out', join(dir, 't.safetensors')));
  assertUserError(r, 'layer 0 (Dense)', 'at most 268435456');
});

test('[class 6] library: a parameter or a layer output over MAX_TENSOR_VALUES is a NablaError before allocation', () => {
  assert.throws(() => new Sequential([new Dense(1e9)], { inputShape: [784], backend: new JsBackend() }),
    (e: unknown) => e instanceof NablaError && e.where === 'layer 0 (Dense)' && /1000000000, 784/.test(e.found));
  assert.throws(() => new TensorBuffer().get(new JsBackend(), 1e6, [1000]),
    (e: unknown) => e instanceof NablaError && /batch size/.test(e.hint ?? ''));
});

// ---- class 7: tiny files that allocate a lot ----------------------------------------------------

test('[class 7] a tiny model file declaring Dense(100000) is refused before the layer is allocated', () => {
  const p = modelFile('tiny-huge.safetensors', [{ type: 'Dense', units: 100000, bias: true, init: 'he' }]);
  const r = timed(3000, () => nabla('summary', p));
  assertUserError(r, p, 'layer 0 (Dense)', 'the 1 values the file');
});

test('[class 7] library: decodeModel of a tiny file declaring 78M parameters allocates nothing big', () => {
  const bytes = encodeSafetensors([['0.bias', new Tensor([1])]], {
    architecture: JSON.stringify({ inputShape: [784], layers: [{ type: 'Dense', units: 100000 }] }),
  });
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => decodeModel(bytes, 'model file "t"'),
    (e: unknown) => e instanceof NablaError && e.where === 'model file "t", layer 0 (Dense)');
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew < 64 * 2 ** 20, `array buffers grew by ${grew} bytes`);
  // An honest file of the same architecture's size class still loads.
  const ok = encodeModel(new Sequential([new Dense(10)], { inputShape: [784] }));
  assert.equal(decodeModel(ok).model.paramCount, 7850);
});

// ---- class 11: messages from hostile files -------------------------------------------------------

test('[class 11] safetensors dtype "toString" (a prototype key) is an unknown dtype, not "NaN bytes"', () => {
  const raw = (dtype: string) => {
    const json = Buffer.from(JSON.stringify({ '0.bias': { dtype, shape: [1], data_offsets: [0, 4] } }));
    const length = Buffer.alloc(8);
    length.writeUInt32LE(json.length, 0);
    return Buffer.concat([length, json, Buffer.alloc(4)]);
  };
  for (const dtype of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    assert.throws(() => decodeSafetensors(raw(dtype), 'f'), (e: unknown) => {
      assert.ok(e instanceof NablaError);
      assert.doesNotMatch(e.message, /NaN/);
      assert.ok(e.message.includes(`dtype "${dtype}"`), e.message);
      return true;
    });
  }
  const p = write('tostring.safetensors', raw('toString'));
  assertUserError(nabla('summary', p), p, 'dtype "toString"');
});

test('[class 11] a model file with 50,000 extra tensors gives a short message: the first few names and "and N more"', () => {
  const m = new Sequential([new Dense(10)], { inputShape: [784] });
  const extra: Array<[string, Tensor]> = Array.from({ length: 50000 }, (_, i) => [`extra.${i}`, new Tensor([0])]);
  const p = write('extra.safetensors', encodeSafetensors([...m.stateDict(), ...extra], {
    format: 'pt', nabla: '1', architecture: JSON.stringify(m.config()), training: '{}',
  }));
  const r = nabla('summary', p);
  assertUserError(r, p, 'and 49995 more');
  assert.ok(r.stderr.length < 1000, `stderr is ${r.stderr.length} characters`);
});

test('[class 11] a 100,000-character tensor name or shape is cut in the message', () => {
  const name = 'n'.repeat(100000);
  const json = Buffer.from(JSON.stringify({ [name]: { dtype: 'F32', shape: Array(50000).fill(-1), data_offsets: [0, 4] } }));
  const length = Buffer.alloc(8);
  length.writeUInt32LE(json.length, 0);
  assert.throws(() => decodeSafetensors(Buffer.concat([length, json, Buffer.alloc(4)]), 'f'),
    (e: unknown) => e instanceof NablaError && e.message.length < 400 && e.message.includes('...'));
});

test('[class 11] library: rgbaToInk and toMnistInput name the picture they were given', () => {
  assert.throws(() => rgbaToInk(new Uint8Array(3), 1, 1, 'image file "x.png"'),
    (e: unknown) => e instanceof NablaError && e.where === 'image file "x.png"');
});
