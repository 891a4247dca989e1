// Loss tests: central-difference gradient checks, the documented constants against float64
// references, and the stability of the fused softmax cross-entropy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import { Rng } from '../random.ts';
import { gradCheck } from '../testing/gradCheck.ts';
import { assertClose } from '../testing/assertClose.ts';
import type { Loss } from './loss.ts';
import { MSELoss } from './mse.ts';
import { SoftmaxCrossEntropyLoss } from './softmaxCrossEntropy.ts';
import { lossByName } from './lossByName.ts';
import { HuberLoss } from './huber.ts';
import { BinaryCrossEntropyLoss } from './bce.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const backend = new JsBackend();
const SHAPES: [number, number][] = [[1, 1], [1, 10], [3, 4], [7, 3], [16, 10]];

function randomArray(n: number, rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** One-hot rows: class (r·7 + 3) mod cols for row r. */
function oneHot(rows: number, cols: number): { t: Float32Array; labels: number[] } {
  const t = new Float32Array(rows * cols);
  const labels: number[] = [];
  for (let r = 0; r < rows; r++) {
    const c = (r * 7 + 3) % cols;
    labels.push(c);
    t[r * cols + c] = 1;
  }
  return { t, labels };
}

/** Random probability rows (soft targets). */
function softTargets(rows: number, cols: number, rng: Rng): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += t[r * cols + j] = rng.uniform() + 0.01;
    for (let j = 0; j < cols; j++) t[r * cols + j] /= s;
  }
  return t;
}

/**
 * Check dy from loss.compute against central differences of the mean loss itself. The loss is
 * accumulated in float64 from float32 inputs, so f is exact to ~1e-16 and a small step works.
 */
function checkLossGradient(loss: Loss, y: Float32Array, target: Float32Array, rows: number, cols: number, label: string): void {
  const dy = new Float32Array(rows * cols);
  loss.compute(backend, dy, y, target, rows, cols);
  const scratch = new Float32Array(rows * cols);
  const f = () => loss.compute(backend, scratch, y, target, rows, cols);
  const r = gradCheck(f, y, dy, { h: 1e-3, rtol: 1e-4, atol: 1e-6 });
  assert.ok(r.ok, `${label}: ${r.message}`);
  assert.equal(r.checked, rows * cols);
}

test('MSE passes the gradient check (batch 1, non-square, K = 1)', () => {
  const rng = new Rng(1);
  for (const [rows, cols] of SHAPES) {
    const y = randomArray(rows * cols, rng);
    const t = randomArray(rows * cols, rng);
    checkLossGradient(new MSELoss(), y, t, rows, cols, `mse ${rows}×${cols}`);
  }
});

test('softmax cross-entropy passes the gradient check on the logits (one-hot and soft targets)', () => {
  const rng = new Rng(2);
  for (const [rows, cols] of SHAPES) {
    const z = randomArray(rows * cols, rng, 3);
    checkLossGradient(new SoftmaxCrossEntropyLoss(), z, oneHot(rows, cols).t, rows, cols, `ce one-hot ${rows}×${cols}`);
    checkLossGradient(new SoftmaxCrossEntropyLoss(), z, softTargets(rows, cols, rng), rows, cols, `ce soft ${rows}×${cols}`);
  }
});

test('MSE constants: C = (1/m) Σ_samples Σ_outputs (a − y)², ∂C/∂a = 2(a − y)/m, dy overwritten', () => {
  const rng = new Rng(3);
  for (const [m, k] of SHAPES) {
    const a = randomArray(m * k, rng);
    const y = randomArray(m * k, rng);
    const dy = new Float32Array(m * k).fill(NaN); // must be overwritten, not accumulated into
    const value = new MSELoss().compute(backend, dy, a, y, m, k);
    let ref = 0;
    const dref = new Float64Array(m * k);
    for (let r = 0; r < m; r++) {
      let sample = 0;
      for (let j = 0; j < k; j++) {
        const d = a[r * k + j] - y[r * k + j];
        sample += d * d;
        dref[r * k + j] = (2 * d) / m;
      }
      ref += sample;
    }
    ref /= m;
    assert.ok(Math.abs(value - ref) <= 1e-12 * Math.max(1, ref), `mse ${m}×${k}: ${value} vs ${ref}`);
    assertClose(dy, dref, { rtol: 1e-6, atol: 0, label: `mse dy ${m}×${k}` });

    // PyTorch's nn.MSELoss() (mean over all m·K elements) is ours divided by K; Nielsen's
    // C = 1/(2m) Σ ||y − a||² is ours divided by 2.
    const torchMean = ref / k;
    assert.ok(Math.abs(value / k - torchMean) <= 1e-12 * Math.max(1, torchMean));
  }
});

test('MSE by hand: a = [[1, 2], [3, 5]], y = [[0, 2], [3, 3]] gives C = (1 + 4)/2 = 2.5, dy = [[1, 0], [0, 2]]', () => {
  const dy = new Float32Array(4);
  const c = new MSELoss().compute(backend, dy, Float32Array.of(1, 2, 3, 5), Float32Array.of(0, 2, 3, 3), 2, 2);
  assert.equal(c, 2.5);
  assert.deepEqual(Array.from(dy), [1, 0, 0, 2]);
});

/** float64 reference: mean over rows of −Σ t log softmax(z), and (p − t)/m. */
function ceReference(z: Float32Array, t: Float32Array, rows: number, cols: number): { loss: number; grad: Float64Array } {
  let loss = 0;
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, z[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(z[r * cols + j] - max);
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(z[r * cols + j] - max) / s;
      const logp = Math.log(p);
      loss -= t[r * cols + j] * logp;
      grad[r * cols + j] = (p - t[r * cols + j]) / rows;
    }
  }
  return { loss: loss / rows, grad };
}

test('cross-entropy equals the mean of −log softmax(z)[label] for one-hot targets (float64 reference)', () => {
  const rng = new Rng(4);
  for (const [rows, cols] of SHAPES) {
    const z = randomArray(rows * cols, rng, 2);
    const { t, labels } = oneHot(rows, cols);
    const dy = new Float32Array(rows * cols).fill(NaN);
    const value = new SoftmaxCrossEntropyLoss().compute(backend, dy, z, t, rows, cols);
    const ref = ceReference(z, t, rows, cols);
    assert.ok(Math.abs(value - ref.loss) <= 1e-12 * Math.max(1, ref.loss), `ce ${rows}×${cols}: ${value} vs ${ref.loss}`);
    assertClose(dy, ref.grad, { rtol: 1e-5, atol: 1e-7, label: `ce dy = (p − t)/m, ${rows}×${cols}` });
    // The same number straight from the definition, −log(e^{z_c} / Σ e^{z_j}), row by row.
    let direct = 0;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.exp(z[r * cols + j]);
      direct -= Math.log(Math.exp(z[r * cols + labels[r]]) / s);
    }
    direct /= rows;
    assert.ok(Math.abs(value - direct) <= 1e-10 * Math.max(1, direct));
  }
});

test('cross-entropy is stable for logits [1000, 0, −1000]: finite loss, exact gradient', () => {
  const z = Float32Array.of(1000, 0, -1000);
  const loss = new SoftmaxCrossEntropyLoss();
  // softmax = [1, e^−1000, e^−2000] = [1, 0, 0] in float64; −log p = [0, 1000, 2000].
  for (const [label, expected] of [[0, 0], [1, 1000], [2, 2000]] as const) {
    const t = new Float32Array(3);
    t[label] = 1;
    const dy = new Float32Array(3);
    const value = loss.compute(backend, dy, z, t, 1, 3);
    assert.ok(Number.isFinite(value), `label ${label}: loss ${value}`);
    assert.equal(value, expected, `label ${label}`);
    const g = [1, 0, 0];
    g[label] -= 1;
    assert.deepEqual(Array.from(dy), g, `label ${label}: dy = p − t`);
  }
  // A whole batch of huge logits: the mean of the three rows above, gradient divided by m = 3.
  const zb = Float32Array.of(1000, 0, -1000, 1000, 0, -1000, 1000, 0, -1000);
  const tb = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const dyb = new Float32Array(9);
  assert.equal(loss.compute(backend, dyb, zb, tb, 3, 3), 1000);
  assertClose(dyb, [0, 0, 0, 1 / 3, -1 / 3, 0, 1 / 3, 0, -1 / 3], { rtol: 1e-7, atol: 0 });
  // Equal huge logits: p is uniform, not NaN.
  const dyu = new Float32Array(2);
  const u = loss.compute(backend, dyu, Float32Array.of(3e38, 3e38), Float32Array.of(1, 0), 1, 2);
  assertClose([u], [Math.LN2], { rtol: 1e-12 });
  assertClose(dyu, [-0.5, 0.5], { rtol: 1e-7 });
});

test('cross-entropy rows of a batch do not interact; shifting a row of logits changes nothing', () => {
  const rng = new Rng(5);
  const z = randomArray(12, rng);
  const t = oneHot(3, 4).t;
  const loss = new SoftmaxCrossEntropyLoss();
  const dy1 = new Float32Array(12);
  const dy2 = new Float32Array(12);
  const a = loss.compute(backend, dy1, z, t, 3, 4);
  const shifted = z.map((v, i) => (i < 4 ? v + 50 : v));
  const b = loss.compute(backend, dy2, shifted, t, 3, 4);
  assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
  assertClose(dy2, dy1, { rtol: 1e-4, atol: 1e-6 });
});

test('lossByName: mse and ce, and a precise message for anything else', () => {
  assert.ok(lossByName('mse') instanceof MSELoss);
  assert.ok(lossByName('ce') instanceof SoftmaxCrossEntropyLoss);
  assert.equal(lossByName('ce').takesLogits, true);
  assert.equal(lossByName('mse').takesLogits, false);
  assert.throws(
    () => lossByName('hinge' as never),
    (e: unknown) => e instanceof NablaError && e.message.includes('"hinge"') && e.message.includes('mse, ce, huber, bce'),
  );
});

// ── Huber and binary cross-entropy on logits ────────────────────────────────────────────────

/** Huber per element, straight from the definition (PyTorch's nn.HuberLoss). */
function huberDirect(d: number, delta: number): number {
  return Math.abs(d) < delta ? 0.5 * d * d : delta * (Math.abs(d) - 0.5 * delta);
}

test('Huber passes the gradient check (delta 1, 0.3 and 5; batch 1, non-square, K = 1)', () => {
  const rng = new Rng(6);
  for (const delta of [1, 0.3, 5]) {
    for (const [rows, cols] of SHAPES) {
      const y = randomArray(rows * cols, rng, 2);
      const t = randomArray(rows * cols, rng);
      // Central differences straddling the kink at |d| = δ are still exact (h is continuous
      // with a continuous derivative there), but keep samples off it by more than h anyway.
      for (let i = 0; i < y.length; i++) if (Math.abs(Math.abs(y[i] - t[i]) - delta) < 2e-3) y[i] += 1e-2;
      checkLossGradient(new HuberLoss({ delta }), y, t, rows, cols, `huber δ=${delta} ${rows}×${cols}`);
    }
  }
});

test('Huber equals the direct formula (sum over outputs, mean over samples) and dy = h\'(d)/m, overwritten', () => {
  const rng = new Rng(7);
  for (const delta of [1, 0.5, 3]) {
    for (const [m, k] of SHAPES) {
      const a = randomArray(m * k, rng, 3);
      const y = randomArray(m * k, rng);
      const dy = new Float32Array(m * k).fill(NaN);
      const value = new HuberLoss({ delta }).compute(backend, dy, a, y, m, k);
      let ref = 0;
      const dref = new Float64Array(m * k);
      for (let i = 0; i < m * k; i++) {
        const d = a[i] - y[i];
        ref += huberDirect(d, delta);
        dref[i] = Math.max(-delta, Math.min(delta, d)) / m;
      }
      ref /= m;
      assert.ok(Math.abs(value - ref) <= 1e-12 * Math.max(1, ref), `huber ${m}×${k}: ${value} vs ${ref}`);
      assertClose(dy, dref, { rtol: 1e-6, atol: 0, label: `huber dy ${m}×${k}` });
    }
  }
  // By hand, δ = 1: errors 0.5 (quadratic: 0.125), 1 (boundary: 0.5 both ways), −3 (linear: 2.5).
  const dy = new Float32Array(3);
  const c = new HuberLoss().compute(backend, dy, Float32Array.of(0.5, 1, -3), Float32Array.of(0, 0, 0), 1, 3);
  assert.equal(c, 0.125 + 0.5 + 2.5);
  assert.deepEqual(Array.from(dy), [0.5, 1, -1]);
  // Small errors: Huber is half of MSE.
  const small = Float32Array.of(0.1, -0.2, 0.3, 0.05);
  const zero = new Float32Array(4);
  const h = new HuberLoss().compute(backend, new Float32Array(4), small, zero, 2, 2);
  const mse = new MSELoss().compute(backend, new Float32Array(4), small, zero, 2, 2);
  assert.ok(Math.abs(h - mse / 2) < 1e-12);
});

test('Huber refuses a delta that is not a positive finite number', () => {
  for (const delta of [0, -1, NaN, Infinity]) {
    assert.throws(() => new HuberLoss({ delta }), (e: unknown) => e instanceof NablaError && e.message.includes('delta'));
  }
});

/** float64 reference: −[t log σ(z) + (1 − t) log(1 − σ(z))], from the definition (moderate z only). */
function bceDirect(z: number, t: number): number {
  const p = 1 / (1 + Math.exp(-z));
  return -(t * Math.log(p) + (1 - t) * Math.log(1 - p));
}

test('BCE with logits passes the gradient check (0/1 and soft targets; batch 1, non-square, K = 1)', () => {
  const rng = new Rng(8);
  for (const [rows, cols] of SHAPES) {
    const z = randomArray(rows * cols, rng, 3);
    const hard = Float32Array.from({ length: rows * cols }, (_, i) => (i * 5 + rows) % 3 === 0 ? 1 : 0);
    const soft = Float32Array.from({ length: rows * cols }, () => rng.uniform());
    checkLossGradient(new BinaryCrossEntropyLoss(), z, hard, rows, cols, `bce 0/1 ${rows}×${cols}`);
    checkLossGradient(new BinaryCrossEntropyLoss(), z, soft, rows, cols, `bce soft ${rows}×${cols}`);
  }
});

test('BCE with logits equals −[t log p + (1 − t) log(1 − p)] with p = σ(z), and dy = (p − t)/m', () => {
  const rng = new Rng(9);
  for (const [m, k] of SHAPES) {
    const z = randomArray(m * k, rng, 2);
    const t = Float32Array.from({ length: m * k }, () => rng.uniform());
    const dy = new Float32Array(m * k).fill(NaN);
    const value = new BinaryCrossEntropyLoss().compute(backend, dy, z, t, m, k);
    let ref = 0;
    const dref = new Float64Array(m * k);
    for (let i = 0; i < m * k; i++) {
      ref += bceDirect(z[i], t[i]);
      dref[i] = (1 / (1 + Math.exp(-z[i])) - t[i]) / m;
    }
    ref /= m;
    assert.ok(Math.abs(value - ref) <= 1e-10 * Math.max(1, ref), `bce ${m}×${k}: ${value} vs ${ref}`);
    assertClose(dy, dref, { rtol: 1e-5, atol: 1e-7, label: `bce dy ${m}×${k}` });
  }
});

test('BCE with logits is stable for logits ±1000: finite loss, exact gradient', () => {
  const loss = new BinaryCrossEntropyLoss();
  const dy = new Float32Array(4);
  // z = 1000, t = 1 and z = −1000, t = 0: certain and right, loss 0; z = 1000, t = 0: loss 1000.
  const v = loss.compute(backend, dy, Float32Array.of(1000, -1000, 1000, -1000), Float32Array.of(1, 0, 0, 1), 4, 1);
  assert.ok(Number.isFinite(v));
  assert.equal(v, (0 + 0 + 1000 + 1000) / 4);
  assert.deepEqual(Array.from(dy), [0, 0, 0.25, -0.25]);
  // z = 0: p = ½, loss log 2 whatever the target.
  const v0 = loss.compute(backend, new Float32Array(1), Float32Array.of(0), Float32Array.of(1), 1, 1);
  assertClose([v0], [Math.LN2], { rtol: 1e-15 });
});

interface LossCase {
  name: string; loss: 'huber' | 'bce'; rows: number; cols: number; params: { delta?: number };
  y: number[]; target: number[]; sum: { value: number; grad: number[] }; mean: { value: number; grad: number[] };
}
const lossFixture = JSON.parse(readFileSync(
  join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'pytorch-loss-reference.json'), 'utf8',
)) as { torch: string; cases: LossCase[] };

test('Huber and BCE with logits match PyTorch (nn.HuberLoss, nn.BCEWithLogitsLoss), deltas at the boundaries included', () => {
  assert.ok(lossFixture.cases.length >= 6);
  for (const c of lossFixture.cases) {
    const loss = c.loss === 'huber' ? new HuberLoss({ delta: c.params.delta }) : new BinaryCrossEntropyLoss();
    const y = Float32Array.from(c.y);
    const t = Float32Array.from(c.target);
    // The fixture's inputs are float32 values: nothing is rounded on the way in.
    assert.deepEqual(Array.from(y), c.y, `${c.name}: inputs are float32`);
    const dy = new Float32Array(c.rows * c.cols);
    const value = loss.compute(backend, dy, y, t, c.rows, c.cols);
    // nabla: sum over outputs, mean over samples = PyTorch's 'sum' / m = PyTorch's 'mean' · K.
    assertClose([value], [c.sum.value / c.rows], { rtol: 1e-12, atol: 1e-15, label: `${c.name} value vs sum/m` });
    assertClose([value / c.cols], [c.mean.value], { rtol: 1e-12, atol: 1e-15, label: `${c.name} value vs mean` });
    assertClose(dy, c.sum.grad.map((g) => g / c.rows), { rtol: 1e-6, atol: 1e-9, label: `${c.name} gradient` });
  }
});

test('lossByName: huber (delta 1) and bce', () => {
  const h = lossByName('huber');
  assert.ok(h instanceof HuberLoss && h.delta === 1 && !h.takesLogits);
  const b = lossByName('bce');
  assert.ok(b instanceof BinaryCrossEntropyLoss && b.takesLogits);
});
