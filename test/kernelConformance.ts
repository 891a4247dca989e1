/**
 * The conformance suite every backend passes: GEMM against the naive oracle on shapes that
 * break tilings (1, primes, 33×65×17, every transpose, α/β, operands inside and outside the
 * backend's memory), and every other kernel against the JS reference backend. A backend file
 * calls `kernelConformance('wasm, 2 threads', () => backend)`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/backend/backend.ts';
import { JsBackend } from '../src/backend/js/jsBackend.ts';
import { naiveGemm } from '../src/backend/js/naiveGemm.ts';
import { Rng } from '../src/random.ts';
import { assertClose } from '../src/testing/assertClose.ts';

const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 17, 3], [5, 1, 9], [4, 8, 1], [33, 65, 17], [7, 300, 5], [64, 10, 128],
  [67, 129, 260], [64, 128, 784], [128, 784, 64], [13, 1031, 2],
];
const SCALARS: [number, number][] = [[1, 0], [1, 1], [0.5, -0.75], [-2, 0.25], [0, 0.5]];
// Lengths that are not multiples of 4 (the SIMD width) and one that spans many vectors.
const LENGTHS = [1, 3, 4, 17, 1000];
// Long enough for the wasm backend to split sums of squares and optimiser updates over threads.
const LONG = 100_003;

function filled(make: (n: number) => Float32Array, n: number, rng: Rng, scale = 1): Float32Array {
  const out = make(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * scale;
  return out;
}

export function kernelConformance(label: string, getBackend: () => Backend): void {
  const ref = new JsBackend();

  test(`[${label}] gemm matches the naive oracle: awkward shapes, every transpose, α/β, resident and foreign operands`, () => {
    const be = getBackend();
    const rng = new Rng(7);
    let cases = 0;
    for (const [m, n, k] of GEMM_SHAPES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const [alpha, beta] = SCALARS[cases % SCALARS.length];
          // Alternate where the operands live: the backend's own memory, or plain arrays.
          const own = cases % 2 === 0 ? (len: number) => be.allocate(len) : (len: number) => new Float32Array(len);
          const a = filled(own, m * k, rng);
          const b = filled((len) => new Float32Array(len), k * n, rng);
          const c = filled(own, m * n, rng);
          const expected = Float32Array.from(c);
          be.gemm(c, a, b, m, n, k, transA, transB, alpha, beta);
          naiveGemm(expected, a, b, m, n, k, transA, transB, alpha, beta);
          assertClose(c, expected, { rtol: 1e-4, atol: 1e-5 * Math.sqrt(k), label: `gemm ${m}×${n}×${k} tA=${transA} tB=${transB} α=${alpha} β=${beta}` });
          cases++;
        }
      }
    }
    assert.equal(cases, GEMM_SHAPES.length * 4);
  });

  test(`[${label}] gemm with a mostly-zero operand (MNIST-like inputs, zero-skipping paths) matches the naive oracle`, () => {
    const be = getBackend();
    const rng = new Rng(8);
    const sparse = (len: number, density: number): Float32Array => {
      const out = be.allocate(len);
      for (let i = 0; i < len; i++) if (rng.uniform() < density) out[i] = rng.uniform() + 0.1;
      return out;
    };
    // forward X·Wᵀ, weight gradient dYᵀ·X, and awkward sizes (more than one block of k, of
    // A's rows and of B's columns; ragged edges), with 0–30% non-zeros.
    const cases: [number, number, number, boolean, boolean, 'A' | 'B'][] = [
      [64, 128, 784, false, true, 'A'], [128, 784, 64, true, false, 'B'], [37, 21, 300, false, false, 'A'],
      [33, 129, 65, true, false, 'B'], [19, 61, 401, false, true, 'A'], [5, 1000, 9, false, false, 'B'], [3, 7, 2000, false, false, 'A'],
      [150, 70, 300, false, false, 'B'], [9, 1030, 40, false, true, 'A'],
    ];
    for (const [m, n, k, transA, transB, which] of cases) {
      for (const density of [0, 0.02, 0.2, 0.3]) {
        const a = which === 'A' ? sparse(m * k, density) : filled((len) => be.allocate(len), m * k, rng);
        const b = which === 'B' ? sparse(k * n, density) : filled((len) => be.allocate(len), k * n, rng);
        const c = filled((len) => be.allocate(len), m * n, rng);
        const expected = Float32Array.from(c);
        be.gemm(c, a, b, m, n, k, transA, transB, 0.5, 0.25);
        naiveGemm(expected, a, b, m, n, k, transA, transB, 0.5, 0.25);
        assertClose(c, expected, { rtol: 1e-4, atol: 1e-5 * Math.sqrt(k), label: `sparse ${which} ${m}×${n}×${k} density ${density}` });
      }
    }
  });

  test(`[${label}] gemm with beta = 0 ignores NaN already in C; k = 0 leaves beta·C`, () => {
    const be = getBackend();
    const c = be.allocate(6).fill(NaN);
    const a = be.allocate(6).fill(1);
    const b = be.allocate(9).fill(2);
    be.gemm(c, a, b, 2, 3, 3, false, false, 1, 0);
    assert.deepEqual(Array.from(c), [6, 6, 6, 6, 6, 6]);
    be.gemm(c, a, b, 2, 3, 0, false, false, 1, 0.5);
    assert.deepEqual(Array.from(c), [3, 3, 3, 3, 3, 3]);
  });

  test(`[${label}] elementwise kernels match the JS reference on lengths 1, 3, 4, 17, 1000`, () => {
    const be = getBackend();
    const rng = new Rng(11);
    const own = (len: number) => be.allocate(len);
    for (const n of LENGTHS) {
      const x = filled(own, n, rng, 3);
      const dy = filled(own, n, rng);
      const y = filled(own, n, rng);
      const run = (name: string, f: (b: Backend, out: Float32Array) => void): void => {
        const got = be.allocate(n);
        const want = new Float32Array(n);
        f(be, got);
        f(ref, want);
        assertClose(got, want, { rtol: 1e-6, atol: 1e-7, label: `${name} n=${n}` });
      };
      const sq = be.sumSquares(x, n);
      if (n === 1000) {
        const long = filled(own, LONG, rng, 3);
        const got = be.sumSquares(long, LONG);
        const want = ref.sumSquares(long, LONG);
        assert.ok(Math.abs(got - want) <= 1e-12 * want, `sumSquares n=${LONG}: ${got} vs ${want}`);
      }
      const sqRef = ref.sumSquares(x, n);
      assert.ok(Math.abs(sq - sqRef) <= 1e-12 * sqRef, `sumSquares n=${n}: ${sq} vs ${sqRef}`);
      // A value, then zeros over the first half: both of the wasm kernel's paths.
      run('fill', (b, o) => {
        b.fill(o, 2.5, n);
        b.fill(o, 0, n >> 1);
      });
      run('relu', (b, o) => b.relu(o, x, n));
      run('reluBackward', (b, o) => b.reluBackward(o, dy, x, n));
      run('leakyRelu', (b, o) => b.leakyRelu(o, x, n, 0.1));
      run('leakyReluBackward', (b, o) => b.leakyReluBackward(o, dy, x, n, 0.1));
      run('sigmoid', (b, o) => b.sigmoid(o, x, n));
      run('sigmoidBackward', (b, o) => b.sigmoidBackward(o, dy, y, n));
      run('tanh', (b, o) => b.tanh(o, x, n));
      run('tanhBackward', (b, o) => b.tanhBackward(o, dy, y, n));
      // In place (out = x) must work too.
      const inPlace = Float32Array.from(x);
      const own2 = be.allocate(n);
      own2.set(x);
      be.relu(own2, own2, n);
      ref.relu(inPlace, inPlace, n);
      assertClose(own2, inPlace, { label: `relu in place n=${n}` });
    }
  });

  test(`[${label}] row kernels (bias add, bias gradient, softmax, losses) match the JS reference`, () => {
    const be = getBackend();
    const rng = new Rng(12);
    const own = (len: number) => be.allocate(len);
    for (const [rows, cols] of [[1, 1], [3, 10], [64, 10], [5, 131]] as const) {
      const x = filled(own, rows * cols, rng, 4);
      const v = filled(own, cols, rng);
      const t = own(rows * cols);
      for (let r = 0; r < rows; r++) t[r * cols + ((r * 7) % cols)] = 1;
      const check = (name: string, len: number, f: (b: Backend, out: Float32Array) => number | void): void => {
        const got = own(len);
        const want = new Float32Array(len);
        got.set(x.subarray(0, len));
        want.set(x.subarray(0, len));
        const rg = f(be, got);
        const rw = f(ref, want);
        assertClose(got, want, { rtol: 1e-5, atol: 1e-6, label: `${name} ${rows}×${cols}` });
        if (typeof rw === 'number') assert.ok(Math.abs((rg as number) - rw) <= 1e-5 * Math.max(1, Math.abs(rw)), `${name} value`);
      };
      check('addRowVector', rows * cols, (b, o) => b.addRowVector(o, x, v, rows, cols));
      check('sumRows beta 0', cols, (b, o) => b.sumRows(o, x, rows, cols, 0));
      check('sumRows beta 0.5', cols, (b, o) => b.sumRows(o, x, rows, cols, 0.5));
      check('softmax', rows * cols, (b, o) => b.softmax(o, x, rows, cols));
      check('softmaxBackward', rows * cols, (b, o) => b.softmaxBackward(o, t, x, rows, cols));
      check('softmaxCrossEntropy', rows * cols, (b, o) => b.softmaxCrossEntropy(o, x, t, rows, cols, 1 / rows));
      check('squaredError', rows * cols, (b, o) => b.squaredError(o, x, t, rows * cols, 0.5));
    }
  });

  test(`[${label}] gatherRows copies the ordered rows, from its own memory and from plain arrays, and rejects bad indices`, () => {
    const be = getBackend();
    const rng = new Rng(17);
    for (const width of [1, 10, 784]) {
      for (const own of [true, false]) {
        const rows = 300;
        const make = own ? (len: number) => be.allocate(len) : (len: number) => new Float32Array(len);
        const src = filled(make, rows * width, rng);
        const orderBuf = make(rows);
        const order = new Uint32Array(orderBuf.buffer, orderBuf.byteOffset, rows);
        order.forEach((_, i) => (order[i] = Math.floor(rng.uniform() * rows)));
        for (const [start, count] of [[0, 64], [250, 50], [7, 1], [0, 0]]) {
          const out = make(64 * width);
          be.gatherRows(out, src, order, start, count, width);
          const want = new Float32Array(64 * width);
          for (let r = 0; r < count; r++) want.set(src.subarray(order[start + r] * width, (order[start + r] + 1) * width), r * width);
          assert.deepEqual(out, want, `width ${width} own ${own} rows ${start}+${count}`);
        }
        order[5] = rows;
        assert.throws(() => be.gatherRows(make(64 * width), src, order, 0, 64, width), /row indices below 300/);
        assert.throws(() => be.gatherRows(make(64 * width), src, order, 250, 64, width), /within the order/);
      }
    }
  });

  test(`[${label}] optimiser updates match the JS reference (SGD ± momentum, Nesterov, decay; Adam, AdamW)`, () => {
    const be = getBackend();
    const rng = new Rng(13);
    const own = (len: number) => be.allocate(len);
    for (const n of [...LENGTHS, LONG]) {
      const grad = filled(own, n, rng);
      const sgdCases: [number, number, boolean][] = [[0, 0, false], [0.9, 0, false], [0.9, 0.01, true]];
      for (const [mu, wd, nesterov] of sgdCases) {
        const p1 = filled(own, n, rng);
        const v1 = filled(own, n, rng);
        const p2 = Float32Array.from(p1);
        const v2 = Float32Array.from(v1);
        for (let s = 0; s < 3; s++) {
          be.sgdUpdate(p1, grad, v1, n, 0.1, mu, wd, nesterov);
          ref.sgdUpdate(p2, grad, v2, n, 0.1, mu, wd, nesterov);
        }
        assertClose(p1, p2, { label: `sgd μ=${mu} wd=${wd} nesterov=${nesterov} n=${n}` });
        assertClose(v1, v2, { label: `sgd velocity n=${n}` });
      }
      for (const decoupled of [false, true]) {
        const p1 = filled(own, n, rng);
        const m1 = own(n);
        const v1 = own(n);
        const p2 = Float32Array.from(p1);
        const m2 = new Float32Array(n);
        const v2 = new Float32Array(n);
        for (let t = 1; t <= 3; t++) {
          const bc1 = 1 - 0.9 ** t;
          const bc2 = 1 - 0.999 ** t;
          be.adamUpdate(p1, grad, m1, v1, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, decoupled, bc1, bc2);
          ref.adamUpdate(p2, grad, m2, v2, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, decoupled, bc1, bc2);
        }
        assertClose(p1, p2, { rtol: 1e-5, atol: 1e-6, label: `adam decoupled=${decoupled} n=${n}` });
        assertClose(m1, m2, { label: `adam m n=${n}` });
        assertClose(v1, v2, { label: `adam v n=${n}` });
      }
    }
  });
}
