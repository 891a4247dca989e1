import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, sameShape, shapeSize, shapeToString } from './tensor.ts';
import { assertNablaError } from '../../../test/assertNablaError.ts';

test('Tensor.from nested arrays: row-major data, shape, get/set, toArray round trip', () => {
  const t = Tensor.from([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.deepEqual(Array.from(t.data), [1, 2, 3, 4, 5, 6]);
  assert.equal(t.get(1, 2), 6);
  t.set(9, 0, 1);
  assert.equal(t.data[1], 9);
  assert.deepEqual(t.toArray(), [[1, 9, 3], [4, 5, 6]]);
  const cube = new Tensor([2, 2, 2], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
  assert.equal(cube.get(1, 0, 1), 5);
  assert.deepEqual(cube.toArray(), [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]);
});

test('reshape shares memory; clone does not', () => {
  const t = new Tensor([2, 3]);
  const r = t.reshape([3, 2]);
  r.data[5] = 7;
  assert.equal(t.get(1, 2), 7);
  const c = t.clone();
  c.data[5] = 1;
  assert.equal(t.get(1, 2), 7);
});

test('a shape and a buffer of different sizes are rejected', () => {
  assertNablaError(() => new Tensor([2, 3], new Float32Array(5)), ['6 values', '[2, 3]', '5']);
});

test('shape helpers', () => {
  assert.equal(shapeSize([2, 3, 4]), 24);
  assert.equal(shapeSize([]), 1);
  assert.equal(shapeToString(['N', 784]), '[N, 784]');
  assert.ok(sameShape([2, 3], [2, 3]));
  assert.ok(!sameShape([2, 3], [3, 2]));
  assert.ok(!sameShape([6], [6, 1]));
});
