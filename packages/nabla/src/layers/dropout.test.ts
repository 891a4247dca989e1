// Dropout: identity in evaluation; in training inverted scaling, masks repeatable from the seed,
// dx = dy ⊙ mask, the gradient check with a frozen mask, and the rate range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { assertGradients, buildLayer } from '../../../../test/layerCases.ts';
import { Dropout } from './dropout.ts';

/** Dropout whose mask is drawn once and then kept: deterministic, for the gradient check. */
class FrozenDropout extends Dropout {
  private frozen: Float32Array | undefined;
  protected override drawMask(mask: Float32Array): void {
    if (!this.frozen) {
      super.drawMask(mask);
      this.frozen = mask.slice();
    }
    mask.set(this.frozen);
  }
}

test('Dropout: identity in evaluation; inverted scaling, repeatable masks and dy ⊙ mask in training', () => {
  const layer = buildLayer(new Dropout(0.25), [1000], 7);
  const x = new Tensor([4, 1000], new Float32Array(4000).fill(2));
  assert.equal(layer.forward(x, false), x, 'evaluation returns its input');
  const y = layer.forward(x, true).data.slice();
  const dropped = y.filter((v) => v === 0).length;
  assert.ok(Math.abs(dropped / 4000 - 0.25) < 0.03, `dropped ${dropped} of 4000 at rate 0.25`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-6), 'kept values scaled by 1/(1 − rate)');
  const dy = new Tensor([4, 1000], new Float32Array(4000).fill(3));
  const dx = layer.backward(dy).data;
  y.forEach((v, i) => assert.equal(dx[i], v === 0 ? 0 : Math.fround(3 / 0.75), `dx[${i}]`));
  // Same seed, same mask; the next batch gets a new one.
  const again = buildLayer(new Dropout(0.25), [1000], 7);
  assert.deepEqual(again.forward(x, true).data, y);
  assert.notDeepEqual(again.forward(x, true).data, y);
  assertGradients(() => new FrozenDropout(0.5), 'Dropout(0.5) with a frozen mask', [{ inputShape: [3, 2], batch: 3 }]);
  assertNablaError(() => new Dropout(1), ['Dropout', 'rate in [0, 1)', '1']);
});
