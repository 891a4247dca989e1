/**
 * Conv2D: the notes' cross-correlation, over a batch of multi-channel images (NCHW), with
 * stride, zero padding and an optional bias; PyTorch's nn.Conv2d.
 *
 *   y[n, oc, i, j] = b[oc] + Σ_{c, u, v} W[oc, c, u, v] · x[n, c, i·SH − PH + u, j·SW − PW + v]
 *
 * (x read as 0 outside the image). Shapes: x: (N, C, H, W), W: (OC, C, KH, KW) as PyTorch stores
 * it, b: (OC), y: (N, OC, OH, OW). Computed as im2col + the shared GEMM, one sample at a time:
 * cols (C·KH·KW × OH·OW) holds every window as a column, and y[n] (OC × OH·OW) = W · cols.
 * Caches x; backward rebuilds each sample's cols from it instead of keeping N of them (a batch's
 * cols is KH·KW times the size of x: 25× for a 5×5 kernel).
 */
import type { Backend } from '../backend/backend.ts';
import { NablaError } from '../errors.ts';
import { type InitName, initialize } from '../init.ts';
import type { Rng } from '../random.ts';
import { Tensor, shapeToString, type Shape } from '../tensor.ts';
import { Buffer, Layer, NO_GRAD, type LayerConfig, type Param } from './layer.ts';
import { imageWindow, toPair, type Pair } from './window.ts';

/**
 * Options of a Conv2D layer.
 *
 * @example
 * new Conv2D(16, 3, { padding: 1, bias: false }); // 16 filters of 3×3, size kept
 */
export interface Conv2DOptions {
  /** Step between windows (default 1). */
  stride?: Pair;
  /** Zero padding added on each side (default 0; (k − 1)/2 keeps the size for stride 1). */
  padding?: Pair;
  /** Include the bias b (default true). */
  bias?: boolean;
  /** Weight initialiser (default 'he', over fanIn = C·KH·KW). */
  init?: InitName;
  /** Input channels, if you want them checked; inferred from the input when omitted. */
  inChannels?: number;
}

export class Conv2D extends Layer {
  readonly type = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly useBias: boolean;
  readonly initName: InitName;
  readonly inChannels: number | undefined;
  weight!: Param;
  bias: Param | undefined;
  private x: Tensor | undefined;
  // Per-sample im2col scratch (C·KH·KW × OH·OW) and its gradient, allocated once.
  private cols: Float32Array = new Float32Array(0);
  private dcols: Float32Array = new Float32Array(0);
  private readonly out = new Buffer();
  private readonly dxBuf = new Buffer();

  /** @example new Conv2D(32, 3, { padding: 1 }) // 32 filters of 3×3, output as large as the input */
  constructor(filters: number, kernelSize: Pair, options: Conv2DOptions = {}) {
    super();
    if (!Number.isInteger(filters) || filters < 1) {
      throw new NablaError({ where: 'Conv2D', expected: 'filters to be a positive integer', found: String(filters) });
    }
    this.filters = filters;
    this.kernelSize = toPair(kernelSize, 'kernelSize', 'Conv2D', 1);
    this.stride = toPair(options.stride ?? 1, 'stride', 'Conv2D', 1);
    this.padding = toPair(options.padding ?? 0, 'padding', 'Conv2D', 0);
    this.useBias = options.bias ?? true;
    this.initName = options.init ?? 'he';
    if (options.inChannels !== undefined && (!Number.isInteger(options.inChannels) || options.inChannels < 1)) {
      throw new NablaError({ where: 'Conv2D', expected: 'inChannels to be a positive integer', found: String(options.inChannels) });
    }
    this.inChannels = options.inChannels;
  }

  protected init(inputShape: Shape, rng: Rng): Shape {
    const [c, , , oh, ow] = imageWindow(inputShape, {
      label: this.label, what: 'kernel', k: this.kernelSize, s: this.stride, p: this.padding,
    });
    if (this.inChannels !== undefined && this.inChannels !== c) {
      throw new NablaError({
        where: this.label,
        expected: `an input of ${this.inChannels} channels [N, ${this.inChannels}, H, W]`,
        found: `input shape ${shapeToString(['N', ...inputShape])} (${c} channels)`,
        hint: `the layer before it outputs ${c} channels: set inChannels to ${c}, or give that layer ${this.inChannels} filters`,
      });
    }
    const [kh, kw] = this.kernelSize;
    const fanIn = c * kh * kw;
    this.weight = this.createParam('weight', [this.filters, c, kh, kw]);
    initialize(this.initName, this.weight.value.data, fanIn, this.filters * kh * kw, rng);
    this.bias = this.useBias ? this.createParam('bias', [this.filters]) : undefined;
    this.cols = this.backend.allocate(fanIn * oh * ow);
    this.dcols = this.backend.allocate(fanIn * oh * ow);
    return [this.filters, oh, ow];
  }

  override setBackend(backend: Backend): void {
    super.setBackend(backend);
    this.cols = backend.allocate(this.cols.length);
    this.dcols = backend.allocate(this.dcols.length);
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** The kernel arguments (C, H, W, KH, KW, SH, SW, PH, PW) for one sample. */
  private geometry(): [number, number, number, number, number, number, number, number, number] {
    const [c, h, w] = this.inputShape;
    return [c, h, w, this.kernelSize[0], this.kernelSize[1], this.stride[0], this.stride[1], this.padding[0], this.padding[1]];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const [oc, oh, ow] = this.outputShape;
    const s = oh * ow;
    const k = this.cols.length / s; // C·KH·KW
    const inSize = x.size / n;
    const y = this.out.get(this.backend, n, this.outputShape);
    const geometry = this.geometry();
    for (let b = 0; b < n; b++) {
      this.backend.im2col(this.cols, x.data.subarray(b * inSize, (b + 1) * inSize), 1, ...geometry);
      // y[b] (OC × OH·OW) = W (OC × C·KH·KW) · cols (C·KH·KW × OH·OW)
      this.backend.gemm(y.data.subarray(b * oc * s, (b + 1) * oc * s), this.weight.value.data, this.cols, oc, s, k, false, false, 1, 0);
    }
    if (this.bias) this.backend.addChannelBias(y.data, y.data, this.bias.value.data, n, oc, s);
    this.x = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.x!;
    const n = x.shape[0];
    const [oc, oh, ow] = this.outputShape;
    const s = oh * ow;
    const k = this.cols.length / s;
    const inSize = x.size / n;
    const geometry = this.geometry();
    const dx = this.needsInputGrad ? this.dxBuf.get(this.backend, n, this.inputShape) : NO_GRAD;
    // col2im adds, so dx starts from zero.
    if (dx !== NO_GRAD) this.backend.fill(dx.data, 0, dx.size);
    for (let b = 0; b < n; b++) {
      const xb = x.data.subarray(b * inSize, (b + 1) * inSize);
      const dyb = dy.data.subarray(b * oc * s, (b + 1) * oc * s);
      this.backend.im2col(this.cols, xb, 1, ...geometry);
      // dW (OC × C·KH·KW) += dY[b] (OC × OH·OW) · colsᵀ: a cross-correlation of x with dy.
      this.backend.gemm(this.weight.grad.data, dyb, this.cols, oc, k, s, false, true, 1, 1);
      if (dx === NO_GRAD) continue;
      // dcols (C·KH·KW × OH·OW) = Wᵀ · dY[b]; col2im sends every entry back to its pixel, which
      // makes dx a full cross-correlation of dy with the flipped kernel (docs/math.md).
      this.backend.gemm(this.dcols, this.weight.value.data, dyb, k, s, oc, true, false, 1, 0);
      this.backend.col2im(dx.data.subarray(b * inSize, (b + 1) * inSize), this.dcols, 1, ...geometry);
    }
    // db[oc] += Σ over samples and positions of dY[n, oc].
    if (this.bias) this.backend.sumChannels(this.bias.grad.data, dy.data, n, oc, s, 1);
    return dx;
  }

  config(): LayerConfig {
    const config: LayerConfig = {
      type: this.type, filters: this.filters, kernelSize: [...this.kernelSize], stride: [...this.stride],
      padding: [...this.padding], bias: this.useBias, init: this.initName,
    };
    if (this.inChannels !== undefined) config.inChannels = this.inChannels;
    return config;
  }
}
