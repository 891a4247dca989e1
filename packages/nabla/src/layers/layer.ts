/**
 * Layer: the contract every layer keeps.
 *
 * - `build(inputShape, ctx)` is called once by Sequential with the per-sample input shape (no
 *   batch dimension). It checks the shape, creates parameters (initialised from ctx.rng) and
 *   returns the per-sample output shape. Shape errors speak like Keras: layer, expected,
 *   received, fix.
 * - `forward(x, training)` takes x: (N, ...inputShape) and returns y: (N, ...outputShape). The
 *   returned tensor is owned by the layer and overwritten by the next forward call.
 * - `backward(dy)` takes dy = ∂C/∂y for the last forward input and returns dx = ∂C/∂x, written
 *   fresh; parameter gradients are **added** into `param.grad` (so gradients of several batches
 *   or several uses accumulate). Only `zeroGrad()` (Sequential or optimiser) clears them.
 * - When `needsInputGrad` is false (the first layer of a model), backward may skip computing dx
 *   and return an empty tensor: nobody needs ∂C/∂(pixels), and for a first Dense layer this
 *   saves a third of its work.
 */
import type { Backend } from '../backend/backend.ts';
import type { Rng } from '../random.ts';
import { NablaError } from '../errors.ts';
import { Tensor, shapeSize, shapeToString, type Shape } from '../tensor.ts';

/**
 * The most values one parameter, buffer or layer output may hold: 2^28 = 268,435,456 (1 GiB as
 * float32; with its gradient and Adam's two moments, 4 GiB). Far above any MNIST-scale layer
 * (the cnn preset's largest is 36,864), it turns a typo'd or hostile size (1e9 units) into a
 * NablaError naming the layer before anything is allocated, on every backend. See docs/limits.md.
 *
 * @example
 * new Dense(1e9) // building it: "layer 0 (Dense): expected a parameter of at most 268435456 values, ..."
 */
export const MAX_TENSOR_VALUES = 2 ** 28;

/** The parameter budget of the build in progress (see withParameterBudget), if any. */
let budget: { left: number; total: number; what: string } | undefined;

/**
 * Run `build` (which builds layers) allowing their parameters at most `values` values in all:
 * createParam refuses, naming the layer, the first parameter past the budget, before allocating
 * it. decodeModel builds a file's architecture with the file's own tensor sizes as the budget, so
 * a 300-byte file declaring a 300000-unit layer fails at once instead of allocating a gigabyte.
 * `what` says where the budget comes from, for the message.
 *
 * @example
 * const model = withParameterBudget(7850, 'the 7850 values the file holds', () => Sequential.fromConfig(config));
 */
export function withParameterBudget<T>(values: number, what: string, build: () => T): T {
  const outer = budget;
  budget = { left: values, total: values, what };
  try {
    return build();
  } finally {
    budget = outer;
  }
}

/**
 * Throws a NablaError unless a tensor of `shape` is within MAX_TENSOR_VALUES (`where` and `what`
 * name it), for a layer that allocates state of its own outside createParam.
 *
 * @example
 * checkTensorSize(this.label, 'buffer "running_mean"', [c]);
 */
export function checkTensorSize(where: string, what: string, shape: Shape, hint?: string): void {
  const size = shapeSize(shape);
  if (!(size <= MAX_TENSOR_VALUES)) {
    throw new NablaError({
      where,
      expected: `${what} of at most ${MAX_TENSOR_VALUES} values (2^28; see docs/limits.md)`,
      found: `${shapeToString(shape)} = ${size} values`,
      hint: hint ?? 'use smaller layer sizes',
    });
  }
}

/**
 * A learnable tensor with its gradient. `name` is its PyTorch-style suffix ("weight", "bias").
 *
 * @example
 * for (const p of model.parameters()) console.log(p.name, p.value.shape, p.grad.data[0]);
 */
export interface Param {
  name: string;
  value: Tensor;
  grad: Tensor;
  /** The backend whose memory holds it: optimisers and diagnostics default to its kernels. */
  backend?: Backend;
}

/**
 * Non-learned state saved with the model (PyTorch calls these buffers): BatchNorm's running
 * statistics. The optimiser never sees them. `dtype` is how the model file stores the value
 * ('I64' for PyTorch's integer counters such as num_batches_tracked; default 'F32').
 *
 * @example
 * for (const b of model.buffers()) console.log(b.name, b.value.shape); // '1.running_mean' [16] ...
 */
export interface StateTensor {
  name: string;
  value: Tensor;
  dtype?: 'F32' | 'I64';
}

/**
 * JSON description of a layer: enough to rebuild it (the model file stores a list of these).
 *
 * @example
 * const config: LayerConfig = { type: 'Dense', units: 10, bias: true, init: 'he' };
 */
export interface LayerConfig {
  type: string;
  [key: string]: unknown;
}

/**
 * What Sequential hands each layer's build: the backend, the seeded Rng and the layer's position.
 *
 * @example
 * layer.build([784], { backend: new JsBackend(), rng: new Rng(1), index: 0 }); // returns the output shape
 */
export interface BuildContext {
  backend: Backend;
  rng: Rng;
  /** Position in the model, used in messages: "layer 2 (Dense)" (or "layer 3.body.0" inside a container). */
  index: number | string;
}

/**
 * The base of every layer (see the contract above). Subclasses implement init, forward,
 * backward and config, and create their parameters with createParam. What the rest of nabla needs
 * to know about the type (rebuilding it from its config, its spec token, its ONNX form) is its
 * LayerKind, kept as the class's static `kind` (see kind.ts; a user layer calls registerLayer).
 *
 * @example
 * // y = 2x, no parameters
 * class Double extends Layer {
 *   static readonly kind: LayerKind = { type: 'Double', fromConfig: () => new Double() };
 *   readonly type = 'Double';
 *   protected init(inputShape: Shape): Shape { return inputShape; }
 *   forward(x: Tensor): Tensor { return new Tensor(x.shape, x.data.map((v) => 2 * v)); }
 *   backward(dy: Tensor): Tensor { return new Tensor(dy.shape, dy.data.map((v) => 2 * v)); }
 *   config(): LayerConfig { return { type: this.type }; }
 * }
 */
export abstract class Layer {
  abstract readonly type: string;
  needsInputGrad = true;
  protected backend!: Backend;
  protected index: number | string = 0;
  inputShape: Shape = [];
  outputShape: Shape = [];

  /** Validates the input shape, creates parameters, returns the output shape. */
  build(inputShape: Shape, ctx: BuildContext): Shape {
    this.backend = ctx.backend;
    this.index = ctx.index;
    this.inputShape = [...inputShape];
    this.outputShape = this.init(inputShape, ctx.rng);
    return this.outputShape;
  }

  /** Swap the kernels (same numbers, possibly faster). */
  setBackend(backend: Backend): void {
    this.backend = backend;
    for (const p of this.params()) p.backend = backend;
  }

  protected abstract init(inputShape: Shape, rng: Rng): Shape;
  /** y for x: (N, ...inputShape); `training` switches train-time behaviour (e.g. dropout). */
  abstract forward(x: Tensor, training: boolean): Tensor;
  /** dx for dy = ∂C/∂y of the last forward; adds into parameter gradients. */
  abstract backward(dy: Tensor): Tensor;
  /** The JSON description model files store, enough to rebuild the layer. */
  abstract config(): LayerConfig;

  /**
   * Whether this layer's next backward also does the backward of `next`, the layer right after
   * it (one pass over the activations instead of two, e.g. batch norm through a ReLU): a model
   * asks just before that backward and, on true, skips next's backward and hands this layer
   * next's dy. A layer answering true must do exactly what next's backward would have, for this
   * call only. Never by default; forward passes, outputs and files are unaffected.
   */
  backwardThrough(_next: Layer): boolean {
    return false;
  }

  /**
   * Whether this layer's next forward also does the forward of `next`, the layer right after it
   * (one pass over the activations instead of two, e.g. batch norm into a ReLU): a model asks
   * just before that forward and, on true, takes this layer's output as next's and skips next's
   * forward. Its output must be bit for bit what next's forward would have made of it, and the
   * layer must then also take next's backward (backwardThrough) after that forward: next never
   * saw its input, so after a model's forward its backward goes through Sequential.backward (which
   * returns the input gradient), not layer by layer. For this call only; never by default.
   */
  forwardThrough(_next: Layer): boolean {
    return false;
  }

  /** The learnable tensors, in state-dict order (none by default). */
  params(): Param[] {
    return [];
  }

  /** Non-learned state saved in model files ("running_mean", ...); none by default. */
  buffers(): StateTensor[] {
    return [];
  }

  /** The layers this one holds (a Residual's inner layers); none by default. */
  children(): Layer[] {
    return [];
  }

  /** A zero parameter and its gradient, both in the backend's memory. */
  protected createParam(name: string, shape: Shape): Param {
    checkTensorSize(this.label, `parameter "${name}"`, shape);
    const size = shapeSize(shape);
    if (budget) {
      if (size > budget.left) {
        throw new NablaError({
          where: this.label,
          expected: `parameters within ${budget.what}`,
          found: `"${name}" ${shapeToString(shape)} = ${size} values, with ${budget.total - budget.left} already used`,
          hint: 'the architecture does not match the tensors stored with it: the file is damaged or was edited',
        });
      }
      budget.left -= size;
    }
    return {
      name,
      value: new Tensor(shape, this.backend.allocate(size)),
      grad: new Tensor(shape, this.backend.allocate(size)),
      backend: this.backend,
    };
  }

  /** "layer 2 (Dense)", for messages. */
  get label(): string {
    return `layer ${this.index} (${this.type})`;
  }

  protected shapeError(expected: string, received: Shape, hint?: string): NablaError {
    return new NablaError({
      where: this.label,
      expected,
      found: `input shape ${shapeToString(received)}`,
      hint,
    });
  }
}

/**
 * A reusable output tensor: grows to the largest batch seen, and hands out a Tensor of exactly
 * (N, ...shape) as a view, so the smaller last batch of an epoch costs no allocation.
 *
 * @example
 * private readonly out = new TensorBuffer();
 * forward(x: Tensor): Tensor { const y = this.out.get(this.backend, x.shape[0], this.outputShape); ...; return y; }
 */
export class TensorBuffer {
  private store: Float32Array = new Float32Array(0);
  private owner: Backend | undefined;
  private view: Tensor | undefined;

  /** A (n, ...shape) tensor in memory allocated by `backend` (reallocated if the backend changed). */
  get(backend: Backend, n: number, shape: Shape): Tensor {
    const size = n * shapeSize(shape);
    if (!(size <= MAX_TENSOR_VALUES)) {
      checkTensorSize('layer output', 'a batch of outputs', [n, ...shape], 'use a smaller batch size or smaller layers');
    }
    if (this.owner !== backend) {
      this.owner = backend;
      this.store = new Float32Array(0);
      this.view = undefined;
    }
    if (this.view && this.view.shape[0] === n && this.view.size === size) return this.view;
    if (this.store.length < size) this.store = backend.allocate(size);
    this.view = new Tensor([n, ...shape], this.store.subarray(0, size));
    return this.view;
  }
}

/**
 * The empty tensor a first layer returns from backward when no one needs dx.
 *
 * @example
 * if (!this.needsInputGrad) return NO_GRAD;
 */
export const NO_GRAD = new Tensor([0]);
