/**
 * explainConv: the arithmetic behind one traced sample's image layers, worked with its numbers, for
 * the playground's "step through one sample" (and for anyone checking the notes by hand). Every
 * function reads a `TraceStep` of `traceSample` and the step's input (`stepInput`), and returns
 * the terms of one sum next to the value the layer itself computed (`traced`), so a learner sees
 * that the equation IS the layer. Pure functions: no model, no backend, float64 sums.
 *
 * Notation (per sample, NCHW without the N; s = stride, p = padding, K = kernel size):
 *
 *   Conv2D forward   z[c,i,j] = b[c] + Σ_{k,m,n} W[c,k,m,n] · a[k, i·s+m−p, j·s+n−p]      (a = 0 outside)
 *   ∂C/∂W            ∂C/∂W[c,k,m,n] = Σ_{i,j} δ[c,i,j] · a[k, i·s+m−p, j·s+n−p]          (a correlated with δ)
 *   ∂C/∂b            ∂C/∂b[c] = Σ_{i,j} δ[c,i,j]
 *   ∂C/∂a            ∂C/∂a[k,y,x] = Σ_{c,m,n} δ̃[c, y+m, x+n] · rot180(W)[c,k,m,n]         ("full" correlation)
 *                    δ̃ = δ with s − 1 zeros between entries, padded by K − 1 − p on each side,
 *                    rot180(W)[c,k,m,n] = W[c,k,K−1−m,K−1−n].
 *   MaxPool2D        y[c,i,j] = max of the window; ∂C/∂a gets δ[c,i,j] at the argmax only.
 *   AvgPool2D        y[c,i,j] = mean of the window (padding counts as 0); each input of the window
 *                    gets δ[c,i,j] / (KH·KW).
 *   BatchNorm        y = γ·(x − μ)/sqrt(σ² + eps) + β: μ, σ² of the batch in training, the running
 *                    statistics in evaluation.
 *   Dropout          training: y = x ⊙ mask, mask = 0 (probability p) or 1/(1 − p); evaluation: y = x.
 */
import { NablaError } from '../errors.ts';
import { Rng } from '../random.ts';
import type { TraceStep } from './traceSample.ts';

/**
 * The window geometry of a traced Conv2D, MaxPool2D or AvgPool2D step.
 * @example const g = convGeometry(trace.steps[0]); g.outHeight; // OH
 */
export interface ConvGeometry {
  /** Input channels C, height H, width W. */
  channels: number;
  height: number;
  width: number;
  /** Output channels (filters for Conv2D, C for pooling), OH, OW. */
  outChannels: number;
  outHeight: number;
  outWidth: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

const WINDOW_TYPES = ['Conv2D', 'MaxPool2D', 'AvgPool2D'];

/**
 * The geometry of a Conv2D / MaxPool2D / AvgPool2D step, from its config and shapes.
 * @example convGeometry(trace.steps[0]).kernel; // [3, 3]
 */
export function convGeometry(step: TraceStep): ConvGeometry {
  if (!WINDOW_TYPES.includes(step.type) || step.inputShape.length !== 3 || step.outputShape.length !== 3) {
    throw new NablaError({ where: 'convGeometry', expected: `a ${WINDOW_TYPES.join(', ')} step on images`, found: `${step.type} with input shape [${step.inputShape.join(', ')}]` });
  }
  const pair = (v: unknown, fallback: [number, number]): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : fallback);
  const kernel = pair(step.type === 'Conv2D' ? step.config.kernelSize : step.config.poolSize, [1, 1]);
  const [channels, height, width] = step.inputShape;
  const [outChannels, outHeight, outWidth] = step.outputShape;
  return {
    channels, height, width, outChannels, outHeight, outWidth, kernel,
    stride: pair(step.config.stride, kernel), padding: pair(step.config.padding, [0, 0]),
  };
}

function requireType(step: TraceStep, type: string, where: string): ConvGeometry {
  if (step.type !== type) throw new NablaError({ where, expected: `a ${type} step`, found: step.type });
  return convGeometry(step);
}

function checkIndex(where: string, name: string, v: number, n: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= n) {
    throw new NablaError({ where, expected: `${name} an integer in [0, ${n - 1}]`, found: String(v) });
  }
}

function param(step: TraceStep, name: string): { value: Float32Array; grad: Float32Array } | undefined {
  return step.params.find((p) => p.name === name);
}

/**
 * One product of a window sum: a kernel tap (k, m, n) times the input a[k, row, col] it lands on.
 * `inside` is false where the window hangs over the padding (a = 0 there).
 * @example explainConvOutput(step, input, 0, 0, 0).terms[0]; // { k: 0, m: 0, n: 0, row: -1, col: -1, inside: false, ... }
 */
export interface WindowTerm {
  k: number;
  m: number;
  n: number;
  row: number;
  col: number;
  inside: boolean;
  /** a[k, row, col] (0 in the padding). */
  a: number;
  /** W[c, k, m, n]. */
  w: number;
  product: number;
}

/**
 * z[c,i,j] worked: the bias, the C·KH·KW products of its window and their sum, beside the traced value.
 * @example const s = explainConvOutput(step, input, 2, 5, 7); s.sum; s.traced; // equal to float32 rounding
 */
export interface ConvOutputSum {
  c: number;
  i: number;
  j: number;
  /** Top-left corner of the window in input coordinates: (i·s − p, j·s − p). */
  origin: [number, number];
  bias: number;
  terms: WindowTerm[];
  /** b[c] + Σ products, in float64. */
  sum: number;
  /** The layer's own output z[c,i,j]. */
  traced: number;
}

/**
 * The notes' cross-correlation for one output value: z[c,i,j] = b[c] + Σ_{k,m,n} W[c,k,m,n]·a[k, i·s+m−p, j·s+n−p].
 *
 * @param input the step's input a (stepInput(trace, index).input), C·H·W values
 * @example
 * const { input } = stepInput(trace, 0);
 * const z = explainConvOutput(trace.steps[0], input, 0, 14, 14); // z.terms: 9 products for 1 channel, 3×3
 */
export function explainConvOutput(step: TraceStep, input: Float32Array, c: number, i: number, j: number): ConvOutputSum {
  const g = requireType(step, 'Conv2D', 'explainConvOutput');
  checkInput('explainConvOutput', input, g);
  checkIndex('explainConvOutput', 'c', c, g.outChannels);
  checkIndex('explainConvOutput', 'i', i, g.outHeight);
  checkIndex('explainConvOutput', 'j', j, g.outWidth);
  const W = param(step, 'weight')!.value;
  const b = param(step, 'bias')?.value;
  const [kh, kw] = g.kernel;
  const r0 = i * g.stride[0] - g.padding[0];
  const c0 = j * g.stride[1] - g.padding[1];
  const terms: WindowTerm[] = [];
  const bias = b ? b[c] : 0;
  let sum = bias;
  for (let k = 0; k < g.channels; k++) {
    for (let m = 0; m < kh; m++) {
      for (let n = 0; n < kw; n++) {
        const row = r0 + m;
        const col = c0 + n;
        const inside = row >= 0 && row < g.height && col >= 0 && col < g.width;
        const a = inside ? input[(k * g.height + row) * g.width + col] : 0;
        const w = W[((c * g.channels + k) * kh + m) * kw + n];
        const product = w * a;
        sum += product;
        terms.push({ k, m, n, row, col, inside, a, w, product });
      }
    }
  }
  return { c, i, j, origin: [r0, c0], bias, terms, sum, traced: step.output[(c * g.outHeight + i) * g.outWidth + j] };
}

function checkInput(where: string, input: Float32Array, g: ConvGeometry): void {
  if (input.length !== g.channels * g.height * g.width) {
    throw new NablaError({ where, expected: `the step's input, ${g.channels}×${g.height}×${g.width} = ${g.channels * g.height * g.width} values`, found: `${input.length} values` });
  }
}

/**
 * One product of ∂C/∂W[c,k,m,n]: δ[c,i,j] times the input a[k, i·s+m−p, j·s+n−p] that output (i, j) read through tap (m, n).
 * @example explainConvWeightGrad(step, input, 0, 0, 1, 1).terms[0].delta;
 */
export interface GradTerm {
  i: number;
  j: number;
  row: number;
  col: number;
  inside: boolean;
  delta: number;
  a: number;
  product: number;
}

/**
 * ∂C/∂W[c,k,m,n] worked: one product per output position (OH·OW of them), their sum, the traced gradient.
 * @example const g = explainConvWeightGrad(step, input, 0, 0, 1, 1); g.sum; g.traced;
 */
export interface ConvWeightGradSum {
  c: number;
  k: number;
  m: number;
  n: number;
  terms: GradTerm[];
  sum: number;
  /** The layer's own ∂C/∂W[c,k,m,n] for this sample. */
  traced: number;
}

/**
 * The weight gradient as a cross-correlation of the input with δ:
 * ∂C/∂W[c,k,m,n] = Σ_{i,j} δ[c,i,j] · a[k, i·s+m−p, j·s+n−p].
 *
 * @example
 * const dW = explainConvWeightGrad(trace.steps[0], stepInput(trace, 0).input, 3, 0, 1, 1); // tap (1, 1) of filter 3
 */
export function explainConvWeightGrad(step: TraceStep, input: Float32Array, c: number, k: number, m: number, n: number): ConvWeightGradSum {
  const g = requireType(step, 'Conv2D', 'explainConvWeightGrad');
  checkInput('explainConvWeightGrad', input, g);
  checkIndex('explainConvWeightGrad', 'c', c, g.outChannels);
  checkIndex('explainConvWeightGrad', 'k', k, g.channels);
  checkIndex('explainConvWeightGrad', 'm', m, g.kernel[0]);
  checkIndex('explainConvWeightGrad', 'n', n, g.kernel[1]);
  const terms: GradTerm[] = [];
  let sum = 0;
  for (let i = 0; i < g.outHeight; i++) {
    for (let j = 0; j < g.outWidth; j++) {
      const row = i * g.stride[0] + m - g.padding[0];
      const col = j * g.stride[1] + n - g.padding[1];
      const inside = row >= 0 && row < g.height && col >= 0 && col < g.width;
      const a = inside ? input[(k * g.height + row) * g.width + col] : 0;
      const delta = step.gradOutput[(c * g.outHeight + i) * g.outWidth + j];
      const product = delta * a;
      sum += product;
      terms.push({ i, j, row, col, inside, delta, a, product });
    }
  }
  const [kh, kw] = g.kernel;
  return { c, k, m, n, terms, sum, traced: param(step, 'weight')!.grad[((c * g.channels + k) * kh + m) * kw + n] };
}

/**
 * ∂C/∂b[c] = Σ_{i,j} δ[c,i,j], with the traced value.
 * @example explainConvBiasGrad(trace.steps[0], 0); // { sum, traced, count }
 */
export function explainConvBiasGrad(step: TraceStep, c: number): { c: number; count: number; sum: number; traced: number | undefined } {
  const g = requireType(step, 'Conv2D', 'explainConvBiasGrad');
  checkIndex('explainConvBiasGrad', 'c', c, g.outChannels);
  const size = g.outHeight * g.outWidth;
  let sum = 0;
  for (let q = 0; q < size; q++) sum += step.gradOutput[c * size + q];
  return { c, count: size, sum, traced: param(step, 'bias')?.grad[c] };
}

/**
 * One product of the full correlation for ∂C/∂a[k,y,x]: δ̃[c, y+m, x+n] times rot180(W)[c,k,m,n].
 * `delta` is 0 where δ̃ holds an inserted zero (stride) or padding; then `i`, `j` are undefined.
 * @example explainConvInputGrad(step, 0, 3, 3).terms.filter((t) => t.i !== undefined);
 */
export interface FullCorrelationTerm {
  c: number;
  m: number;
  n: number;
  /** Position in δ̃ (the dilated, padded δ). */
  row: number;
  col: number;
  /** The δ[c, i, j] this entry of δ̃ holds, when it holds one. */
  i: number | undefined;
  j: number | undefined;
  delta: number;
  /** rot180(W)[c,k,m,n] = W[c,k,KH−1−m,KW−1−n]. */
  wRot: number;
  product: number;
}

/**
 * ∂C/∂a[k,y,x] worked as the full correlation of δ̃ with the rotated kernel.
 * @example const d = explainConvInputGrad(step, 0, 3, 3, gradInput); d.sum; d.traced;
 */
export interface ConvInputGradSum {
  k: number;
  y: number;
  x: number;
  /** δ̃'s padding on each side, K − 1 − p (negative means δ̃ is cropped), and its size. */
  pad: [number, number];
  size: [number, number];
  terms: FullCorrelationTerm[];
  sum: number;
  /** The model's own ∂C/∂a[k,y,x] (the previous step's gradOutput), when it was computed. */
  traced: number | undefined;
}

/**
 * The input gradient as a "full" cross-correlation: ∂C/∂a[k,y,x] = Σ_{c,m,n} δ̃[c, y+m, x+n] · rot180(W)[c,k,m,n],
 * where δ̃ is δ with s − 1 zeros between entries (stride) padded by K − 1 − p. Equal to
 * Σ_{c,i,j} δ[c,i,j] · W[c,k, y−i·s+p, x−j·s+p] over the taps that exist.
 *
 * @param gradInput the traced ∂C/∂a (stepInput(trace, index).gradInput), to compare with; optional
 * @example
 * const { gradInput } = stepInput(trace, 3);
 * explainConvInputGrad(trace.steps[3], 0, 4, 4, gradInput); // .sum equals .traced
 */
export function explainConvInputGrad(step: TraceStep, k: number, y: number, x: number, gradInput?: Float32Array): ConvInputGradSum {
  const g = requireType(step, 'Conv2D', 'explainConvInputGrad');
  checkIndex('explainConvInputGrad', 'k', k, g.channels);
  checkIndex('explainConvInputGrad', 'y', y, g.height);
  checkIndex('explainConvInputGrad', 'x', x, g.width);
  const W = param(step, 'weight')!.value;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const pad: [number, number] = [kh - 1 - g.padding[0], kw - 1 - g.padding[1]];
  const size: [number, number] = [(g.outHeight - 1) * sh + 1 + 2 * pad[0], (g.outWidth - 1) * sw + 1 + 2 * pad[1]];
  // δ̃[t] holds δ[(t − pad)/s] when t − pad is a multiple of s in range, else 0.
  const onGrid = (t: number, p: number, s: number, count: number): number | undefined => {
    const u = t - p;
    return u >= 0 && u % s === 0 && u / s < count ? u / s : undefined;
  };
  const terms: FullCorrelationTerm[] = [];
  let sum = 0;
  for (let c = 0; c < g.outChannels; c++) {
    for (let m = 0; m < kh; m++) {
      for (let n = 0; n < kw; n++) {
        const row = y + m;
        const col = x + n;
        const i = onGrid(row, pad[0], sh, g.outHeight);
        const j = onGrid(col, pad[1], sw, g.outWidth);
        const hit = i !== undefined && j !== undefined;
        const delta = hit ? step.gradOutput[(c * g.outHeight + i) * g.outWidth + j] : 0;
        const wRot = W[((c * g.channels + k) * kh + (kh - 1 - m)) * kw + (kw - 1 - n)];
        const product = delta * wRot;
        sum += product;
        terms.push({ c, m, n, row, col, i: hit ? i : undefined, j: hit ? j : undefined, delta, wRot, product });
      }
    }
  }
  const traced = gradInput ? gradInput[(k * g.height + y) * g.width + x] : undefined;
  return { k, y, x, pad, size, terms, sum, traced };
}

/**
 * A kernel turned by 180°: rot[m, n] = w[KH−1−m, KW−1−n] (one KH × KW slice).
 * @example rotate180(Float32Array.from([1, 2, 3, 4]), 2, 2); // [4, 3, 2, 1]
 */
export function rotate180(kernel: Float32Array, kh: number, kw: number): Float32Array {
  if (kernel.length !== kh * kw) throw new NablaError({ where: 'rotate180', expected: `${kh}×${kw} = ${kh * kw} values`, found: `${kernel.length} values` });
  const out = new Float32Array(kh * kw);
  for (let m = 0; m < kh; m++) for (let n = 0; n < kw; n++) out[m * kw + n] = kernel[(kh - 1 - m) * kw + (kw - 1 - n)];
  return out;
}

/**
 * Where max-pooling output (c, i, j) came from: the input position of its window's maximum
 * (the first one in row-major window order on ties, as the layer takes it), and the δ it routes there.
 * @example maxPoolRoutes(step, input).routes[0]; // { c: 0, i: 0, j: 0, row: 1, col: 0, value, delta }
 */
export interface PoolRoute {
  c: number;
  i: number;
  j: number;
  row: number;
  col: number;
  value: number;
  delta: number;
}

/**
 * Every max-pooling route of the sample and the gradient they build: ∂C/∂a is δ[c,i,j] at each
 * window's argmax and 0 everywhere else (overlapping windows add up).
 *
 * @example
 * const { routes, gradInput } = maxPoolRoutes(trace.steps[3], stepInput(trace, 3).input);
 */
export function maxPoolRoutes(step: TraceStep, input: Float32Array): { routes: PoolRoute[]; gradInput: Float32Array } {
  const g = requireType(step, 'MaxPool2D', 'maxPoolRoutes');
  checkInput('maxPoolRoutes', input, g);
  const routes: PoolRoute[] = [];
  const gradInput = new Float32Array(input.length);
  for (let c = 0; c < g.outChannels; c++) {
    for (let i = 0; i < g.outHeight; i++) {
      for (let j = 0; j < g.outWidth; j++) {
        let best = -Infinity;
        let at: [number, number] = [-1, -1];
        for (const [row, col] of windowCells(g, i, j)) {
          const v = input[(c * g.height + row) * g.width + col];
          if (v > best) {
            best = v;
            at = [row, col];
          }
        }
        const delta = step.gradOutput[(c * g.outHeight + i) * g.outWidth + j];
        gradInput[(c * g.height + at[0]) * g.width + at[1]] += delta;
        routes.push({ c, i, j, row: at[0], col: at[1], value: best, delta });
      }
    }
  }
  return { routes, gradInput };
}

/** The in-image positions of window (i, j), row-major. */
function windowCells(g: ConvGeometry, i: number, j: number): [number, number][] {
  const cells: [number, number][] = [];
  const r0 = i * g.stride[0] - g.padding[0];
  const c0 = j * g.stride[1] - g.padding[1];
  for (let m = 0; m < g.kernel[0]; m++) {
    for (let n = 0; n < g.kernel[1]; n++) {
      const row = r0 + m;
      const col = c0 + n;
      if (row >= 0 && row < g.height && col >= 0 && col < g.width) cells.push([row, col]);
    }
  }
  return cells;
}

/**
 * One pooling output worked: its window's inputs, the max (and where) or the mean, the traced value.
 * @example const p = explainPoolOutput(step, input, 0, 3, 3); p.value === p.traced;
 */
export interface PoolOutputSum {
  c: number;
  i: number;
  j: number;
  /** The window's positions inside the image, with their inputs (padding is left out: −∞ for max, 0 for mean). */
  window: { row: number; col: number; a: number }[];
  /** KH·KW, the mean's divisor (padding included, as PyTorch's default). */
  divisor: number;
  /** max or mean of the window, in float64. */
  value: number;
  /** The max's position (max-pooling only). */
  argmax: [number, number] | undefined;
  traced: number;
  /** δ[c,i,j] and what each input of the window receives: all of it at the argmax, or δ/(KH·KW) each. */
  delta: number;
  share: number;
}

/**
 * MaxPool2D or AvgPool2D output (c, i, j) with its window and where its δ goes.
 * @example explainPoolOutput(trace.steps[3], stepInput(trace, 3).input, 0, 0, 0).argmax;
 */
export function explainPoolOutput(step: TraceStep, input: Float32Array, c: number, i: number, j: number): PoolOutputSum {
  if (step.type !== 'MaxPool2D' && step.type !== 'AvgPool2D') {
    throw new NablaError({ where: 'explainPoolOutput', expected: 'a MaxPool2D or AvgPool2D step', found: step.type });
  }
  const g = convGeometry(step);
  checkInput('explainPoolOutput', input, g);
  checkIndex('explainPoolOutput', 'c', c, g.outChannels);
  checkIndex('explainPoolOutput', 'i', i, g.outHeight);
  checkIndex('explainPoolOutput', 'j', j, g.outWidth);
  const window = windowCells(g, i, j).map(([row, col]) => ({ row, col, a: input[(c * g.height + row) * g.width + col] }));
  const divisor = g.kernel[0] * g.kernel[1];
  const delta = step.gradOutput[(c * g.outHeight + i) * g.outWidth + j];
  const traced = step.output[(c * g.outHeight + i) * g.outWidth + j];
  if (step.type === 'MaxPool2D') {
    let best = window[0];
    for (const w of window) if (w.a > best.a) best = w;
    return { c, i, j, window, divisor, value: best.a, argmax: [best.row, best.col], traced, delta, share: delta };
  }
  const value = window.reduce((s, w) => s + w.a, 0) / divisor;
  return { c, i, j, window, divisor, value, argmax: undefined, traced, delta, share: delta / divisor };
}

/**
 * Average pooling's backward: every input of window (i, j) receives δ[c,i,j] / (KH·KW); returns ∂C/∂a.
 * @example avgPoolSplit(trace.steps[3]); // equals stepInput(trace, 3).gradInput
 */
export function avgPoolSplit(step: TraceStep): Float32Array {
  const g = requireType(step, 'AvgPool2D', 'avgPoolSplit');
  const gradInput = new Float32Array(g.channels * g.height * g.width);
  const divisor = g.kernel[0] * g.kernel[1];
  for (let c = 0; c < g.outChannels; c++) {
    for (let i = 0; i < g.outHeight; i++) {
      for (let j = 0; j < g.outWidth; j++) {
        const share = step.gradOutput[(c * g.outHeight + i) * g.outWidth + j] / divisor;
        for (const [row, col] of windowCells(g, i, j)) gradInput[(c * g.height + row) * g.width + col] += share;
      }
    }
  }
  return gradInput;
}

/**
 * Batch norm of one sample in both modes, per channel: the statistics used, x̂ = (x − μ)/sqrt(σ² + eps)
 * and y = γ x̂ + β.
 * @example const bn = explainBatchNorm(step, input); bn.evaluation.output; // equals step.output
 */
export interface BatchNormModeView {
  /** μ[c] and σ²[c] the mode normalises with. */
  mean: Float64Array;
  variance: Float64Array;
  /** x̂, the normalised input, and y = γ x̂ + β (both the shape of the input). */
  normalised: Float32Array;
  output: Float32Array;
}

/**
 * Both modes of a traced BatchNorm step.
 * @example explainBatchNorm(step, input).training?.mean; // this sample's own per-channel mean
 */
export interface BatchNormView {
  channels: number;
  /** Values per channel per sample (H·W for BatchNorm2D, 1 for BatchNorm1D on (C)). */
  perChannel: number;
  eps: number;
  gamma: Float32Array;
  beta: Float32Array;
  /** Evaluation (what the trace ran): the running statistics. */
  evaluation: BatchNormModeView;
  /**
   * Training, on a batch of this one sample: statistics over its own perChannel values per channel
   * (biased variance, as the layer normalises with). Undefined when perChannel < 2 (the layer
   * refuses to train on a batch of one value per channel).
   */
  training: BatchNormModeView | undefined;
}

/**
 * Batch norm in training and in evaluation for the traced sample.
 * @example
 * const bn = explainBatchNorm(trace.steps[1], stepInput(trace, 1).input);
 * bn.training!.mean[0]; bn.evaluation.mean[0]; // this digit's channel-0 mean vs running_mean[0]
 */
export function explainBatchNorm(step: TraceStep, input: Float32Array): BatchNormView {
  if (step.type !== 'BatchNorm2D' && step.type !== 'BatchNorm1D') {
    throw new NablaError({ where: 'explainBatchNorm', expected: 'a BatchNorm2D or BatchNorm1D step', found: step.type });
  }
  const channels = step.inputShape[0];
  const perChannel = step.inputShape.slice(1).reduce((a, b) => a * b, 1);
  if (input.length !== channels * perChannel) {
    throw new NablaError({ where: 'explainBatchNorm', expected: `the step's input, ${channels * perChannel} values`, found: `${input.length} values` });
  }
  const eps = Number(step.config.eps ?? 1e-5);
  const gamma = param(step, 'weight')!.value;
  const beta = param(step, 'bias')!.value;
  const buffer = (name: string) => step.buffers.find((b) => b.name === name)!.value;
  const mode = (mean: Float64Array, variance: Float64Array): BatchNormModeView => {
    const normalised = new Float32Array(input.length);
    const output = new Float32Array(input.length);
    for (let c = 0; c < channels; c++) {
      const inv = 1 / Math.sqrt(variance[c] + eps);
      for (let q = c * perChannel; q < (c + 1) * perChannel; q++) {
        normalised[q] = (input[q] - mean[c]) * inv;
        output[q] = gamma[c] * ((input[q] - mean[c]) * inv) + beta[c];
      }
    }
    return { mean, variance, normalised, output };
  };
  const evaluation = mode(Float64Array.from(buffer('running_mean')), Float64Array.from(buffer('running_var')));
  let training: BatchNormModeView | undefined;
  if (perChannel >= 2) {
    const mean = new Float64Array(channels);
    const variance = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let q = c * perChannel; q < (c + 1) * perChannel; q++) s += input[q];
      mean[c] = s / perChannel;
      let v = 0;
      for (let q = c * perChannel; q < (c + 1) * perChannel; q++) v += (input[q] - mean[c]) ** 2;
      variance[c] = v / perChannel;
    }
    training = mode(mean, variance);
  }
  return { channels, perChannel, eps, gamma, beta, evaluation, training };
}

/**
 * Dropout of one sample in both modes.
 * @example const d = explainDropout(step, input, 1); d.kept; // how many values the mask kept
 */
export interface DropoutView {
  rate: number;
  /** 1/(1 − rate), the factor on the kept values in training. */
  scale: number;
  /** One training mask: 0 (probability rate) or 1/(1 − rate), drawn as the layer draws it. */
  mask: Float32Array;
  kept: number;
  /** x ⊙ mask: the training output with this mask. */
  training: Float32Array;
  /** The identity: the evaluation output (what the trace ran). */
  evaluation: Float32Array;
}

/**
 * Dropout in training (one mask drawn from `seed` with the layer's own rule: rng.uniform() < rate
 * → 0, else 1/(1 − rate)) and in evaluation (the identity).
 * @example explainDropout(trace.steps[4], stepInput(trace, 4).input, 1).mask;
 */
export function explainDropout(step: TraceStep, input: Float32Array, seed: number): DropoutView {
  if (step.type !== 'Dropout') throw new NablaError({ where: 'explainDropout', expected: 'a Dropout step', found: step.type });
  const rate = Number(step.config.rate);
  const rng = new Rng(seed);
  const scale = 1 / (1 - rate);
  const mask = new Float32Array(input.length);
  let kept = 0;
  if (rate > 0) {
    for (let q = 0; q < mask.length; q++) {
      mask[q] = rng.uniform() < rate ? 0 : scale;
      if (mask[q] !== 0) kept++;
    }
  } else {
    mask.fill(1);
    kept = mask.length;
  }
  const training = new Float32Array(input.length);
  for (let q = 0; q < input.length; q++) training[q] = input[q] * mask[q];
  return { rate, scale, mask, kept, training, evaluation: Float32Array.from(input) };
}
