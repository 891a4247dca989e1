// The loaders of issue 14 agree byte for byte: the first 200 MNIST test digits written as IDX,
// a Kaggle-layout CSV, a PNG folder and .npy files read back as the same pixels and labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { encodeIdx, encodeNpy } from 'nabla';
import { loadCsv, loadImageFolder, loadMnist, loadNpyDataset, openCsvChunks } from 'nabla/node';

const N = 200;

test('IDX, CSV (Kaggle layout), PNG folder and .npy loaders give identical pixels and labels', async () => {
  const mnist = loadMnist('test');
  const pixels = new Uint8Array(N * 784);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(mnist.x[i] * 255);
  const labels = mnist.labels.slice(0, N);
  const expectedX = mnist.x.slice(0, N * 784);
  const dir = mkdtempSync(join(tmpdir(), 'nabla-agree-'));

  // IDX
  const idxDir = join(dir, 'idx');
  mkdirSync(idxDir);
  writeFileSync(join(idxDir, 't10k-images-idx3-ubyte'), encodeIdx({ dtype: 'uint8', shape: [N, 28, 28], data: pixels }));
  writeFileSync(join(idxDir, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [N], data: labels }));
  const idx = loadMnist('test', idxDir);

  // CSV, Kaggle's train.csv layout
  const lines = [['label', ...Array.from({ length: 784 }, (_, j) => `pixel${j}`)].join(',')];
  for (let i = 0; i < N; i++) lines.push([labels[i], ...pixels.subarray(i * 784, (i + 1) * 784)].join(','));
  writeFileSync(join(dir, 'train.csv'), lines.join('\n') + '\n');
  const csv = loadCsv(join(dir, 'train.csv'));

  // .npy
  writeFileSync(join(dir, 'x.npy'), encodeNpy({ dtype: 'uint8', shape: [N, 28, 28], data: pixels }));
  writeFileSync(join(dir, 'y.npy'), encodeNpy({ dtype: 'int64', shape: [N], data: Float64Array.from(labels) }));
  const npy = loadNpyDataset(join(dir, 'x.npy'), join(dir, 'y.npy'));

  // PNG folder: <label>/<index>.png, grey 8-bit PNGs
  for (let i = 0; i < N; i++) {
    const img = new PNG({ width: 28, height: 28, colorType: 0, inputColorType: 0, inputHasAlpha: false } as ConstructorParameters<typeof PNG>[0]);
    const folder = join(dir, 'png', String(labels[i]));
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${String(i).padStart(4, '0')}.png`), PNG.sync.write(Object.assign(img, { data: Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)) }), { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
  }
  const png = await loadImageFolder(join(dir, 'png'));

  for (const [name, ds] of [['IDX', idx], ['CSV', csv], ['npy', npy]] as const) {
    assert.equal(ds.count, N, name);
    assert.deepEqual(ds.inputShape, [1, 28, 28], name);
    assert.ok(Buffer.from(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength).equals(Buffer.from(expectedX.buffer)), `${name} pixels`);
    assert.deepEqual([...ds.labels], [...labels], `${name} labels`);
    assert.equal(ds.classes, 10, name);
  }
  // The folder holds the digits class by class (0/, 1/, ...), each in index order.
  const order = [...Array(N).keys()].sort((a, b) => labels[a] - labels[b] || a - b);
  assert.deepEqual(png.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual(png.inputShape, [1, 28, 28]);
  assert.deepEqual([...png.labels], order.map((i) => labels[i]));
  const reordered = new Float32Array(N * 784);
  order.forEach((i, k) => reordered.set(expectedX.subarray(i * 784, (i + 1) * 784), k * 784));
  assert.ok(Buffer.from(png.x.buffer, png.x.byteOffset, png.x.byteLength).equals(Buffer.from(reordered.buffer)), 'PNG pixels');

  // The chunked CSV reader gives the same rows too (file order when not shuffling).
  const chunks = openCsvChunks(join(dir, 'train.csv'), { chunkRows: 64, shuffle: false });
  const got = new Float32Array(N * 784);
  let at = 0;
  for (const b of chunks.epoch(50, undefined as never)) { got.set(b.x, at * 784); at += b.size; }
  chunks.close();
  assert.ok(Buffer.from(got.buffer).equals(Buffer.from(expectedX.buffer)), 'chunked CSV pixels');
});
