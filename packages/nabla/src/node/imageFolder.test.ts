import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadImageFile, loadImageFolder, resizePlane as resize } from './imageFolder.ts';
import { NablaError } from '../errors.ts';

const base = mkdtempSync(join(tmpdir(), 'nabla-images-'));
let n = 0;

/** A PNG of w×h whose pixel (x, y) is rgb(x, y, c) — or grey when grey is set. */
function png(w: number, h: number, c: number, grey = false): Buffer {
  const img = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = 4 * (y * w + x);
    img.data[i] = grey ? c : x * 10;
    img.data[i + 1] = grey ? c : y * 10;
    img.data[i + 2] = c;
    img.data[i + 3] = 255;
  }
  return PNG.sync.write(img);
}

function folder(files: Record<string, Buffer | string>): string {
  const root = join(base, `set${n++}`);
  for (const [name, data] of Object.entries(files)) {
    const p = join(root, name);
    mkdirSync(name.endsWith('/') ? p : join(p, '..'), { recursive: true });
    if (name.endsWith('/')) continue;
    writeFileSync(p, data);
  }
  return root;
}

async function rejects(p: Promise<unknown>, facts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof NablaError, String(e));
    for (const f of facts) assert.ok(e.message.includes(f), `${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test('loadImageFolder: sorted class folders, NCHW colour planes in [0, 1], non-images skipped and listed', async () => {
  const root = folder({
    'zebra/a.png': png(3, 2, 7), 'apple/b.png': png(3, 2, 9), 'apple/a.png': png(3, 2, 8),
    'apple/notes.txt': 'hello', 'README.md': '#', 'apple/.DS_Store': 'x',
  });
  const ds = await loadImageFolder(root);
  assert.deepEqual(ds.classNames, ['apple', 'zebra']);
  assert.deepEqual(ds.files.map((f) => f.slice(root.length + 1)), ['apple/a.png', 'apple/b.png', 'zebra/a.png']);
  assert.deepEqual([...ds.labels], [0, 0, 1]);
  assert.deepEqual(ds.inputShape, [3, 2, 3]);
  assert.deepEqual(ds.skipped.map((f) => f.slice(root.length + 1)).sort(), ['README.md', 'apple/notes.txt']);
  // Sample 0 (apple/a.png): R plane = x·10, G plane = y·10, B plane = 8.
  const to255 = (v: number) => Math.round(v * 255);
  assert.deepEqual([...ds.x.subarray(0, 6)].map(to255), [0, 10, 20, 0, 10, 20]);
  assert.deepEqual([...ds.x.subarray(6, 12)].map(to255), [0, 0, 0, 10, 10, 10]);
  assert.deepEqual([...ds.x.subarray(12, 18)].map(to255), [8, 8, 8, 8, 8, 8]);
  const grey = await loadImageFolder(root, { channels: 1 });
  assert.deepEqual(grey.inputShape, [1, 2, 3]);
  assert.equal(grey.x[1], Math.fround((299 * 10 + 114 * 8) / 1000 / 255), 'luma 0.299 R + 0.587 G + 0.114 B');
  const auto = await loadImageFolder(folder({ 'a/1.png': png(2, 2, 50, true), 'b/1.png': png(2, 2, 200, true) }));
  assert.deepEqual(auto.inputShape, [1, 2, 2], 'grey images give one channel');
  assert.equal(auto.x[0], Math.fround(50 / 255));
});

test('mixed sizes are refused naming both files, or resized with size', async () => {
  const root = folder({ 'a/1.png': png(4, 4, 1), 'b/1.png': png(6, 2, 1) });
  await rejects(loadImageFolder(root), [join(root, 'b/1.png'), '6×2', join(root, 'a/1.png'), '4×4', 'size: [height, width]']);
  const ds = await loadImageFolder(root, { size: [2, 2] });
  assert.deepEqual(ds.inputShape, [3, 2, 2]);
  assert.deepEqual([...resize(new Float32Array([0, 255, 255, 0]), 2, 2, 1, 1)], [127.5]);
  assert.deepEqual([...resize(new Float32Array([0, 100]), 1, 2, 1, 4)], [0, 25, 75, 100]);
  assert.deepEqual([...resize(new Float32Array([1, 2, 3, 4, 5, 6]), 1, 6, 1, 3)], [1.5, 3.5, 5.5]);
});

test('bad folders and images are refused naming the path', async () => {
  await rejects(loadImageFolder(folder({ 'only/1.png': png(2, 2, 1) })), ['at least 2 class folders', 'found 1 ("only")']);
  await rejects(loadImageFolder(folder({ 'a/1.png': png(2, 2, 1), 'b/': '' })), ['class folder', '/b"', 'at least one .png']);
  const broken = folder({ 'a/1.png': png(2, 2, 1), 'b/1.png': png(2, 2, 1).subarray(0, 40) });
  await rejects(loadImageFolder(broken), [join(broken, 'b/1.png'), 'valid PNG']);
  const misnamed = folder({ 'a/1.png': png(2, 2, 1), 'b/1.png': 'not an image at all' });
  await rejects(loadImageFolder(misnamed), [join(misnamed, 'b/1.png'), 'a PNG or JPEG image']);
  await rejects(loadImageFolder(join(base, 'nowhere')), ['nowhere', 'readable folder']);
});

test('JPEG files are decoded through jpeg-js (a dependency of the CLI, an optional peer of the library); a damaged one is named', async () => {
  const jpeg = (await import('jpeg-js')) as unknown as { encode(img: { data: Uint8Array; width: number; height: number }, quality: number): { data: Uint8Array } };
  // A flat colour survives JPEG's lossy coding almost exactly: the same picture as PNG and as JPEG.
  const rgba = new Uint8Array(8 * 8 * 4);
  for (let i = 0; i < 64; i++) rgba.set([200, 40, 90, 255], 4 * i);
  const asPng = new PNG({ width: 8, height: 8 });
  asPng.data.set(rgba);
  const root = folder({ 'a/1.png': PNG.sync.write(asPng), 'b/1.jpg': Buffer.from(jpeg.encode({ data: rgba, width: 8, height: 8 }, 95).data) });
  const ds = await loadImageFolder(root, { channels: 3 });
  assert.deepEqual(ds.classNames, ['a', 'b']);
  const plane = 64 * 3;
  for (let i = 0; i < plane; i++) assert.ok(Math.abs(ds.x[i] - ds.x[plane + i]) <= 3 / 255, `value ${i}: PNG ${ds.x[i]} vs JPEG ${ds.x[plane + i]}`);
  const damaged = folder({ 'a/1.png': png(2, 2, 1), 'b/1.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1]) });
  await rejects(loadImageFolder(damaged), [join(damaged, 'b/1.jpg'), 'valid JPEG']);
});

test('loadImageFile reads one image exactly as loadImageFolder reads it (size, channels, resizing)', async () => {
  const root = folder({ 'a/1.png': png(6, 4, 30), 'b/2.png': png(6, 4, 90) });
  for (const [size, channels] of [[[3, 5], 3], [[8, 8], 1], [undefined, 3]] as const) {
    const ds = await loadImageFolder(root, { size: size as [number, number] | undefined, channels });
    const one = await loadImageFile(join(root, 'b', '2.png'), { size: size as [number, number] | undefined, channels });
    assert.deepEqual(one.inputShape, ds.inputShape);
    assert.deepEqual([...one.x], [...ds.x.subarray(ds.features, 2 * ds.features)]);
    assert.equal(one.colour, true);
  }
});
