/**
 * JsBackend: the reference backend in plain TypeScript. Every other backend is tested against
 * it. `gemm` is the register-blocked fastGemm; construct with `{ naive: true }` to run every
 * product through the naive oracle instead (slow; for tests).
 */
import type { Backend } from '../backend.ts';
import { NablaError } from '../../errors.ts';
import { fastGemm, type GemmScratch } from './fastGemm.ts';
import { naiveGemm } from './naiveGemm.ts';
import * as image from './imageKernels.ts';
import * as conv from './convKernels.ts';

/** gatherRows' copies, once checkGather has passed (the wasm backend's fallback shares them). */
export function copyRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
  if (width > 0) touchRows(src, order, start, count, width);
  for (let r = 0; r < count; r++) {
    const from = order[start + r] * width;
    // NOTE: set(subarray) is a memcpy; it measured 4× faster than an element loop for
    // 784-wide rows (the view is a small object, no data is allocated). Short rows (10
    // one-hot targets) are cheaper copied by hand than through a view.
    if (width >= 64) out.set(src.subarray(from, from + width), r * width);
    else for (let j = 0, o = r * width; j < width; j++) out[o + j] = src[from + j];
  }
}

/** Where touchRows leaves its sum, so that its loads are not optimised away. */
let touched = 0;

/**
 * Reads the first one or two cache lines of every row to be copied, before copying any: the rows
 * of a shuffled batch lie all over a large dataset, and a row copied alone waits for its first
 * line to come from memory before the next row is even asked for; these loads are independent,
 * so the memory serves them together. In MNIST training epochs (batches of 64, wasm backend,
 * load average 4, medians of 8 epochs): the image gathers took 66-71 ms instead of 86-91, and
 * touching the one-hot target rows too brought both gathers to 64-82 ms from 79-93. Touching 1
 * or 4 lines of an image row measured the same as 2.
 */
function touchRows(src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
  let sum = 0;
  for (let r = 0; r < count; r++) {
    const from = order[start + r] * width;
    sum += width > 16 ? src[from] + src[from + 16] : src[from];
  }
  touched += sum;
}

/**
 * Throws unless gatherRows(out, src, order, start, count, width) stays inside its arrays: out
 * holds count rows, positions start..start+count are in order, and every index there names a
 * row of src.
 */
export function checkGather(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
  if (out.length < count * width) {
    throw new NablaError({ where: 'gatherRows', expected: `out to hold ${count} rows of ${width} values`, found: `${out.length} values` });
  }
  if (!Number.isInteger(start) || start < 0 || start + count > order.length) {
    throw new NablaError({ where: 'gatherRows', expected: `positions ${start}..${start + count - 1} within the order (length ${order.length})`, found: `start ${start}, count ${count}` });
  }
  const rows = width > 0 ? Math.floor(src.length / width) : 0;
  for (let r = start; r < start + count; r++) {
    if (order[r] >= rows) {
      throw new NablaError({
        where: 'gatherRows', expected: `row indices below ${rows} (the rows of the source)`, found: `${order[r]} at position ${r}`,
        hint: 'the order was made for a larger dataset',
      });
    }
  }
}

/** Plain SGD's velocity: none (sgdUpdate never touches it with momentum 0). */
const NO_VELOCITY = new Float32Array(0);

/**
 * The reference backend: plain JavaScript kernels (a blocked GEMM, with the naive one as its oracle).
 *
 * @example
 * const model = new Sequential([new Dense(10)], { inputShape: [784], backend: new JsBackend() });
 * new JsBackend({ naive: true }); // the reference GEMM, as a test oracle
 */
export class JsBackend implements Backend {
  /** "js", or "js-naive" for the reference-GEMM oracle. */
  readonly name: string;
  private readonly naive: boolean;
  // Growable scratch for GEMM packing: allocated on first use and on growth only.
  private bufA = new Float32Array(0);
  private bufB = new Float32Array(0);
  private bufF = new Float32Array(0);
  private readonly bufI = [new Int32Array(0), new Int32Array(0), new Int32Array(0)];
  private readonly scratch: GemmScratch = {
    packA: (size) => (this.bufA.length >= size ? this.bufA : (this.bufA = new Float32Array(size))),
    packB: (size) => (this.bufB.length >= size ? this.bufB : (this.bufB = new Float32Array(size))),
    floats: (size) => (this.bufF.length >= size ? this.bufF : (this.bufF = new Float32Array(size))),
    ints: (slot, size) => (this.bufI[slot].length >= size ? this.bufI[slot] : (this.bufI[slot] = new Int32Array(size))),
  };
  // The per-sample convolution loop's cols and dcols, grown on demand only.
  private readonly convScratch: conv.ConvScratch = { cols: new Float32Array(0), dcols: new Float32Array(0) };

  constructor(options: { naive?: boolean } = {}) {
    this.naive = options.naive ?? false;
    this.name = this.naive ? 'js-naive' : 'js';
  }

  allocate(length: number): Float32Array {
    return new Float32Array(length);
  }

  gemm(
    c: Float32Array, a: Float32Array, b: Float32Array,
    m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
    epilogue?: { bias?: Float32Array; relu?: boolean },
  ): void {
    if (this.naive) naiveGemm(c, a, b, m, n, k, transA, transB, alpha, beta);
    else fastGemm(c, a, b, m, n, k, transA, transB, alpha, beta, this.scratch);
    if (epilogue?.bias) this.addRowVector(c, c, epilogue.bias, m, n);
    if (epilogue?.relu) this.relu(c, c, m * n);
  }

  sumSquares(x: Float32Array, n: number): number {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[i] * x[i];
    return sum;
  }

  fill(out: Float32Array, value: number, n: number): void {
    out.fill(value, 0, n);
  }

  addRowVector(out: Float32Array, x: Float32Array, v: Float32Array, rows: number, cols: number): void {
    for (let r = 0, o = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++, o++) out[o] = x[o] + v[j];
    }
  }

  sumRows(out: Float32Array, x: Float32Array, rows: number, cols: number, beta: number): void {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + j];
      out[j] = beta === 0 ? s : beta * out[j] + s;
    }
  }

  relu(out: Float32Array, x: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
  }

  reluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  }

  leakyRelu(out: Float32Array, x: Float32Array, n: number, slope: number): void {
    for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : slope * x[i];
  }

  leakyReluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number, slope: number): void {
    for (let i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : slope * dy[i];
  }

  sigmoid(out: Float32Array, x: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
  }

  sigmoidBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
  }

  tanh(out: Float32Array, x: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
  }

  tanhBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
  }

  softmax(out: Float32Array, x: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      // Subtracting the row max changes nothing mathematically and keeps exp() from overflowing.
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(x[o + j] - max);
        out[o + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < cols; j++) out[o + j] *= inv;
    }
  }

  softmaxBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
    }
  }

  gatherRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
    checkGather(out, src, order, start, count, width);
    copyRows(out, src, order, start, count, width);
  }

  softmaxCrossEntropy(
    dlogits: Float32Array, logits: Float32Array, target: Float32Array,
    rows: number, cols: number, scale: number,
  ): number {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (logits[o + j] > max) max = logits[o + j];
      // e_j = exp(z_j − max) ≤ 1, computed once and parked in dlogits (one exp per logit: the
      // exps were most of this kernel's time in an MNIST epoch on the wasm backend). Each logit
      // is read before its slot is written, so dlogits may be logits itself.
      let sum = 0;
      let tz = 0; // Σ t_j (z_j − max)
      let tsum = 0;
      for (let j = 0; j < cols; j++) {
        const z = logits[o + j] - max;
        const t = target[o + j];
        if (t !== 0) tz += t * z;
        tsum += t;
        sum += dlogits[o + j] = Math.exp(z);
      }
      // −Σ t_j log p_j with log p_j = (z_j − max) − log(sum): never exp() of a large number.
      // NOTE: subtract max first, then log(sum): z_j − (max + log(sum)) would round log(sum)
      // away when |max| is huge (3e38 + log 2 === 3e38), giving p's that sum to more than 1.
      const logSum = Math.log(sum);
      loss -= tz - tsum * logSum;
      // d/dz of −Σ t log softmax(z) is p·Σt − t (= p − t for a distribution), p_j = e_j / sum.
      const inv = 1 / sum;
      for (let j = 0; j < cols; j++) {
        dlogits[o + j] = scale * (dlogits[o + j] * inv * tsum - target[o + j]);
      }
    }
    return loss;
  }

  squaredError(dpred: Float32Array, pred: Float32Array, target: Float32Array, n: number, scale: number): number {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const d = pred[i] - target[i];
      loss += d * d;
      dpred[i] = scale * 2 * d;
    }
    return loss;
  }

  multiply(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
  }

  // Image kernels live in imageKernels.ts (see backend.ts for their contracts).
  readonly im2col = image.im2col;
  readonly col2im = image.col2im;
  readonly addChannelBias = image.addChannelBias;
  readonly sumChannels = image.sumChannels;
  readonly maxPool = image.maxPool;
  readonly maxPoolBackward = image.maxPoolBackward;
  readonly avgPool = image.avgPool;
  readonly avgPoolBackward = image.avgPoolBackward;
  readonly batchNormStats = image.batchNormStats;
  readonly batchNormNormalize = image.batchNormNormalize;
  readonly batchNormBackward = image.batchNormBackward;

  sgdUpdate(
    param: Float32Array, grad: Float32Array, velocity: Float32Array, n: number,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void {
    for (let i = 0; i < n; i++) {
      const g = grad[i] + weightDecay * param[i];
      if (momentum === 0) {
        param[i] -= lr * g;
        continue;
      }
      const v = momentum * velocity[i] + g;
      velocity[i] = v;
      param[i] -= lr * (nesterov ? g + momentum * v : v);
    }
  }

  sgdUpdateSumSquares(param: Float32Array, grad: Float32Array, n: number, lr: number, weightDecay: number): number {
    const sum = this.sumSquares(grad, n);
    if (Number.isFinite(sum)) this.sgdUpdate(param, grad, NO_VELOCITY, n, lr, 0, weightDecay, false);
    return sum;
  }

  adamUpdate(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean,
    bc1: number, bc2: number,
  ): void {
    const stepSize = lr / bc1;
    const invSqrtBc2 = 1 / Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      let g = grad[i];
      if (decoupled) param[i] -= lr * weightDecay * param[i];
      else g += weightDecay * param[i];
      const mi = beta1 * m[i] + (1 - beta1) * g;
      const vi = beta2 * v[i] + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] -= (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
    }
  }

  conv2dForward(
    y: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    conv.conv2dForward(this, this.convScratch, y, x, weight, bias, n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
  }

  conv2dBackward(
    dW: Float32Array, db: Float32Array | undefined, dx: Float32Array | undefined,
    x: Float32Array, dy: Float32Array, weight: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    conv.conv2dBackward(this, this.convScratch, dW, db, dx, x, dy, weight, n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
  }
}
