// AvgPool2D: the gradient check (overlapping windows, stride 2, padding 1, non-square) and forward
// on a hand-made 4×4 image (padding counted as 0 in the divisor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { POOL_CASES, assertGradients, buildLayer, image4x4 } from '../../../../test/layerCases.ts';
import { AvgPool2D } from './avgPool2d.ts';

test('AvgPool2D passes the gradient check: overlapping windows, stride 2, padding 1, non-square', () => {
  for (const [pool, opts, shape, batch] of POOL_CASES) {
    assertGradients(() => new AvgPool2D(pool, opts), `AvgPool2D(${pool}, ${JSON.stringify(opts)})`, [{ inputShape: shape, batch }]);
  }
});

test('AvgPool2D forward on a hand-made 4×4 image', () => {
  const x = image4x4();
  assert.deepEqual([...buildLayer(new AvgPool2D(2), [1, 4, 4]).forward(x, false).data], [2.5, 6.5, 10.5, 14.5]);
  // Padding 1, stride 2: avg counts padding as 0 in a divisor of 4.
  assert.deepEqual([...buildLayer(new AvgPool2D(2, { padding: 1 }), [1, 4, 4]).forward(x, false).data].slice(0, 2), [0.25, 1.75]);
});
