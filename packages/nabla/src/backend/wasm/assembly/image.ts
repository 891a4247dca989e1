// The image kernels of a convolutional network: im2col / col2im (the unrolling that turns a
// convolution into a GEMM, and its adjoint) and max pooling. Same definitions and loop orders
// as src/backend/js/imageKernels.ts (read that file for the index formulas); compiled, with
// vector copies for the contiguous runs of a stride-1 window row.

/** Output size of a window of k with stride s and padding p over len values. */
// @ts-ignore: decorator
@inline
export function outSize(len: i32, k: i32, s: i32, p: i32): i32 {
  return (len + 2 * p - k) / s + 1;
}

/** First output index o whose input index o·s − p + u is ≥ 0. */
// @ts-ignore: decorator
@inline
export function firstValid(u: i32, s: i32, p: i32): i32 {
  return u >= p ? 0 : (p - u + s - 1) / s;
}

/** One past the last output index o (below out) whose input index o·s − p + u is < len. */
// @ts-ignore: decorator
@inline
export function endValid(u: i32, s: i32, p: i32, len: i32, out: i32): i32 {
  const num = len - 1 + p - u;
  if (num < 0) return 0;
  return max(0, min(out, num / s + 1));
}

// dst[0 .. len) = src[0 .. len), four lanes at a time (window rows are short: 24 or 8 floats in
// the small CNN, where a bulk-memory call per row costs more than the copy).
// @ts-ignore: decorator
@inline
export function copyRow(dst: usize, src: usize, len: i32): void {
  let j = 0;
  for (; j + 4 <= len; j += 4) v128.store(dst + <usize>j * 4, v128.load(src + <usize>j * 4));
  for (; j < len; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>j * 4));
}

/**
 * im2col of samples [s0, s1) of x: row (ch, u, v) of the cols is `ld` bytes long, and sample t
 * fills its OH·OW columns from column t·OH·OW. One sample per block (ld = OH·OW·4) is the
 * Backend's layout (im2col below); conv.ts puts a chunk of samples side by side.
 */
export function im2colRows(
  cols: usize, x: usize, s0: i32, s1: i32, ld: usize,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const s = oh * ow;
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

/**
 * The adjoint of im2colRows (same layout): ADDS every entry of the cols into the pixel of dx it
 * was copied from; entries that came from the padding are dropped.
 */
export function col2imRows(
  dx: usize, dcols: usize, s0: i32, s1: i32, ld: usize,
  c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const s = oh * ow;
  const plane = h * w;
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

/** The Backend's im2col: cols (N·C·KH·KW × OH·OW), one sample's block after another. */
export function im2col(
  cols: usize, x: usize,
  n: i32, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const block = <usize>(c * kh * kw * s) * 4;
  for (let b = 0; b < n; b++) im2colRows(cols + <usize>b * block, x, b, b + 1, <usize>s * 4, c, h, w, kh, kw, sh, sw, ph, pw);
}

/** The Backend's col2im (adds into dx), the adjoint of im2col above. */
export function col2im(
  dx: usize, cols: usize,
  n: i32, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const block = <usize>(c * kh * kw * s) * 4;
  for (let b = 0; b < n; b++) col2imRows(dx, cols + <usize>b * block, b, b + 1, <usize>s * 4, c, h, w, kh, kw, sh, sw, ph, pw);
}

export function maxPool(
  y: usize, x: usize,
  n: i32, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0) {
    maxPool2x2(y, x, n * c, h, w, oh, ow);
    return;
  }
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = max(0, i * sh - ph);
      const r1 = min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = max(0, j * sw - pw);
        const c1 = min(w, j * sw - pw + kw);
        let best: f32 = -Infinity;
        for (let r = r0; r < r1; r++) {
          const rowp = x + <usize>(base + r * w) * 4;
          for (let q = c0; q < c1; q++) {
            const v = load<f32>(rowp + <usize>q * 4);
            if (v > best) best = v;
          }
        }
        store<f32>(y + <usize>o * 4, best);
      }
    }
  }
}

// The common 2×2, stride 2 pooling, four outputs at a time. pmax(a, b) is `b > a ? b : a`, the
// same comparison as the general loop (NaN never wins), applied in the same window order.
function maxPool2x2(y: usize, x: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32): void {
  const low = f32x4.splat(-Infinity);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = x + <usize>(p * h * w) * 4;
    for (let i = 0; i < oh; i++) {
      const top = base + <usize>(2 * i * w) * 4;
      const bottom = top + <usize>w * 4;
      let j = 0;
      for (; j + 4 <= ow; j += 4, o += 4) {
        const t0 = v128.load(top + <usize>(2 * j) * 4);
        const t1 = v128.load(top + <usize>(2 * j) * 4, 16);
        const b0 = v128.load(bottom + <usize>(2 * j) * 4);
        const b1 = v128.load(bottom + <usize>(2 * j) * 4, 16);
        // Window order: top-left, top-right, bottom-left, bottom-right.
        let best = f32x4.pmax(low, v128.shuffle<f32>(t0, t1, 0, 2, 4, 6));
        best = f32x4.pmax(best, v128.shuffle<f32>(t0, t1, 1, 3, 5, 7));
        best = f32x4.pmax(best, v128.shuffle<f32>(b0, b1, 0, 2, 4, 6));
        best = f32x4.pmax(best, v128.shuffle<f32>(b0, b1, 1, 3, 5, 7));
        v128.store(y + <usize>o * 4, best);
      }
      for (; j < ow; j++, o++) {
        let best: f32 = -Infinity;
        const l = <usize>(2 * j) * 4;
        let v = load<f32>(top + l); if (v > best) best = v;
        v = load<f32>(top + l + 4); if (v > best) best = v;
        v = load<f32>(bottom + l); if (v > best) best = v;
        v = load<f32>(bottom + l + 4); if (v > best) best = v;
        store<f32>(y + <usize>o * 4, best);
      }
    }
  }
}

// 2×2, stride 2: the windows do not overlap, so each dy goes to one pixel: the first in window
// order (top-left, top-right, bottom-left, bottom-right) that holds the window's maximum, as the
// scalar scan with strict > picks it; a window whose maximum is −∞ (all −∞ or NaN) sends dy to
// its top-left, as that scan does. Four windows at a time: the maximum as in maxPool2x2, then
// one mask per position, each excluding the positions before it.
function maxPoolBackward2x2(dx: usize, dy: usize, x: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32): void {
  const low = f32x4.splat(-Infinity);
  const zero = f32x4.splat(0);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const top = base + 2 * i * w;
      const bottom = top + w;
      let j = 0;
      for (; j + 4 <= ow; j += 4, o += 4) {
        const at = x + <usize>(top + 2 * j) * 4;
        const ab = x + <usize>(bottom + 2 * j) * 4;
        const t0 = v128.load(at);
        const t1 = v128.load(at, 16);
        const b0 = v128.load(ab);
        const b1 = v128.load(ab, 16);
        const tl = v128.shuffle<f32>(t0, t1, 0, 2, 4, 6);
        const tr = v128.shuffle<f32>(t0, t1, 1, 3, 5, 7);
        const bl = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
        const br = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        let best = f32x4.pmax(low, tl);
        best = f32x4.pmax(best, tr);
        best = f32x4.pmax(best, bl);
        best = f32x4.pmax(best, br);
        let taken = v128.or(f32x4.eq(tl, best), f32x4.eq(best, low));
        const mTr = v128.andnot(f32x4.eq(tr, best), taken);
        taken = v128.or(taken, mTr);
        const mBl = v128.andnot(f32x4.eq(bl, best), taken);
        taken = v128.or(taken, mBl);
        const mBr = v128.andnot(f32x4.eq(br, best), taken);
        const mTl = v128.not(v128.or(v128.or(mTr, mBl), mBr));
        // 0 + dy, as the scalar path adds dy to the cleared dx (turns −0 into +0, keeps NaN).
        const g = v128.load(dy + <usize>o * 4);
        const gTl = f32x4.add(zero, v128.and(g, mTl));
        const gTr = f32x4.add(zero, v128.and(g, mTr));
        const gBl = f32x4.add(zero, v128.and(g, mBl));
        const gBr = f32x4.add(zero, v128.and(g, mBr));
        const dt = dx + <usize>(top + 2 * j) * 4;
        const db = dx + <usize>(bottom + 2 * j) * 4;
        v128.store(dt, v128.shuffle<f32>(gTl, gTr, 0, 4, 1, 5));
        v128.store(dt, v128.shuffle<f32>(gTl, gTr, 2, 6, 3, 7), 16);
        v128.store(db, v128.shuffle<f32>(gBl, gBr, 0, 4, 1, 5));
        v128.store(db, v128.shuffle<f32>(gBl, gBr, 2, 6, 3, 7), 16);
      }
      for (; j < ow; j++, o++) {
        let at = top + 2 * j;
        let best = load<f32>(x + <usize>at * 4);
        if (!(best > -Infinity)) best = -Infinity; // NaN never wins, as in the general loop
        let v = load<f32>(x + <usize>(top + 2 * j + 1) * 4);
        if (v > best) { best = v; at = top + 2 * j + 1; }
        v = load<f32>(x + <usize>(bottom + 2 * j) * 4);
        if (v > best) { best = v; at = bottom + 2 * j; }
        v = load<f32>(x + <usize>(bottom + 2 * j + 1) * 4);
        if (v > best) { at = bottom + 2 * j + 1; }
        // The whole window is written: 0 + dy at the maximum (as the vector path), 0 elsewhere.
        store<f32>(dx + <usize>(top + 2 * j) * 4, 0);
        store<f32>(dx + <usize>(top + 2 * j + 1) * 4, 0);
        store<f32>(dx + <usize>(bottom + 2 * j) * 4, 0);
        store<f32>(dx + <usize>(bottom + 2 * j + 1) * 4, 0);
        store<f32>(dx + <usize>at * 4, <f32>0 + load<f32>(dy + <usize>o * 4));
      }
    }
  }
}

export function maxPoolBackward(
  dx: usize, dy: usize, x: usize,
  n: i32, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0) {
    // Even sizes: the windows tile dx and the 2×2 path writes every value (no clearing pass).
    if ((h | w) & 1) memory.fill(dx, 0, <usize>(n * c * h * w) * 4);
    maxPoolBackward2x2(dx, dy, x, n * c, h, w, oh, ow);
    return;
  }
  memory.fill(dx, 0, <usize>(n * c * h * w) * 4);
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = max(0, i * sh - ph);
      const r1 = min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = max(0, j * sw - pw);
        const c1 = min(w, j * sw - pw + kw);
        // Same scan and strict > as the forward, so the same (first) maximum is chosen.
        let best: f32 = -Infinity;
        let at = base + r0 * w + c0;
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const v = load<f32>(x + <usize>(base + r * w + q) * 4);
            if (v > best) {
              best = v;
              at = base + r * w + q;
            }
          }
        }
        const d = dx + <usize>at * 4;
        store<f32>(d, load<f32>(d) + load<f32>(dy + <usize>o * 4));
      }
    }
  }
}
