/**
 * The shared part of MaxPool2D and AvgPool2D: window options, shape checks and config.
 * Each pooling layer is in its own file with its forward and backward.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import type { Shape } from '../tensor.ts';
import { Layer, type LayerConfig } from './layer.ts';
import { imageWindow, toPair, type Pair } from './window.ts';

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
