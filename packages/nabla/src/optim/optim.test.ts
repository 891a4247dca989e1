// Optimiser tests: every update rule against a float64 reference written from PyTorch's
// documented algorithm (torch.optim.SGD / Adam / AdamW), plus validation messages and zeroGrad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Param } from '../layers/layer.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { SGD } from './sgd.ts';
import { Adam, AdamW } from './adam.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

/** Two parameters (a 2×3 weight and a bias of 3) with random values. */
function makeParams(seed: number): Param[] {
  const rng = new Rng(seed);
  const mk = (name: string, shape: number[]): Param => {
    const value = new Tensor(shape);
    for (let i = 0; i < value.size; i++) value.data[i] = rng.normal();
    return { name, value, grad: new Tensor(shape) };
  };
  return [mk('0.weight', [2, 3]), mk('0.bias', [3])];
}

/** Per-step gradients: steps × params × values, fixed by a seed and already float32. */
function makeGrads(params: Param[], steps: number, seed: number): Float32Array[][] {
  const rng = new Rng(seed);
  return Array.from({ length: steps }, () =>
    params.map((p) => Float32Array.from({ length: p.value.size }, () => rng.normal())));
}

function setGrads(params: Param[], grads: Float32Array[]): void {
  params.forEach((p, i) => p.grad.data.set(grads[i]));
}

test('SGD plain step is exactly w − η·g (float32 of the float64 expression)', () => {
  const params = makeParams(1);
  const [g] = makeGrads(params, 1, 2);
  const before = params.map((p) => p.value.data.slice());
  setGrads(params, g);
  const opt = new SGD(params, { lr: 0.1 });
  opt.step();
  params.forEach((p, i) => {
    const expected = before[i].map((w, j) => Math.fround(w - 0.1 * g[i][j]));
    assert.deepEqual(Array.from(p.value.data), Array.from(expected), p.name);
  });
  assert.equal(opt.velocity[0].length, 0, 'no velocity buffer without momentum');
});

test('SGD by hand: w = 1, constant g = 0.5, η = 0.1, μ = 0.9 (momentum and Nesterov), 3 steps', () => {
  // Momentum: v = 0.5, 0.95, 1.355; w = 0.95, 0.855, 0.7195.
  // Nesterov: step = g + μv = 0.95, 1.355, 1.7195; w = 0.905, 0.7695, 0.59755.
  // Weight decay λ = 0.1, no momentum: g' = 0.5 + 0.1w; w = 0.94, 0.8806, 0.821794.
  const cases: [string, ConstructorParameters<typeof SGD>[1], number[]][] = [
    ['momentum', { lr: 0.1, momentum: 0.9 }, [0.95, 0.855, 0.7195]],
    ['nesterov', { lr: 0.1, momentum: 0.9, nesterov: true }, [0.905, 0.7695, 0.59755]],
    ['weight decay', { lr: 0.1, weightDecay: 0.1 }, [0.94, 0.8806, 0.821794]],
  ];
  for (const [label, options, expected] of cases) {
    const p: Param = { name: 'w', value: new Tensor([1], Float32Array.of(1)), grad: new Tensor([1]) };
    const opt = new SGD([p], options);
    const got: number[] = [];
    for (let t = 0; t < 3; t++) {
      p.grad.data[0] = 0.5;
      opt.step();
      got.push(p.value.data[0]);
    }
    assertClose(got, expected, { rtol: 1e-6, atol: 0, label });
  }
});

/** torch.optim.SGD in float64 (dampening 0): g += λw; v = μv + g (v = g at t = 1); w −= η(nesterov ? g + μv : v). */
function sgdReference(
  w0: Float32Array[], grads: Float32Array[][], lr: number, momentum: number, weightDecay: number, nesterov: boolean,
): Float64Array[] {
  const w = w0.map((a) => Float64Array.from(a));
  const v = w0.map((a) => new Float64Array(a.length));
  grads.forEach((step, t) => {
    step.forEach((g, i) => {
      for (let j = 0; j < g.length; j++) {
        let d = g[j] + weightDecay * w[i][j];
        if (momentum !== 0) {
          v[i][j] = t === 0 ? d : momentum * v[i][j] + d;
          d = nesterov ? d + momentum * v[i][j] : v[i][j];
        }
        w[i][j] -= lr * d;
      }
    });
  });
  return w;
}

test('SGD momentum / Nesterov / weight decay match a float64 PyTorch reference over 3 steps', () => {
  const configs = [
    { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: true },
    { lr: 0.1, momentum: 0, weightDecay: 0.01, nesterov: false },
    { lr: 0.2, momentum: 0.5, weightDecay: 0.1, nesterov: false },
    { lr: 0.2, momentum: 0.99, weightDecay: 0.05, nesterov: true },
  ];
  for (const c of configs) {
    const params = makeParams(3);
    const w0 = params.map((p) => p.value.data.slice());
    const grads = makeGrads(params, 3, 4);
    const opt = new SGD(params, c);
    for (const g of grads) {
      setGrads(params, g);
      opt.step();
    }
    const ref = sgdReference(w0, grads, c.lr, c.momentum, c.weightDecay, c.nesterov);
    params.forEach((p, i) => assertClose(p.value.data, ref[i], { rtol: 1e-5, atol: 1e-6, label: `SGD ${JSON.stringify(c)} ${p.name}` }));
  }
});

/**
 * torch.optim.Adam / AdamW in float64:
 *   Adam:  g += λw        AdamW: w *= 1 − ηλ
 *   m = β1 m + (1 − β1) g; v = β2 v + (1 − β2) g²
 *   w −= (η / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
 */
function adamReference(
  w0: Float32Array[], grads: Float32Array[][],
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }, decoupled: boolean,
): Float64Array[] {
  const w = w0.map((a) => Float64Array.from(a));
  const m = w0.map((a) => new Float64Array(a.length));
  const v = w0.map((a) => new Float64Array(a.length));
  grads.forEach((step, s) => {
    const t = s + 1;
    const bc1 = 1 - o.beta1 ** t;
    const bc2 = 1 - o.beta2 ** t;
    step.forEach((grad, i) => {
      for (let j = 0; j < grad.length; j++) {
        let g = grad[j];
        if (decoupled) w[i][j] *= 1 - o.lr * o.weightDecay;
        else g += o.weightDecay * w[i][j];
        m[i][j] = o.beta1 * m[i][j] + (1 - o.beta1) * g;
        v[i][j] = o.beta2 * v[i][j] + (1 - o.beta2) * g * g;
        w[i][j] -= (o.lr / bc1) * m[i][j] / (Math.sqrt(v[i][j]) / Math.sqrt(bc2) + o.eps);
      }
    });
  });
  return w;
}

test('Adam and AdamW match a float64 PyTorch reference over 5 steps', () => {
  const configs = [
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 },
    { lr: 0.1, beta1: 0, beta2: 0.5, eps: 1e-3, weightDecay: 0.01 },
  ];
  for (const decoupled of [false, true]) {
    for (const c of configs) {
      const params = makeParams(5);
      const w0 = params.map((p) => p.value.data.slice());
      const grads = makeGrads(params, 5, 6);
      const opt = decoupled ? new AdamW(params, c) : new Adam(params, c);
      assert.equal(opt.decoupled, decoupled);
      for (const g of grads) {
        setGrads(params, g);
        opt.step();
      }
      assert.equal(opt.t, 5);
      const ref = adamReference(w0, grads, c, decoupled);
      const label = `${decoupled ? 'AdamW' : 'Adam'} ${JSON.stringify(c)}`;
      params.forEach((p, i) => assertClose(p.value.data, ref[i], { rtol: 1e-5, atol: 1e-6, label: `${label} ${p.name}` }));
    }
  }
});

test('Adam first step moves every weight by about lr (bias correction at work)', () => {
  // At t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
  const params = makeParams(7);
  const w0 = params.map((p) => p.value.data.slice());
  setGrads(params, makeGrads(params, 1, 8)[0]);
  new Adam(params, { lr: 0.01 }).step();
  params.forEach((p, i) => {
    for (let j = 0; j < p.value.size; j++) {
      const moved = w0[i][j] - p.value.data[j];
      assert.ok(Math.abs(Math.abs(moved) - 0.01) < 1e-6, `${p.name}[${j}] moved ${moved}`);
      assert.equal(Math.sign(moved), Math.sign(p.grad.data[j]));
    }
  });
});

test('defaults: SGD lr 0.01; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, λ 0; AdamW λ 0.01', () => {
  const params = makeParams(1);
  const sgd = new SGD(params);
  assert.deepEqual([sgd.lr, sgd.momentum, sgd.nesterov, sgd.weightDecay], [0.01, 0, false, 0]);
  const adam = new Adam(params);
  assert.deepEqual([adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weightDecay], [1e-3, 0.9, 0.999, 1e-8, 0]);
  assert.equal(new AdamW(params).weightDecay, 0.01);
});


test('hyperparameter validation names the optimiser, the hyperparameter, the range and the value', () => {
  const params = makeParams(1);
  assertNablaError(() => new Adam(params, { beta1: 1.2 }), ['Adam', 'beta1', '[0, 1)', '1.2']);
  assertNablaError(() => new Adam(params, { beta2: -0.1 }), ['Adam', 'beta2', '-0.1']);
  assertNablaError(() => new Adam(params, { beta2: 1 }), ['beta2', 'found 1']);
  assertNablaError(() => new Adam(params, { eps: 0 }), ['eps', 'found 0']);
  assertNablaError(() => new Adam(params, { lr: -1 }), ['Adam', 'lr', '-1']);
  assertNablaError(() => new AdamW(params, { beta1: 1.2 }), ['AdamW', 'beta1', '1.2']);
  assertNablaError(() => new AdamW(params, { weightDecay: -0.5 }), ['AdamW', 'weightDecay', '-0.5']);
  assertNablaError(() => new SGD(params, { lr: NaN }), ['SGD', 'lr', 'NaN']);
  assertNablaError(() => new SGD(params, { lr: Infinity }), ['SGD', 'lr', 'Infinity']);
  assertNablaError(() => new SGD(params, { momentum: 1 }), ['SGD', 'momentum', '[0, 1)', 'found 1']);
  assertNablaError(() => new SGD(params, { weightDecay: -1 }), ['SGD', 'weightDecay', '-1']);
  assertNablaError(() => new SGD(params, { nesterov: true }), ['SGD', 'Nesterov', 'momentum', 'found 0']);
  // Boundaries that are allowed.
  new SGD(params, { lr: 0, momentum: 0 });
  new Adam(params, { beta1: 0, beta2: 0 });
});

test('zeroGrad clears every parameter gradient, and only the gradients', () => {
  const params = makeParams(2);
  setGrads(params, makeGrads(params, 1, 3)[0]);
  const values = params.map((p) => p.value.data.slice());
  for (const opt of [new SGD(params, { momentum: 0.9 }), new Adam(params), new AdamW(params)]) {
    opt.zeroGrad();
    for (const p of params) assert.ok(p.grad.data.every((v) => v === 0), `${opt.constructor.name}: ${p.name}`);
    params.forEach((p, i) => assert.deepEqual(p.value.data, values[i]));
    setGrads(params, makeGrads(params, 1, 3)[0]);
  }
});

test('a zero gradient leaves plain SGD weights unchanged; lr may change between steps (schedules)', () => {
  const params = makeParams(4);
  const w0 = params.map((p) => p.value.data.slice());
  const opt = new SGD(params, { lr: 0.5 });
  opt.step();
  params.forEach((p, i) => assert.deepEqual(p.value.data, w0[i]));
  setGrads(params, params.map((p) => new Float32Array(p.value.size).fill(1)));
  opt.lr = 0.25;
  opt.step();
  params.forEach((p, i) => assert.deepEqual(Array.from(p.value.data), Array.from(w0[i].map((w) => Math.fround(w - 0.25)))));
});
