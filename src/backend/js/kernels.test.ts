// JsBackend elementwise, row and loss kernels against straightforward float64 reference loops.
// (GEMM has its own conformance suite in gemm.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from './jsBackend.ts';
import { Rng } from '../../random.ts';
import { assertClose } from '../../testing/assertClose.ts';

const BACKENDS = [new JsBackend(), new JsBackend({ naive: true })];
const SIZES = [1, 2, 7, 64, 1001];

function randomArray(n: number, rng: Rng, scale = 3): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** A fresh output buffer full of NaN: a kernel that reads its output before writing it shows up. */
function nanBuffer(n: number): Float32Array {
  return new Float32Array(n).fill(NaN);
}

type Unary = (out: Float32Array, x: Float32Array, n: number) => void;

function checkUnary(name: string, kernel: (b: JsBackend) => Unary, ref: (x: number) => number, rtol = 1e-6): void {
  for (const backend of BACKENDS) {
    const rng = new Rng(1);
    for (const n of SIZES) {
      const x = randomArray(n, rng);
      const out = nanBuffer(n);
      kernel(backend).call(backend, out, x, n);
      assertClose(out, Array.from(x, ref), { rtol, atol: 1e-7, label: `${backend.name} ${name} n=${n}` });
    }
  }
}

type UnaryBackward = (dx: Float32Array, dy: Float32Array, cache: Float32Array, n: number) => void;

function checkBackward(
  name: string, kernel: (b: JsBackend) => UnaryBackward, cacheOf: (x: number) => number, ref: (dy: number, cache: number) => number,
): void {
  for (const backend of BACKENDS) {
    const rng = new Rng(2);
    for (const n of SIZES) {
      const x = randomArray(n, rng);
      const cache = Float32Array.from(x, cacheOf);
      const dy = randomArray(n, rng, 1);
      const dx = nanBuffer(n);
      kernel(backend).call(backend, dx, dy, cache, n);
      // The reference reads the same float32 cache (a = σ(x) rounded), so 1 − a² near a ≈ 1 is
      // compared like for like.
      assertClose(dx, Array.from(cache, (c, i) => ref(dy[i], c)), { rtol: 1e-5, atol: 1e-7, label: `${backend.name} ${name} n=${n}` });
    }
  }
}

const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));

test('relu / reluBackward: max(x, 0) and dy·[x > 0]', () => {
  checkUnary('relu', (b) => b.relu, (x) => Math.max(x, 0), 0);
  checkBackward('reluBackward', (b) => b.reluBackward, (x) => x, (dy, x) => (x > 0 ? dy : 0));
  // At exactly 0 the subgradient used is 0 (PyTorch's choice too).
  const dx = new Float32Array(1);
  new JsBackend().reluBackward(dx, Float32Array.of(5), Float32Array.of(0), 1);
  assert.equal(dx[0], 0);
});

test('leakyRelu / leakyReluBackward with slopes 0.01 and 0.3', () => {
  for (const slope of [0.01, 0.3]) {
    checkUnary(`leakyRelu ${slope}`, (b) => (out, x, n) => b.leakyRelu(out, x, n, slope), (x) => (x > 0 ? x : slope * x));
    checkBackward(
      `leakyReluBackward ${slope}`, (b) => (dx, dy, x, n) => b.leakyReluBackward(dx, dy, x, n, slope),
      (x) => x, (dy, x) => (x > 0 ? dy : slope * dy),
    );
  }
});

test('sigmoid / sigmoidBackward (from the output a: dy·a(1 − a)); saturates cleanly at ±1000', () => {
  checkUnary('sigmoid', (b) => b.sigmoid, sigmoid64);
  checkBackward('sigmoidBackward', (b) => b.sigmoidBackward, sigmoid64, (dy, a) => dy * a * (1 - a));
  const out = new Float32Array(4);
  new JsBackend().sigmoid(out, Float32Array.of(-1000, 1000, 0, -88), 4);
  assert.deepEqual(Array.from(out).slice(0, 3), [0, 1, 0.5]);
  assert.ok(out[3] > 0 && out[3] < 1e-37);
});

test('tanh / tanhBackward (from the output a: dy·(1 − a²))', () => {
  checkUnary('tanh', (b) => b.tanh, Math.tanh);
  checkBackward('tanhBackward', (b) => b.tanhBackward, Math.tanh, (dy, a) => dy * (1 - a * a));
});

function softmax64(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j] - max);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.exp(x[r * cols + j] - max) / s;
  }
  return out;
}

const ROW_SHAPES: [number, number][] = [[1, 1], [1, 10], [3, 4], [5, 1], [64, 10], [7, 33]];

test('softmax matches the float64 reference and every row sums to 1', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(3);
    for (const [rows, cols] of ROW_SHAPES) {
      const x = randomArray(rows * cols, rng, 5);
      const out = nanBuffer(rows * cols);
      backend.softmax(out, x, rows, cols);
      assertClose(out, softmax64(x, rows, cols), { rtol: 1e-6, atol: 1e-8, label: `softmax ${rows}×${cols}` });
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let j = 0; j < cols; j++) s += out[r * cols + j];
        assert.ok(Math.abs(s - 1) < 1e-6, `row ${r} sums to ${s}`);
      }
    }
  }
});

test('softmax of large values is stable: [1000, 1001, 1002] = softmax([0, 1, 2]); in place works', () => {
  const b = new JsBackend();
  const big = new Float32Array(3);
  b.softmax(big, Float32Array.of(1000, 1001, 1002), 1, 3);
  const small = new Float32Array(3);
  b.softmax(small, Float32Array.of(0, 1, 2), 1, 3);
  assert.ok(big.every(Number.isFinite));
  assertClose(big, small, { rtol: 1e-6, atol: 0 });
  const huge = new Float32Array(3);
  b.softmax(huge, Float32Array.of(3e38, -3e38, 3e38), 1, 3);
  assert.deepEqual(Array.from(huge), [0.5, 0, 0.5]);
  // out === x (predictProbabilities does this).
  const x = Float32Array.of(1, 2, 3, -1, 0, 1);
  const expected = softmax64(x, 2, 3);
  b.softmax(x, x, 2, 3);
  assertClose(x, expected, { rtol: 1e-6, atol: 1e-8 });
});

test('softmaxBackward is the Jacobian-vector product: dx_i = Σ_j (∂y_j/∂x_i) dy_j', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(4);
    for (const [rows, cols] of ROW_SHAPES) {
      const x = randomArray(rows * cols, rng, 2);
      const y = Float32Array.from(softmax64(x, rows, cols));
      const dy = randomArray(rows * cols, rng, 1);
      const dx = nanBuffer(rows * cols);
      backend.softmaxBackward(dx, dy, y, rows, cols);
      // Full Jacobian ∂y_j/∂x_i = y_j(δ_ij − y_i), multiplied out in float64.
      const ref = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < cols; i++) {
          let s = 0;
          for (let j = 0; j < cols; j++) {
            const yi = y[r * cols + i];
            const yj = y[r * cols + j];
            s += yj * ((i === j ? 1 : 0) - yi) * dy[r * cols + j];
          }
          ref[r * cols + i] = s;
        }
      }
      assertClose(dx, ref, { rtol: 1e-5, atol: 1e-7, label: `softmaxBackward ${rows}×${cols}` });
    }
  }
});

test('sumRows: column sums, with beta = 0 (ignores NaN in out), 1 (accumulates) and 0.5', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(5);
    for (const [rows, cols] of ROW_SHAPES) {
      const x = randomArray(rows * cols, rng);
      const sums = new Float64Array(cols);
      for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) sums[j] += x[r * cols + j];
      const fresh = nanBuffer(cols);
      backend.sumRows(fresh, x, rows, cols, 0);
      assertClose(fresh, sums, { rtol: 1e-6, atol: 1e-6, label: `sumRows β=0 ${rows}×${cols}` });
      for (const beta of [1, 0.5]) {
        const old = randomArray(cols, rng);
        const out = old.slice();
        backend.sumRows(out, x, rows, cols, beta);
        assertClose(out, Array.from(sums, (s, j) => beta * old[j] + s), { rtol: 1e-6, atol: 1e-6, label: `sumRows β=${beta}` });
      }
    }
  }
});

test('addRowVector: out[r, j] = x[r, j] + v[j], into a fresh buffer and in place', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(6);
    for (const [rows, cols] of ROW_SHAPES) {
      const x = randomArray(rows * cols, rng);
      const v = randomArray(cols, rng);
      const ref = Array.from(x, (xv, i) => Math.fround(xv + v[i % cols]));
      const out = nanBuffer(rows * cols);
      backend.addRowVector(out, x, v, rows, cols);
      assert.deepEqual(Array.from(out), ref);
      backend.addRowVector(x, x, v, rows, cols);
      assert.deepEqual(Array.from(x), ref);
    }
  }
});

test('squaredError returns Σ (p − t)² in float64 and writes scale·2(p − t)', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(7);
    for (const n of SIZES) {
      const p = randomArray(n, rng);
      const t = randomArray(n, rng);
      const d = nanBuffer(n);
      const scale = 1 / 3;
      const value = backend.squaredError(d, p, t, n, scale);
      let ref = 0;
      for (let i = 0; i < n; i++) ref += (p[i] - t[i]) ** 2;
      assert.ok(Math.abs(value - ref) <= 1e-12 * ref, `n=${n}: ${value} vs ${ref}`);
      assertClose(d, Array.from(p, (v, i) => scale * 2 * (v - t[i])), { rtol: 1e-6, atol: 0 });
    }
  }
});

test('softmaxCrossEntropy: Σ_rows −Σ t log p and scale·(p·Σt − t), also for soft and unnormalised targets', () => {
  for (const backend of BACKENDS) {
    const rng = new Rng(8);
    for (const [rows, cols] of ROW_SHAPES) {
      const z = randomArray(rows * cols, rng, 4);
      // Non-negative targets that do not sum to 1 exercise the general p·Σt − t form.
      const t = Float32Array.from({ length: rows * cols }, () => rng.uniform());
      const p = softmax64(z, rows, cols);
      let ref = 0;
      const dref = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let tsum = 0;
        for (let j = 0; j < cols; j++) tsum += t[r * cols + j];
        for (let j = 0; j < cols; j++) {
          ref -= t[r * cols + j] * Math.log(p[r * cols + j]);
          dref[r * cols + j] = 0.25 * (p[r * cols + j] * tsum - t[r * cols + j]);
        }
      }
      const d = nanBuffer(rows * cols);
      const value = backend.softmaxCrossEntropy(d, z, t, rows, cols, 0.25);
      assert.ok(Math.abs(value - ref) <= 1e-10 * Math.max(1, Math.abs(ref)), `${rows}×${cols}: ${value} vs ${ref}`);
      assertClose(d, dref, { rtol: 1e-5, atol: 1e-7, label: `softmaxCrossEntropy grad ${rows}×${cols}` });
    }
  }
});
