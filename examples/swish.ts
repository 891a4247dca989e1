/**
 * A layer of your own: Swish (SiLU), y = x·σ(x), written outside the library and registered with
 * one call. This file is only the layer (no side effects), so it serves both ways:
 *   - in code:            registerLayer(Swish)                       (see examples/customLayer.ts)
 *   - on the command line: nabla --plugin examples/swish.ts train --layers "dense:128,swish,dense:10"
 *
 * Shapes: x: (N, ...) → y: (N, ...), elementwise. Caches x; backward is
 *   dy ⊙ σ'(·) where d/dx [x·σ(x)] = σ(x) + x·σ(x)(1 − σ(x)) = σ(x)·(1 + x·(1 − σ(x))).
 */
import { Layer, TensorBuffer, type LayerConfig, type LayerKind, type Rng, type Shape, type Tensor } from 'nabla';

export class Swish extends Layer {
  readonly type = 'Swish';
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();
  private x: Tensor | undefined;

  protected init(inputShape: Shape, _rng: Rng): Shape {
    return inputShape;
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i] / (1 + Math.exp(-x.data[i]));
    this.x = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.x!.data;
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    for (let i = 0; i < dy.size; i++) {
      const s = 1 / (1 + Math.exp(-x[i]));
      dx.data[i] = dy.data[i] * s * (1 + x[i] * (1 - s));
    }
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type };
  }

  /** Everything nabla needs to know about the type: how to rebuild it, spell it, export it. */
  static readonly kind: LayerKind = {
    type: 'Swish',
    fromConfig: () => new Swish(),
    spec: { names: ['swish'], grammar: 'swish', parse(t) { t.noArg(); return { type: 'Swish' }; } },
    output: 'activations',
    // ONNX has no Swish before opset 22: write it as x · Sigmoid(x).
    onnx(ctx) {
      const s = ctx.value('sigmoid');
      ctx.node('Sigmoid', [ctx.input], [], [s]);
      ctx.node('Mul', [ctx.input, s]);
    },
  };
}
