/**
 * Sequential: layers applied one after the other, the container of a model, and the notes' one
 * training step (Forward → Backward → Update on a batch). The loop around that step (fit) lives
 * in train/fit.ts and the metrics (evaluate) in train/metrics.ts; the methods here delegate.
 *
 * Data: x is (count × features) and y (count × K) targets, row-major Float32Arrays; one row per
 * sample.
 */
import type { Backend } from '../backend/backend.ts';
import type { Samples } from '../data/batches.ts';
import { defaultBackend } from '../backend/defaultBackend.ts';
import { NablaError } from '../errors.ts';
import { listSome } from '../listSome.ts';
import { TensorBuffer, NO_GRAD, type Layer, type LayerConfig, type Param, type StateTensor } from '../layers/layer.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Rng } from '../random.ts';
import { Tensor, sameShape, shapeSize, shapeToString, type Shape } from '../tensor.ts';
import { fit, fitAsync, fitSteps, trainingState, type BatchLog, type FitOptions, type FitState, type History } from '../train/fit.ts';
import {
  countCorrect, decisionThreshold, evaluate, inferTask,
  type ClassificationEvaluation, type ClassifierEvaluateOptions, type EvaluateOptions, type RegressionEvaluateOptions, type Evaluation, type RegressionEvaluation, type Task,
} from '../train/metrics.ts';
import { builtLayer, findLayerKind, layerFromConfig } from '../layers/registry.ts';
import { clipGradNorm, diagnoseForward, diagnoseGradients, gradSumOfSquares, type NonFinite } from '../train/diagnostics.ts';

/**
 * Options of one training step.
 *
 * @example
 * model.trainStep(x, y, 'ce', optimizer, { clipNorm: 1 });
 */
export interface StepOptions {
  /** Clip the global gradient norm to this value before the update. */
  clipNorm?: number;
  /** Compute the global gradient norm (and check the gradients are finite) even without clipping. */
  gradNorm?: boolean;
  /**
   * With gradNorm and no clipping: compute the norm in the update's own pass where the optimiser
   * can (plain SGD): part of the update may then run even when a gradient is not finite (never
   * from that gradient; the diagnosis names the same layer). Only for a caller that then
   * restores the weights itself (fit does).
   */
  fuseGradNorm?: boolean;
  /**
   * What to count: 'classification' (correct) or 'regression' (absError, squaredError); default
   * inferTask(loss, outputs): fit passes the task it decided.
   */
  task?: Task;
}

/**
 * What one training step reports.
 *
 * @example
 * const { loss, correct, nonFinite } = model.trainStep(x, y, 'ce', optimizer, { gradNorm: true });
 * if (nonFinite) console.log(nonFinite.found);
 */
export interface StepResult {
  /** The batch's mean loss, measured before the update. */
  loss: number;
  /** Classification: samples whose predicted class matched the target's (see countCorrect); 0 for regression. */
  correct: number;
  /** Regression: Σ|output − target| over the batch's outputs (before the update). */
  absError?: number;
  /** Regression: Σ(output − target)² over the batch's outputs (before the update). */
  squaredError?: number;
  /** Global gradient norm before clipping, when computed. */
  gradNorm?: number;
  /** Set when the loss or a gradient was NaN/Infinity: the update was skipped, and this says where. */
  nonFinite?: NonFinite & { expected?: string };
}

/**
 * A model's architecture as JSON: what model files store and Sequential.fromConfig rebuilds.
 *
 * @example
 * const config: ModelConfig = { inputShape: [784], layers: [{ type: 'Dense', units: 10 }] };
 */
export interface ModelConfig {
  inputShape: number[];
  layers: LayerConfig[];
}

/**
 * Sequential's options.
 *
 * @example
 * new Sequential([new Dense(10)], { inputShape: [784], seed: 1, backend: new JsBackend() });
 */
export interface SequentialOptions {
  /** Per-sample input shape, e.g. [784] for flattened MNIST. */
  inputShape: Shape;
  /** Seed for initialisation and shuffling (default 0). */
  seed?: number;
  /** The kernels to run on (default: `defaultBackend()`, wasm on every core where possible). */
  backend?: Backend;
}

/**
 * Layers applied in order, with the training loop around them: fit, evaluate, predict, trainStep.
 *
 * @example
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
 * model.fit(train, { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 5 });
 */
export class Sequential {
  readonly layers: Layer[];
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly rng: Rng;
  backend: Backend;
  /** Set by a callback to end fit() after the current epoch. */
  stopTraining = false;
  /** Set (e.g. from a SIGINT handler) to end fit() after the current batch; see trainingState(). */
  stopAfterBatch = false;
  private readonly dyBuf = new TensorBuffer();
  private readonly inputBuf = new TensorBuffer();
  /** Each layer's output for the last forward pass (views of the layers' buffers), for diagnostics. */
  readonly acts: Tensor[] = [];

  /**
   * @example
   * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
   */
  constructor(layers: Layer[], options: SequentialOptions) {
    if (layers.length === 0) {
      throw new NablaError({ where: 'Sequential', expected: 'at least one layer', found: 'none' });
    }
    // No layer can infer its input size (Dense needs its number of inputs): the shape must be given.
    const shape0 = (options as Partial<SequentialOptions> | undefined)?.inputShape as unknown;
    if (!Array.isArray(shape0) || shape0.length === 0 || !shape0.every((d) => Number.isInteger(d) && d > 0)) {
      throw new NablaError({
        where: 'Sequential', expected: 'options.inputShape, the per-sample input shape as a list of positive integers',
        found: shape0 === undefined ? (options === undefined ? 'none (no options given)' : 'none')
          : Array.isArray(shape0) ? `[${shape0.map(String).join(', ')}]` : JSON.stringify(shape0) ?? String(shape0),
        hint: 'e.g. new Sequential(layers, { inputShape: [784] }) for flattened 28×28 images, or { inputShape: [1, 28, 28] } for Conv2d',
      });
    }
    this.layers = layers;
    this.inputShape = [...options.inputShape];
    this.backend = options.backend ?? defaultBackend();
    this.rng = new Rng(options.seed ?? 0);
    let shape: Shape = this.inputShape;
    layers.forEach((layer, index) => {
      shape = layer.build(shape, { backend: this.backend, rng: this.rng, index });
    });
    this.outputShape = shape;
    // Nobody needs ∂C/∂input: the first layer with parameters may skip that product, and so may
    // the layers before it (a Standardize in front of the first Dense), whose backward then never runs.
    for (const layer of layers) {
      layer.needsInputGrad = false;
      if (layer.params().length > 0) break;
    }
  }

  /** Rebuild a model from its JSON architecture (as stored in model files); backend as in the constructor. */
  static fromConfig(config: ModelConfig, options: { seed?: number; backend?: Backend } = {}): Sequential {
    const layers = config.layers.map((c, i) => layerFromConfig(c, i));
    return new Sequential(layers, { inputShape: config.inputShape, ...options });
  }

  /** The architecture as JSON (what encodeModel stores). */
  config(): ModelConfig {
    return { inputShape: [...this.inputShape], layers: this.layers.map((l) => l.config()) };
  }

  /** Run every layer on another backend (same numbers, possibly faster). */
  setBackend(backend: Backend): void {
    this.backend = backend;
    for (const l of this.layers) l.setBackend(backend);
  }

  /** Every learnable tensor, named as PyTorch's nn.Sequential state dict names it ("0.weight"), with the model's backend. */
  parameters(): Param[] {
    const out: Param[] = [];
    this.layers.forEach((layer, i) => {
      for (const p of layer.params()) out.push({ ...p, name: `${i}.${p.name}` });
    });
    return out;
  }

  /** Parameter count. */
  get paramCount(): number {
    return this.parameters().reduce((s, p) => s + p.value.size, 0);
  }

  /** Clear every parameter gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.data.fill(0);
  }

  /** Non-learned state (BatchNorm running statistics), named as in PyTorch ("1.running_mean"). */
  buffers(): StateTensor[] {
    const out: StateTensor[] = [];
    this.layers.forEach((layer, i) => {
      for (const b of layer.buffers()) out.push({ ...b, name: `${i}.${b.name}` });
    });
    return out;
  }

  /** Name → tensor, as PyTorch's model.state_dict(): each layer's parameters, then its buffers. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.layers.forEach((layer, i) => {
      for (const p of layer.params()) out.set(`${i}.${p.name}`, p.value);
      for (const b of layer.buffers()) out.set(`${i}.${b.name}`, b.value);
    });
    return out;
  }

  /**
   * Copy weights in; every name must exist with the same shape, and none may be missing or extra.
   * Everything is checked before anything is copied, so a failed load leaves the model unchanged.
   */
  loadStateDict(tensors: Map<string, Tensor>, role = 'weights'): void {
    const params: { name: string; value: Tensor }[] = [...this.stateDict()].map(([name, value]) => ({ name, value }));
    for (const p of params) {
      const t = tensors.get(p.name);
      if (!t) {
        throw new NablaError({
          where: role, expected: `a tensor named "${p.name}" ${shapeToString(p.value.shape)}`, found: 'none',
          hint: 'the file was saved from a different architecture',
        });
      }
      if (!sameShape(t.shape, p.value.shape)) {
        throw new NablaError({
          where: role, expected: `"${p.name}" of shape ${shapeToString(p.value.shape)}`,
          found: shapeToString(t.shape), hint: 'the weights do not match the architecture',
        });
      }
    }
    const known = new Set(params.map((p) => p.name));
    const extra = [...tensors.keys()].filter((k) => !known.has(k));
    if (extra.length > 0) {
      throw new NablaError({
        where: role, expected: `only the tensors ${listSome([...known], 8)}`, found: `also ${listSome(extra)}`,
        hint: 'the weights do not match the architecture',
      });
    }
    for (const p of params) p.value.data.set(tensors.get(p.name)!.data);
  }

  /** Forward pass through every layer. x: (N, ...inputShape). */
  forward(x: Tensor, training = false): Tensor {
    const expected = [x.shape[0], ...this.inputShape];
    if (!sameShape(x.shape, expected)) {
      throw new NablaError({
        where: 'model input', expected: `shape ${shapeToString(['N', ...this.inputShape])}`,
        found: shapeToString(x.shape),
      });
    }
    let a = x;
    // Each layer's output is kept (references only) for diagnostics after a non-finite loss.
    this.acts.length = 0;
    for (let i = 0; i < this.layers.length; i++) {
      // A layer may take the next layer's forward into its own (Layer.forwardThrough): its output
      // is then the next layer's too.
      const through = i + 1 < this.layers.length && this.layers[i].forwardThrough(this.layers[i + 1]);
      this.acts.push((a = this.layers[i].forward(a, training)));
      if (through) this.acts.push(a), i++;
    }
    return a;
  }

  /**
   * Backward pass from dy = ∂C/∂output; adds into every parameter gradient. Returns ∂C/∂input, or
   * NO_GRAD when the first layer computes none (its `needsInputGrad` is off, as in training).
   */
  backward(dy: Tensor): Tensor {
    let d = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      // The layer before may take this layer's backward into its own (Layer.backwardThrough).
      if (i > 0 && this.layers[i - 1].backwardThrough(this.layers[i])) continue;
      d = this.layers[i].backward(d);
      if (d === NO_GRAD) break;
    }
    return d;
  }

  /**
   * One step of the notes' loop on one batch: Forward, Backward, (clip,) Update.
   * Returns the batch's mean loss and how many samples it got right. When the loss (or, with
   * `gradNorm`/`clipNorm`, a gradient) is not finite, the update is skipped and `nonFinite` names
   * the first layer where it appeared.
   */
  trainStep(
    x: Tensor, y: Tensor, loss: Loss | LossName, optimizer: Optimizer, options: StepOptions = {},
  ): StepResult {
    const lossFn = lossByName(loss);
    const n = x.shape[0];
    const k = shapeSize(this.outputShape);
    // Dense weight gradients are written by backward rather than cleared here and added to.
    optimizer.zeroGradLazily();
    const out = this.forward(x, true);
    const dy = this.dyBuf.get(this.backend, n, this.outputShape);
    const value = lossFn.compute(this.backend, dy.data, out.data, y.data, n, k);
    const counts: { correct: number; absError?: number; squaredError?: number } = { correct: 0 };
    if ((options.task ?? inferTask(lossFn, k)) === 'classification') {
      counts.correct = countCorrect(out.data, y.data, n, k, decisionThreshold(this, lossFn));
    } else {
      let abs = 0;
      let sq = 0;
      for (let i = 0; i < n * k; i++) {
        const e = out.data[i] - y.data[i];
        abs += Math.abs(e);
        sq += e * e;
      }
      counts.absError = abs;
      counts.squaredError = sq;
    }
    // A non-finite loss or gradient skips the update: the weights stay as they were.
    if (!Number.isFinite(value)) {
      optimizer.finishZeroGrad();
      return { loss: value, ...counts, nonFinite: diagnoseForward(this.layers, this.acts, x, value) };
    }
    try {
      this.backward(dy);
    } finally {
      optimizer.finishZeroGrad();
    }
    let gradNorm: number | undefined;
    const fused = options.fuseGradNorm && options.gradNorm && options.clipNorm === undefined && optimizer.backend === this.backend
      ? optimizer.stepWithGradSumOfSquares() : undefined;
    if (fused !== undefined) {
      gradNorm = Math.sqrt(fused);
      if (!Number.isFinite(gradNorm)) {
        return { loss: value, ...counts, gradNorm, nonFinite: { ...diagnoseGradients(this.layers), expected: 'finite gradients' } };
      }
      return { loss: value, ...counts, gradNorm };
    }
    if (options.clipNorm !== undefined || options.gradNorm) {
      gradNorm = Math.sqrt(gradSumOfSquares(optimizer.params, this.backend));
      if (!Number.isFinite(gradNorm)) {
        return { loss: value, ...counts, gradNorm, nonFinite: { ...diagnoseGradients(this.layers), expected: 'finite gradients' } };
      }
      if (options.clipNorm !== undefined) clipGradNorm(optimizer.params, options.clipNorm, gradNorm);
    }
    optimizer.step();
    return { loss: value, ...counts, gradNorm };
  }

  /** Where the current (or last) fit stands: what a checkpoint stores to resume it. */
  trainingState(): FitState {
    return trainingState(this);
  }

  /** Train for `epochs` passes over the data; returns the per-epoch history (see train/fit.ts). */
  fit(data: Samples, options: FitOptions): History {
    return fit(this, data, options);
  }

  /** fit, giving the event loop a turn every `yieldMs` ms between batches (see train/fit.ts). */
  fitAsync(data: Samples, options: FitOptions, yieldMs = 50): Promise<History> {
    return fitAsync(this, data, options, yieldMs);
  }

  /** The training loop, one batch per iteration: fit and fitAsync drive it. */
  fitSteps(data: Samples, options: FitOptions): Generator<BatchLog, History, undefined> {
    return fitSteps(this, data, options);
  }

  /**
   * Loss and the task's metrics over a data set (inference mode): accuracy, confusion matrix and
   * per-class accuracy for a classifier, MAE, RMSE and R² for regression (see train/metrics.ts).
   * Pass `task` (or loss 'ce'/'bce'/'huber') to fix the result's type; else it is inferred from the loss and the data.
   */
  evaluate(data: Samples, options: ClassifierEvaluateOptions): ClassificationEvaluation;
  evaluate(data: Samples, options: RegressionEvaluateOptions): RegressionEvaluation;
  evaluate(data: Samples, options: EvaluateOptions): Evaluation;
  evaluate(data: Samples, options: EvaluateOptions): Evaluation {
    return evaluate(this, data, options);
  }

  /**
   * What the model's outputs are, from its last layer: 'probabilities' (ends in Softmax),
   * 'scores' (units in (0, 1), ends in Sigmoid), 'activations' (another nonlinearity) or 'logits'.
   */
  get outputKind(): 'logits' | 'probabilities' | 'scores' | 'activations' {
    return findLayerKind(this.layers[this.layers.length - 1].type)?.output ?? 'logits';
  }

  /**
   * Rows [start, start + n) of x as a tensor in the backend's memory: a copy (one batch, cheap
   * next to the forward pass) that lets every kernel of the first layer run in place.
   */
  inputBatch(x: Float32Array, start: number, n: number): Tensor {
    const features = shapeSize(this.inputShape);
    const batch = this.inputBuf.get(this.backend, n, this.inputShape);
    batch.data.set(x.subarray(start * features, (start + n) * features));
    return batch;
  }

  /** Network outputs for `count` samples, (count × K). */
  predict(x: Float32Array, count: number, batchSize = 256): Float32Array {
    const features = shapeSize(this.inputShape);
    const k = shapeSize(this.outputShape);
    if (x.length !== count * features) {
      throw new NablaError({ where: 'predict', expected: `${count} × ${features} input values`, found: String(x.length) });
    }
    const out = new Float32Array(count * k);
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      out.set(this.forward(this.inputBatch(x, start, n), false).data, start * k);
    }
    return out;
  }

  /**
   * Class probabilities, each row summing to 1: the softmax of the outputs when they are logits
   * (the model does not end in Softmax or Sigmoid); for a Sigmoid output (the notes' MSE network)
   * the unit activations divided by their sum, a score rather than a calibrated probability.
   * A single-output model is read as a binary classifier: its rows are [1 − p, p] (count × 2),
   * p = σ(z) of its logit z (trained with 'bce'), or its Sigmoid output as it is.
   */
  predictProbabilities(x: Float32Array, count: number): Float32Array {
    const out = this.predict(x, count);
    const last = this.outputKind;
    const k = shapeSize(this.outputShape);
    if (k === 1) {
      const probs = new Float32Array(count * 2);
      for (let r = 0; r < count; r++) {
        const z = out[r];
        const p = last === 'logits' ? (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z))) : Math.min(1, Math.max(0, z));
        probs[2 * r] = 1 - p;
        probs[2 * r + 1] = p;
      }
      return probs;
    }
    if (last === 'probabilities') return out;
    if (last !== 'scores') {
      this.backend.softmax(out, out, count, k);
      return out;
    }
    for (let r = 0; r < count; r++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += out[r * k + j];
      for (let j = 0; j < k; j++) out[r * k + j] = sum > 0 ? out[r * k + j] / sum : 1 / k;
    }
    return out;
  }

  /** A Keras-style table: layer, output shape, parameter count. */
  summary(): string {
    const rows: [string, string, string][] = [['Layer', 'Output shape', 'Params']];
    rows.push(['input', shapeToString(['N', ...this.inputShape]), '0']);
    let total = 0;
    this.layers.forEach((l, i) => {
      const n = l.params().reduce((s, p) => s + p.value.size, 0);
      total += n;
      const detail = findLayerKind(l.type)?.summary?.(builtLayer(l)) ?? '';
      rows.push([`${i} ${l.type}${detail ? ' ' + detail : ''}`, shapeToString(['N', ...l.outputShape]), n.toLocaleString('en-US')]);
    });
    const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: [string, string, string]) => `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padStart(widths[2])}`;
    const rule = '─'.repeat(widths[0] + widths[1] + widths[2] + 4);
    return [line(rows[0]), rule, ...rows.slice(1).map(line), rule, `Total params: ${total.toLocaleString('en-US')}`].join('\n');
  }
}

