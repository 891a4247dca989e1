/**
 * Backend conformance: the image kernels (im2col/col2im, pooling, batch norm, channel bias,
 * multiply) of any Backend against plain float64 loops written straight from the definitions in
 * backend.ts, on shapes that break assumptions: 1×1 images, primes, non-square windows, stride
 * 2 and 3, padding 1 and 2, windows that lie entirely in the padding.
 *
 * Usage (in a *.test.ts file): backendConformance('wasm', () => new WasmBackend());
 * Outputs that a kernel must write fresh start as NaN, so a kernel that skips an entry fails;
 * outputs it must add into start random, so a kernel that overwrites fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/backend/backend.ts';
import { Rng } from '../src/random.ts';
import { assertClose } from '../src/testing/assertClose.ts';

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

function random(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** A buffer in the backend's memory holding `values`. */
function inBackend(b: Backend, values: ArrayLike<number>): Float32Array {
  const a = b.allocate(values.length);
  a.set(values);
  return a;
}

function nans(b: Backend, n: number): Float32Array {
  return b.allocate(n).fill(NaN);
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

export function backendConformance(name: string, make: () => Backend): void {
  test(`${name}: im2col equals the definition (exact copies, zeros in the padding)`, () => {
    const backend = make();
    const rng = new Rng(11);
    for (const g of GEOMETRIES) {
      const [OH, OW] = outHW(g);
      const x = inBackend(backend, random(g.n * g.c * g.h * g.w, rng));
      const rows = g.c * g.kh * g.kw;
      const cols = nans(backend, g.n * rows * OH * OW);
      backend.im2col(cols, x, ...args(g));
      const expected = new Float64Array(cols.length);
      forEachWindow(g, (b, ch, oh, ow, u, v, i, j) => {
        expected[(b * rows + (ch * g.kh + u) * g.kw + v) * OH * OW + oh * OW + ow] = pixel(x, g, b, ch, i, j) ?? 0;
      });
      assertClose(cols, expected, { rtol: 0, atol: 0, label: `${name} im2col ${label(g)}` });
    }
  });

  test(`${name}: col2im adds every column entry back into its pixel (and keeps what dx held)`, () => {
    const backend = make();
    const rng = new Rng(12);
    for (const g of GEOMETRIES) {
      const [OH, OW] = outHW(g);
      const rows = g.c * g.kh * g.kw;
      const cols = inBackend(backend, random(g.n * rows * OH * OW, rng));
      const start = random(g.n * g.c * g.h * g.w, rng);
      const dx = inBackend(backend, start);
      backend.col2im(dx, cols, ...args(g));
      const expected = Float64Array.from(start);
      forEachWindow(g, (b, ch, oh, ow, u, v, i, j) => {
        if (pixel(start, g, b, ch, i, j) === undefined) return;
        expected[((b * g.c + ch) * g.h + i) * g.w + j] += cols[(b * rows + (ch * g.kh + u) * g.kw + v) * OH * OW + oh * OW + ow];
      });
      assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `${name} col2im ${label(g)}` });
    }
  });

  test(`${name}: col2im is the adjoint of im2col: <im2col(x), r> = <x, col2im(r)>`, () => {
    const backend = make();
    const rng = new Rng(13);
    for (const g of GEOMETRIES) {
      const [OH, OW] = outHW(g);
      const size = g.n * g.c * g.kh * g.kw * OH * OW;
      const x = inBackend(backend, random(g.n * g.c * g.h * g.w, rng));
      const r = inBackend(backend, random(size, rng));
      const cols = backend.allocate(size);
      backend.im2col(cols, x, ...args(g));
      const back = backend.allocate(x.length);
      backend.col2im(back, r, ...args(g));
      let lhs = 0;
      let rhs = 0;
      for (let i = 0; i < size; i++) lhs += cols[i] * r[i];
      for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
      assert.ok(Math.abs(lhs - rhs) <= 1e-4 * (1 + Math.abs(lhs)), `${name} ${label(g)}: ${lhs} vs ${rhs}`);
    }
  });

  test(`${name}: maxPool / maxPoolBackward against the window definition (padding is −∞)`, () => {
    const backend = make();
    const rng = new Rng(14);
    for (const g of POOL_GEOMETRIES) {
      const [OH, OW] = outHW(g);
      const x = inBackend(backend, random(g.n * g.c * g.h * g.w, rng));
      const outLen = g.n * g.c * OH * OW;
      const y = nans(backend, outLen);
      backend.maxPool(y, x, ...args(g));
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
      assertClose(y, best, { rtol: 0, atol: 0, label: `${name} maxPool ${label(g)}` });
      const dy = inBackend(backend, random(outLen, rng));
      const dx = nans(backend, x.length);
      backend.maxPoolBackward(dx, dy, x, ...args(g));
      const expected = new Float64Array(x.length);
      for (let o = 0; o < outLen; o++) expected[at[o]] += dy[o];
      assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `${name} maxPoolBackward ${label(g)}` });
    }
  });

  test(`${name}: maxPool takes the first of tied maxima, and its backward routes dy there`, () => {
    const backend = make();
    const g: Geometry = { n: 1, c: 1, h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 };
    const x = inBackend(backend, [1, 3, 3, 0]);
    const dx = nans(backend, 4);
    backend.maxPoolBackward(dx, inBackend(backend, [5]), x, ...args(g));
    assert.deepEqual([...dx], [0, 5, 0, 0]);
  });

  test(`${name}: avgPool / avgPoolBackward against the window definition (padding counts, divisor KH·KW)`, () => {
    const backend = make();
    const rng = new Rng(15);
    for (const g of POOL_GEOMETRIES) {
      const [OH, OW] = outHW(g);
      const x = inBackend(backend, random(g.n * g.c * g.h * g.w, rng));
      const outLen = g.n * g.c * OH * OW;
      const y = nans(backend, outLen);
      backend.avgPool(y, x, ...args(g));
      const sum = new Float64Array(outLen);
      forEachWindow(g, (b, ch, oh, ow, _u, _v, i, j) => {
        sum[((b * g.c + ch) * OH + oh) * OW + ow] += pixel(x, g, b, ch, i, j) ?? 0;
      });
      assertClose(y, sum.map((s) => s / (g.kh * g.kw)), { rtol: 1e-6, atol: 1e-6, label: `${name} avgPool ${label(g)}` });
      const dy = inBackend(backend, random(outLen, rng));
      const dx = nans(backend, x.length);
      backend.avgPoolBackward(dx, dy, ...args(g));
      const expected = new Float64Array(x.length);
      forEachWindow(g, (b, ch, oh, ow, _u, _v, i, j) => {
        if (pixel(x, g, b, ch, i, j) === undefined) return;
        expected[((b * g.c + ch) * g.h + i) * g.w + j] += dy[((b * g.c + ch) * OH + oh) * OW + ow] / (g.kh * g.kw);
      });
      assertClose(dx, expected, { rtol: 1e-6, atol: 1e-6, label: `${name} avgPoolBackward ${label(g)}` });
    }
  });

  const CHANNEL_SHAPES: [number, number, number][] = [[1, 1, 1], [3, 2, 1], [2, 3, 7], [5, 1, 13], [4, 6, 25]];

  test(`${name}: addChannelBias, sumChannels (beta 0 and 1) and multiply`, () => {
    const backend = make();
    const rng = new Rng(16);
    for (const [n, c, s] of CHANNEL_SHAPES) {
      const x = inBackend(backend, random(n * c * s, rng));
      const bias = inBackend(backend, random(c, rng));
      const out = nans(backend, x.length);
      backend.addChannelBias(out, x, bias, n, c, s);
      assertClose(out, Array.from(x, (v, i) => v + bias[Math.floor(i / s) % c]), { rtol: 1e-7, atol: 1e-7, label: `addChannelBias ${n},${c},${s}` });
      const sums = new Float64Array(c);
      x.forEach((v, i) => { sums[Math.floor(i / s) % c] += v; });
      const fresh = nans(backend, c);
      backend.sumChannels(fresh, x, n, c, s, 0);
      assertClose(fresh, sums, { rtol: 1e-5, atol: 1e-5, label: `sumChannels beta 0 ${n},${c},${s}` });
      const start = random(c, rng);
      const acc = inBackend(backend, start);
      backend.sumChannels(acc, x, n, c, s, 1);
      assertClose(acc, sums.map((v, i) => v + start[i]), { rtol: 1e-5, atol: 1e-5, label: `sumChannels beta 1 ${n},${c},${s}` });
      const other = inBackend(backend, random(x.length, rng));
      const prod = nans(backend, x.length);
      backend.multiply(prod, x, other, x.length);
      assertClose(prod, Array.from(x, (v, i) => v * other[i]), { rtol: 1e-7, atol: 0, label: `multiply ${x.length}` });
    }
  });

  test(`${name}: batchNormStats and batchNormNormalize against float64 loops`, () => {
    const backend = make();
    const rng = new Rng(17);
    for (const [n, c, s] of CHANNEL_SHAPES) {
      // An offset of 100 makes the one-pass formula Σx² − Mμ² lose digits; two passes do not.
      const x = inBackend(backend, Array.from(random(n * c * s, rng), (v) => 100 + v));
      const mean = nans(backend, c);
      const variance = nans(backend, c);
      backend.batchNormStats(mean, variance, x, n, c, s);
      const m = n * s;
      const mu = new Float64Array(c);
      const va = new Float64Array(c);
      x.forEach((v, i) => { mu[Math.floor(i / s) % c] += v / m; });
      x.forEach((v, i) => { const ch = Math.floor(i / s) % c; va[ch] += (v - mu[ch]) ** 2 / m; });
      assertClose(mean, mu, { rtol: 1e-6, atol: 1e-6, label: `batchNormStats mean ${n},${c},${s}` });
      assertClose(variance, va, { rtol: 1e-4, atol: 1e-5, label: `batchNormStats var ${n},${c},${s}` });
      const invStd = inBackend(backend, Array.from(va, (v) => 1 / Math.sqrt(v + 1e-5)));
      const gamma = inBackend(backend, random(c, rng));
      const beta = inBackend(backend, random(c, rng));
      const y = nans(backend, x.length);
      backend.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
      const expected = Array.from(x, (v, i) => {
        const ch = Math.floor(i / s) % c;
        return (v - mu[ch]) * invStd[ch] * gamma[ch] + beta[ch];
      });
      assertClose(y, expected, { rtol: 1e-4, atol: 1e-4, label: `batchNormNormalize ${n},${c},${s}` });
    }
  });

  test(`${name}: batchNormBackward against float64 central differences of Σ dy·BN(x)`, () => {
    const backend = make();
    const rng = new Rng(18);
    const eps = 1e-5;
    for (const [n, c, s] of CHANNEL_SHAPES) {
      if (n * s < 2) continue; // one value per channel: x̂ = 0 whatever x is
      const x64 = Float64Array.from(random(n * c * s, rng));
      const gamma64 = Float64Array.from(random(c, rng));
      const dy64 = Float64Array.from(random(x64.length, rng));
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
      const dgStart = random(c, rng);
      const dbStart = random(c, rng);
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
  });
}
