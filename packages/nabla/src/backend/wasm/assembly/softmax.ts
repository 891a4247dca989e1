// Softmax cross-entropy over rows of logits, in float64 like the JS backend: the same z_j =
// logit_j − max, each e_j = exp(z_j) stored as f32 but summed in f64, and the same gradient
// formula, so the results match the JS backend's to the last bit or nearly (exp below is not
// V8's Math.exp, but both are within about an ulp of the exact value in f64, so e_j's f32 rounding
// almost never differs). The log of each row's sum is left to the caller (JS's Math.log, one per
// row), which also adds up the loss: see wasmBackend's softmaxCrossEntropy.

// ln 2 in two parts (fdlibm's): k·LN2_HI is exact for |k| < 2^11.
// @ts-ignore: decorator
@inline const LN2_HI: f64 = 6.93147180369123816490e-1;
// @ts-ignore: decorator
@inline const LN2_LO: f64 = 1.90821492927058770002e-10;
// @ts-ignore: decorator
@inline const LOG2E: f64 = 1.4426950408889634;
// Below this, exp is under 2^-1021 and is clamped there: an f32 of it is 0, as exp's own would be,
// and the largest e_j of a row is 1, so the f64 sum cannot tell.
// @ts-ignore: decorator
@inline const LOWEST: f64 = -708.0;

// exp of both f64 lanes of x (x ≤ 0 here; NaN stays NaN): x = k·ln 2 + r with k an integer and
// |r| ≤ ln 2 / 2, exp(r) by its Taylor polynomial, times 2^k by adding k to the exponent. The
// constants are loaded from `c` (writeExpConstants, once per call): V8 builds a v128.const
// again at every use, and that took most of this function's time.
// @ts-ignore: decorator
@inline
function exp2Lanes(x: v128, c: usize): v128 {
  // pmax is one instruction (max is several, to propagate NaN): a NaN lane is mended at the end.
  const v = f64x2.pmax(v128.load(c, 0), x);
  // k = round(v·log2 e), by adding 1.5·2^52: the sum's low bits hold k (two's complement).
  const kd = f64x2.add(f64x2.mul(v, v128.load(c, 16)), v128.load(c, 272));
  const k = f64x2.sub(kd, v128.load(c, 272));
  const r = f64x2.sub(f64x2.sub(v, f64x2.mul(k, v128.load(c, 32))), f64x2.mul(k, v128.load(c, 48)));
  // Estrin's scheme (pairs, then r², r⁴, r⁸) rather than Horner's: a chain 5 multiply-adds deep
  // instead of 14, so that the pairs of a row overlap.
  const r2 = f64x2.mul(r, r);
  const r4 = f64x2.mul(r2, r2);
  const r8 = f64x2.mul(r4, r4);
  const q0 = f64x2.add(r, v128.load(c, 64));
  const q1 = f64x2.add(f64x2.mul(r, v128.load(c, 96)), v128.load(c, 80));
  const q2 = f64x2.add(f64x2.mul(r, v128.load(c, 128)), v128.load(c, 112));
  const q3 = f64x2.add(f64x2.mul(r, v128.load(c, 160)), v128.load(c, 144));
  const q4 = f64x2.add(f64x2.mul(r, v128.load(c, 192)), v128.load(c, 176));
  const q5 = f64x2.add(f64x2.mul(r, v128.load(c, 224)), v128.load(c, 208));
  const q6 = f64x2.add(f64x2.mul(r, v128.load(c, 256)), v128.load(c, 240));
  const s0 = f64x2.add(f64x2.mul(r2, q1), q0);
  const s1 = f64x2.add(f64x2.mul(r2, q3), q2);
  const s2 = f64x2.add(f64x2.mul(r2, q5), q4);
  const u0 = f64x2.add(f64x2.mul(r4, s1), s0);
  const u1 = f64x2.add(f64x2.mul(r4, q6), s2);
  const p = f64x2.add(f64x2.mul(r8, u1), u0);
  // k is an integer in [−1021, 0]: add it to the exponent field (kd's low bits shifted there).
  const e = i64x2.add(p, i64x2.shl(kd, 52));
  return v128.bitselect(x, e, f64x2.ne(x, x));
}

// exp2Lanes' constants, each in both lanes, one v128 apart: at byte 0 LOWEST, 16 LOG2E, 32 LN2_HI,
// 48 LN2_LO, 48 + 16k the Taylor coefficient 1/k! for k = 1 .. 13 (on |r| ≤ ln 2 / 2 the first term
// left out, r^14 / 14!, is below 5e-18, relative to exp(r) ≥ 0.7: about 0.03 ulp), 272 1.5·2^52.
// @ts-ignore: decorator
@inline const EXP_CONSTANTS: usize = 18 * 16;

function writeExpConstants(c: usize): void {
  v128.store(c, f64x2.splat(LOWEST), 0);
  v128.store(c, f64x2.splat(LOG2E), 16);
  v128.store(c, f64x2.splat(LN2_HI), 32);
  v128.store(c, f64x2.splat(LN2_LO), 48);
  // k! is exact in f64 up to 18!, so 1 / k! is one correctly rounded division.
  let factorial: f64 = 1;
  for (let k = 1; k <= 13; k++) {
    factorial *= k;
    v128.store(c + 48 + <usize>k * 16, f64x2.splat(1 / factorial));
  }
  v128.store(c, f64x2.splat(6755399441055744.0), 272);
}

/** Bytes of `stats` softmaxCrossEntropy needs for rows × cols: see its layout below. */
export function softmaxScratchBytes(rows: i32, cols: i32): i32 {
  return rows * 24 + <i32>EXP_CONSTANTS + (cols + 1) * 8;
}

// For each row r: z_j = logits[r, j] − max_j logits[r, j]; e_j = exp(z_j); sum = Σ e_j (in f64,
// each e_j unrounded); dlogits[r, j] = scale·(f32(e_j)/sum·Σt − t_j). Writes the row's sum, Σ t_j z_j
// (over t_j ≠ 0) and Σ t_j as three f64s at stats + r·24: the loss is Σ_rows −(Σ t z − Σt·log(sum)).
// Then exp's constants (EXP_CONSTANTS bytes) and the row's e_j as f64s (cols + 1 of them). dlogits may be logits (each logit is
// read before its slot is written).
export function softmaxCrossEntropy(dlogits: usize, logits: usize, target: usize, rows: i32, cols: i32, scale: f64, stats: usize): void {
  const consts = stats + <usize>rows * 24;
  writeExpConstants(consts);
  const es = consts + EXP_CONSTANTS;
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * cols) * 4;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) {
      const v = <f64>load<f32>(logits + o + <usize>j * 4);
      max = select(v, max, v > max);
    }
    const m = f64x2.splat(max);
    let sum: f64 = 0;
    let tz: f64 = 0;
    let tsum: f64 = 0;
    for (let j = 0; j < cols; j += 2) {
      const at = o + <usize>j * 4;
      // Two logits (the last of an odd row alone: its second lane is 0 and unused).
      const pair = j + 1 < cols ? v128.load64_zero(logits + at) : v128.load32_zero(logits + at);
      const z = f64x2.sub(f64x2.promote_low_f32x4(pair), m);
      const e = exp2Lanes(z, consts);
      v128.store(es + <usize>j * 8, e);
      const t0 = <f64>load<f32>(target + at);
      tz += select(t0 * f64x2.extract_lane(z, 0), 0, t0 != 0); // 0·(−∞) would be NaN
      tsum += t0;
      sum += f64x2.extract_lane(e, 0);
      if (j + 1 < cols) {
        const t1 = <f64>load<f32>(target + at + 4);
        tz += select(t1 * f64x2.extract_lane(z, 1), 0, t1 != 0);
        tsum += t1;
        sum += f64x2.extract_lane(e, 1);
      }
    }
    store<f64>(stats + <usize>r * 24, sum);
    store<f64>(stats + <usize>r * 24 + 8, tz);
    store<f64>(stats + <usize>r * 24 + 16, tsum);
    // scale·(f32(e)·(1/sum)·Σt − t), two at a time, in the JS backend's order of operations.
    const inv = f64x2.splat(1 / sum);
    const ts = f64x2.splat(tsum);
    const sc = f64x2.splat(scale);
    let j = 0;
    for (; j + 2 <= cols; j += 2) {
      const at = o + <usize>j * 4;
      const ef = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v128.load(es + <usize>j * 8)));
      const t = f64x2.promote_low_f32x4(v128.load64_zero(target + at));
      const d = f64x2.mul(sc, f64x2.sub(f64x2.mul(f64x2.mul(ef, inv), ts), t));
      v128.store64_lane(dlogits + at, f32x4.demote_f64x2_zero(d), 0);
    }
    if (j < cols) {
      const at = o + <usize>j * 4;
      const ef = <f64><f32>load<f64>(es + <usize>j * 8);
      store<f32>(dlogits + at, <f32>(scale * (ef * (1 / sum) * tsum - <f64>load<f32>(target + at))));
    }
  }
}
