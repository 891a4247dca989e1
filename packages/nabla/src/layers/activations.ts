/**
 * Elementwise activations: a = σ(z), applied to every value, shape unchanged.
 *
 * Each backward uses whichever forward quantity makes the derivative cheapest:
 *   ReLU      σ(z) = max(z, 0)              σ'(z) = [z > 0]           caches z
 *   LeakyReLU σ(z) = z > 0 ? z : αz         σ'(z) = z > 0 ? 1 : α     caches z
 *   Sigmoid   σ(z) = 1 / (1 + e^−z)         σ'(z) = a(1 − a)          caches a
 *   Tanh      σ(z) = tanh z                 σ'(z) = 1 − a²            caches a
 * backward returns dz = da ⊙ σ'(z): the notes' "⊙ σ'" step of the chain rule.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import type { Tensor, Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, type LayerConfig } from './layer.ts';

abstract class Elementwise extends Layer {
  protected readonly out = new TensorBuffer();
  protected readonly dxBuf = new TensorBuffer();
  /** The cached forward input z (or output a, depending on the layer). */
  protected cache: Tensor | undefined;

  protected init(inputShape: Shape, _rng: Rng): Shape {
    return inputShape;
  }

  config(): LayerConfig {
    return { type: this.type };
  }
}

/** The kind of an argument-free elementwise layer: spelled by its lower-case name, one ONNX node. */
function elementwiseKind(type: string, make: () => Layer, onnxOp: string, output: LayerKind['output'], torchModule: string): LayerKind {
  const name = type.toLowerCase();
  return {
    type, fromConfig: make, output,
    spec: { names: [name], grammar: name, parse(t) { t.noArg(); return { type }; } },
    onnx: (ctx) => ctx.node(onnxOp, [ctx.input]),
    pytorch: () => torchModule,
  };
}

/**
 * max(z, 0), elementwise.
 *
 * @example
 * new Sequential([new Dense(64), new ReLU(), new Dense(10)], { inputShape: [784] });
 */
export class ReLU extends Elementwise {
  readonly type = 'ReLU';

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    this.backend.relu(y.data, x.data, x.size);
    this.cache = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.reluBackward(dx.data, dy.data, this.cache!.data, dy.size);
    return dx;
  }

  static readonly kind = elementwiseKind('ReLU', () => new ReLU(), 'Relu', 'activations', 'nn.ReLU()');
}

/** z > 0 ? z : slope·z, elementwise (slope default 0.01). */
export class LeakyReLU extends Elementwise {
  readonly type = 'LeakyReLU';
  readonly slope: number;

  /** @example new LeakyReLU(0.01) */
  constructor(slope = 0.01) {
    super();
    if (!Number.isFinite(slope) || slope < 0 || slope >= 1) {
      throw new NablaError({ where: 'LeakyReLU', expected: 'slope in [0, 1)', found: String(slope) });
    }
    this.slope = slope;
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    this.backend.leakyRelu(y.data, x.data, x.size, this.slope);
    this.cache = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.leakyReluBackward(dx.data, dy.data, this.cache!.data, dy.size, this.slope);
    return dx;
  }

  /** Also records the slope. */
  override config(): LayerConfig {
    return { type: this.type, slope: this.slope };
  }

  static readonly kind: LayerKind = {
    type: 'LeakyReLU',
    fromConfig: (c) => new LeakyReLU(c.slope === undefined ? undefined : Number(c.slope)),
    spec: {
      names: ['leakyrelu'],
      grammar: 'leakyrelu[:SLOPE]',
      parse(t) {
        if (t.arg === undefined && t.options.length === 0) return { type: 'LeakyReLU', slope: 0.01 };
        const slope = Number(t.arg);
        if (t.arg === undefined || t.arg.trim() === '' || !(slope >= 0 && slope < 1) || t.options.length > 0) {
          throw t.fail('leakyrelu or leakyrelu:SLOPE with SLOPE in [0, 1)');
        }
        return { type: 'LeakyReLU', slope };
      },
    },
    output: 'activations',
    onnx: (ctx) => ctx.node('LeakyRelu', [ctx.input], [ctx.float('alpha', ctx.layer.config.slope === undefined ? 0.01 : Number(ctx.layer.config.slope))]),
    pytorch: (ctx) => `nn.LeakyReLU(negative_slope=${ctx.py(ctx.layer.config.slope === undefined ? 0.01 : Number(ctx.layer.config.slope))})`,
  };
}

/**
 * 1 / (1 + e^−z), elementwise: the notes' σ.
 *
 * @example
 * new Sequential([new Dense(30, { init: 'xavier' }), new Sigmoid(), new Dense(10), new Sigmoid()], { inputShape: [784] });
 */
export class Sigmoid extends Elementwise {
  readonly type = 'Sigmoid';

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    this.backend.sigmoid(y.data, x.data, x.size);
    this.cache = y;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.sigmoidBackward(dx.data, dy.data, this.cache!.data, dy.size);
    return dx;
  }

  static readonly kind = elementwiseKind('Sigmoid', () => new Sigmoid(), 'Sigmoid', 'scores', 'nn.Sigmoid()');
}

/**
 * tanh z, elementwise.
 *
 * @example
 * new Sequential([new Dense(64, { init: 'xavier' }), new Tanh(), new Dense(10)], { inputShape: [784] });
 */
export class Tanh extends Elementwise {
  readonly type = 'Tanh';

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    this.backend.tanh(y.data, x.data, x.size);
    this.cache = y;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.tanhBackward(dx.data, dy.data, this.cache!.data, dy.size);
    return dx;
  }

  static readonly kind = elementwiseKind('Tanh', () => new Tanh(), 'Tanh', 'activations', 'nn.Tanh()');
}

/**
 * Softmax over the last axis: a_j = e^{z_j} / Σ_k e^{z_k}. Input must be flat (N, K).
 * NOTE: for training a classifier, prefer no Softmax layer and the fused 'ce' loss on the logits:
 * it is cheaper and numerically stable. This layer exists for MSE-on-probabilities and for
 * models whose outputs must be probabilities.
 *
 * @example
 * new Sequential([new Dense(10), new Softmax()], { inputShape: [784] }); // outputs are probabilities
 */
export class Softmax extends Elementwise {
  readonly type = 'Softmax';

  protected override init(inputShape: Shape, _rng: Rng): Shape {
    if (inputShape.length !== 1) {
      throw this.shapeError('a flat input (N, K)', inputShape, 'add a Flatten layer before it');
    }
    return inputShape;
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    this.backend.softmax(y.data, x.data, n, this.inputShape[0]);
    this.cache = y;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const n = dy.shape[0];
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    this.backend.softmaxBackward(dx.data, dy.data, this.cache!.data, n, this.inputShape[0]);
    return dx;
  }

  static readonly kind: LayerKind = {
    // nabla's Softmax takes (N, K): the last axis is dim 1.
    ...elementwiseKind('Softmax', () => new Softmax(), 'Softmax', 'probabilities', 'nn.Softmax(dim=1)'),
    // nabla's Softmax takes (N, K): the last axis is axis 1.
    onnx: (ctx) => ctx.node('Softmax', [ctx.input], [ctx.int('axis', 1)]),
  };
}
