// MaxPool2D: the gradient check (overlapping windows, stride 2, padding 1, non-square), forward on
// a hand-made 4×4 image (padding as −∞), and the errors for windows, strides and paddings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sequential } from '../model/sequential.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { POOL_CASES, assertGradients, buildLayer, image4x4 } from '../../../../test/layerCases.ts';
import { MaxPool2D } from './maxPool2d.ts';
import { Conv2D } from './conv2d.ts';

test('MaxPool2D passes the gradient check: overlapping windows, stride 2, padding 1, non-square', () => {
  for (const [pool, opts, shape, batch] of POOL_CASES) {
    // A max is piecewise linear, so a small step has no truncation error and stays off the ties.
    assertGradients(() => new MaxPool2D(pool, opts), `MaxPool2D(${pool}, ${JSON.stringify(opts)})`, [{ inputShape: shape, batch }], { h: 1e-3 });
  }
});

test('MaxPool2D forward on a hand-made 4×4 image', () => {
  const x = image4x4();
  assert.deepEqual([...buildLayer(new MaxPool2D(2), [1, 4, 4]).forward(x, false).data], [4, 8, 12, 16]);
  // Padding 1, stride 2: max treats padding as −∞.
  assert.deepEqual([...buildLayer(new MaxPool2D(2, { padding: 1 }), [1, 4, 4]).forward(x, false).data], [1, 5, 6, 9, 13, 14, 11, 15, 16]);
});

test('bad MaxPool2D layers are rejected: a pool larger than its input, a negative stride, padding over half a window', () => {
  // pooling larger than its input
  assertNablaError(() => new Sequential([new Conv2D(2, 3), new MaxPool2D(4)], { inputShape: [1, 5, 5] }), ['layer 1 (MaxPool2D)', 'at least 4×4', '[N, 2, 3, 3]']);
  // non-positive stride, and padding over half a pool window
  assertNablaError(() => new MaxPool2D(2, { stride: [1, -1] }), ['MaxPool2D', 'stride', '[1,-1]']);
  assertNablaError(() => new MaxPool2D(2, { padding: 2 }), ['MaxPool2D', 'padding at most half']);
});
