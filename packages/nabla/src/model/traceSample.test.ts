// traceSample: the per-layer numbers of one sample agree with a hand float64 forward/backward,
// with what Sequential's own batch backward accumulates, and leave the model's gradients alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { ReLU, Sigmoid } from '../layers/activations.ts';
import { Tensor } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { lossByName } from '../losses/lossByName.ts';
import { Sequential } from './sequential.ts';
import { traceSample } from './traceSample.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

test('traceSample: z, a, δ and ∂C/∂W of a sigmoid MSE network match a hand float64 computation', () => {
  const model = new Sequential([new Dense(3, { init: 'xavier' }), new Sigmoid(), new Dense(2, { init: 'xavier' }), new Sigmoid()], { inputShape: [4], seed: 7 });
  const x = Float32Array.from([0.5, -1, 0.25, 2]);
  const y = Float32Array.from([0, 1]);
  const [W1, b1, W2, b2] = model.parameters().map((p) => Array.from(p.value.data));
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  // Forward: z(1) = W(1) a(0) + b(1), a(1) = σ(z(1)), z(2) = W(2) a(1) + b(2), a(2) = σ(z(2)).
  const z1 = [0, 1, 2].map((o) => b1[o] + [0, 1, 2, 3].reduce((s, i) => s + W1[o * 4 + i] * x[i], 0));
  const a1 = z1.map(sig);
  const z2 = [0, 1].map((o) => b2[o] + [0, 1, 2].reduce((s, i) => s + W2[o * 3 + i] * a1[i], 0));
  const a2 = z2.map(sig);
  // C = Σ_j (a(2)_j − y_j)² for one sample (m = 1); δ(2) = 2(a − y) ⊙ σ'(z(2)).
  const d2 = [0, 1].map((j) => 2 * (a2[j] - y[j]) * a2[j] * (1 - a2[j]));
  const da1 = [0, 1, 2].map((i) => d2[0] * W2[i] + d2[1] * W2[3 + i]);
  const d1 = da1.map((v, i) => v * a1[i] * (1 - a1[i]));
  const dW2 = [0, 1].flatMap((o) => a1.map((a) => d2[o] * a));
  const dW1 = [0, 1, 2].flatMap((o) => Array.from(x, (a) => d1[o] * a));

  const t = traceSample(model, x, y, 'mse');
  assert.deepEqual(t.steps.map((s) => s.type), ['Dense', 'Sigmoid', 'Dense', 'Sigmoid']);
  assert.deepEqual(t.steps.map((s) => s.outputShape), [[3], [3], [2], [2]]);
  assertClose([t.loss], [[0, 1].reduce((s, j) => s + (a2[j] - y[j]) ** 2, 0)], { rtol: 1e-5 });
  const tol = { rtol: 1e-5, atol: 1e-6 };
  assertClose(t.steps[0].output, z1, tol);
  assertClose(t.steps[1].output, a1, tol);
  assertClose(t.steps[2].output, z2, tol);
  assertClose(t.steps[3].output, a2, tol);
  assertClose(t.steps[2].gradOutput, d2, tol); // δ(2) = ∂C/∂z(2)
  assertClose(t.steps[1].gradOutput, da1, tol); // ∂C/∂a(1) = W(2)ᵀ δ(2)
  assertClose(t.steps[0].gradOutput, d1, tol); // δ(1)
  assertClose(t.steps[2].params[0].grad, dW2, tol); // ∂C/∂W(2) = δ(2) a(1)ᵀ
  assertClose(t.steps[2].params[1].grad, d2, tol); // ∂C/∂b(2) = δ(2)
  assertClose(t.steps[0].params[0].grad, dW1, tol);
  assert.deepEqual(t.steps[0].params[0].shape, [3, 4]);
  assert.equal(t.steps[1].params.length, 0);
  const sum = a2[0] + a2[1];
  assertClose(t.probabilities, [a2[0] / sum, a2[1] / sum], tol);
});

test('traceSample: per-sample gradients average to what a batch backward accumulates; model gradients untouched', () => {
  const model = new Sequential([new Dense(5), new ReLU(), new Dense(3)], { inputShape: [6], seed: 3 });
  const n = 4;
  const x = Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i * 1.3));
  const y = new Float32Array(n * 3);
  for (let r = 0; r < n; r++) y[r * 3 + (r % 3)] = 1;
  // Batch gradient: mean over the n samples (the loss carries the 1/m).
  model.zeroGrad();
  const out = model.forward(new Tensor([n, 6], x), true);
  const dy = new Tensor([n, 3], new Float32Array(n * 3));
  lossByName('ce').compute(model.backend, dy.data, out.data, y, n, 3);
  model.backward(dy);
  const batchGrads = model.parameters().map((p) => p.grad.data.slice());

  const sums = batchGrads.map((g) => new Float64Array(g.length));
  for (let r = 0; r < n; r++) {
    const t = traceSample(model, x.subarray(r * 6, r * 6 + 6), y.subarray(r * 3, r * 3 + 3), 'ce');
    const grads = t.steps.flatMap((s) => s.params.map((p) => p.grad));
    grads.forEach((g, i) => g.forEach((v, j) => { sums[i][j] += v / n; }));
  }
  sums.forEach((s, i) => assertClose(s, batchGrads[i], { rtol: 1e-4, atol: 1e-6 }));
  // Tracing restored the accumulated gradients exactly.
  model.parameters().forEach((p, i) => assert.deepEqual(p.grad.data, batchGrads[i]));
});

test('traceSample: wrong input or target length is a NablaError', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [3] });
  assertNablaError(() => traceSample(model, new Float32Array(4), new Float32Array(2), 'ce'), ['3 input values']);
  assertNablaError(() => traceSample(model, new Float32Array(3), new Float32Array(3), 'ce'), ['2 target values']);
});
