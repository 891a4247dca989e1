/**
 * Flatten: (N, d1, d2, ...) → (N, d1·d2·...). No arithmetic: the row-major buffer is already in
 * the right order, so forward and backward are reshapes of the same memory.
 */
import type { Rng } from '../random.ts';
import { shapeSize, type Shape, Tensor } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { Layer, type LayerConfig } from './layer.ts';

/**
 * (N, d1, d2, ...) → (N, d1·d2·...), without copying.
 *
 * @example
 * new Sequential([new Flatten(), new Dense(10)], { inputShape: [28, 28] });
 */
export class Flatten extends Layer {
  readonly type = 'Flatten';

  protected init(inputShape: Shape, _rng: Rng): Shape {
    return [shapeSize(inputShape)];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    return x.reshape([x.shape[0], ...this.outputShape]);
  }

  backward(dy: Tensor): Tensor {
    return dy.reshape([dy.shape[0], ...this.inputShape]);
  }

  config(): LayerConfig {
    return { type: this.type };
  }

  static readonly kind: LayerKind = {
    type: 'Flatten',
    fromConfig: () => new Flatten(),
    spec: { names: ['flatten'], grammar: 'flatten', parse(t) { t.noArg(); return { type: 'Flatten' }; } },
    input: () => 'flat',
    // Flatten with axis = 1: (N, d1, d2, ...) → (N, d1·d2·...), row-major as ours.
    onnx: (ctx) => ctx.node('Flatten', [ctx.input], [ctx.int('axis', 1)]),
    pytorch: () => 'nn.Flatten()',
  };
}
