/**
 * AvgPool2D: the mean of each KH × KW window, per channel (PyTorch's nn.AvgPool2d with its
 * default count_include_pad=True: padding counts as zeros and the divisor is always KH·KW).
 *
 * Shapes: x: (N, C, H, W) → y: (N, C, OH, OW). Caches nothing: the mean is linear, so backward
 * spreads dy / (KH·KW) evenly over each window.
 */
import type { Tensor } from '../tensor.ts';
import { TensorBuffer } from './layer.ts';
import { Pool2D, poolKind, type Pool2DOptions } from './pool2d.ts';
import type { Pair } from './window.ts';

/**
 * The mean of each window, per channel (padding counts as zeros, as PyTorch's default).
 *
 * @example
 * new Sequential([new Conv2D(8, 5), new ReLU(), new AvgPool2D(2), new Flatten(), new Dense(10)], { inputShape: [1, 28, 28] });
 */
export class AvgPool2D extends Pool2D {
  readonly type = 'AvgPool2D';
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  /** @example new AvgPool2D(2) // halves height and width */
  constructor(poolSize: Pair, options: Pool2DOptions = {}) {
    super('AvgPool2D', poolSize, options);
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    this.backend.avgPool(y.data, x.data, ...this.geometry(n));
    return y;
  }

  backward(dy: Tensor): Tensor {
    const n = dy.shape[0];
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    this.backend.avgPoolBackward(dx.data, dy.data, ...this.geometry(n));
    return dx;
  }

  static readonly kind = poolKind('AvgPool2D', 'avgpool', (k, o) => new AvgPool2D(k, o), 'AveragePool');
}
