/**
 * BatchNorm1D and BatchNorm2D: normalise each channel to zero mean and unit variance, then scale
 * and shift it by learned γ (weight) and β (bias) (Ioffe & Szegedy 2015; PyTorch's nn.BatchNorm1d
 * and nn.BatchNorm2d, same parameter and buffer names).
 *
 *   y = γ[c] · (x − μ[c]) / sqrt(σ²[c] + eps) + β[c]
 *
 * Shapes: BatchNorm1D x: (N, C) or (N, C, L); BatchNorm2D x: (N, C, H, W); both seen by the
 * kernels as (N, C, S) with statistics over the N·S values of each channel. Parameters weight and
 * bias: (C). Buffers (saved, never trained): running_mean, running_var (C), num_batches_tracked.
 *
 * Training: μ and σ² are the batch's (biased variance for normalising); the running statistics
 * move towards them as PyTorch does, running = (1 − m)·running + m·batch with m = momentum, using
 * the UNBIASED batch variance (× M/(M − 1), M = N·S) for running_var. Evaluation: μ and σ² are the
 * running statistics, so a sample's output no longer depends on the rest of its batch.
 * Caches x and the μ and 1/sqrt(σ² + eps) used; backward recomputes x̂ from them.
 *
 * Followed by a ReLU in a model, the layer also does the ReLU's forward (forwardThrough: its
 * normalisation writes relu(y)) and backward (backwardThrough: the ReLU's mask [y > 0] comes from
 * y recomputed from x, bit for bit as the forward made it, inside the batch-norm passes), so the
 * ReLU makes no pass of its own over the activations either way.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import { Tensor, shapeToString, type Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, type LayerConfig, type Param, type StateTensor } from './layer.ts';
import { FollowingRelu } from './followingRelu.ts';

/**
 * Options of BatchNorm1D and BatchNorm2D.
 *
 * @example
 * new BatchNorm2D({ momentum: 0.05, eps: 1e-3 });
 */
export interface BatchNormOptions {
  /** Weight of the newest batch in the running statistics (default 0.1, PyTorch's). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Channels, if you want them checked; inferred from the input when omitted. */
  numFeatures?: number;
}

abstract class BatchNorm extends Layer {
  readonly momentum: number;
  readonly eps: number;
  readonly numFeatures: number | undefined;
  weight!: Param;
  bias!: Param;
  runningMean!: Tensor;
  runningVar!: Tensor;
  /** Batches seen in training (a float32 counter: exact up to 2^24 batches). */
  numBatchesTracked!: Tensor;
  private x: Tensor | undefined;
  private batchStats = false;
  /** A following ReLU whose forward (relu(y)) and backward this layer does (see the header). */
  private readonly relu = new FollowingRelu();
  // Per-channel scratch: the batch mean and variance, and the mean and 1/sqrt(var + eps) in use.
  private batchMean!: Float32Array;
  private batchVar!: Float32Array;
  private invStd!: Float32Array;
  private usedMean!: Float32Array;
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  constructor(type: string, options: BatchNormOptions) {
    super();
    this.momentum = options.momentum ?? 0.1;
    this.eps = options.eps ?? 1e-5;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new NablaError({ where: type, expected: 'momentum in [0, 1]', found: String(options.momentum) });
    }
    if (!(this.eps > 0 && Number.isFinite(this.eps))) {
      throw new NablaError({ where: type, expected: 'eps > 0', found: String(options.eps) });
    }
    if (options.numFeatures !== undefined && !(Number.isInteger(options.numFeatures) && options.numFeatures >= 1)) {
      throw new NablaError({ where: type, expected: 'numFeatures to be a positive integer', found: String(options.numFeatures) });
    }
    this.numFeatures = options.numFeatures;
  }

  /** Checks the rank; returns the channel count C. */
  protected abstract channels(inputShape: Shape): number;

  protected init(inputShape: Shape, _rng: Rng): Shape {
    const c = this.channels(inputShape);
    if (this.numFeatures !== undefined && this.numFeatures !== c) {
      throw new NablaError({
        where: this.label, expected: `an input of ${this.numFeatures} channels`,
        found: `input shape ${shapeToString(['N', ...inputShape])} (${c} channels)`,
        hint: `the layer before it outputs ${c} channels: set numFeatures to ${c}`,
      });
    }
    // γ = 1, β = 0: the layer starts as a plain normalisation, as in PyTorch.
    this.weight = this.createParam('weight', [c]);
    this.weight.value.data.fill(1);
    this.bias = this.createParam('bias', [c]);
    this.runningMean = new Tensor([c], this.backend.allocate(c));
    this.runningVar = new Tensor([c], this.backend.allocate(c).fill(1));
    this.numBatchesTracked = new Tensor([], this.backend.allocate(1));
    this.batchMean = this.backend.allocate(c);
    this.batchVar = this.backend.allocate(c);
    this.invStd = this.backend.allocate(c);
    this.usedMean = this.backend.allocate(c);
    return inputShape;
  }

  override params(): Param[] {
    return [this.weight, this.bias];
  }

  override buffers(): StateTensor[] {
    return [
      { name: 'running_mean', value: this.runningMean },
      { name: 'running_var', value: this.runningVar },
      { name: 'num_batches_tracked', value: this.numBatchesTracked, dtype: 'I64' },
    ];
  }

  forward(x: Tensor, training: boolean): Tensor {
    const n = x.shape[0];
    const c = this.weight.value.size;
    const s = x.size / (n * c);
    const y = this.out.get(this.backend, n, this.outputShape);
    const relu = this.relu.takeForward();
    this.batchStats = training;
    if (training) {
      const m = n * s;
      if (m < 2) {
        throw new NablaError({
          where: this.label, expected: 'more than one value per channel to normalise in training',
          found: `a batch of ${n} with ${s} value${s === 1 ? '' : 's'} per channel`, hint: 'train with a batch size of at least 2',
        });
      }
      this.backend.batchNormStats(this.batchMean, this.batchVar, x.data, n, c, s);
      const mom = this.momentum;
      const rm = this.runningMean.data;
      const rv = this.runningVar.data;
      for (let ch = 0; ch < c; ch++) {
        this.usedMean[ch] = this.batchMean[ch];
        this.invStd[ch] = 1 / Math.sqrt(this.batchVar[ch] + this.eps);
        rm[ch] = (1 - mom) * rm[ch] + mom * this.batchMean[ch];
        // NOTE: unbiased (÷ (M − 1)) for the running variance, biased for normalising: PyTorch's rule.
        rv[ch] = (1 - mom) * rv[ch] + mom * this.batchVar[ch] * (m / (m - 1));
      }
      this.numBatchesTracked.data[0] += 1;
    } else {
      for (let ch = 0; ch < c; ch++) {
        this.usedMean[ch] = this.runningMean.data[ch];
        this.invStd[ch] = 1 / Math.sqrt(this.runningVar.data[ch] + this.eps);
      }
    }
    this.backend.batchNormNormalize(y.data, x.data, this.usedMean, this.invStd, this.weight.value.data, this.bias.value.data, n, c, s, relu);
    this.x = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.x!;
    const n = x.shape[0];
    const c = this.weight.value.size;
    const s = x.size / (n * c);
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    const throughRelu = this.relu.takeBackward();
    this.backend.batchNormBackward(
      dx.data, this.weight.grad.data, this.bias.grad.data, dy.data, x.data, this.usedMean, this.invStd,
      this.weight.value.data, n, c, s, this.batchStats, throughRelu ? this.bias.value.data : undefined,
    );
    return dx;
  }

  /** A ReLU right after this layer: its forward is done inside this one's (see the header). */
  override forwardThrough(next: Layer): boolean {
    return this.relu.askForward(next);
  }

  /** A ReLU right after this layer: its backward is done inside this one's (see the header). */
  override backwardThrough(next: Layer): boolean {
    return this.relu.askBackward(next, this.x !== undefined);
  }

  config(): LayerConfig {
    const config: LayerConfig = { type: this.type, momentum: this.momentum, eps: this.eps };
    if (this.numFeatures !== undefined) config.numFeatures = this.numFeatures;
    return config;
  }
}

/** Batch norm over features (N, C) or sequences (N, C, L). */
export class BatchNorm1D extends BatchNorm {
  readonly type = 'BatchNorm1D';

  /** @example new BatchNorm1D() // after a Dense layer: normalises each unit over the batch */
  constructor(options: BatchNormOptions = {}) {
    super('BatchNorm1D', options);
  }

  static readonly kind = batchNormKind('BatchNorm1D', ['bn1d'], 'bn1d', (o) => new BatchNorm1D(o), 'flat');

  protected channels(inputShape: Shape): number {
    if (inputShape.length !== 1 && inputShape.length !== 2) {
      throw this.shapeError('an input (N, C) or (N, C, L)', inputShape,
        inputShape.length === 3 ? 'use BatchNorm2D for images (N, C, H, W)' : undefined);
    }
    return inputShape[0];
  }
}

/** Batch norm over the channels of images (N, C, H, W): statistics over N·H·W values. */
export class BatchNorm2D extends BatchNorm {
  readonly type = 'BatchNorm2D';

  /** @example new BatchNorm2D() // after a Conv2D: one γ, β per channel */
  constructor(options: BatchNormOptions = {}) {
    super('BatchNorm2D', options);
  }

  // "bn" alone is BatchNorm2D on images and BatchNorm1D once the spec is flat.
  static readonly kind = batchNormKind('BatchNorm2D', ['bn', 'batchnorm', 'bn2d'], 'bn|bn2d', (o) => new BatchNorm2D(o), 'image');

  protected channels(inputShape: Shape): number {
    if (inputShape.length !== 3) {
      throw this.shapeError('an image input (N, C, H, W)', inputShape,
        inputShape.length === 1 ? 'use BatchNorm1D after Flatten or Dense layers' : undefined);
    }
    return inputShape[0];
  }
}

/** The kind of a batch-norm layer; `names` other than "bn2d"/"bn1d" pick the type by the spec's rank. */
function batchNormKind(type: string, names: string[], grammar: string, make: (o: BatchNormOptions) => BatchNorm, input: 'image' | 'flat'): LayerKind {
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  return {
    type,
    fromConfig: (c) => make({ momentum: num(c.momentum), eps: num(c.eps), numFeatures: num(c.numFeatures) }),
    spec: {
      names,
      grammar,
      parse(t) {
        t.noArg();
        const chosen = t.name === 'bn2d' || t.name === 'bn1d' ? type : t.rank === 3 ? 'BatchNorm2D' : 'BatchNorm1D';
        return { type: chosen, momentum: 0.1, eps: 1e-5 };
      },
    },
    input: () => input,
    // BatchNormalization(x, weight, bias, running_mean, running_var): the inference form.
    onnx(ctx) {
      const [ch] = ctx.layer.inputShape;
      const stats = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => ctx.weight(n, [ch]));
      ctx.node('BatchNormalization', [ctx.input, ...stats], [ctx.float('epsilon', num(ctx.layer.config.eps) ?? 1e-5)]);
    },
    // Same momentum rule (running = (1 − m)·running + m·batch, unbiased running_var) and eps.
    pytorch: (ctx) => `nn.${type === 'BatchNorm2D' ? 'BatchNorm2d' : 'BatchNorm1d'}(${ctx.layer.inputShape[0]}, ` +
      `eps=${ctx.py(num(ctx.layer.config.eps) ?? 1e-5)}, momentum=${ctx.py(num(ctx.layer.config.momentum) ?? 0.1)})`,
  };
}
