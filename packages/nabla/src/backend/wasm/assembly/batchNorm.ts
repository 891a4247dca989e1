// Batch normalisation over x: (N, C, S), per channel c over its N·S values. Same formulas as
// src/backend/js/imageKernels.ts.
//
// Every kernel walks the memory in order (sample by sample, channel planes of S values one after
// the other) instead of channel by channel: one channel's N planes lie S·C floats apart, and a
// walk that jumps between them stalls on every plane (measured ~2× slower for the cnn preset's
// 16 planes of 26×26). So the per-channel sums are computed per part of whole samples [b0, b1),
// into a part's own float64 slots; the caller adds the parts up in part order, and the parts
// depend only on the shapes, never on the thread count: the bits do not either.
//
// The sums run in float32 over blocks of at most 4 terms per lane (8 vectors), each block then
// added in float64: the rounding of a block is a few float32 ulps of the block's magnitude, as
// the float32 products of the previous kernel were, and the long sums stay float64. This halves
// the arithmetic of a float64 sum of every term, which bounded these kernels.

import { madd } from './madd';

// @ts-ignore: decorator
@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// Adds the four float32 lanes of a to the float64 pair acc.
// @ts-ignore: decorator
@inline
function widenAdd(acc: v128, a: v128): v128 {
  return f64x2.add(f64x2.add(acc, f64x2.promote_low_f32x4(a)), f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 0, 1)));
}

/**
 * Σ(x − K) and Σ(x − K)² over one plane p[0 .. s), added to the float64 slots at out and out + 8.
 * (x − K) in float32: exact when x is within a factor 2 of K, else one rounding of the term.
 */
// @ts-ignore: decorator
@inline
function statsPlane(out: usize, p: usize, s: i32, k: f32): void {
  const kv = f32x4.splat(k);
  const zero = f32x4.splat(0);
  let sa = f64x2.splat(0);
  let sb = f64x2.splat(0);
  let i = 0;
  for (; i + 32 <= s; i += 32) {
    const at = p + <usize>i * 4;
    const d0 = f32x4.sub(v128.load(at), kv);
    const d1 = f32x4.sub(v128.load(at, 16), kv);
    const d2 = f32x4.sub(v128.load(at, 32), kv);
    const d3 = f32x4.sub(v128.load(at, 48), kv);
    const d4 = f32x4.sub(v128.load(at, 64), kv);
    const d5 = f32x4.sub(v128.load(at, 80), kv);
    const d6 = f32x4.sub(v128.load(at, 96), kv);
    const d7 = f32x4.sub(v128.load(at, 112), kv);
    const a = f32x4.add(f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3)), f32x4.add(f32x4.add(d4, d5), f32x4.add(d6, d7)));
    const b0 = madd(d6, d6, madd(d4, d4, madd(d2, d2, f32x4.mul(d0, d0))));
    const b1 = madd(d7, d7, madd(d5, d5, madd(d3, d3, f32x4.mul(d1, d1))));
    sa = widenAdd(sa, a);
    sb = widenAdd(sb, f32x4.add(b0, b1));
  }
  let a = zero;
  let b = zero;
  for (; i + 4 <= s; i += 4) {
    const d = f32x4.sub(v128.load(p + <usize>i * 4), kv);
    a = f32x4.add(a, d);
    b = madd(d, d, b);
  }
  sa = widenAdd(sa, a);
  sb = widenAdd(sb, b);
  let ta = hsum(sa);
  let tb = hsum(sb);
  for (; i < s; i++) {
    const d = <f64>(load<f32>(p + <usize>i * 4) - k);
    ta += d;
    tb += d * d;
  }
  store<f64>(out, load<f64>(out) + ta);
  store<f64>(out + 8, load<f64>(out + 8) + tb);
}

// dy, or with `relu` dy·[y > 0] for y = (x − μ)·scale + β computed exactly as batchNormNormalize
// computes it (xm = x − μ): the backward of a ReLU that follows the layer, without its pass.
// @ts-ignore: decorator
@inline
function gate(g: v128, xm: v128, sv: v128, bv: v128, relu: bool): v128 {
  if (!relu) return g;
  return v128.and(g, f32x4.gt(madd(xm, sv, bv), f32x4.splat(0)));
}

// @ts-ignore: decorator
@inline
function gateScalar(g: f32, xm: f32, scale: f32, be: f32, relu: bool): f32 {
  if (!relu) return g;
  return xm * scale + be > 0 ? g : 0;
}

// The per-channel factor of batchNormNormalize, γ·invStd rounded once.
// @ts-ignore: decorator
@inline
function channelScale(gamma: usize, invStd: usize, ch: i32): f32 {
  return <f32>(<f64>load<f32>(gamma + <usize>ch * 4) * <f64>load<f32>(invStd + <usize>ch * 4));
}

/** Σg and Σg·(x − μ) over one plane (g = gate(dy)), added to the float64 slots at out and out + 8. */
// @ts-ignore: decorator
@inline
function gradPlane(out: usize, g: usize, p: usize, s: i32, mu: f32, scale: f32, be: f32, relu: bool): void {
  const mv = f32x4.splat(mu);
  const sv = f32x4.splat(scale);
  const bv = f32x4.splat(be);
  const zero = f32x4.splat(0);
  let sa = f64x2.splat(0);
  let sb = f64x2.splat(0);
  let i = 0;
  for (; i + 32 <= s; i += 32) {
    const at = <usize>i * 4;
    const x0 = f32x4.sub(v128.load(p + at), mv); const x1 = f32x4.sub(v128.load(p + at, 16), mv);
    const x2 = f32x4.sub(v128.load(p + at, 32), mv); const x3 = f32x4.sub(v128.load(p + at, 48), mv);
    const x4 = f32x4.sub(v128.load(p + at, 64), mv); const x5 = f32x4.sub(v128.load(p + at, 80), mv);
    const x6 = f32x4.sub(v128.load(p + at, 96), mv); const x7 = f32x4.sub(v128.load(p + at, 112), mv);
    const g0 = gate(v128.load(g + at), x0, sv, bv, relu); const g1 = gate(v128.load(g + at, 16), x1, sv, bv, relu);
    const g2 = gate(v128.load(g + at, 32), x2, sv, bv, relu); const g3 = gate(v128.load(g + at, 48), x3, sv, bv, relu);
    const g4 = gate(v128.load(g + at, 64), x4, sv, bv, relu); const g5 = gate(v128.load(g + at, 80), x5, sv, bv, relu);
    const g6 = gate(v128.load(g + at, 96), x6, sv, bv, relu); const g7 = gate(v128.load(g + at, 112), x7, sv, bv, relu);
    const a = f32x4.add(f32x4.add(f32x4.add(g0, g1), f32x4.add(g2, g3)), f32x4.add(f32x4.add(g4, g5), f32x4.add(g6, g7)));
    const b0 = madd(g6, x6, madd(g4, x4, madd(g2, x2, f32x4.mul(g0, x0))));
    const b1 = madd(g7, x7, madd(g5, x5, madd(g3, x3, f32x4.mul(g1, x1))));
    sa = widenAdd(sa, a);
    sb = widenAdd(sb, f32x4.add(b0, b1));
  }
  let a = zero;
  let b = zero;
  for (; i + 4 <= s; i += 4) {
    const at = <usize>i * 4;
    const xm = f32x4.sub(v128.load(p + at), mv);
    const gv = gate(v128.load(g + at), xm, sv, bv, relu);
    a = f32x4.add(a, gv);
    b = madd(gv, xm, b);
  }
  sa = widenAdd(sa, a);
  sb = widenAdd(sb, b);
  let ta = hsum(sa);
  let tb = hsum(sb);
  for (; i < s; i++) {
    const xm = load<f32>(p + <usize>i * 4) - mu;
    const gs = gateScalar(load<f32>(g + <usize>i * 4), xm, scale, be, relu);
    ta += <f64>gs;
    tb += <f64>(gs * xm);
  }
  store<f64>(out, load<f64>(out) + ta);
  store<f64>(out + 8, load<f64>(out + 8) + tb);
}

/**
 * The shift K[ch] of the one-pass statistics: the mean of the channel's first values (whole
 * planes of the first samples, at least 64 values when the batch has them). Close to the
 * channel's mean, so Σ(x − K)² − (Σ(x − K))²/M does not cancel; batchNormStatsFinish checks it.
 */
export function batchNormShift(shift: usize, x: usize, n: i32, c: i32, s: i32): void {
  const t = min(n, (63 + s) / max(s, 1));
  for (let ch = 0; ch < c; ch++) {
    let sum: f64 = 0;
    for (let b = 0; b < t; b++) {
      const row = x + <usize>((b * c + ch) * s) * 4;
      for (let k = 0; k < s; k++) sum += <f64>load<f32>(row + <usize>k * 4);
    }
    store<f32>(shift + <usize>ch * 4, <f32>(sum / (<f64>t * <f64>s)));
  }
}

/** Part of the statistics: sums[2ch], sums[2ch + 1] = Σ(x − K[ch]), Σ(x − K[ch])² over samples [b0, b1). */
export function batchNormStats(sums: usize, x: usize, shift: usize, c: i32, s: i32, b0: i32, b1: i32): void {
  memory.fill(sums, 0, <usize>c * 16);
  for (let b = b0; b < b1; b++) {
    for (let ch = 0; ch < c; ch++) {
      statsPlane(sums + <usize>ch * 16, x + <usize>((b * c + ch) * s) * 4, s, load<f32>(shift + <usize>ch * 4));
    }
  }
}

/**
 * mean[ch] and the biased variance[ch] from the parts' sums (parts slots of partStride bytes,
 * added in part order): μ = K + Σd/M, σ² = Σd²/M − (Σd/M)² with d = x − K. When K is more than
 * 2σ from μ that difference could lose digits, and the channel is computed again exactly, in two
 * float64 passes (Σx, then Σ(x − μ)²), as are channels with NaN or infinite values.
 */
export function batchNormStatsFinish(
  mean: usize, variance: usize, sums: usize, parts: i32, partStride: i32, x: usize, shift: usize, n: i32, c: i32, s: i32,
): void {
  const m = <f64>n * <f64>s;
  for (let ch = 0; ch < c; ch++) {
    let sa: f64 = 0;
    let sb: f64 = 0;
    for (let p = 0; p < parts; p++) {
      const at = sums + <usize>(p * partStride + ch * 16);
      sa += load<f64>(at);
      sb += load<f64>(at + 8);
    }
    const md = sa / m;
    const v = sb / m - md * md;
    if (md * md <= 4 * v || (sa == 0 && sb == 0)) {
      store<f32>(mean + <usize>ch * 4, <f32>(<f64>load<f32>(shift + <usize>ch * 4) + md));
      store<f32>(variance + <usize>ch * 4, <f32>v);
    } else {
      exactStats(mean, variance, x, n, c, s, ch);
    }
  }
}

// Σ of the f32 values at p[0 .. len), in float64.
// @ts-ignore: decorator
@inline
function sumRow(p: usize, len: i32): f64 {
  let a0 = f64x2.splat(0);
  let k = 0;
  for (; k + 4 <= len; k += 4) a0 = widenAdd(a0, v128.load(p + <usize>k * 4));
  let sum = hsum(a0);
  for (; k < len; k++) sum += <f64>load<f32>(p + <usize>k * 4);
  return sum;
}

/** Channel ch's mean and variance in two float64 passes (Σx, then Σ(x − μ)²). */
function exactStats(mean: usize, variance: usize, x: usize, n: i32, c: i32, s: i32, ch: i32): void {
  const m = <f64>n * <f64>s;
  let sum: f64 = 0;
  for (let b = 0; b < n; b++) sum += sumRow(x + <usize>((b * c + ch) * s) * 4, s);
  const mu = sum / m;
  let sq: f64 = 0;
  for (let b = 0; b < n; b++) {
    const row = x + <usize>((b * c + ch) * s) * 4;
    for (let k = 0; k < s; k++) {
      const d = <f64>load<f32>(row + <usize>k * 4) - mu;
      sq += d * d;
    }
  }
  store<f32>(mean + <usize>ch * 4, <f32>mu);
  store<f32>(variance + <usize>ch * 4, <f32>(sq / m));
}

/**
 * y = (x − μ)·scale + β per channel, scale = γ·invStd, for the planes [p0, p1) of the N·C planes
 * (plane i is channel i mod C); y may be x. relu ≠ 0: y = relu of that, as the relu kernel
 * computes it (v > 0 ? v : 0), so a following ReLU makes no pass of its own.
 * NOTE: not the folded x·scale + (β − μ·scale) of the JS code: in float32, with x far from 0
 * and a large invStd, x·scale and μ·scale cancel and lose the digits float64 keeps there.
 */
export function batchNormNormalize(
  y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, c: i32, s: i32, p0: i32, p1: i32, relu: i32,
): void {
  if (relu != 0) normalizePlanes(y, x, mean, invStd, gamma, beta, c, s, p0, p1, true);
  else normalizePlanes(y, x, mean, invStd, gamma, beta, c, s, p0, p1, false);
}

// @ts-ignore: decorator
@inline
function normalizePlanes(
  y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, c: i32, s: i32, p0: i32, p1: i32, relu: bool,
): void {
  const zero = f32x4.splat(0);
  for (let pl = p0; pl < p1; pl++) {
    const ch = pl % c;
    const mu = load<f32>(mean + <usize>ch * 4);
    const scale = channelScale(gamma, invStd, ch);
    const be = load<f32>(beta + <usize>ch * 4);
    const muv = f32x4.splat(mu);
    const sv = f32x4.splat(scale);
    const bv = f32x4.splat(be);
    const o = <usize>pl * <usize>s * 4;
    let k = 0;
    for (; k + 4 <= s; k += 4) {
      const at = o + <usize>k * 4;
      const v = madd(f32x4.sub(v128.load(x + at), muv), sv, bv);
      v128.store(y + at, relu ? v128.bitselect(v, zero, f32x4.gt(v, zero)) : v);
    }
    for (; k < s; k++) {
      const at = o + <usize>k * 4;
      const v = (load<f32>(x + at) - mu) * scale + be;
      store<f32>(y + at, relu ? (v > 0 ? v : 0) : v);
    }
  }
}

// @ts-ignore: decorator
@inline
function gradPart(sums: usize, dy: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, c: i32, s: i32, b0: i32, b1: i32, relu: bool): void {
  memory.fill(sums, 0, <usize>c * 16);
  for (let b = b0; b < b1; b++) {
    for (let ch = 0; ch < c; ch++) {
      const o = <usize>((b * c + ch) * s) * 4;
      const scale = relu ? channelScale(gamma, invStd, ch) : 0;
      const be = relu ? load<f32>(beta + <usize>ch * 4) : 0;
      gradPlane(sums + <usize>ch * 16, dy + o, x + o, s, load<f32>(mean + <usize>ch * 4), scale, be, relu);
    }
  }
}

/**
 * Part of the backward's sums: sums[2ch], sums[2ch + 1] = Σg, Σg·(x − μ) over samples [b0, b1),
 * g = dy, or with beta ≠ 0 the gradient through a following ReLU: dy·[y > 0] (see gate).
 */
export function batchNormGrad(
  sums: usize, dy: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, c: i32, s: i32, b0: i32, b1: i32,
): void {
  if (beta != 0) gradPart(sums, dy, x, mean, invStd, gamma, beta, c, s, b0, b1, true);
  else gradPart(sums, dy, x, mean, invStd, gamma, beta, c, s, b0, b1, false);
}

/**
 * Adds the parts' sums (in part order) to the gradients: dβ[ch] += Σdy, dγ[ch] += Σdy·x̂ =
 * invStd·Σdy·(x − μ); and writes the three float32 coefficients of dx per channel to coef:
 * dx = a·dy + k1·(x − μ) + k0 with a = γ·invStd, k1 = −a·invStd·mean(dy·x̂), k0 = −a·mean(dy)
 * (the batch statistics' two projections; k1 = k0 = 0 with running statistics).
 */
export function batchNormGradFinish(
  dgamma: usize, dbeta: usize, coef: usize, sums: usize, parts: i32, partStride: i32, invStd: usize, gamma: usize,
  n: i32, c: i32, s: i32, batchStats: bool,
): void {
  const m = <f64>n * <f64>s;
  for (let ch = 0; ch < c; ch++) {
    let sumDy: f64 = 0;
    let sumDyXmu: f64 = 0;
    for (let p = 0; p < parts; p++) {
      const at = sums + <usize>(p * partStride + ch * 16);
      sumDy += load<f64>(at);
      sumDyXmu += load<f64>(at + 8);
    }
    const is = <f64>load<f32>(invStd + <usize>ch * 4);
    const sumDyXhat = sumDyXmu * is;
    store<f32>(dgamma + <usize>ch * 4, <f32>(<f64>load<f32>(dgamma + <usize>ch * 4) + sumDyXhat));
    store<f32>(dbeta + <usize>ch * 4, <f32>(<f64>load<f32>(dbeta + <usize>ch * 4) + sumDy));
    const a = <f64>load<f32>(gamma + <usize>ch * 4) * is;
    const o = coef + <usize>ch * 12;
    store<f32>(o, <f32>a);
    store<f32>(o + 4, batchStats ? <f32>(-a * is * (sumDyXhat / m)) : 0);
    store<f32>(o + 8, batchStats ? <f32>(-a * (sumDy / m)) : 0);
  }
}

// @ts-ignore: decorator
@inline
function dxPlanes(
  dx: usize, dy: usize, x: usize, mean: usize, coef: usize, invStd: usize, gamma: usize, beta: usize,
  c: i32, s: i32, batchStats: bool, p0: i32, p1: i32, relu: bool,
): void {
  for (let pl = p0; pl < p1; pl++) {
    const ch = pl % c;
    const a = load<f32>(coef + <usize>ch * 12);
    const k1 = load<f32>(coef + <usize>ch * 12 + 4);
    const k0 = load<f32>(coef + <usize>ch * 12 + 8);
    const mu = load<f32>(mean + <usize>ch * 4);
    const scale = relu ? channelScale(gamma, invStd, ch) : 0;
    const be = relu ? load<f32>(beta + <usize>ch * 4) : 0;
    const av = f32x4.splat(a);
    const muv = f32x4.splat(mu);
    const sv = f32x4.splat(scale);
    const bv = f32x4.splat(be);
    const o = <usize>pl * <usize>s * 4;
    let k = 0;
    if (!batchStats) {
      for (; k + 4 <= s; k += 4) {
        const at = o + <usize>k * 4;
        v128.store(dx + at, f32x4.mul(av, gate(v128.load(dy + at), relu ? f32x4.sub(v128.load(x + at), muv) : muv, sv, bv, relu)));
      }
      for (; k < s; k++) {
        const at = o + <usize>k * 4;
        store<f32>(dx + at, a * gateScalar(load<f32>(dy + at), relu ? load<f32>(x + at) - mu : 0, scale, be, relu));
      }
      continue;
    }
    const k1v = f32x4.splat(k1);
    const k0v = f32x4.splat(k0);
    for (; k + 4 <= s; k += 4) {
      const at = o + <usize>k * 4;
      const xm = f32x4.sub(v128.load(x + at), muv);
      v128.store(dx + at, madd(av, gate(v128.load(dy + at), xm, sv, bv, relu), madd(k1v, xm, k0v)));
    }
    for (; k < s; k++) {
      const at = o + <usize>k * 4;
      const xm = load<f32>(x + at) - mu;
      store<f32>(dx + at, a * gateScalar(load<f32>(dy + at), xm, scale, be, relu) + (k1 * xm + k0));
    }
  }
}

/**
 * dx for the planes [p0, p1): a·g + k1·(x − μ) + k0 with batch statistics, a·g without
 * (coefficients from batchNormGradFinish; g = dy, or with beta ≠ 0 dy·[y > 0] as in batchNormGrad).
 */
export function batchNormBackward(
  dx: usize, dy: usize, x: usize, mean: usize, coef: usize, invStd: usize, gamma: usize, beta: usize,
  c: i32, s: i32, batchStats: bool, p0: i32, p1: i32,
): void {
  if (beta != 0) dxPlanes(dx, dy, x, mean, coef, invStd, gamma, beta, c, s, batchStats, p0, p1, true);
  else dxPlanes(dx, dy, x, mean, coef, invStd, gamma, beta, c, s, batchStats, p0, p1, false);
}
