// Batch-level convolution by im2col + GEMM, for every window except the 3×3 stride-1 ones with 2 or
// more input channels, which winograd.ts computes with fewer multiplies (see wasmBackend.ts).
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
