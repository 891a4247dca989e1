// Batch normalisation over x: (N, C, S), per channel c over its N·S values, for the channels
// [c0, c1) (threads split the channels: every channel is computed by one thread, so results do
// not depend on the thread count). Same formulas as src/backend/js/imageKernels.ts; the sums are
// float64, as there, four lanes at a time.

// Σ of the f32 values at p[0 .. len), in float64.
// @ts-ignore: decorator
@inline
function sumRow(p: usize, len: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let k = 0;
  for (; k + 4 <= len; k += 4) {
    const v = v128.load(p + <usize>k * 4);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
  }
  const t = f64x2.add(a0, a1);
  let sum = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; k < len; k++) sum += <f64>load<f32>(p + <usize>k * 4);
  return sum;
}

/** mean[ch] and the biased variance[ch] (two passes: Σ(x − μ)², never Σx² − Mμ²). */
export function batchNormStats(mean: usize, variance: usize, x: usize, n: i32, c: i32, s: i32, c0: i32, c1: i32): void {
  const m = <f64>n * <f64>s;
  for (let ch = c0; ch < c1; ch++) {
    let sum: f64 = 0;
    for (let b = 0; b < n; b++) sum += sumRow(x + <usize>((b * c + ch) * s) * 4, s);
    const mu = sum / m;
    const muv = f64x2.splat(mu);
    let q0 = f64x2.splat(0);
    let q1 = f64x2.splat(0);
    let sq: f64 = 0;
    for (let b = 0; b < n; b++) {
      const row = x + <usize>((b * c + ch) * s) * 4;
      let k = 0;
      for (; k + 4 <= s; k += 4) {
        const v = v128.load(row + <usize>k * 4);
        const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), muv);
        const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), muv);
        q0 = f64x2.add(q0, f64x2.mul(d0, d0));
        q1 = f64x2.add(q1, f64x2.mul(d1, d1));
      }
      for (; k < s; k++) {
        const d = <f64>load<f32>(row + <usize>k * 4) - mu;
        sq += d * d;
      }
    }
    const t = f64x2.add(q0, q1);
    sq += f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
    store<f32>(mean + <usize>ch * 4, <f32>mu);
    store<f32>(variance + <usize>ch * 4, <f32>(sq / m));
  }
}

/**
 * y = (x − μ)·scale + β per channel, scale = γ·invStd; y may be x.
 * NOTE: not the folded x·scale + (β − μ·scale) of the JS code: in float32, with x far from 0
 * and a large invStd, x·scale and μ·scale cancel and lose the digits float64 keeps there.
 */
export function batchNormNormalize(
  y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, n: i32, c: i32, s: i32, c0: i32, c1: i32,
): void {
  for (let ch = c0; ch < c1; ch++) {
    const mu = load<f32>(mean + <usize>ch * 4);
    const scale = <f32>(<f64>load<f32>(gamma + <usize>ch * 4) * <f64>load<f32>(invStd + <usize>ch * 4));
    const be = load<f32>(beta + <usize>ch * 4);
    const muv = f32x4.splat(mu);
    const sv = f32x4.splat(scale);
    const bv = f32x4.splat(be);
    for (let b = 0; b < n; b++) {
      const o = <usize>((b * c + ch) * s) * 4;
      let k = 0;
      for (; k + 4 <= s; k += 4) {
        const at = o + <usize>k * 4;
        v128.store(y + at, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + at), muv), sv), bv));
      }
      for (; k < s; k++) {
        const at = o + <usize>k * 4;
        store<f32>(y + at, (load<f32>(x + at) - mu) * scale + be);
      }
    }
  }
}

/**
 * dgamma[ch] += Σ dy·x̂, dbeta[ch] += Σ dy (x̂ = (x − μ)·invStd); dx written fresh:
 * γ·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)) with batch statistics, γ·invStd·dy without.
 */
export function batchNormBackward(
  dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize, mean: usize, invStd: usize, gamma: usize,
  n: i32, c: i32, s: i32, batchStats: bool, c0: i32, c1: i32,
): void {
  const m = <f64>n * <f64>s;
  for (let ch = c0; ch < c1; ch++) {
    const mu = load<f32>(mean + <usize>ch * 4);
    const is = load<f32>(invStd + <usize>ch * 4);
    const muv = f32x4.splat(mu);
    const isv = f32x4.splat(is);
    // Σ dy and Σ dy·x̂, float64 per row (x̂ itself in float32).
    let sumDy: f64 = 0;
    let sumDyXhat: f64 = 0;
    for (let b = 0; b < n; b++) {
      const o = <usize>((b * c + ch) * s) * 4;
      sumDy += sumRow(dy + o, s);
      let a0 = f64x2.splat(0);
      let a1 = f64x2.splat(0);
      let k = 0;
      for (; k + 4 <= s; k += 4) {
        const at = o + <usize>k * 4;
        const p = f32x4.mul(v128.load(dy + at), f32x4.mul(f32x4.sub(v128.load(x + at), muv), isv));
        a0 = f64x2.add(a0, f64x2.promote_low_f32x4(p));
        a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(p, p, 2, 3, 0, 1)));
      }
      const t = f64x2.add(a0, a1);
      sumDyXhat += f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
      for (; k < s; k++) {
        const at = o + <usize>k * 4;
        sumDyXhat += <f64>(load<f32>(dy + at) * ((load<f32>(x + at) - mu) * is));
      }
    }
    store<f32>(dgamma + <usize>ch * 4, <f32>(<f64>load<f32>(dgamma + <usize>ch * 4) + sumDyXhat));
    store<f32>(dbeta + <usize>ch * 4, <f32>(<f64>load<f32>(dbeta + <usize>ch * 4) + sumDy));
    const scale = <f32>(<f64>load<f32>(gamma + <usize>ch * 4) * <f64>is);
    const sv = f32x4.splat(scale);
    if (!batchStats) {
      // Running statistics are constants: dx = γ·invStd·dy.
      for (let b = 0; b < n; b++) {
        const o = <usize>((b * c + ch) * s) * 4;
        let k = 0;
        for (; k + 4 <= s; k += 4) v128.store(dx + o + <usize>k * 4, f32x4.mul(sv, v128.load(dy + o + <usize>k * 4)));
        for (; k < s; k++) store<f32>(dx + o + <usize>k * 4, scale * load<f32>(dy + o + <usize>k * 4));
      }
      continue;
    }
    const meanDy = <f32>(sumDy / m);
    const meanDyXhat = <f32>(sumDyXhat / m);
    const mdv = f32x4.splat(meanDy);
    const mxv = f32x4.splat(meanDyXhat);
    for (let b = 0; b < n; b++) {
      const o = <usize>((b * c + ch) * s) * 4;
      let k = 0;
      for (; k + 4 <= s; k += 4) {
        const at = o + <usize>k * 4;
        const xhat = f32x4.mul(f32x4.sub(v128.load(x + at), muv), isv);
        const g = f32x4.sub(f32x4.sub(v128.load(dy + at), mdv), f32x4.mul(xhat, mxv));
        v128.store(dx + at, f32x4.mul(sv, g));
      }
      for (; k < s; k++) {
        const at = o + <usize>k * 4;
        const xhat = (load<f32>(x + at) - mu) * is;
        store<f32>(dx + at, scale * (load<f32>(dy + at) - meanDy - xhat * meanDyXhat));
      }
    }
  }
}
