/**
 * The kernel conformance suite: cases keyed by the Backend method they check, run on every backend
 * by test/kernelConformance.test.ts (js, the naive-GEMM js oracle, wasm on 1 thread, with baseline
 * SIMD and on 2 threads). A new kernel needs cases here: the suite's keys are the interface's
 * methods (the compiler and a test both check), so a method without cases fails.
 *
 * - GEMM against the naive float64 oracle on shapes that break tilings (1, primes, 33×65×17, every
 *   transpose, α/β, operands inside and outside the backend's memory, mostly-zero operands);
 * - every other kernel against float64 loops written from the definitions in backend.ts, or
 *   against the JS reference backend, on lengths and shapes that break SIMD widths and tilings;
 * - image kernels on 1×1 images, primes, non-square windows, stride 2 and 3, padding 1 and 2,
 *   windows that lie entirely in the padding; convolutions on batches smaller than, equal to and
 *   not a multiple of a chunk of 8 samples (the wasm backend's unit of work).
 *
 * Outputs that a kernel must write fresh start as NaN, so a kernel that skips an entry fails;
 * outputs it must add into start random, so a kernel that overwrites fails.
 *
 * @example
 * kernelConformance('wasm, 2 threads', () => backend); // in a *.test.ts file
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../packages/nabla/src/backend/backend.ts';
import { JsBackend } from '../packages/nabla/src/backend/js/jsBackend.ts';
import { naiveGemm } from '../packages/nabla/src/backend/js/naiveGemm.ts';
import { Rng } from '../packages/nabla/src/random.ts';
import { firstNonFinite } from '../packages/nabla/src/tensor.ts';
import { assertClose } from '../packages/nabla/src/testing/assertClose.ts';

/** The kernels: every method of the Backend interface. */
export type KernelName = { [K in keyof Backend]-?: NonNullable<Backend[K]> extends (...args: never[]) => unknown ? K : never }[keyof Backend];

/** One check of a kernel, on a backend. */
export interface KernelCase {
  title: string;
  run(backend: Backend): void;
}

/** Registers every case of every kernel as a test named `[label] kernel: title`. */
export function kernelConformance(label: string, getBackend: () => Backend): void {
  for (const [kernel, cases] of Object.entries(KERNEL_CASES)) {
    for (const c of cases) test(`[${label}] ${kernel}: ${c.title}`, () => c.run(getBackend()));
  }
}

const ref = new JsBackend();
// Lengths that are not multiples of 4 (the SIMD width) and one that spans many vectors.
const LENGTHS = [1, 3, 4, 17, 1000];
// Long enough for the wasm backend to split sums of squares and optimiser updates over threads.
const LONG = 100_003;
const SIZES = [1, 2, 7, 64, 1001];
const ROW_SHAPES: [number, number][] = [[1, 1], [1, 10], [3, 4], [5, 1], [64, 10], [7, 33]];

/** Uniform values in (−scale, scale), in an array from `make`. */
function filled(make: (n: number) => Float32Array, n: number, rng: Rng, scale = 1): Float32Array {
  const out = make(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * scale;
  return out;
}

/** A buffer in the backend's memory holding `values`. */
function inBackend(b: Backend, values: ArrayLike<number>): Float32Array {
  const a = b.allocate(values.length);
  a.set(values);
  return a;
}

/** Normal values times `scale`, in the backend's memory. */
function random(b: Backend, n: number, rng: Rng, scale = 1): Float32Array {
  return inBackend(b, Array.from({ length: n }, () => scale * rng.normal()));
}

function nans(b: Backend, n: number): Float32Array {
  return b.allocate(n).fill(NaN);
}

/** Normal values in a plain array (float64 references, start values). */
function normals(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

// ── GEMM ─────────────────────────────────────────────────────────────────────────────────────

const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 17, 3], [5, 1, 9], [4, 8, 1], [33, 65, 17], [7, 300, 5], [64, 10, 128],
  [67, 129, 260], [64, 128, 784], [128, 784, 64], [13, 1031, 2],
];
const SCALARS: [number, number][] = [[1, 0], [1, 1], [0.5, -0.75], [-2, 0.25], [0, 0.5]];
// Shapes that break the JS kernel's 4×4 tiling, for its dense and sparse (80% zeros) paths.
const TILE_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 3], [5, 1, 9], [4, 4, 4], [3, 5, 2], [33, 65, 17], [17, 33, 65], [64, 10, 128], [13, 31, 7], [8, 8, 1],
];

const gemmCases: KernelCase[] = [
  {
    title: 'with an epilogue (a Dense forward: + bias, then ReLU) gives the bits of gemm, addRowVector and relu called apart',
    run: (be) => {
      const rng = new Rng(19);
      // Sizes a thread splits (the MLP's first layer, on mostly-zero rows: the row path), a
      // ragged one, a tiny one; bias and C in the backend's memory or in plain arrays.
      for (const [m, n, k, sparse] of [[64, 128, 784, true], [37, 45, 70, false], [3, 5, 2, false]] as const) {
        for (const [own, bias, relu] of [[true, true, true], [true, true, false], [true, false, true], [false, true, true]] as const) {
          const make = own ? (len: number) => be.allocate(len) : (len: number) => new Float32Array(len);
          const a = be.allocate(m * k);
          for (let i = 0; i < m * k; i++) a[i] = sparse && rng.uniform() < 0.8 ? 0 : rng.normal();
          const b = filled((len) => be.allocate(len), n * k, rng);
          const v = filled(make, n, rng);
          const want = make(m * n);
          be.gemm(want, a, b, m, n, k, false, true, 1, 0);
          if (bias) be.addRowVector(want, want, v, m, n);
          if (relu) be.relu(want, want, m * n);
          const got = make(m * n).fill(Number.NaN);
          be.gemm(got, a, b, m, n, k, false, true, 1, 0, { bias: bias ? v : undefined, relu });
          assert.deepEqual(Buffer.from(got.buffer, got.byteOffset, got.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength),
            `${m}×${n}×${k} own ${own} bias ${bias} relu ${relu}`);
          assert.ok(!relu || got.every((x) => x >= 0));
        }
      }
    },
  },
  {
    title: 'matches the naive oracle: awkward shapes, every transpose, α/β, resident and foreign operands',
    run: (be) => {
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
    },
  },
  {
    title: 'matches the naive oracle with a mostly-zero operand (MNIST-like inputs, zero-skipping paths)',
    run: (be) => {
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
    },
  },
  {
    title: 'matches the naive oracle on shapes that break a 4×4 tiling, dense and 80% zeros, every transpose, α/β',
    run: (be) => {
      for (const [zerosA, zerosB] of [[0, 0], [0.8, 0], [0, 0.8]]) {
        for (const [m, n, k] of TILE_SHAPES) {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              for (const [alpha, beta] of [[1, 0], [1, 1], [-0.5, 2], [2, 0.25]]) {
                const rng = new Rng(m * 1000 + n * 10 + k);
                const draw = (len: number, zeros: number) => Float32Array.from({ length: len }, () => (rng.uniform() < zeros ? 0 : rng.normal()));
                const a = draw(m * k, zerosA);
                const b = draw(k * n, zerosB);
                const c0 = draw(m * n, 0);
                const expected = c0.slice();
                naiveGemm(expected, a, b, m, n, k, transA, transB, alpha, beta);
                const actual = c0.slice();
                be.gemm(actual, a, b, m, n, k, transA, transB, alpha, beta);
                assertClose(actual, expected, {
                  rtol: 1e-4, atol: 1e-4 * Math.sqrt(k),
                  label: `gemm m=${m} n=${n} k=${k} transA=${transA} transB=${transB} α=${alpha} β=${beta} zeros=${zerosA}/${zerosB}`,
                });
              }
            }
          }
        }
      }
    },
  },
  {
    title: 'beta = 0 ignores NaN already in C (BLAS semantics); k = 0 leaves beta·C',
    run: (be) => {
      const c = be.allocate(6).fill(NaN);
      const a = be.allocate(6).fill(1);
      const b = be.allocate(9).fill(2);
      be.gemm(c, a, b, 2, 3, 3, false, false, 1, 0);
      assert.deepEqual(Array.from(c), [6, 6, 6, 6, 6, 6]);
      be.gemm(c, a, b, 2, 3, 0, false, false, 1, 0.5);
      assert.deepEqual(Array.from(c), [3, 3, 3, 3, 3, 3]);
      const plain = new Float32Array(4).fill(NaN);
      be.gemm(plain, Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0, 0, 1), 2, 2, 2, false, false, 1, 0);
      assert.deepEqual(Array.from(plain), [1, 2, 3, 4]);
    },
  },
  {
    title: "the notes' worked product [[1,2,3],[4,5,6]]·[[1,2],[3,4],[5,6]] is the 2×2 [[22,28],[49,64]]; [1,9,9,1,2,1]·[1..6] = 66",
    run: (be) => {
      // The notes wrote a 2×3 result [[14,32,50],[32,44,44]]: a (2×3)·(3×2) product is 2×2.
      const c = new Float32Array(4);
      be.gemm(c, Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(1, 2, 3, 4, 5, 6), 2, 2, 3, false, false, 1, 0);
      assert.deepEqual(Array.from(c), [22, 28, 49, 64]);
      const dot = new Float32Array(1);
      be.gemm(dot, Float32Array.of(1, 9, 9, 1, 2, 1), Float32Array.of(1, 2, 3, 4, 5, 6), 1, 1, 6, false, false, 1, 0);
      assert.equal(dot[0], 66);
    },
  },
];

// ── Elementwise kernels ──────────────────────────────────────────────────────────────────────

type Elementwise = (b: Backend, out: Float32Array, x: Float32Array, dy: Float32Array, y: Float32Array, n: number) => void;

/** f on `backend` against f on the JS reference, lengths 1, 3, 4, 17, 1000, operands in the backend's memory. */
function likeReference(f: Elementwise): KernelCase {
  return {
    title: 'matches the JS reference on lengths 1, 3, 4, 17, 1000',
    run: (be) => {
      const rng = new Rng(11);
      const own = (len: number) => be.allocate(len);
      for (const n of LENGTHS) {
        const x = filled(own, n, rng, 3);
        const dy = filled(own, n, rng);
        const y = filled(own, n, rng);
        const got = be.allocate(n);
        const want = new Float32Array(n);
        f(be, got, x, dy, y, n);
        f(ref, want, x, dy, y, n);
        assertClose(got, want, { rtol: 1e-6, atol: 1e-7, label: `n=${n}` });
      }
    },
  };
}

/** out = f(x) elementwise against a float64 reference, on sizes 1, 2, 7, 64, 1001; out starts NaN. */
function unary(title: string, kernel: (b: Backend, out: Float32Array, x: Float32Array, n: number) => void, f64: (x: number) => number, rtol = 1e-6): KernelCase {
  return {
    title,
    run: (be) => {
      const rng = new Rng(1);
      for (const n of SIZES) {
        const x = random(be, n, rng, 3);
        const out = nans(be, n);
        kernel(be, out, x, n);
        assertClose(out, Array.from(x, f64), { rtol, atol: 1e-7, label: `${title} n=${n}` });
      }
    },
  };
}

/** dx = f(dy, cache) with the cache made from x, against a float64 reference; dx starts NaN. */
function backward(
  title: string, kernel: (b: Backend, dx: Float32Array, dy: Float32Array, cache: Float32Array, n: number) => void,
  cacheOf: (x: number) => number, f64: (dy: number, cache: number) => number,
): KernelCase {
  return {
    title,
    run: (be) => {
      const rng = new Rng(2);
      for (const n of SIZES) {
        const x = random(be, n, rng, 3);
        const cache = inBackend(be, Array.from(x, cacheOf));
        const dy = random(be, n, rng);
        const dx = nans(be, n);
        kernel(be, dx, dy, cache, n);
        // The reference reads the same float32 cache (a = σ(x) rounded), so 1 − a² near a ≈ 1 is
        // compared like for like.
        assertClose(dx, Array.from(cache, (c, i) => f64(dy[i], c)), { rtol: 1e-5, atol: 1e-7, label: `${title} n=${n}` });
      }
    },
  };
}

const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));
const SLOPES = [0.01, 0.3];

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

type RowKernel = (b: Backend, out: Float32Array, x: Float32Array, v: Float32Array, t: Float32Array, rows: number, cols: number) => number | void;

/**
 * A row kernel on `backend` against the JS reference on 1×1, 3×10, 64×10, 5×131; out starts as a
 * copy of x; t holds one-hot rows; a returned value is compared too.
 */
function rowsLikeReference(outLength: (rows: number, cols: number) => number, f: RowKernel): KernelCase {
  return {
    title: 'matches the JS reference on 1×1, 3×10, 64×10 and 5×131',
    run: (be) => {
      const rng = new Rng(12);
      const own = (len: number) => be.allocate(len);
      for (const [rows, cols] of [[1, 1], [3, 10], [64, 10], [5, 131]] as const) {
        const x = filled(own, rows * cols, rng, 4);
        const v = filled(own, cols, rng);
        const t = own(rows * cols);
        for (let r = 0; r < rows; r++) t[r * cols + ((r * 7) % cols)] = 1;
        const len = outLength(rows, cols);
        const got = own(len);
        const want = new Float32Array(len);
        got.set(x.subarray(0, len));
        want.set(x.subarray(0, len));
        const rg = f(be, got, x, v, t, rows, cols);
        const rw = f(ref, want, x, v, t, rows, cols);
        assertClose(got, want, { rtol: 1e-5, atol: 1e-6, label: `${rows}×${cols}` });
        if (typeof rw === 'number') assert.ok(Math.abs((rg as number) - rw) <= 1e-5 * Math.max(1, Math.abs(rw)), `value ${rows}×${cols}`);
      }
    },
  };
}

const all = (rows: number, cols: number) => rows * cols;

// ── Image kernels: NCHW, window geometries ────────────────────────────────────────────────────

/** One window geometry: batch, channels, input size, window, stride, padding. */
export interface Geometry {
  n: number; c: number; h: number; w: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
}

export const GEOMETRIES: Geometry[] = [
  { n: 1, c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
  { n: 2, c: 3, h: 5, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
  { n: 3, c: 2, h: 7, w: 5, kh: 2, kw: 3, sh: 2, sw: 1, ph: 1, pw: 0 },
  { n: 1, c: 1, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  { n: 2, c: 2, h: 11, w: 13, kh: 5, kw: 4, sh: 3, sw: 2, ph: 2, pw: 1 },
  { n: 1, c: 3, h: 4, w: 4, kh: 4, kw: 4, sh: 1, sw: 1, ph: 0, pw: 0 },
  { n: 2, c: 1, h: 5, w: 3, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 },
  { n: 2, c: 2, h: 9, w: 8, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 },
  { n: 1, c: 3, h: 6, w: 14, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 }, // 7 outputs a row: 4-wide SIMD + tail
  { n: 1, c: 2, h: 3, w: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2 }, // corners see only padding
  { n: 1, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 },
];

/** Pooling needs every window to hold a real pixel: PH ≤ KH/2, PW ≤ KW/2 (as PyTorch). */
const POOL_GEOMETRIES = GEOMETRIES.filter((g) => 2 * g.ph <= g.kh && 2 * g.pw <= g.kw);

function outHW(g: Geometry): [number, number] {
  return [Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1];
}

function label(g: Geometry): string {
  return `N${g.n} C${g.c} ${g.h}×${g.w} k${g.kh}×${g.kw} s${g.sh}×${g.sw} p${g.ph}×${g.pw}`;
}

function args(g: Geometry): [number, number, number, number, number, number, number, number, number, number] {
  return [g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw];
}

/** x[n, c, i, j] or 0 in the padding. */
function pixel(x: ArrayLike<number>, g: Geometry, b: number, ch: number, i: number, j: number): number | undefined {
  if (i < 0 || i >= g.h || j < 0 || j >= g.w) return undefined;
  return x[((b * g.c + ch) * g.h + i) * g.w + j];
}

/** Calls visit(b, ch, oh, ow, u, v, i, j) for every window position of every output. */
function forEachWindow(g: Geometry, visit: (b: number, ch: number, oh: number, ow: number, u: number, v: number, i: number, j: number) => void): void {
  const [OH, OW] = outHW(g);
  for (let b = 0; b < g.n; b++) for (let ch = 0; ch < g.c; ch++) {
    for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      for (let u = 0; u < g.kh; u++) for (let v = 0; v < g.kw; v++) {
        visit(b, ch, oh, ow, u, v, oh * g.sh - g.ph + u, ow * g.sw - g.pw + v);
      }
    }
  }
}


// ── Batch convolution ────────────────────────────────────────────────────────────────────────

/** One convolution: batch, channels, input size, window, stride, padding, filters. */
export interface ConvCase {
  n: number; c: number; h: number; w: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; oc: number;
}

export const CONV_CASES: ConvCase[] = [
  { n: 1, c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, oc: 1 },
  { n: 3, c: 2, h: 7, w: 5, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 0, oc: 3 },
  { n: 13, c: 3, h: 9, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, oc: 4 },
  { n: 8, c: 2, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oc: 5 },
  { n: 9, c: 4, h: 5, w: 9, kh: 2, kw: 4, sh: 1, sw: 2, ph: 0, pw: 0, oc: 3 },
  { n: 2, c: 2, h: 3, w: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2, oc: 2 }, // corners see only padding
  { n: 17, c: 1, h: 12, w: 13, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 2 },
  { n: 20, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 8 }, // the small CNN's layers
  { n: 11, c: 8, h: 12, w: 12, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 16 },
];

/** OH, OW. */
export function convOut(g: ConvCase): [number, number] {
  return [Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1];
}

/** The kernels' size arguments after the buffers: n, c, h, w, kh, kw, sh, sw, ph, pw, oc. */
export function convArgs(g: ConvCase): [number, number, number, number, number, number, number, number, number, number, number] {
  return [g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oc];
}

export function convLabel(g: ConvCase): string {
  return `N${g.n} C${g.c} ${g.h}×${g.w} k${g.kh}×${g.kw} s${g.sh}×${g.sw} p${g.ph}×${g.pw} OC${g.oc}`;
}

/** Calls visit(b, o, ch, i, j, u, v, xi) for every term W[o, ch, u, v] · x[b, ch, xi] of y[b, o, i, j]. */
function forEachTerm(g: ConvCase, visit: (b: number, o: number, ch: number, yi: number, wi: number, xi: number) => void): void {
  const [OH, OW] = convOut(g);
  for (let b = 0; b < g.n; b++) for (let o = 0; o < g.oc; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    const yi = ((b * g.oc + o) * OH + i) * OW + j;
    for (let ch = 0; ch < g.c; ch++) for (let u = 0; u < g.kh; u++) for (let v = 0; v < g.kw; v++) {
      const r = i * g.sh - g.ph + u;
      const s = j * g.sw - g.pw + v;
      if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
      visit(b, o, ch, yi, ((o * g.c + ch) * g.kh + u) * g.kw + v, ((b * g.c + ch) * g.h + r) * g.w + s);
    }
  }
}

/** An array in the backend's memory, entry i = value(i). */
function made(backend: Backend, length: number, value: (i: number) => number): Float32Array {
  const a = backend.allocate(length);
  for (let i = 0; i < length; i++) a[i] = value(i);
  return a;
}

const CHANNEL_SHAPES: [number, number, number][] = [[1, 1, 1], [3, 2, 1], [2, 3, 7], [5, 1, 13], [4, 6, 25]];

/** The window maxima of x (padding is −∞) and where each was found (the first on ties). */
function windowMax(x: ArrayLike<number>, g: Geometry): { best: Float64Array; at: Int32Array } {
  const [OH, OW] = outHW(g);
  const outLen = g.n * g.c * OH * OW;
  const best = new Float64Array(outLen).fill(-Infinity);
  const at = new Int32Array(outLen).fill(-1);
  forEachWindow(g, (b, ch, oh, ow, _u, _v, i, j) => {
    const v = pixel(x, g, b, ch, i, j);
    const o = ((b * g.c + ch) * OH + oh) * OW + ow;
    if (v !== undefined && v > best[o]) {
      best[o] = v;
      at[o] = ((b * g.c + ch) * g.h + i) * g.w + j;
    }
  });
  return { best, at };
}

/** Per-channel float64 mean and biased variance of x: (N, C, S). */
function channelStats(x: ArrayLike<number>, n: number, c: number, s: number): { mu: Float64Array; va: Float64Array } {
  const m = n * s;
  const mu = new Float64Array(c);
  const va = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mu[Math.floor(i / s) % c] += x[i] / m;
  for (let i = 0; i < x.length; i++) { const ch = Math.floor(i / s) % c; va[ch] += (x[i] - mu[ch]) ** 2 / m; }
  return { mu, va };
}

/** batchNormNormalize's operands: x random + `offset`, its own channel statistics, random γ, β. */
function normalizeOperands(backend: Backend, n: number, c: number, s: number, rng: Rng, offset: number) {
  const x = inBackend(backend, Array.from(random(backend, n * c * s, rng), (v) => offset + v));
  const { mu, va } = channelStats(x, n, c, s);
  const mean = inBackend(backend, mu);
  const invStd = inBackend(backend, Array.from(va, (v) => 1 / Math.sqrt(v + 1e-5)));
  return { x, mu, mean, invStd, gamma: random(backend, c, rng), beta: random(backend, c, rng) };
}

/** Every kernel's cases, keyed by its Backend method. */
export const KERNEL_CASES: Record<KernelName, KernelCase[]> = {
  allocate: [{
    title: 'returns zero-filled arrays of the length asked for, that the backend\'s kernels take',
    run: (be) => {
      for (const n of [1, 17, 1000]) {
        const a = be.allocate(n);
        assert.equal(a.length, n);
        assert.ok(a.every((v) => v === 0), `allocate(${n}) is zeroed`);
        be.fill(a, 2, n);
        assert.ok(a.every((v) => v === 2));
      }
    },
  }],
  gemm: gemmCases,
  sumSquares: [{
    title: 'matches the JS reference to 1e-12 on lengths 1, 3, 4, 17, 1000 and 100,003 (split over threads)',
    run: (be) => {
      const rng = new Rng(11);
      for (const n of [...LENGTHS, LONG]) {
        const x = filled((len) => be.allocate(len), n, rng, 3);
        const got = be.sumSquares(x, n);
        const want = ref.sumSquares(x, n);
        assert.ok(Math.abs(got - want) <= 1e-12 * want, `sumSquares n=${n}: ${got} vs ${want}`);
      }
    },
  }],
  // A value, then zeros over the first half: both of the wasm kernel's paths.
  fill: [likeReference((b, o, _x, _dy, _y, n) => {
    b.fill(o, 2.5, n);
    b.fill(o, 0, n >> 1);
  })],
  gatherRows: [{
    title: 'copies the ordered rows, from its own memory and from plain arrays, and rejects bad indices',
    run: (be) => {
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
    },
  }],
  prefetchRows: [{
    title: 'takes on only gathers from its own memory, which gatherRows then finishes with the same rows, whoever made them',
    run: (be) => {
      if (!be.prefetchRows) return; // optional: a backend without it gathers every batch in gatherRows
      const rng = new Rng(18);
      const [rows, width] = [300, 784];
      const src = filled((n) => be.allocate(n), rows * width, rng);
      const orderBuf = be.allocate(rows);
      const order = new Uint32Array(orderBuf.buffer, orderBuf.byteOffset, rows);
      order.forEach((_, i) => (order[i] = Math.floor(rng.uniform() * rows)));
      const want = (start: number, count: number) => {
        const w = new Float32Array(64 * width);
        for (let r = 0; r < count; r++) w.set(src.subarray(order[start + r] * width, (order[start + r] + 1) * width), r * width);
        return w;
      };
      // A job long enough to be split over the threads, after which a prefetch goes to a worker.
      const long = filled((n) => be.allocate(n), LONG, rng);
      for (const [start, count, between] of [[0, 64, true], [250, 50, true], [64, 64, false]] as const) {
        const out = be.allocate(64 * width);
        const taken = be.prefetchRows(out, src, order, start, count, width);
        if (between) be.sumSquares(long, LONG);
        be.gatherRows(out, src, order, start, count, width);
        assert.deepEqual(out, want(start, count), `rows ${start}+${count} (${taken ? 'taken on' : 'declined'})`);
      }
      // Asked for other rows than it took on: those rows, right.
      const [early, other] = [be.allocate(64 * width), be.allocate(64 * width)];
      be.prefetchRows(early, src, order, 0, 64, width);
      be.sumSquares(long, LONG);
      be.gatherRows(other, src, order, 100, 64, width);
      assert.deepEqual(other, want(100, 64));
      // From plain arrays: declined.
      const plain = new Float32Array(rows * width);
      assert.equal(be.prefetchRows(new Float32Array(64 * width), plain, order, 0, 64, width), false);
      order[5] = rows;
      const out = be.allocate(64 * width);
      let taken = false;
      try {
        taken = be.prefetchRows(out, src, order, 0, 64, width);
      } catch (err) {
        assert.match((err as Error).message, /row indices below 300/);
      }
      assert.equal(taken, false, 'bad rows are never taken on');
      assert.throws(() => be.gatherRows(out, src, order, 0, 64, width), /row indices below 300/);
    },
  }],
  addRowVector: [
    rowsLikeReference(all, (b, o, x, v, _t, rows, cols) => b.addRowVector(o, x, v, rows, cols)),
    {
      title: 'out[r, j] = x[r, j] + v[j] exactly, into a fresh buffer and in place',
      run: (be) => {
        const rng = new Rng(6);
        for (const [rows, cols] of ROW_SHAPES) {
          const x = random(be, rows * cols, rng, 3);
          const v = random(be, cols, rng, 3);
          const want = Array.from(x, (xv, i) => Math.fround(xv + v[i % cols]));
          const out = nans(be, rows * cols);
          be.addRowVector(out, x, v, rows, cols);
          assert.deepEqual(Array.from(out), want);
          be.addRowVector(x, x, v, rows, cols);
          assert.deepEqual(Array.from(x), want);
        }
      },
    },
  ],
  sumRows: [
    rowsLikeReference((_rows, cols) => cols, (b, o, x, _v, _t, rows, cols) => b.sumRows(o, x, rows, cols, 0)),
    rowsLikeReference((_rows, cols) => cols, (b, o, x, _v, _t, rows, cols) => b.sumRows(o, x, rows, cols, 0.5)),
    {
      title: 'column sums against float64, with beta = 0 (ignores NaN in out), 1 (accumulates) and 0.5',
      run: (be) => {
        const rng = new Rng(5);
        for (const [rows, cols] of ROW_SHAPES) {
          const x = random(be, rows * cols, rng, 3);
          const sums = new Float64Array(cols);
          for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) sums[j] += x[r * cols + j];
          const fresh = nans(be, cols);
          be.sumRows(fresh, x, rows, cols, 0);
          assertClose(fresh, sums, { rtol: 1e-6, atol: 1e-6, label: `sumRows β=0 ${rows}×${cols}` });
          for (const beta of [1, 0.5]) {
            const old = random(be, cols, rng, 3);
            const out = inBackend(be, old);
            be.sumRows(out, x, rows, cols, beta);
            assertClose(out, Array.from(sums, (s, j) => beta * old[j] + s), { rtol: 1e-6, atol: 1e-6, label: `sumRows β=${beta}` });
          }
        }
      },
    },
  ],
  relu: [
    likeReference((b, o, x, _dy, _y, n) => b.relu(o, x, n)),
    unary('max(x, 0)', (b, o, x, n) => b.relu(o, x, n), (x) => Math.max(x, 0), 0),
    {
      title: 'in place (out = x)',
      run: (be) => {
        const rng = new Rng(11);
        for (const n of LENGTHS) {
          const x = filled((len) => new Float32Array(len), n, rng, 3);
          const own = inBackend(be, x);
          be.relu(own, own, n);
          ref.relu(x, x, n);
          assertClose(own, x, { label: `relu in place n=${n}` });
        }
      },
    },
  ],
  reluBackward: [
    likeReference((b, o, x, dy, _y, n) => b.reluBackward(o, dy, x, n)),
    backward('dy·[x > 0]', (b, dx, dy, x, n) => b.reluBackward(dx, dy, x, n), (x) => x, (dy, x) => (x > 0 ? dy : 0)),
    {
      title: 'at exactly 0 the subgradient is 0 (PyTorch\'s choice too)',
      run: (be) => {
        const dx = nans(be, 1);
        be.reluBackward(dx, inBackend(be, [5]), inBackend(be, [0]), 1);
        assert.equal(dx[0], 0);
      },
    },
  ],
  leakyRelu: [
    likeReference((b, o, x, _dy, _y, n) => b.leakyRelu(o, x, n, 0.1)),
    ...SLOPES.map((slope) => unary(`slope ${slope}`, (b, o, x, n) => b.leakyRelu(o, x, n, slope), (x) => (x > 0 ? x : slope * x))),
  ],
  leakyReluBackward: [
    likeReference((b, o, x, dy, _y, n) => b.leakyReluBackward(o, dy, x, n, 0.1)),
    ...SLOPES.map((slope) => backward(`slope ${slope}`, (b, dx, dy, x, n) => b.leakyReluBackward(dx, dy, x, n, slope),
      (x) => x, (dy, x) => (x > 0 ? dy : slope * dy))),
  ],
  sigmoid: [
    likeReference((b, o, x, _dy, _y, n) => b.sigmoid(o, x, n)),
    unary('1 / (1 + e^−x)', (b, o, x, n) => b.sigmoid(o, x, n), sigmoid64),
    {
      title: 'saturates cleanly at ±1000',
      run: (be) => {
        const out = be.allocate(4);
        be.sigmoid(out, inBackend(be, [-1000, 1000, 0, -88]), 4);
        assert.deepEqual(Array.from(out).slice(0, 3), [0, 1, 0.5]);
        assert.ok(out[3] > 0 && out[3] < 1e-37);
      },
    },
  ],
  sigmoidBackward: [
    likeReference((b, o, _x, dy, y, n) => b.sigmoidBackward(o, dy, y, n)),
    backward('from the output a: dy·a(1 − a)', (b, dx, dy, a, n) => b.sigmoidBackward(dx, dy, a, n), sigmoid64, (dy, a) => dy * a * (1 - a)),
  ],
  tanh: [
    likeReference((b, o, x, _dy, _y, n) => b.tanh(o, x, n)),
    unary('tanh x', (b, o, x, n) => b.tanh(o, x, n), Math.tanh),
  ],
  tanhBackward: [
    likeReference((b, o, _x, dy, y, n) => b.tanhBackward(o, dy, y, n)),
    backward('from the output a: dy·(1 − a²)', (b, dx, dy, a, n) => b.tanhBackward(dx, dy, a, n), Math.tanh, (dy, a) => dy * (1 - a * a)),
  ],
  softmax: [
    rowsLikeReference(all, (b, o, x, _v, _t, rows, cols) => b.softmax(o, x, rows, cols)),
    {
      title: 'matches the float64 reference and every row sums to 1',
      run: (be) => {
        const rng = new Rng(3);
        for (const [rows, cols] of ROW_SHAPES) {
          const x = random(be, rows * cols, rng, 5);
          const out = nans(be, rows * cols);
          be.softmax(out, x, rows, cols);
          assertClose(out, softmax64(x, rows, cols), { rtol: 1e-6, atol: 1e-8, label: `softmax ${rows}×${cols}` });
          for (let r = 0; r < rows; r++) {
            let s = 0;
            for (let j = 0; j < cols; j++) s += out[r * cols + j];
            assert.ok(Math.abs(s - 1) < 1e-6, `row ${r} sums to ${s}`);
          }
        }
      },
    },
    {
      title: 'of large values is stable: [1000, 1001, 1002] = softmax([0, 1, 2]); in place works',
      run: (be) => {
        const big = be.allocate(3);
        be.softmax(big, inBackend(be, [1000, 1001, 1002]), 1, 3);
        const small = be.allocate(3);
        be.softmax(small, inBackend(be, [0, 1, 2]), 1, 3);
        assert.ok(big.every(Number.isFinite));
        assertClose(big, small, { rtol: 1e-6, atol: 0 });
        const huge = be.allocate(3);
        be.softmax(huge, inBackend(be, [3e38, -3e38, 3e38]), 1, 3);
        assert.deepEqual(Array.from(huge), [0.5, 0, 0.5]);
        // out === x (predictProbabilities does this).
        const x = inBackend(be, [1, 2, 3, -1, 0, 1]);
        const expected = softmax64(x, 2, 3);
        be.softmax(x, x, 2, 3);
        assertClose(x, expected, { rtol: 1e-6, atol: 1e-8 });
      },
    },
  ],
  softmaxBackward: [
    rowsLikeReference(all, (b, o, x, _v, t, rows, cols) => b.softmaxBackward(o, t, x, rows, cols)),
    {
      title: 'is the Jacobian-vector product: dx_i = Σ_j (∂y_j/∂x_i) dy_j',
      run: (be) => {
        const rng = new Rng(4);
        for (const [rows, cols] of ROW_SHAPES) {
          const x = random(be, rows * cols, rng, 2);
          const y = inBackend(be, softmax64(x, rows, cols));
          const dy = random(be, rows * cols, rng);
          const dx = nans(be, rows * cols);
          be.softmaxBackward(dx, dy, y, rows, cols);
          // Full Jacobian ∂y_j/∂x_i = y_j(δ_ij − y_i), multiplied out in float64.
          const want = new Float64Array(rows * cols);
          for (let r = 0; r < rows; r++) {
            for (let i = 0; i < cols; i++) {
              let s = 0;
              for (let j = 0; j < cols; j++) s += y[r * cols + j] * ((i === j ? 1 : 0) - y[r * cols + i]) * dy[r * cols + j];
              want[r * cols + i] = s;
            }
          }
          assertClose(dx, want, { rtol: 1e-5, atol: 1e-7, label: `softmaxBackward ${rows}×${cols}` });
        }
      },
    },
  ],
  softmaxCrossEntropy: [
    rowsLikeReference(all, (b, o, x, _v, t, rows, cols) => b.softmaxCrossEntropy(o, x, t, rows, cols, 1 / rows)),
    {
      title: 'Σ_rows −Σ t log p and scale·(p·Σt − t), also for soft and unnormalised targets',
      run: (be) => {
        const rng = new Rng(8);
        for (const [rows, cols] of ROW_SHAPES) {
          const z = random(be, rows * cols, rng, 4);
          // Non-negative targets that do not sum to 1 exercise the general p·Σt − t form.
          const t = inBackend(be, Array.from({ length: rows * cols }, () => rng.uniform()));
          const p = softmax64(z, rows, cols);
          let want = 0;
          const dwant = new Float64Array(rows * cols);
          for (let r = 0; r < rows; r++) {
            let tsum = 0;
            for (let j = 0; j < cols; j++) tsum += t[r * cols + j];
            for (let j = 0; j < cols; j++) {
              want -= t[r * cols + j] * Math.log(p[r * cols + j]);
              dwant[r * cols + j] = 0.25 * (p[r * cols + j] * tsum - t[r * cols + j]);
            }
          }
          const d = nans(be, rows * cols);
          const value = be.softmaxCrossEntropy(d, z, t, rows, cols, 0.25);
          assert.ok(Math.abs(value - want) <= 1e-10 * Math.max(1, Math.abs(want)), `${rows}×${cols}: ${value} vs ${want}`);
          assertClose(d, dwant, { rtol: 1e-5, atol: 1e-7, label: `softmaxCrossEntropy grad ${rows}×${cols}` });
        }
      },
    },
    {
      title: 'the JS reference\'s gradient bit for bit and its loss to 1e-15, in place too, with NaN and ±∞ logits',
      run: (be) => {
        const rng = new Rng(13);
        for (let trial = 0; trial < 300; trial++) {
          const rows = 1 + (trial % 37);
          const cols = 1 + ((trial * 7) % 13);
          const n = rows * cols;
          const spread = [3, 30, 300][trial % 3];
          const z = Array.from({ length: n }, () => spread * (2 * rng.uniform() - 1));
          if (trial % 10 === 9) for (const [i, v] of [[0, NaN], [n >> 1, -Infinity], [n - 1, Infinity]] as const) z[i] = v;
          const t = Array.from({ length: n }, (_, i) => (trial % 5 === 0 ? rng.uniform() : i % cols === trial % cols ? 1 : 0));
          const inPlace = trial % 4 === 1;
          const x = inBackend(be, z);
          const d = inPlace ? x : nans(be, n);
          const want = new Float32Array(n);
          const loss = be.softmaxCrossEntropy(d, x, inBackend(be, t), rows, cols, 1 / rows);
          const lossWant = ref.softmaxCrossEntropy(want, Float32Array.from(z), Float32Array.from(t), rows, cols, 1 / rows);
          const label = `${rows}×${cols}, trial ${trial}`;
          for (let i = 0; i < n; i++) assert.ok(Object.is(d[i], want[i]), `${label}: dlogits[${i}] ${d[i]} vs ${want[i]}`);
          assert.ok(Object.is(loss, lossWant) || Math.abs(loss - lossWant) <= 1e-15 * Math.abs(lossWant), `${label}: loss ${loss} vs ${lossWant}`);
        }
      },
    },
  ],
  squaredError: [
    rowsLikeReference(all, (b, o, x, _v, t, rows, cols) => b.squaredError(o, x, t, rows * cols, 0.5)),
    {
      title: 'returns Σ (p − t)² in float64 and writes scale·2(p − t)',
      run: (be) => {
        const rng = new Rng(7);
        for (const n of SIZES) {
          const p = random(be, n, rng, 3);
          const t = random(be, n, rng, 3);
          const d = nans(be, n);
          const scale = 1 / 3;
          const value = be.squaredError(d, p, t, n, scale);
          let want = 0;
          for (let i = 0; i < n; i++) want += (p[i] - t[i]) ** 2;
          assert.ok(Math.abs(value - want) <= 1e-12 * want, `n=${n}: ${value} vs ${want}`);
          assertClose(d, Array.from(p, (v, i) => scale * 2 * (v - t[i])), { rtol: 1e-6, atol: 0 });
        }
      },
    },
  ],
  multiply: [{
    title: 'out[i] = a[i] · b[i]',
    run: (be) => {
      const rng = new Rng(16);
      for (const [n, c, s] of CHANNEL_SHAPES) {
        const x = random(be, n * c * s, rng);
        const other = random(be, x.length, rng);
        const prod = nans(be, x.length);
        be.multiply(prod, x, other, x.length);
        assertClose(prod, Array.from(x, (v, i) => v * other[i]), { rtol: 1e-7, atol: 0, label: `multiply ${x.length}` });
      }
    },
  }],
  im2col: [{
    title: 'equals the definition (exact copies, zeros in the padding)',
    run: (backend) => {
      const rng = new Rng(11);
      for (const g of GEOMETRIES) {
        const [OH, OW] = outHW(g);
        const x = random(backend, g.n * g.c * g.h * g.w, rng);
        const rows = g.c * g.kh * g.kw;
        const cols = nans(backend, g.n * rows * OH * OW);
        backend.im2col(cols, x, ...args(g));
        const expected = new Float64Array(cols.length);
        forEachWindow(g, (b, ch, oh, ow, u, v, i, j) => {
          expected[(b * rows + (ch * g.kh + u) * g.kw + v) * OH * OW + oh * OW + ow] = pixel(x, g, b, ch, i, j) ?? 0;
        });
        assertClose(cols, expected, { rtol: 0, atol: 0, label: `im2col ${label(g)}` });
      }
    },
  }],
  col2im: [
    {
      title: 'adds every column entry back into its pixel (and keeps what dx held)',
      run: (backend) => {
        const rng = new Rng(12);
        for (const g of GEOMETRIES) {
          const [OH, OW] = outHW(g);
          const rows = g.c * g.kh * g.kw;
          const cols = random(backend, g.n * rows * OH * OW, rng);
          const start = random(backend, g.n * g.c * g.h * g.w, rng);
          const dx = inBackend(backend, start);
          backend.col2im(dx, cols, ...args(g));
          const expected = Float64Array.from(start);
          forEachWindow(g, (b, ch, oh, ow, u, v, i, j) => {
            if (pixel(start, g, b, ch, i, j) === undefined) return;
            expected[((b * g.c + ch) * g.h + i) * g.w + j] += cols[(b * rows + (ch * g.kh + u) * g.kw + v) * OH * OW + oh * OW + ow];
          });
          assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `col2im ${label(g)}` });
        }
      },
    },
    {
      title: 'is the adjoint of im2col: <im2col(x), r> = <x, col2im(r)>',
      run: (backend) => {
        const rng = new Rng(13);
        for (const g of GEOMETRIES) {
          const [OH, OW] = outHW(g);
          const size = g.n * g.c * g.kh * g.kw * OH * OW;
          const x = random(backend, g.n * g.c * g.h * g.w, rng);
          const r = random(backend, size, rng);
          const cols = backend.allocate(size);
          backend.im2col(cols, x, ...args(g));
          const back = backend.allocate(x.length);
          backend.col2im(back, r, ...args(g));
          let lhs = 0;
          let rhs = 0;
          for (let i = 0; i < size; i++) lhs += cols[i] * r[i];
          for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
          assert.ok(Math.abs(lhs - rhs) <= 1e-4 * (1 + Math.abs(lhs)), `${label(g)}: ${lhs} vs ${rhs}`);
        }
      },
    },
  ],
  addChannelBias: [{
    title: 'out[n, c, s] = x[n, c, s] + b[c]',
    run: (backend) => {
      const rng = new Rng(16);
      for (const [n, c, s] of CHANNEL_SHAPES) {
        const x = random(backend, n * c * s, rng);
        const bias = random(backend, c, rng);
        const out = nans(backend, x.length);
        backend.addChannelBias(out, x, bias, n, c, s);
        assertClose(out, Array.from(x, (v, i) => v + bias[Math.floor(i / s) % c]), { rtol: 1e-7, atol: 1e-7, label: `addChannelBias ${n},${c},${s}` });
      }
    },
  }],
  sumChannels: [{
    title: 'per-channel sums, with beta 0 (written fresh) and 1 (added)',
    run: (backend) => {
      const rng = new Rng(16);
      for (const [n, c, s] of CHANNEL_SHAPES) {
        const x = random(backend, n * c * s, rng);
        const sums = new Float64Array(c);
        x.forEach((v, i) => { sums[Math.floor(i / s) % c] += v; });
        const fresh = nans(backend, c);
        backend.sumChannels(fresh, x, n, c, s, 0);
        assertClose(fresh, sums, { rtol: 1e-5, atol: 1e-5, label: `sumChannels beta 0 ${n},${c},${s}` });
        const start = random(backend, c, rng);
        const acc = inBackend(backend, start);
        backend.sumChannels(acc, x, n, c, s, 1);
        assertClose(acc, sums.map((v, i) => v + start[i]), { rtol: 1e-5, atol: 1e-5, label: `sumChannels beta 1 ${n},${c},${s}` });
      }
    },
  }],
  conv2dForward: [{
    title: 'equals the cross-correlation definition, with and without bias',
    run: (backend) => {
      const rng = new Rng(21);
      for (const g of CONV_CASES) {
        const [OH, OW] = convOut(g);
        const x = made(backend, g.n * g.c * g.h * g.w, () => rng.normal());
        const weight = made(backend, g.oc * g.c * g.kh * g.kw, () => rng.normal());
        const bias = made(backend, g.oc, () => rng.normal());
        const expected = new Float64Array(g.n * g.oc * OH * OW);
        forEachTerm(g, (_b, _o, _ch, yi, wi, xi) => { expected[yi] += weight[wi] * x[xi]; });
        // A sum of C·KH·KW float32 products: its rounding grows with the count.
        const atol = 1e-6 * g.c * g.kh * g.kw;
        const y = made(backend, expected.length, () => NaN);
        backend.conv2dForward(y, x, weight, undefined, ...convArgs(g));
        assertClose(y, expected, { rtol: 1e-5, atol, label: `conv2dForward ${convLabel(g)} no bias` });
        y.fill(NaN);
        backend.conv2dForward(y, x, weight, bias, ...convArgs(g));
        const s = OH * OW;
        assertClose(y, expected.map((v, i) => v + bias[Math.floor(i / s) % g.oc]), { rtol: 1e-5, atol, label: `conv2dForward ${convLabel(g)}` });
      }
    },
  }],
  conv2dBackward: [{
    title: 'adds dW and db, writes dx fresh, and skips what is not asked for',
    run: (backend) => {
      const rng = new Rng(22);
      for (const g of CONV_CASES) {
        const [OH, OW] = convOut(g);
        const s = OH * OW;
        const x = made(backend, g.n * g.c * g.h * g.w, () => rng.normal());
        const weight = made(backend, g.oc * g.c * g.kh * g.kw, () => rng.normal());
        const dy = made(backend, g.n * g.oc * s, () => rng.normal());
        const dW0 = Float32Array.from({ length: weight.length }, () => rng.normal());
        const db0 = Float32Array.from({ length: g.oc }, () => rng.normal());
        const dWsum = new Float64Array(weight.length);
        const dxExpected = new Float64Array(x.length);
        forEachTerm(g, (_b, _o, _ch, yi, wi, xi) => {
          dWsum[wi] += dy[yi] * x[xi];
          dxExpected[xi] += dy[yi] * weight[wi];
        });
        const dbSum = new Float64Array(g.oc);
        dy.forEach((v, i) => { dbSum[Math.floor(i / s) % g.oc] += v; });
        const dW = made(backend, weight.length, (i) => dW0[i]);
        const db = made(backend, g.oc, (i) => db0[i]);
        const dx = made(backend, x.length, () => NaN);
        backend.conv2dBackward(dW, db, dx, x, dy, weight, ...convArgs(g));
        const what = `conv2dBackward ${convLabel(g)}`;
        // dW and db sum N·OH·OW products; dx sums at most OC·KH·KW.
        assertClose(dW, dWsum.map((v, i) => v + dW0[i]), { rtol: 1e-5, atol: 2e-6 * g.n * s, label: `${what} dW` });
        assertClose(db, dbSum.map((v, i) => v + db0[i]), { rtol: 1e-5, atol: 2e-6 * g.n * s, label: `${what} db` });
        assertClose(dx, dxExpected, { rtol: 1e-5, atol: 1e-6 * g.oc * g.kh * g.kw, label: `${what} dx` });
        // Without dx and db: dW alone, the same sums.
        const dWonly = made(backend, weight.length, (i) => dW0[i]);
        backend.conv2dBackward(dWonly, undefined, undefined, x, dy, weight, ...convArgs(g));
        assertClose(dWonly, dW, { rtol: 1e-6, atol: 1e-6, label: `${what} dW without db, dx` });
      }
    },
  }],
  maxPool: [{
    title: 'equals the window definition (padding is −∞)',
    run: (backend) => {
      const rng = new Rng(14);
      for (const g of POOL_GEOMETRIES) {
        const [OH, OW] = outHW(g);
        const x = random(backend, g.n * g.c * g.h * g.w, rng);
        const y = nans(backend, g.n * g.c * OH * OW);
        backend.maxPool(y, x, ...args(g));
        assertClose(y, windowMax(x, g).best, { rtol: 0, atol: 0, label: `maxPool ${label(g)}` });
      }
    },
  }],
  maxPoolBackward: [
    {
      title: 'routes each dy to its window\'s maximum (dx written fresh)',
      run: (backend) => {
        const rng = new Rng(14);
        for (const g of POOL_GEOMETRIES) {
          const [OH, OW] = outHW(g);
          const x = random(backend, g.n * g.c * g.h * g.w, rng);
          const outLen = g.n * g.c * OH * OW;
          const { at } = windowMax(x, g);
          const dy = random(backend, outLen, rng);
          const dx = nans(backend, x.length);
          backend.maxPoolBackward(dx, dy, x, ...args(g));
          const expected = new Float64Array(x.length);
          for (let o = 0; o < outLen; o++) expected[at[o]] += dy[o];
          assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `maxPoolBackward ${label(g)}` });
        }
      },
    },
    {
      title: 'takes the first of tied maxima, as the forward does',
      run: (backend) => {
        const g: Geometry = { n: 1, c: 1, h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 };
        const x = inBackend(backend, [1, 3, 3, 0]);
        const dx = nans(backend, 4);
        backend.maxPoolBackward(dx, inBackend(backend, [5]), x, ...args(g));
        assert.deepEqual([...dx], [0, 5, 0, 0]);
      },
    },
  ],
  avgPool: [{
    title: 'equals the window definition (padding counts, divisor KH·KW)',
    run: (backend) => {
      const rng = new Rng(15);
      for (const g of POOL_GEOMETRIES) {
        const [OH, OW] = outHW(g);
        const x = random(backend, g.n * g.c * g.h * g.w, rng);
        const outLen = g.n * g.c * OH * OW;
        const y = nans(backend, outLen);
        backend.avgPool(y, x, ...args(g));
        const sum = new Float64Array(outLen);
        forEachWindow(g, (b, ch, oh, ow, _u, _v, i, j) => {
          sum[((b * g.c + ch) * OH + oh) * OW + ow] += pixel(x, g, b, ch, i, j) ?? 0;
        });
        assertClose(y, sum.map((s) => s / (g.kh * g.kw)), { rtol: 1e-6, atol: 1e-6, label: `avgPool ${label(g)}` });
      }
    },
  }],
  avgPoolBackward: [{
    title: 'gives every pixel of a window dy / (KH·KW) (dx written fresh)',
    run: (backend) => {
      const rng = new Rng(15);
      for (const g of POOL_GEOMETRIES) {
        const [OH, OW] = outHW(g);
        const outLen = g.n * g.c * OH * OW;
        const dy = random(backend, outLen, rng);
        const dx = nans(backend, g.n * g.c * g.h * g.w);
        backend.avgPoolBackward(dx, dy, ...args(g));
        const expected = new Float64Array(dx.length);
        forEachWindow(g, (b, ch, oh, ow, _u, _v, i, j) => {
          if (i < 0 || i >= g.h || j < 0 || j >= g.w) return;
          expected[((b * g.c + ch) * g.h + i) * g.w + j] += dy[((b * g.c + ch) * OH + oh) * OW + ow] / (g.kh * g.kw);
        });
        assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `avgPoolBackward ${label(g)}` });
      }
    },
  }],
  batchNormStats: [{
    title: 'mean and biased variance against float64 two-pass loops, far from 0',
    run: (backend) => {
      const rng = new Rng(17);
      for (const [n, c, s] of CHANNEL_SHAPES) {
        // An offset of 100 makes the one-pass formula Σx² − Mμ² lose digits; two passes do not.
        const x = inBackend(backend, Array.from(random(backend, n * c * s, rng), (v) => 100 + v));
        const mean = nans(backend, c);
        const variance = nans(backend, c);
        backend.batchNormStats(mean, variance, x, n, c, s);
        const { mu, va } = channelStats(x, n, c, s);
        assertClose(mean, mu, { rtol: 1e-6, atol: 1e-6, label: `batchNormStats mean ${n},${c},${s}` });
        assertClose(variance, va, { rtol: 1e-4, atol: 1e-5, label: `batchNormStats var ${n},${c},${s}` });
      }
    },
  }],
  batchNormNormalize: [{
    title: '(x − mean)·invStd·gamma + beta against float64, far from 0',
    run: (backend) => {
      const rng = new Rng(17);
      for (const [n, c, s] of CHANNEL_SHAPES) {
        const { x, mu, mean, invStd, gamma, beta } = normalizeOperands(backend, n, c, s, rng, 100);
        const y = nans(backend, x.length);
        backend.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
        const expected = Array.from(x, (v, i) => {
          const ch = Math.floor(i / s) % c;
          return (v - mu[ch]) * invStd[ch] * gamma[ch] + beta[ch];
        });
        assertClose(y, expected, { rtol: 1e-4, atol: 1e-4, label: `batchNormNormalize ${n},${c},${s}` });
      }
    },
  }, {
    title: 'with relu: bit for bit the relu of its own output without (a following ReLU\'s forward)',
    run: (backend) => {
      const rng = new Rng(18);
      let zeros = 0, positives = 0;
      for (const [n, c, s] of CHANNEL_SHAPES) {
        const { x, mean, invStd, gamma, beta } = normalizeOperands(backend, n, c, s, rng, 0);
        const y = nans(backend, x.length);
        backend.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
        const expected = nans(backend, x.length);
        backend.relu(expected, y, y.length);
        const fused = nans(backend, x.length);
        backend.batchNormNormalize(fused, x, mean, invStd, gamma, beta, n, c, s, true);
        assert.deepEqual(fused, expected, `batchNormNormalize relu ${n},${c},${s}`);
        zeros += fused.filter((v) => v === 0).length;
        positives += fused.filter((v) => v > 0).length;
      }
      assert.ok(zeros > 10 && positives > 10, `both sides of the ReLU: ${zeros} zeros, ${positives} positive`);
    },
  }],
  batchNormBackward: [{
    title: 'against float64 central differences of Σ dy·BN(x); adds dgamma and dbeta; with running statistics dx = γ·invStd·dy',
    run: (backend) => {
      const rng = new Rng(18);
      const eps = 1e-5;
      for (const [n, c, s] of CHANNEL_SHAPES) {
        if (n * s < 2) continue; // one value per channel: x̂ = 0 whatever x is
        const x64 = Float64Array.from(normals(n * c * s, rng));
        const gamma64 = Float64Array.from(normals(c, rng));
        const dy64 = Float64Array.from(normals(x64.length, rng));
        // f(x) = Σ dy · (γ·(x − μ_B)/sqrt(σ²_B + ε) + β), in float64; β drops out of ∂f/∂x.
        const f = (xs: Float64Array): number => {
          const m = n * s;
          const mu = new Float64Array(c);
          const va = new Float64Array(c);
          xs.forEach((v, i) => { mu[Math.floor(i / s) % c] += v / m; });
          xs.forEach((v, i) => { const ch = Math.floor(i / s) % c; va[ch] += (v - mu[ch]) ** 2 / m; });
          let total = 0;
          xs.forEach((v, i) => { const ch = Math.floor(i / s) % c; total += dy64[i] * gamma64[ch] * (v - mu[ch]) / Math.sqrt(va[ch] + eps); });
          return total;
        };
        const numeric = new Float64Array(x64.length);
        const hstep = 1e-5;
        for (let i = 0; i < x64.length; i++) {
          const saved = x64[i];
          x64[i] = saved + hstep;
          const up = f(x64);
          x64[i] = saved - hstep;
          const down = f(x64);
          x64[i] = saved;
          numeric[i] = (up - down) / (2 * hstep);
        }
        const x = inBackend(backend, x64);
        const mean = backend.allocate(c);
        const variance = backend.allocate(c);
        backend.batchNormStats(mean, variance, x, n, c, s);
        const invStd = inBackend(backend, Array.from(variance, (v) => 1 / Math.sqrt(v + eps)));
        const gamma = inBackend(backend, gamma64);
        const dy = inBackend(backend, dy64);
        const dx = nans(backend, x.length);
        const dgStart = normals(c, rng);
        const dbStart = normals(c, rng);
        const dgamma = inBackend(backend, dgStart);
        const dbeta = inBackend(backend, dbStart);
        backend.batchNormBackward(dx, dgamma, dbeta, dy, x, mean, invStd, gamma, n, c, s, true);
        assertClose(dx, numeric, { rtol: 1e-3, atol: 1e-4, label: `batchNormBackward dx ${n},${c},${s}` });
        // dγ = Σ dy·x̂ and dβ = Σ dy, added to what was there.
        const xhatDy = new Float64Array(c);
        const dySum = new Float64Array(c);
        x64.forEach((v, i) => {
          const ch = Math.floor(i / s) % c;
          xhatDy[ch] += dy64[i] * (v - mean[ch]) * invStd[ch];
          dySum[ch] += dy64[i];
        });
        assertClose(dgamma, xhatDy.map((v, i) => v + dgStart[i]), { rtol: 1e-4, atol: 1e-4, label: `batchNormBackward dgamma ${n},${c},${s}` });
        assertClose(dbeta, dySum.map((v, i) => v + dbStart[i]), { rtol: 1e-5, atol: 1e-5, label: `batchNormBackward dbeta ${n},${c},${s}` });
        // With fixed (running) statistics the normalisation is affine: dx = γ·invStd·dy.
        const dxEval = nans(backend, x.length);
        backend.batchNormBackward(dxEval, dgamma, dbeta, dy, x, mean, invStd, gamma, n, c, s, false);
        assertClose(dxEval, Array.from(dy64, (v, i) => v * gamma64[Math.floor(i / s) % c] * invStd[Math.floor(i / s) % c]),
          { rtol: 1e-5, atol: 1e-6, label: `batchNormBackward eval dx ${n},${c},${s}` });
      }
    },
  }],
  sgdUpdate: [{
    title: 'matches the JS reference over 3 steps: plain, momentum, Nesterov with decay; up to 100,003 values (split over threads)',
    run: (be) => {
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
      }
    },
  }],
  sgdUpdateSumSquares: [{
    title: 'equals its own backend\'s sumSquares and plain sgdUpdate to the bit (with and without decay), the JS reference to 1e-12, never updates from a non-finite gradient; up to 100,003 values (split over threads)',
    run: (be) => {
      const rng = new Rng(19);
      const own = (len: number) => be.allocate(len);
      for (const n of [...LENGTHS, LONG]) {
        const grad = filled(own, n, rng, 3);
        for (const wd of [0, 0.01]) {
          const p1 = filled(own, n, rng);
          const p2 = own(n);
          p2.set(p1);
          const p3 = Float32Array.from(p1);
          const got = be.sgdUpdateSumSquares(p1, grad, n, 0.1, wd);
          assert.equal(got, be.sumSquares(grad, n), `sum n=${n} wd=${wd}`);
          be.sgdUpdate(p2, grad, new Float32Array(0), n, 0.1, 0, wd, false);
          assert.deepEqual(p1, p2, `update n=${n} wd=${wd}`);
          const want = ref.sgdUpdateSumSquares(p3, grad, n, 0.1, wd);
          assert.ok(Math.abs(got - want) <= 1e-12 * want, `sum n=${n}: ${got} vs ${want}`);
          assertClose(p1, p3, { label: `sgd+sum wd=${wd} n=${n}` });
        }
        // A non-finite gradient: the sum says so, and no weight is updated from it.
        const bad = own(n);
        bad.set(grad);
        bad[n >> 1] = NaN;
        bad[n - 1] = Infinity;
        const p = filled(own, n, rng);
        assert.ok(!Number.isFinite(be.sgdUpdateSumSquares(p, bad, n, 0.1, 0)), `non-finite sum n=${n}`);
        assert.equal(firstNonFinite(p), -1, `no weight updated from a non-finite gradient, n=${n}`);
      }
    },
  }],
  adamUpdate: [{
    title: 'matches the JS reference over 3 steps: Adam and AdamW; up to 100,003 values (split over threads)',
    run: (be) => {
      const rng = new Rng(13);
      const own = (len: number) => be.allocate(len);
      for (const n of [...LENGTHS, LONG]) {
        const grad = filled(own, n, rng);
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
    },
  }],
};
