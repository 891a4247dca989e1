/**
 * The shared part of MaxPool2D and AvgPool2D: window options, shape checks and config.
 * Each pooling layer is in its own file with its forward and backward.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import type { Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { Layer, type LayerConfig } from './layer.ts';
import { imageWindow, toPair, windowSummary, type Pair } from './window.ts';

/**
 * Options of MaxPool2D and AvgPool2D.
 *
 * @example
 * new MaxPool2D(3, { stride: 2, padding: 1 });
 */
export interface Pool2DOptions {
  /** Step between windows (default: the pool size, so windows do not overlap). */
  stride?: Pair;
  /** Padding on each side (default 0); at most half the window, as in PyTorch. */
  padding?: Pair;
}

export abstract class Pool2D extends Layer {
  readonly poolSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];

  constructor(type: string, poolSize: Pair, options: Pool2DOptions) {
    super();
    this.poolSize = toPair(poolSize, 'poolSize', type, 1);
    this.stride = toPair(options.stride ?? this.poolSize, 'stride', type, 1);
    this.padding = toPair(options.padding ?? 0, 'padding', type, 0);
    // A window made only of padding has no maximum; PyTorch refuses these too.
    if (2 * this.padding[0] > this.poolSize[0] || 2 * this.padding[1] > this.poolSize[1]) {
      throw new NablaError({
        where: type, expected: `padding at most half the pool size [${this.poolSize.join(', ')}]`,
        found: `padding [${this.padding.join(', ')}]`, hint: 'use less padding or a larger pool',
      });
    }
  }

  protected init(inputShape: Shape, _rng: Rng): Shape {
    const [c, , , oh, ow] = imageWindow(inputShape, {
      label: this.label, what: 'pool window', k: this.poolSize, s: this.stride, p: this.padding,
    });
    return [c, oh, ow];
  }

  /** The kernel arguments (N, C, H, W, KH, KW, SH, SW, PH, PW). */
  protected geometry(n: number): [number, number, number, number, number, number, number, number, number, number] {
    const [c, h, w] = this.inputShape;
    return [n, c, h, w, this.poolSize[0], this.poolSize[1], this.stride[0], this.stride[1], this.padding[0], this.padding[1]];
  }

  config(): LayerConfig {
    return { type: this.type, poolSize: [...this.poolSize], stride: [...this.stride], padding: [...this.padding] };
  }
}

/** The kind of a pooling layer: spelled "NAME:K[xKW][/sS][/pP]" (stride = window by default). */
export function poolKind(type: string, name: string, make: (k: Pair, o: Pool2DOptions) => Pool2D, onnxOp: string): LayerKind {
  return {
    type,
    fromConfig: (c) => make(c.poolSize as Pair, { stride: c.stride as Pair | undefined, padding: c.padding as Pair | undefined }),
    spec: {
      names: [name],
      grammar: `${name}:K[/sS][/pP]`,
      parse(t) {
        if (t.arg === undefined) throw t.fail(`${name}:K or ${name}:KHxKW, e.g. ${name}:2`);
        const k = t.pair(t.arg, 'pool size', 1);
        const o = t.windowOptions(['s', 'p'], k);
        return { type, poolSize: k, stride: o.stride ?? k, padding: o.padding ?? [0, 0] };
      },
    },
    input: () => 'image',
    summary: (l) => `(${windowSummary(l.config.poolSize, l.config.stride, l.config.poolSize, l.config.padding)})`,
    onnx(ctx) {
      const c = ctx.layer.config;
      const size = ctx.pair(c.poolSize, 'poolSize');
      const stride = ctx.pair(c.stride ?? size, 'stride');
      const [ph, pw] = ctx.pair(c.padding ?? [0, 0], 'padding', 0);
      const attrs = [ctx.ints('kernel_shape', size), ctx.ints('strides', stride), ctx.ints('pads', [ph, pw, ph, pw])];
      // AveragePool: count_include_pad = 1 averages zero padding in, as PyTorch's default.
      if (onnxOp === 'AveragePool') attrs.push(ctx.int('count_include_pad', c.countIncludePad === false ? 0 : 1));
      ctx.node(onnxOp, [ctx.input], attrs);
    },
    // Max pooling pads with −∞ and average pooling counts the zero padding in, as PyTorch's defaults.
    pytorch(ctx) {
      const c = ctx.layer.config;
      const size = ctx.pair(c.poolSize, 'poolSize');
      const window = `kernel_size=${size}, stride=${ctx.pair(c.stride ?? c.poolSize, 'stride')}, padding=${ctx.pair(c.padding ?? [0, 0], 'padding', 0)}`;
      return onnxOp === 'MaxPool' ? `nn.MaxPool2d(${window})` : `nn.AvgPool2d(${window}, count_include_pad=${ctx.py(c.countIncludePad !== false)})`;
    },
  };
}
