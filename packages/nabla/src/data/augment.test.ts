// ImageAugmenter: exact results for integer shifts and quarter turns, identity at zero, values
// stay in range, and the same seed gives the same augmented batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../random.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { ImageAugmenter } from './augment.ts';

const H = 6;
const W = 6;
const ramp = () => Float32Array.from({ length: H * W }, (_, i) => (i + 1) / (H * W));

test('integer shifts move pixels exactly, filling with background', () => {
  const aug = new ImageAugmenter(new Rng(1), { height: H, width: W });
  const img = ramp();
  const src = img.slice();
  aug.transform(img, 2, 1, 0); // 2 right, 1 down
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const expected = i >= 1 && j >= 2 ? src[(i - 1) * W + (j - 2)] : 0;
    assert.ok(Math.abs(img[i * W + j] - expected) < 1e-6, `(${i}, ${j}): ${img[i * W + j]} vs ${expected}`);
  }
});

test('a quarter turn is the index rotation out(i, j) = src(H − 1 − j, i); zero is the identity', () => {
  const aug = new ImageAugmenter(new Rng(1), { height: H, width: W });
  const img = ramp();
  const src = img.slice();
  aug.transform(img, 0, 0, Math.PI / 2);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    assert.ok(Math.abs(img[i * W + j] - src[(H - 1 - j) * W + i]) < 1e-5, `(${i}, ${j})`);
  }
  const same = ramp();
  aug.transform(same, 0, 0, 0);
  assert.deepEqual(same, ramp());
});

test('apply: seeded, every sample different, values stay within [0, 1]', () => {
  const batch = () => {
    const x = new Float32Array(4 * 28 * 28);
    for (let s = 0; s < 4; s++) for (let i = 8; i < 20; i++) for (let j = 12; j < 16; j++) x[s * 784 + i * 28 + j] = 1;
    return x;
  };
  const a = batch();
  const b = batch();
  new ImageAugmenter(new Rng(5)).apply(a, 4);
  new ImageAugmenter(new Rng(5)).apply(b, 4);
  assert.deepEqual(a, b, 'same seed, same batch');
  assert.notDeepEqual(a.subarray(0, 784), a.subarray(784, 1568), 'samples get different transforms');
  assert.notDeepEqual(a, batch(), 'something moved');
  assert.ok(a.every((v) => v >= 0 && v <= 1 + 1e-6));
  assertNablaError(() => new ImageAugmenter(new Rng(1), { maxShift: -1 }), ['ImageAugmenter', 'maxShift', '-1']);
  assertNablaError(() => new ImageAugmenter(new Rng(1)).apply(new Float32Array(10), 1), ['1 images of 784 values', '10 values']);
});
