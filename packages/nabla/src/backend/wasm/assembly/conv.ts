// Batch-level convolution by im2col + GEMM, for every window except the 3×3 stride-1 ones (with 2 or
// more input channels winograd.ts computes them with fewer multiplies, with one the direct kernels
// at the end of this file do; see wasmBackend.ts).
//
// One call runs a CHUNK of samples [s0, s1) entirely inside wasm, so a
// batch costs one call per chunk instead of several JS → wasm calls per sample, and the chunks
// of a batch are the parts of one threaded job (see wasmBackend.ts conv2dForward/Backward).
//
// Within a chunk of T samples of S = OH·OW outputs, the T samples' windows sit side by side:
//   cols (K × T·S), K = C·KH·KW: sample t's im2col in columns [t·S, (t+1)·S);
//   yc / dyc (OC × T·S): the same side-by-side layout for the output or its gradient.
// So each product of the chunk is ONE gemm with T times the columns of a per-sample one:
//   forward   yc  = W · cols, then y[s] = yc's columns of s + b (bias fused into the copy);
//   backward  dWpart = dyc · colsᵀ (a chunk's own partial, summed in chunk order by the caller,
//             which keeps results identical for any thread count), dbpart = row sums of dyc,
//             dcols = Wᵀ · dyc (into cols, which is free once dWpart is done), dx = col2im(dcols).
// Sizes: N batch, C channels, H × W input, KH × KW window, SH/SW stride, PH/PW zero padding,
// OC filters, OH × OW output. Pointers are byte offsets; every scratch area (cols + yc, the
// GEMM's packing scratch) is the calling thread's own.

import { gemm } from './gemm';
import { col2imRows, copyRow, im2colRows, outSize } from './image';
import { madd } from './madd';

/**
 * y[s] = W · im2col(x[s]) + b for the samples s of [s0, s1). y: (N, OC, OH·OW), x: (N, C, H, W),
 * wt: (OC, C·KH·KW), b: (OC) or 0 for none. scratch: (C·KH·KW + OC) · T·OH·OW floats.
 */
export function convForward(
  y: usize, x: usize, wt: usize, b: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oc: i32,
  scratch: usize, gemmScratch: usize,
): void {
  if (s1 <= s0) return;
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const k = c * kh * kw;
  const l = (s1 - s0) * s;
  const cols = scratch;
  const yc = scratch + <usize>(k * l) * 4;
  im2colRows(cols, x, s0, s1, <usize>l * 4, c, h, w, kh, kw, sh, sw, ph, pw);
  gemm(yc, wt, cols, oc, l, k, false, false, 1, 0, 0, l, gemmScratch);
  // Copy each sample's OC × S block out of the side-by-side layout, adding the bias on the way.
  for (let t = 0; t < s1 - s0; t++) {
    for (let o = 0; o < oc; o++) {
      const src = yc + <usize>(o * l + t * s) * 4;
      const dst = y + <usize>(((s0 + t) * oc + o) * s) * 4;
      if (b == 0) {
        copyRow(dst, src, s);
        continue;
      }
      const bo = load<f32>(b + <usize>o * 4);
      const bv = f32x4.splat(bo);
      let j = 0;
      for (; j + 4 <= s; j += 4) v128.store(dst + <usize>j * 4, f32x4.add(v128.load(src + <usize>j * 4), bv));
      for (; j < s; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>j * 4) + bo);
    }
  }
}

/**
 * For the samples of [s0, s1): dWpart (OC × C·KH·KW) = Σ_s dy[s] · im2col(x[s])ᵀ and
 * dbpart (OC) = Σ_s Σ_positions dy[s] (both written fresh; dbpart 0 for none), and when dx is
 * not 0, dx[s] = col2im(Wᵀ · dy[s]) (written fresh). Scratch as convForward.
 */
export function convBackward(
  dwPart: usize, dbPart: usize, dx: usize, x: usize, dy: usize, wt: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oc: i32,
  scratch: usize, gemmScratch: usize,
): void {
  if (s1 <= s0) return;
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const k = c * kh * kw;
  const l = (s1 - s0) * s;
  const cols = scratch;
  const dyc = scratch + <usize>(k * l) * 4;
  im2colRows(cols, x, s0, s1, <usize>l * 4, c, h, w, kh, kw, sh, sw, ph, pw);
  // Gather dy into the side-by-side layout (OC × T·S).
  for (let t = 0; t < s1 - s0; t++) {
    for (let o = 0; o < oc; o++) {
      copyRow(dyc + <usize>(o * l + t * s) * 4, dy + <usize>(((s0 + t) * oc + o) * s) * 4, s);
    }
  }
  gemm(dwPart, dyc, cols, oc, k, l, false, true, 1, 0, 0, k, gemmScratch);
  if (dbPart != 0) {
    for (let o = 0; o < oc; o++) {
      const row = dyc + <usize>(o * l) * 4;
      let acc = f32x4.splat(0);
      let j = 0;
      for (; j + 4 <= l; j += 4) acc = f32x4.add(acc, v128.load(row + <usize>j * 4));
      let sum = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (; j < l; j++) sum += load<f32>(row + <usize>j * 4);
      store<f32>(dbPart + <usize>o * 4, sum);
    }
  }
  if (dx == 0) return;
  gemm(cols, wt, dyc, k, l, oc, true, false, 1, 0, 0, l, gemmScratch);
  // col2im adds: the chunk's dx starts from zero.
  memory.fill(dx + <usize>(s0 * c * h * w) * 4, 0, <usize>((s1 - s0) * c * h * w) * 4);
  col2imRows(dx, cols, s0, s1, <usize>l * 4, c, h, w, kh, kw, sh, sw, ph, pw);
}

/**
 * dW += part 0 + part 1 + … (in part order, one part after another: the same sums whichever
 * thread computed each part), and db likewise when db is not 0. Part t's dW partial is at
 * parts + t·stride bytes, its db partial `dbOffset` bytes after that.
 */
export function convAddPartials(dw: usize, db: usize, parts: usize, count: i32, stride: i32, dwLen: i32, dbOffset: i32, oc: i32): void {
  for (let t = 0; t < count; t++) {
    const p = parts + <usize>t * <usize>stride;
    let j = 0;
    for (; j + 4 <= dwLen; j += 4) {
      const d = dw + <usize>j * 4;
      v128.store(d, f32x4.add(v128.load(d), v128.load(p + <usize>j * 4)));
    }
    for (; j < dwLen; j++) store<f32>(dw + <usize>j * 4, load<f32>(dw + <usize>j * 4) + load<f32>(p + <usize>j * 4));
    if (db == 0) continue;
    const pb = p + <usize>dbOffset;
    for (let o = 0; o < oc; o++) store<f32>(db + <usize>o * 4, load<f32>(db + <usize>o * 4) + load<f32>(pb + <usize>o * 4));
  }
}

// ── One input channel, 3×3 window, stride 1 (a first layer on grey images), computed directly.
// im2col's GEMM has only K = 9 terms per output there, too short for its packing to pay; these
// kernels vectorise over 4 neighbouring outputs of a row instead. Each sample's plane is copied
// into a zero-padded (H + 2·PH) × (W + 2·PW) plane in the thread's scratch, so the 3×3 window of
// outputs j..j+3 is 9 unaligned vector loads (rows i..i+2, columns j..j+2). A row of OW ≥ 4 outputs
// is covered by groups at 0, 4, 8, … and a last group at OW − 4, which overlaps the previous one:
// the forward writes those outputs twice with the same value, the dW sums mask the repeated lanes.

/** Copies plane x (H × W) into dst, an (H + 2·PH) × (W + 2·PW) plane zero outside x. */
function padPlane(dst: usize, x: usize, h: i32, w: i32, ph: i32, pw: i32): void {
  const wp = w + 2 * pw;
  if (ph == 0 && pw == 0) {
    memory.copy(dst, x, <usize>(h * w) * 4);
    return;
  }
  memory.fill(dst, 0, <usize>((h + 2 * ph) * wp) * 4);
  for (let r = 0; r < h; r++) copyRow(dst + <usize>((r + ph) * wp + pw) * 4, x + <usize>(r * w) * 4, w);
}

/**
 * y[s] = W ⊛ x[s] + b for the samples s of [s0, s1), one input channel, a 3×3 window, stride 1,
 * OH ≥ 2, OW ≥ 4. y: (N, OC, OH·OW), x: (N, 1, H, W), wt: (OC, 9), b: (OC) or 0 for none. scratch: one
 * padded plane (unused without padding). Per output, in this order: b + w₀·x₀ + w₁·x₁ + … + w₈·x₈
 * (taps row by row); two output rows at a time, which share two of their three input rows.
 */
export function direct3x3Forward(y: usize, x: usize, wt: usize, b: usize, s0: i32, s1: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, scratch: usize): void {
  const oh = h + 2 * ph - 2;
  const ow = w + 2 * pw - 2;
  const row = <usize>(w + 2 * pw) * 4;
  const plane = <usize>(oh * ow) * 4;
  for (let s = s0; s < s1; s++) {
    const xs = x + <usize>(s * h * w) * 4;
    // Without padding the window reads x in place (a last group ends at the row's last pixel).
    let src = xs;
    if (ph != 0 || pw != 0) {
      padPlane(scratch, xs, h, w, ph, pw);
      src = scratch;
    }
    let out = y + <usize>(s * oc) * plane;
    for (let o = 0; o < oc; o++) {
      // The filter's 9 taps in registers for the whole plane.
      const wo = wt + <usize>(o * 9) * 4;
      const w0 = v128.load32_splat(wo), w1 = v128.load32_splat(wo, 4), w2 = v128.load32_splat(wo, 8);
      const w3 = v128.load32_splat(wo, 12), w4 = v128.load32_splat(wo, 16), w5 = v128.load32_splat(wo, 20);
      const w6 = v128.load32_splat(wo, 24), w7 = v128.load32_splat(wo, 28), w8 = v128.load32_splat(wo, 32);
      const bias = b == 0 ? f32x4.splat(0) : v128.load32_splat(b + <usize>o * 4);
      // Two output rows at a time share their middle input rows (12 loads for 18 products); an
      // odd last row is recomputed with the one before it (the same values, written twice).
      for (let i0 = 0; i0 < oh; i0 += 2) {
        const i = min(i0, oh - 2);
        const r0s = src + <usize>i * row;
        const ys = out + <usize>(i * ow) * 4;
        for (let j0 = 0; j0 < ow; j0 += 4) {
          const j = min(j0, ow - 4);
          const r0 = r0s + <usize>j * 4;
          const r1 = r0 + row;
          const r2 = r1 + row;
          const r3 = r2 + row;
          // Each output sums b + w₀·x₀ + … + w₈·x₈ in tap order, whichever row of the pair it is.
          let a = v128.load(r0), c = v128.load(r0, 4), d = v128.load(r0, 8);
          let acc = madd(w0, a, bias);
          acc = madd(w1, c, acc);
          acc = madd(w2, d, acc);
          a = v128.load(r1); c = v128.load(r1, 4); d = v128.load(r1, 8);
          acc = madd(w3, a, acc);
          let acc2 = madd(w0, a, bias);
          acc = madd(w4, c, acc);
          acc2 = madd(w1, c, acc2);
          acc = madd(w5, d, acc);
          acc2 = madd(w2, d, acc2);
          a = v128.load(r2); c = v128.load(r2, 4); d = v128.load(r2, 8);
          acc = madd(w6, a, acc);
          acc2 = madd(w3, a, acc2);
          acc = madd(w7, c, acc);
          acc2 = madd(w4, c, acc2);
          acc = madd(w8, d, acc);
          acc2 = madd(w5, d, acc2);
          a = v128.load(r3); c = v128.load(r3, 4); d = v128.load(r3, 8);
          acc2 = madd(w6, a, acc2);
          acc2 = madd(w7, c, acc2);
          acc2 = madd(w8, d, acc2);
          v128.store(ys + <usize>j * 4, acc);
          v128.store(ys + <usize>(ow + j) * 4, acc2);
        }
      }
      out += plane;
    }
  }
}

// @ts-ignore: decorator
@inline
function lanesSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * For the samples of [s0, s1) (one input channel, 3×3, stride 1, OW ≥ 4): dWpart (OC × 9) =
 * Σ dy ⊙ shifted x and dbpart (OC) = Σ dy, written fresh (dbpart 0 for none). Per filter, 9 + 1
 * vector sums run over the chunk's samples, pairs of rows (then an odd last row) and column groups
 * in order, each pair's upper row first, then each is reduced
 * as (l₀ + l₁) + (l₂ + l₃). scratch: the chunk's padded planes, (s1 − s0)·(H + 2·PH)·(W + 2·PW) floats.
 */
export function direct3x3Backward(dwPart: usize, dbPart: usize, x: usize, dy: usize, s0: i32, s1: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, scratch: usize): void {
  const oh = h + 2 * ph - 2;
  const ow = w + 2 * pw - 2;
  const row = <usize>(w + 2 * pw) * 4;
  const padded = <usize>(h + 2 * ph) * row;
  const plane = <usize>(oh * ow) * 4;
  for (let s = s0; s < s1; s++) padPlane(scratch + <usize>(s - s0) * padded, x + <usize>(s * h * w) * 4, h, w, ph, pw);
  const full = ow & ~3;
  // The last group's lanes below 4 − OW % 4 repeat outputs of the previous group.
  const rest = ow & 3;
  const mask = i32x4.ge_s(i32x4(0, 1, 2, 3), i32x4.splat(4 - rest));
  const ones = i32x4.splat(-1);
  for (let o = 0; o < oc; o++) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, ab = a0;
    for (let s = s0; s < s1; s++) {
      const dys = dy + <usize>(s * oc + o) * plane;
      const xs = scratch + <usize>(s - s0) * padded;
      // Two rows at a time (their dy vectors share the middle input rows), then an odd last row.
      for (let i = 0; i < oh; i += 2) {
        const pair = i + 1 < oh;
        const dyr = dys + <usize>(i * ow) * 4;
        const r0s = xs + <usize>i * row;
        for (let j = 0; j < ow; j += 4) {
          let jj = j;
          let m = ones;
          if (j >= full) {
            jj = ow - 4;
            m = mask;
          }
          const r0 = r0s + <usize>jj * 4;
          const r1 = r0 + row;
          const r2 = r1 + row;
          const d = v128.and(v128.load(dyr + <usize>jj * 4), m);
          let x0 = v128.load(r0), x1 = v128.load(r0, 4), x2 = v128.load(r0, 8);
          a0 = madd(d, x0, a0);
          a1 = madd(d, x1, a1);
          a2 = madd(d, x2, a2);
          x0 = v128.load(r1); x1 = v128.load(r1, 4); x2 = v128.load(r1, 8);
          a3 = madd(d, x0, a3);
          a4 = madd(d, x1, a4);
          a5 = madd(d, x2, a5);
          if (pair) {
            const d2 = v128.and(v128.load(dyr + <usize>(ow + jj) * 4), m);
            a0 = madd(d2, x0, a0);
            a1 = madd(d2, x1, a1);
            a2 = madd(d2, x2, a2);
            x0 = v128.load(r2); x1 = v128.load(r2, 4); x2 = v128.load(r2, 8);
            a6 = madd(d, x0, a6);
            a7 = madd(d, x1, a7);
            a8 = madd(d, x2, a8);
            a3 = madd(d2, x0, a3);
            a4 = madd(d2, x1, a4);
            a5 = madd(d2, x2, a5);
            const r3 = r2 + row;
            x0 = v128.load(r3); x1 = v128.load(r3, 4); x2 = v128.load(r3, 8);
            a6 = madd(d2, x0, a6);
            a7 = madd(d2, x1, a7);
            a8 = madd(d2, x2, a8);
            ab = f32x4.add(ab, f32x4.add(d, d2));
          } else {
            x0 = v128.load(r2); x1 = v128.load(r2, 4); x2 = v128.load(r2, 8);
            a6 = madd(d, x0, a6);
            a7 = madd(d, x1, a7);
            a8 = madd(d, x2, a8);
            ab = f32x4.add(ab, d);
          }
        }
      }
    }
    const dw = dwPart + <usize>(o * 9) * 4;
    store<f32>(dw, lanesSum(a0));
    store<f32>(dw, lanesSum(a1), 4);
    store<f32>(dw, lanesSum(a2), 8);
    store<f32>(dw, lanesSum(a3), 12);
    store<f32>(dw, lanesSum(a4), 16);
    store<f32>(dw, lanesSum(a5), 20);
    store<f32>(dw, lanesSum(a6), 24);
    store<f32>(dw, lanesSum(a7), 28);
    store<f32>(dw, lanesSum(a8), 32);
    if (dbPart != 0) store<f32>(dbPart + <usize>o * 4, lanesSum(ab));
  }
}
