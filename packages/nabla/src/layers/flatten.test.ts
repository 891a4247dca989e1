// Flatten: the gradient check on 2-D, 3-D and flat inputs, and the reshape (N, 2, 3, 2) → (N, 12)
// forward and back, values in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { assertGradients } from '../../../../test/layerCases.ts';
import { Flatten } from './flatten.ts';

test('Flatten passes the gradient check and reshapes (N, 2, 3, 2) to (N, 12)', () => {
  assertGradients(() => new Flatten(), 'Flatten', [
    { inputShape: [2, 3], batch: 1 },
    { inputShape: [2, 3, 2], batch: 3 },
    { inputShape: [5], batch: 2 },
  ]);
  const f = new Flatten();
  assert.deepEqual(f.build([2, 3, 2], { backend: new JsBackend(), rng: new Rng(0), index: 0 }), [12]);
  const x = new Tensor([2, 2, 3, 2], Float32Array.from({ length: 24 }, (_, i) => i));
  const y = f.forward(x, false);
  assert.deepEqual(y.shape, [2, 12]);
  assert.deepEqual(Array.from(y.data), Array.from(x.data));
  assert.deepEqual(f.backward(y).shape, [2, 2, 3, 2]);
});
