import { test } from 'node:test';
import assert from 'node:assert/strict';
import { datasetFromArrays, labelArrayFor, inputShapeOf, shuffleDataset } from './dataset.ts';
import { sliceDataset } from './mnist.ts';
import { Rng } from '../random.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

test('datasetFromArrays one-hot encodes integer labels, from rows or a flat array', () => {
  const ds = datasetFromArrays({ x: [[1, 2], [3, 4], [5, 6]], labels: [2, 0, 1], classNames: ['a', 'b', 'c'] });
  assert.deepEqual([...ds.y], [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  assert.deepEqual(ds.inputShape, [2]);
  assert.deepEqual(ds.imageShape, [1, 2]);
  assert.ok(ds.labels instanceof Uint8Array);
  const flat = datasetFromArrays({ x: new Float32Array(2 * 12), labels: new Int32Array([0, 1]), inputShape: [3, 2, 2] });
  assert.equal(flat.features, 12);
  assert.deepEqual(flat.imageShape, [2, 2]);
  assert.deepEqual(inputShapeOf(flat), [3, 2, 2]);
  assert.deepEqual(inputShapeOf({ features: 5 }), [5]);
  const slice = sliceDataset(ds, 1, 3);
  assert.deepEqual(slice.classNames, ['a', 'b', 'c']);
  assert.deepEqual([...slice.labels], [0, 1]);
});

test('more than 256 classes use wider label arrays', () => {
  assert.ok(labelArrayFor(256, 1) instanceof Uint8Array);
  assert.ok(labelArrayFor(257, 1) instanceof Uint16Array);
  assert.ok(labelArrayFor(70000, 1) instanceof Int32Array);
  const ds = datasetFromArrays({ x: [[0], [1]], labels: [0, 999] });
  assert.equal(ds.classes, 1000);
  assert.ok(ds.labels instanceof Uint16Array);
  assert.equal(ds.labels[1], 999);
  assert.equal(ds.y[1000 + 999], 1);
});

test('shuffleDataset permutes rows, labels and targets together', () => {
  const ds = datasetFromArrays({ x: [[0], [1], [2], [3], [4]], labels: [0, 1, 2, 3, 4] });
  const s = shuffleDataset(ds, new Rng(2));
  for (let i = 0; i < 5; i++) {
    assert.equal(s.x[i], s.labels[i]);
    assert.equal(s.y[i * 5 + s.labels[i]], 1);
  }
  assert.notDeepEqual([...s.labels], [0, 1, 2, 3, 4]);
});

test('datasetFromArrays refuses bad data, naming the row and column', () => {
  assertNablaError(() => datasetFromArrays({ x: [[1], [2]], labels: [0] }), ['2 rows but 1 labels']);
  assertNablaError(() => datasetFromArrays({ x: new Float32Array(5), labels: [0, 1] }), ['5 values', 'multiple of the 2 labels']);
  assertNablaError(() => datasetFromArrays({ x: [[1, 2], [3]], labels: [0, 1] }), ['row 1', 'found 1']);
  assertNablaError(() => datasetFromArrays({ x: [[1, 2], [3, NaN]], labels: [0, 1] }), ['row 1 column 1', 'NaN']);
  assertNablaError(() => datasetFromArrays({ x: [[1, Infinity], [3, 4]], labels: [0, 1] }), ['row 0 column 1', 'Infinity']);
  assertNablaError(() => datasetFromArrays({ x: [[1], [2]], labels: [0, 1.5] }), ['label 1', '1.5', 'regression']);
  assertNablaError(() => datasetFromArrays({ x: [[1], [2]], labels: [-1, 0] }), ['label 0', '-1']);
  assertNablaError(() => datasetFromArrays({ x: [[1], [2]], labels: [0, 2], classNames: ['a', 'b'] }), ['label 1', '0..1']);
});
