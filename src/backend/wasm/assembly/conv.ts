// Batch-level convolution: one call runs a CHUNK of samples [s0, s1) entirely inside wasm, so a
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
import { endValid, firstValid, outSize } from './image';

// dst[0 .. len) = src[0 .. len), four lanes at a time (window rows are short: 24 or 8 floats in
// the small CNN, where a bulk-memory call per row costs more than the copy).
// @ts-ignore: decorator
@inline
function copyRow(dst: usize, src: usize, len: i32): void {
  let j = 0;
  for (; j + 4 <= len; j += 4) v128.store(dst + <usize>j * 4, v128.load(src + <usize>j * 4));
  for (; j < len; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>j * 4));
}

// im2col of samples [s0, s1) of x into cols (K × T·S), sample t in columns [t·S, (t+1)·S).
function im2colChunk(
  cols: usize, x: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const s = oh * ow;
  const ld = <usize>((s1 - s0) * s) * 4; // bytes per cols row
  const plane = h * w;
  const dense = ph == 0 && pw == 0 && sw == 1;
  for (let t = 0; t < s1 - s0; t++) {
    const xs = x + <usize>((s0 + t) * c * plane) * 4;
    let out = cols + <usize>(t * s) * 4; // row (ch, u, v) of this sample's block
    for (let ch = 0; ch < c; ch++) {
      const xc = xs + <usize>(ch * plane) * 4;
      for (let u = 0; u < kh; u++) {
        if (dense) {
          // No padding, stride 1 along a row: every window row is a contiguous run of OW pixels,
          // with no bounds to work out.
          for (let v = 0; v < kw; v++, out += ld) {
            let src = xc + <usize>(u * w + v) * 4;
            let dst = out;
            for (let i = 0; i < oh; i++, src += <usize>(sh * w) * 4, dst += <usize>ow * 4) copyRow(dst, src, ow);
          }
          continue;
        }
        const oh0 = firstValid(u, sh, ph);
        const oh1 = endValid(u, sh, ph, h, oh);
        for (let v = 0; v < kw; v++, out += ld) {
          const ow0 = firstValid(v, sw, pw);
          const ow1 = endValid(v, sw, pw, w, ow);
          for (let i = 0; i < oh; i++) {
            const dst = out + <usize>(i * ow) * 4;
            if (i < oh0 || i >= oh1 || ow0 >= ow1) {
              for (let j = 0; j < ow; j++) store<f32>(dst + <usize>j * 4, 0);
              continue;
            }
            const src = xc + <usize>((i * sh - ph + u) * w - pw + v) * 4;
            for (let j = 0; j < ow0; j++) store<f32>(dst + <usize>j * 4, 0);
            if (sw == 1) copyRow(dst + <usize>ow0 * 4, src + <usize>ow0 * 4, ow1 - ow0);
            else for (let j = ow0; j < ow1; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>(j * sw) * 4));
            for (let j = ow1; j < ow; j++) store<f32>(dst + <usize>j * 4, 0);
          }
        }
      }
    }
  }
}

// dx of samples [s0, s1) = col2im of dcols (K × T·S, the im2col layout above): cleared first,
// then every entry added back into the pixel it was copied from (padding entries dropped).
function col2imChunk(
  dx: usize, dcols: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const s = oh * ow;
  const ld = <usize>((s1 - s0) * s) * 4;
  const plane = h * w;
  memory.fill(dx + <usize>(s0 * c * plane) * 4, 0, <usize>((s1 - s0) * c * plane) * 4);
  for (let t = 0; t < s1 - s0; t++) {
    const xs = dx + <usize>((s0 + t) * c * plane) * 4;
    let row = dcols + <usize>(t * s) * 4;
    for (let ch = 0; ch < c; ch++) {
      const xc = xs + <usize>(ch * plane) * 4;
      for (let u = 0; u < kh; u++) {
        const oh0 = firstValid(u, sh, ph);
        const oh1 = endValid(u, sh, ph, h, oh);
        for (let v = 0; v < kw; v++, row += ld) {
          const ow0 = firstValid(v, sw, pw);
          const ow1 = endValid(v, sw, pw, w, ow);
          for (let i = oh0; i < oh1; i++) {
            const src = row + <usize>(i * ow) * 4;
            const dst = xc + <usize>((i * sh - ph + u) * w - pw + v) * 4;
            let j = ow0;
            if (sw == 1) {
              for (; j + 4 <= ow1; j += 4) {
                const d = dst + <usize>j * 4;
                v128.store(d, f32x4.add(v128.load(d), v128.load(src + <usize>j * 4)));
              }
            }
            for (; j < ow1; j++) {
              const d = dst + <usize>(j * sw) * 4;
              store<f32>(d, load<f32>(d) + load<f32>(src + <usize>j * 4));
            }
          }
        }
      }
    }
  }
}

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
  im2colChunk(cols, x, s0, s1, c, h, w, kh, kw, sh, sw, ph, pw);
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
  im2colChunk(cols, x, s0, s1, c, h, w, kh, kw, sh, sw, ph, pw);
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
  col2imChunk(dx, cols, s0, s1, c, h, w, kh, kw, sh, sw, ph, pw);
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
