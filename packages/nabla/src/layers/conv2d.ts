/**
 * Conv2D: the notes' cross-correlation, over a batch of multi-channel images (NCHW), with
 * stride, zero padding and an optional bias; PyTorch's nn.Conv2d.
 *
 *   y[n, oc, i, j] = b[oc] + Σ_{c, u, v} W[oc, c, u, v] · x[n, c, i·SH − PH + u, j·SW − PW + v]
 *
 * (x read as 0 outside the image). Shapes: x: (N, C, H, W), W: (OC, C, KH, KW) as PyTorch stores
 * it, b: (OC), y: (N, OC, OH, OW). Computed as im2col + the shared GEMM: cols (C·KH·KW × OH·OW)
 * holds every window of a sample as a column, and y[n] (OC × OH·OW) = W · cols. The whole batch
 * is one backend call each way (Backend.conv2dForward / conv2dBackward), so the backend decides
 * how samples are grouped and threaded. Caches x; backward rebuilds the cols from it instead of
 * keeping a batch of them (a batch's cols is KH·KW times the size of x: 25× for a 5×5 kernel).
 */
import { NablaError } from '../errors.ts';
import { checkInit, type InitName, initialize } from '../init.ts';
import type { Rng } from '../random.ts';
import { Tensor, shapeToString, type Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, NO_GRAD, type LayerConfig, type Param } from './layer.ts';
import { imageWindow, toPair, windowSummary, type Pair } from './window.ts';

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
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

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
    this.initName = checkInit(options.init ?? 'he', 'Conv2D');
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
    return [this.filters, oh, ow];
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
    const y = this.out.get(this.backend, n, this.outputShape);
    // y[n] (OC × OH·OW) = W (OC × C·KH·KW) · im2col(x[n]) + b, for every sample.
    this.backend.conv2dForward(y.data, x.data, this.weight.value.data, this.bias?.value.data, n, ...this.geometry(), this.filters);
    this.x = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.x!;
    const n = x.shape[0];
    const dx = this.needsInputGrad ? this.dxBuf.get(this.backend, n, this.inputShape) : NO_GRAD;
    // dW += Σ dY[n] · im2col(x[n])ᵀ (a cross-correlation of x with dy); db += Σ dY over samples
    // and positions; dx[n] = col2im(Wᵀ · dY[n]), a full cross-correlation of dy with the flipped
    // kernel (docs/math.md), written fresh.
    this.backend.conv2dBackward(
      this.weight.grad.data, this.bias?.grad.data, dx === NO_GRAD ? undefined : dx.data,
      x.data, dy.data, this.weight.value.data, n, ...this.geometry(), this.filters,
    );
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

  static readonly kind: LayerKind = {
    type: 'Conv2D',
    fromConfig: (c) => new Conv2D(Number(c.filters), c.kernelSize as Pair, {
      stride: c.stride as Pair | undefined, padding: c.padding as Pair | undefined, bias: c.bias !== false,
      init: (c.init ?? 'he') as InitName, inChannels: c.inChannels === undefined ? undefined : Number(c.inChannels),
    }),
    spec: {
      names: ['conv'],
      grammar: 'conv:FxK[xKW][/sS][/pP|/same][/nobias]',
      parse(t) {
        const parts = (t.arg ?? '').split('x');
        if (t.arg === undefined || parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) {
          throw t.fail('conv:FILTERSxK or conv:FILTERSxKHxKW with positive integers, e.g. conv:8x5x5');
        }
        const [filters, kh, kw = kh] = parts.map(Number);
        const o = t.windowOptions(['s', 'p', 'same', 'nobias'], [kh, kw]);
        return {
          type: 'Conv2D', filters, kernelSize: [kh, kw], stride: o.stride ?? [1, 1], padding: o.padding ?? [0, 0],
          bias: o.bias ?? true, init: 'he',
        };
      },
    },
    input: () => 'image',
    summary: (l) => `(${l.config.filters}, ${windowSummary(l.config.kernelSize, l.config.stride ?? [1, 1], [1, 1], l.config.padding)})`,
    // Conv(x, W [OC, IC, KH, KW], b [OC]), pads [PH, PW, PH, PW].
    onnx(ctx) {
      const c = ctx.layer.config;
      const [kh, kw] = ctx.pair(c.kernelSize, 'kernelSize');
      const [sh, sw] = ctx.pair(c.stride ?? [1, 1], 'stride');
      const [ph, pw] = ctx.pair(c.padding ?? [0, 0], 'padding', 0);
      const [ic] = ctx.layer.inputShape;
      const [oc] = ctx.layer.outputShape;
      const inputs = [ctx.input, ctx.weight('weight', [oc, ic, kh, kw])];
      if (c.bias !== false) inputs.push(ctx.weight('bias', [oc]));
      ctx.node('Conv', inputs, [
        ctx.ints('kernel_shape', [kh, kw]), ctx.ints('strides', [sh, sw]),
        ctx.ints('pads', [ph, pw, ph, pw]), ctx.ints('dilations', [1, 1]), ctx.int('group', 1),
      ]);
    },
    // nn.Conv2d: weight [OC, IC, KH, KW], zero padding on both sides, as ours.
    pytorch(ctx) {
      const c = ctx.layer.config;
      return `nn.Conv2d(${ctx.layer.inputShape[0]}, ${ctx.layer.outputShape[0]}, kernel_size=${ctx.pair(c.kernelSize, 'kernelSize')}, ` +
        `stride=${ctx.pair(c.stride ?? [1, 1], 'stride')}, padding=${ctx.pair(c.padding ?? [0, 0], 'padding', 0)}, bias=${ctx.py(c.bias !== false)})`;
    },
  };
}
