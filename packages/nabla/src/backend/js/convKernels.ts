/**
 * The JS backend's batch convolution kernels (contracts in backend.ts): im2col + the backend's
 * GEMM, one sample at a time, with a per-sample scratch cols (C·KH·KW × OH·OW) and its gradient.
 * Backward rebuilds each sample's cols from x instead of keeping N of them (a batch's cols is
 * KH·KW times the size of x: 25× for a 5×5 kernel). The kernels call back into the backend
 * (`im2col`, `gemm`, `col2im`, `addChannelBias`, `sumChannels`), so a backend that only speeds
 * up those still speeds up this loop.
 *
 * Sizes: N batch, C channels, H × W input, KH × KW window, SH/SW stride, PH/PW zero padding,
 * OC filters, OH × OW output.
 */
import type { Backend } from '../backend.ts';
import { outSize } from './imageKernels.ts';

/** Scratch for the per-sample loop, kept by the backend between calls: cols and dcols. */
export interface ConvScratch {
  cols: Float32Array;
  dcols: Float32Array;
}

/** Grows both scratch arrays (from `backend.allocate`, so they live in its memory) to `size`. */
function grow(backend: Backend, scratch: ConvScratch, size: number): void {
  if (scratch.cols.length >= size) return;
  scratch.cols = backend.allocate(size);
  scratch.dcols = backend.allocate(size);
}

/** y[n] (OC × OH·OW) = W (OC × C·KH·KW) · im2col(x[n]) (+ b[oc]), sample by sample. */
export function conv2dForward(
  backend: Backend, scratch: ConvScratch,
  y: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  oc: number,
): void {
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const k = c * kh * kw;
  const inSize = c * h * w;
  grow(backend, scratch, k * s);
  for (let b = 0; b < n; b++) {
    backend.im2col(scratch.cols, x.subarray(b * inSize, (b + 1) * inSize), 1, c, h, w, kh, kw, sh, sw, ph, pw);
    // y[b] (OC × OH·OW) = W (OC × C·KH·KW) · cols (C·KH·KW × OH·OW)
    backend.gemm(y.subarray(b * oc * s, (b + 1) * oc * s), weight, scratch.cols, oc, s, k, false, false, 1, 0);
  }
  if (bias) backend.addChannelBias(y, y, bias, n, oc, s);
}

/**
 * dW += Σ_n dy[n] · im2col(x[n])ᵀ; db += Σ dy over samples and positions (when given); dx (when
 * given) = col2im(Wᵀ · dy[n]) per sample, written fresh.
 */
export function conv2dBackward(
  backend: Backend, scratch: ConvScratch,
  dW: Float32Array, db: Float32Array | undefined, dx: Float32Array | undefined,
  x: Float32Array, dy: Float32Array, weight: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  oc: number,
): void {
  const s = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  const k = c * kh * kw;
  const inSize = c * h * w;
  grow(backend, scratch, k * s);
  // col2im adds, so dx starts from zero.
  if (dx) backend.fill(dx, 0, n * inSize);
  for (let b = 0; b < n; b++) {
    const xb = x.subarray(b * inSize, (b + 1) * inSize);
    const dyb = dy.subarray(b * oc * s, (b + 1) * oc * s);
    backend.im2col(scratch.cols, xb, 1, c, h, w, kh, kw, sh, sw, ph, pw);
    // dW (OC × C·KH·KW) += dY[b] (OC × OH·OW) · colsᵀ: a cross-correlation of x with dy.
    backend.gemm(dW, dyb, scratch.cols, oc, k, s, false, true, 1, 1);
    if (!dx) continue;
    // dcols (C·KH·KW × OH·OW) = Wᵀ · dY[b]; col2im sends every entry back to its pixel, which
    // makes dx a full cross-correlation of dy with the flipped kernel (docs/math.md).
    backend.gemm(scratch.dcols, weight, dyb, k, s, oc, true, false, 1, 0);
    backend.col2im(dx.subarray(b * inSize, (b + 1) * inSize), scratch.dcols, 1, c, h, w, kh, kw, sh, sw, ph, pw);
  }
  // db[oc] += Σ over samples and positions of dY[n, oc].
  if (db) backend.sumChannels(db, dy, n, oc, s, 1);
}
