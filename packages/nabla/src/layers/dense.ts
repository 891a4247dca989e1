/**
 * Dense: the notes' fully connected layer, z = W a + b, for a batch of N samples at once.
 *
 * Shapes: x: (N, IN), W: (OUT, IN) as PyTorch's nn.Linear stores it, b: (OUT), y: (N, OUT).
 * With samples as rows, the notes' column form z = W a + b becomes Y = X·Wᵀ + b (one GEMM with
 * transB, plus b added to every row). Caches x for backward.
 *
 * Followed by a ReLU in a model, the layer also does the ReLU's forward (forwardThrough: the
 * product's epilogue adds b and applies the ReLU, each thread on its own columns) and backward
 * (backwardThrough: the ReLU's mask [y > 0] comes from this layer's output, which is relu(z),
 * where [relu(z) > 0] = [z > 0]). The same bits as the two layers apart.
 */
import { NablaError } from '../errors.ts';
import { checkInit, type InitName, initialize } from '../init.ts';
import type { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, NO_GRAD, type LayerConfig, type Param } from './layer.ts';
import { FollowingRelu } from './followingRelu.ts';
import { markOverwritable, takeCleared } from '../pendingGrads.ts';

/**
 * Options of a Dense layer.
 *
 * @example
 * new Dense(10, { bias: false, init: 'xavier' });
 */
export interface DenseOptions {
  /** Include the bias b (default true). */
  bias?: boolean;
  /** Weight initialiser (default 'he' — suited to ReLU; use 'xavier' for sigmoid/tanh). */
  init?: InitName;
}

/**
 * The fully connected layer y = x·Wᵀ + b (PyTorch's nn.Linear); W is [units, inputs].
 *
 * @example
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784] });
 */
export class Dense extends Layer {
  readonly type = 'Dense';
  readonly units: number;
  readonly useBias: boolean;
  readonly initName: InitName;
  weight!: Param;
  bias: Param | undefined;
  private x: Tensor | undefined;
  /** The last forward's output (relu(z) after a forward through a ReLU). */
  private y: Tensor | undefined;
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();
  /** dz = dy ⊙ [y > 0], for a backward through a ReLU. */
  private readonly dzBuf = new TensorBuffer();
  /** A following ReLU whose forward and backward this layer does (see the header). */
  private readonly relu = new FollowingRelu();

  /** @example new Dense(128) // 128 output units; inputs are inferred when the model is built */
  constructor(units: number, options: DenseOptions = {}) {
    super();
    if (!Number.isInteger(units) || units < 1) {
      throw new NablaError({ where: 'Dense', expected: 'units to be a positive integer', found: String(units) });
    }
    this.units = units;
    this.useBias = options.bias ?? true;
    this.initName = checkInit(options.init ?? 'he', 'Dense');
  }

  protected init(inputShape: Shape, rng: Rng): Shape {
    if (inputShape.length !== 1) {
      throw this.shapeError('a flat input (N, features)', inputShape, 'add a Flatten layer before it');
    }
    const fanIn = inputShape[0];
    this.weight = this.createParam('weight', [this.units, fanIn]);
    initialize(this.initName, this.weight.value.data, fanIn, this.units, rng);
    // The weight gradient is one product: trainStep's zeroGradLazily may leave it for backward to write.
    markOverwritable(this.weight.grad.data);
    // Biases start at zero: the random weights already break the symmetry between units.
    this.bias = this.useBias ? this.createParam('bias', [this.units]) : undefined;
    return [this.units];
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const inF = this.inputShape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    const relu = this.relu.takeForward();
    // Y (N × OUT) = X (N × IN) · Wᵀ + b  — W is stored (OUT × IN), hence transB; the bias (and a
    // following ReLU's max(·, 0)) in the product's epilogue.
    this.backend.gemm(y.data, x.data, this.weight.value.data, n, this.units, inF, false, true, 1, 0,
      this.bias || relu ? { bias: this.bias?.value.data, relu } : undefined);
    this.x = x;
    this.y = y;
    return y;
  }

  /** A ReLU right after this layer: its forward is done inside this one's (see the header). */
  override forwardThrough(next: Layer): boolean {
    return this.relu.askForward(next);
  }

  /** A ReLU right after this layer: its backward is done inside this one's (see the header). */
  override backwardThrough(next: Layer): boolean {
    return this.relu.askBackward(next, this.y !== undefined);
  }

  backward(dyIn: Tensor): Tensor {
    const x = this.x!;
    const n = x.shape[0];
    const inF = this.inputShape[0];
    let dy = dyIn;
    if (this.relu.takeBackward()) {
      // The ReLU's backward: dz = dy ⊙ [y > 0].
      dy = this.dzBuf.get(this.backend, n, this.outputShape);
      this.backend.reluBackward(dy.data, dyIn.data, this.y!.data, dyIn.size);
    }
    // dW (OUT × IN) += dYᵀ (OUT × N) · X (N × IN): the notes' dW = dZ·A(l−1)ᵀ, summed over the
    // batch (the 1/m is already inside dY, from the loss). beta = 1 accumulates; beta = 0 writes
    // it when trainStep left it uncleared (the same bits as adding to zeros, one pass less).
    const dW = this.weight.grad.data;
    this.backend.gemm(dW, dy.data, x.data, this.units, inF, n, true, false, 1, takeCleared(dW) ? 0 : 1);
    // db += Σ over samples of dY: "the bias gradient is the sum of dZ".
    if (this.bias) this.backend.sumRows(this.bias.grad.data, dy.data, n, this.units, 1);
    if (!this.needsInputGrad) return NO_GRAD;
    // dX (N × IN) = dY (N × OUT) · W (OUT × IN): the notes' W(l)ᵀ dZ, in row form.
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    this.backend.gemm(dx.data, dy.data, this.weight.value.data, n, inF, this.units, false, false, 1, 0);
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type, units: this.units, bias: this.useBias, init: this.initName };
  }

  static readonly kind: LayerKind = {
    type: 'Dense',
    fromConfig: (c) => new Dense(Number(c.units), { bias: c.bias !== false, init: (c.init ?? 'he') as InitName }),
    spec: {
      names: ['dense'],
      grammar: 'dense:N[/nobias]',
      parse(t) {
        if (t.arg === undefined || !/^\d+$/.test(t.arg) || Number(t.arg) < 1) throw t.fail('dense:UNITS with a positive integer, e.g. dense:128');
        return { type: 'Dense', units: Number(t.arg), bias: t.windowOptions(['nobias'], [1, 1]).bias ?? true, init: 'he' };
      },
    },
    input: () => 'flat',
    summary: (l) => `(${l.inputShape[0]} → ${l.config.units})`,
    // Gemm(x, W, b) with transB = 1: W is stored [OUT, IN], y = x·Wᵀ + b.
    onnx(ctx) {
      const [inF] = ctx.layer.inputShape;
      const [units] = ctx.layer.outputShape;
      const inputs = [ctx.input, ctx.weight('weight', [units, inF])];
      if (ctx.layer.config.bias !== false) inputs.push(ctx.weight('bias', [units]));
      ctx.node('Gemm', inputs, [ctx.int('transB', 1)]);
    },
    // nn.Linear stores weight [OUT, IN] too: y = x·Wᵀ + b.
    pytorch: (ctx) => `nn.Linear(${ctx.layer.inputShape[0]}, ${ctx.layer.outputShape[0]}, bias=${ctx.py(ctx.layer.config.bias !== false)})`,
  };
}
