/**
 * MaxPool2D: the largest value of each KH × KW window, per channel (PyTorch's nn.MaxPool2d).
 *
 * Shapes: x: (N, C, H, W) → y: (N, C, OH, OW); padding counts as −∞. Caches x: backward finds
 * each window's maximum again and sends dy there (every other position gets 0), which costs a
 * second scan instead of an index buffer as large as y.
 */
import type { Tensor } from '../tensor.ts';
import { TensorBuffer } from './layer.ts';
import { Pool2D, poolKind, type Pool2DOptions } from './pool2d.ts';
import type { Pair } from './window.ts';

/**
 * The largest value of each window, per channel: (N, C, H, W) → (N, C, OH, OW).
 *
 * @example
 * new Sequential([new Conv2D(8, 5), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(10)], { inputShape: [1, 28, 28] });
 */
export class MaxPool2D extends Pool2D {
  readonly type = 'MaxPool2D';
  private x: Tensor | undefined;
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  /** @example new MaxPool2D(2) // halves height and width */
  constructor(poolSize: Pair, options: Pool2DOptions = {}) {
    super('MaxPool2D', poolSize, options);
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    this.backend.maxPool(y.data, x.data, ...this.geometry(n));
    this.x = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const n = dy.shape[0];
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    this.backend.maxPoolBackward(dx.data, dy.data, this.x!.data, ...this.geometry(n));
    return dx;
  }

  static readonly kind = poolKind('MaxPool2D', 'maxpool', (k, o) => new MaxPool2D(k, o), 'MaxPool');
}
