/**
 * Sequential: layers applied one after the other, and the notes' training loop around them:
 * Forward → Backward → Update, batch after batch, epoch after epoch.
 *
 * Data: x is (count × features) and y (count × K) targets, row-major Float32Arrays; one row per
 * sample. Classification accuracy compares argmax of the output with argmax of the target.
 */
import type { Backend } from '../backend/backend.ts';
import { BatchIterator, type Samples } from '../data/batches.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import { TensorBuffer, NO_GRAD, type Layer, type LayerConfig, type Param, type StateTensor } from '../layers/layer.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Rng } from '../random.ts';
import { Tensor, sameShape, shapeSize, shapeToString, type Shape } from '../tensor.ts';
import { builtLayer, findLayerKind, layerFromConfig } from '../layers/registry.ts';
import {
  TrainingMonitor, clipGradNorm, diagnoseForward, diagnoseGradients, gradSumOfSquares,
  type NonFinite, type TrainingWarning,
} from './diagnostics.ts';

export type { Samples };

/**
 * What fit records after each epoch (losses and accuracies are means over the epoch).
 *
 * @example
 * const last: EpochLog = history.epochs[history.epochs.length - 1];
 * console.log(last.loss, last.valAccuracy);
 */
export interface EpochLog {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
  /** Learning rate at the start of the epoch. */
  lr: number;
}

/**
 * fit's result: one EpochLog per epoch.
 *
 * @example
 * const history: History = model.fit(train, { optimizer, loss: 'ce', epochs: 3 });
 */
export interface History {
  epochs: EpochLog[];
}

/**
 * What a callback's onBatchEnd receives.
 *
 * @example
 * const log: Callback = { onBatchEnd: (b: BatchLog) => console.log(`${b.batch}/${b.batches}: ${b.loss}`) };
 */
export interface BatchLog {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
}

/**
 * What a callback's onTrainBegin is told.
 *
 * @example
 * const cb: Callback = { onTrainBegin: (info) => console.log(`${info.batches} batches, from step ${info.step}`) };
 */
export interface TrainBeginInfo {
  epochs: number;
  batches: number;
  samples: number;
  /** Epochs already done (non-zero when resuming from a checkpoint). */
  initialEpoch: number;
  /** Optimiser steps already taken (initialEpoch · batches + batches done in a partial epoch). */
  step: number;
  /** The history so far (a copy of a resumed run's, else empty). */
  history: History;
}

/**
 * Hooks into fit. Set `model.stopTraining = true` from a callback to stop after this epoch, or
 * `model.stopAfterBatch = true` to stop after the current batch (fit then returns early and
 * `model.trainingState()` says where to resume).
 *
 * @example
 * model.fit(train, { optimizer, loss: 'ce', epochs: 20, callbacks: [{
 *   onEpochEnd: (log) => { if (log.valAccuracy! > 0.98) model.stopTraining = true; },
 * }] });
 */
export interface Callback {
  /** Once, before the first epoch (with where a resumed run starts). */
  onTrainBegin?(info: TrainBeginInfo): void;
  /** At the start of every epoch (1-based). */
  onEpochBegin?(epoch: number): void;
  /** After every batch's update. */
  onBatchEnd?(log: BatchLog): void;
  /** After every epoch, with its log (validation included). */
  onEpochEnd?(log: EpochLog): void;
  /** After the last epoch (or an early stop); not after stopAfterBatch or an error. */
  onTrainEnd?(history: History): void;
  /** Exploding gradients, dead ReLUs: something to tell the user, training goes on. */
  onWarning?(warning: TrainingWarning): void;
}

/**
 * Where a fit stands, enough to continue it bit for bit (with the weights, optimiser state and
 * model Rng, which a checkpoint stores beside it).
 *
 * @example
 * const state: FitState = model.trainingState(); // { epoch: 2, batch: 150, history, ... } after a stop
 */
export interface FitState {
  /** Epochs completed. */
  epoch: number;
  /** Batches done in epoch `epoch + 1` (0 at an epoch boundary). */
  batch: number;
  history: History;
  /** When batch > 0: the Rng state at the start of that epoch (before its shuffle), and its running sums. */
  epochRng?: number[];
  lossSum?: number;
  correct?: number;
  lr?: number;
  seconds?: number;
}

/**
 * How fit trains: optimiser, loss, epochs and the rest.
 *
 * @example
 * const options: FitOptions = { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 5, batchSize: 64, validationSplit: 0.1 };
 */
export interface FitOptions {
  optimizer: Optimizer;
  loss: Loss | LossName;
  epochs: number;
  batchSize?: number;
  /** Reshuffle the training samples every epoch (default true), with the model's seeded Rng. */
  shuffle?: boolean;
  /** Held-out samples evaluated at each epoch end. */
  validationData?: Samples;
  /** Or: take this fraction of the training samples (the last ones) as validation data. */
  validationSplit?: number;
  callbacks?: Callback[];
  /**
   * Called with each training batch's inputs (N × features, a copy gathered for this batch) and
   * N before the step, to augment them in place, e.g. ImageAugmenter.apply. Never called on
   * validation or test data.
   */
  augment?: (x: Float32Array, count: number) => void;
  /** Clip the global gradient norm to this value before every update (default: no clipping). */
  clipNorm?: number;
  /**
   * Continue a run from a checkpoint's state (restore the weights, optimiser and model Rng
   * first). The history continues and the epochs run from `resume.epoch + 1` to `epochs`.
   */
  resume?: FitState;
  /** Gradient-norm and dead-ReLU warnings through Callback.onWarning (default true). */
  monitor?: boolean;
}

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
  /** Samples whose argmax output matched the target. */
  correct: number;
  /** Global gradient norm before clipping, when computed. */
  gradNorm?: number;
  /** Set when the loss or a gradient was NaN/Infinity: the update was skipped, and this says where. */
  nonFinite?: NonFinite & { expected?: string };
}

/**
 * evaluate's result.
 *
 * @example
 * const { accuracy, confusion }: Evaluation = model.evaluate(test, { loss: 'ce' });
 */
export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
  /** confusion[true][predicted] = number of samples. */
  confusion: number[][];
  /** Accuracy per true class (NaN for a class with no samples). */
  perClass: number[];
}

/**
 * Thrown when the loss, an activation or a gradient becomes NaN or ±Infinity, at the batch where
 * it first appears and naming the layer when one is to blame; the model holds the last good weights.
 *
 * @example
 * try { model.fit(train, { optimizer, loss: 'ce', epochs: 5 }); }
 * catch (e) { if (e instanceof DivergenceError) console.log(`diverged at epoch ${e.epoch}`); }
 */
export class DivergenceError extends NablaError {
  readonly epoch: number;
  readonly batch: number;
  readonly history: History;
  /** The layer named in the message ("layer 2 (Dense)"), when one is to blame. */
  readonly layer: string | undefined;

  constructor(epoch: number, batch: number, loss: number, history: History, found = String(loss), detail?: NonFinite & { expected?: string }) {
    super({
      where: `training, epoch ${epoch} batch ${batch}${detail?.layer ? `, ${detail.layer}` : ''}`,
      expected: detail?.expected ?? 'a finite loss',
      found: detail?.found ?? found,
      hint: `${detail?.hint ?? 'the learning rate is probably too high; try a smaller one'} (weights restored to the end of the last good epoch)`,
    });
    this.epoch = epoch;
    this.batch = batch;
    this.history = history;
    this.layer = detail?.layer;
  }
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
  /** Each layer's output for the last forward pass of trainStep (views of the layers' buffers). */
  private readonly acts: Tensor[] = [];
  private state: FitState = { epoch: 0, batch: 0, history: { epochs: [] } };

  /**
   * @example
   * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
   */
  constructor(layers: Layer[], options: SequentialOptions) {
    if (layers.length === 0) {
      throw new NablaError({ where: 'Sequential', expected: 'at least one layer', found: 'none' });
    }
    this.layers = layers;
    this.inputShape = [...options.inputShape];
    this.backend = options.backend ?? new JsBackend();
    this.rng = new Rng(options.seed ?? 0);
    let shape: Shape = this.inputShape;
    layers.forEach((layer, index) => {
      shape = layer.build(shape, { backend: this.backend, rng: this.rng, index });
    });
    this.outputShape = shape;
    // Nobody needs ∂C/∂input: the first layer may skip that product.
    layers[0].needsInputGrad = false;
  }

  /** Rebuild a model from its JSON architecture (as stored in model files). */
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

  /** Every learnable tensor, named as PyTorch's nn.Sequential state dict names it ("0.weight"). */
  parameters(): Param[] {
    const out: Param[] = [];
    this.layers.forEach((layer, i) => {
      for (const p of layer.params()) out.push({ name: `${i}.${p.name}`, value: p.value, grad: p.grad });
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
        where: role, expected: `only the tensors ${[...known].join(', ')}`, found: `also ${extra.join(', ')}`,
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
    for (const layer of this.layers) this.acts.push((a = layer.forward(a, training)));
    return a;
  }

  /** Backward pass from dy = ∂C/∂output; adds into every parameter gradient. */
  backward(dy: Tensor): void {
    let d = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      d = this.layers[i].backward(d);
      if (d === NO_GRAD) break;
    }
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
    optimizer.zeroGrad();
    const out = this.forward(x, true);
    const dy = this.dyBuf.get(this.backend, n, this.outputShape);
    const value = lossFn.compute(this.backend, dy.data, out.data, y.data, n, k);
    const correct = countCorrect(out.data, y.data, n, k);
    // A non-finite loss or gradient skips the update: the weights stay as they were.
    if (!Number.isFinite(value)) return { loss: value, correct, nonFinite: diagnoseForward(this.layers, this.acts, x, value) };
    this.backward(dy);
    let gradNorm: number | undefined;
    if (options.clipNorm !== undefined || options.gradNorm) {
      gradNorm = Math.sqrt(gradSumOfSquares(optimizer.params, this.backend));
      if (!Number.isFinite(gradNorm)) {
        return { loss: value, correct, gradNorm, nonFinite: { ...diagnoseGradients(this.layers), expected: 'finite gradients' } };
      }
      if (options.clipNorm !== undefined) clipGradNorm(optimizer.params, options.clipNorm, gradNorm);
    }
    optimizer.step();
    return { loss: value, correct, gradNorm };
  }

  /** Where the current (or last) fit stands: what a checkpoint stores to resume it. */
  trainingState(): FitState {
    return structuredClone(this.state);
  }

  /** Train for `epochs` passes over the data; returns the per-epoch history. */
  fit(data: Samples, options: FitOptions): History {
    const steps = this.fitSteps(data, options);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * fit, giving the event loop a turn every `yieldMs` milliseconds (between batches), so that a
   * signal handler (Ctrl-C → `model.stopAfterBatch = true`), a timer or a UI can run. Same batches,
   * same numbers as fit.
   *
   * @example
   * stopButton.onclick = () => (model.stopAfterBatch = true); // or a Ctrl-C handler in Node
   * const history = await model.fitAsync(train, { optimizer, loss: 'ce', epochs: 8 });
   */
  async fitAsync(data: Samples, options: FitOptions, yieldMs = 50): Promise<History> {
    const steps = this.fitSteps(data, options);
    let last = performance.now();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() - last >= yieldMs) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        last = performance.now();
      }
    }
  }

  /** The training loop, one batch per iteration: fit and fitAsync drive it. */
  *fitSteps(data: Samples, options: FitOptions): Generator<BatchLog, History, undefined> {
    const loss = lossByName(options.loss);
    const batchSize = options.batchSize ?? 32;
    checkPositiveInt('fit', 'batchSize', batchSize);
    if (!Number.isInteger(options.epochs) || options.epochs < 0) {
      throw new NablaError({ where: 'fit', expected: 'epochs to be an integer ≥ 0', found: String(options.epochs) });
    }
    if (options.clipNorm !== undefined && !(options.clipNorm > 0 && Number.isFinite(options.clipNorm))) {
      throw new NablaError({ where: 'fit', expected: 'clipNorm > 0', found: String(options.clipNorm) });
    }
    const features = shapeSize(this.inputShape);
    const k = shapeSize(this.outputShape);
    let train = data;
    let val = options.validationData;
    if (options.validationSplit !== undefined && options.validationSplit > 0) {
      if (!(options.validationSplit < 1)) {
        throw new NablaError({ where: 'fit', expected: 'validationSplit in [0, 1)', found: String(options.validationSplit) });
      }
      const nVal = Math.round(data.count * options.validationSplit);
      const nTrain = data.count - nVal;
      train = { x: data.x.subarray(0, nTrain * features), y: data.y.subarray(0, nTrain * k), count: nTrain };
      val = { x: data.x.subarray(nTrain * features), y: data.y.subarray(nTrain * k), count: nVal };
    }
    checkSamples(train, features, k, 'training data');
    if (val) checkSamples(val, features, k, 'validation data');

    const resume = options.resume;
    const history: History = resume ? structuredClone(resume.history) : { epochs: [] };
    const callbacks = options.callbacks ?? [];
    const batchesIt = new BatchIterator(train, {
      batchSize, shuffle: options.shuffle ?? true, rng: this.rng, backend: this.backend,
    });
    const batches = batchesIt.batches;
    if (resume && !(Number.isInteger(resume.epoch) && resume.epoch >= 0 && Number.isInteger(resume.batch) &&
      resume.batch >= 0 && resume.batch < batches && (resume.batch === 0 || resume.epochRng !== undefined))) {
      throw new NablaError({
        where: 'fit resume', expected: `a state at an epoch ≥ 0 and a batch in 0..${batches - 1}`,
        found: `epoch ${resume.epoch}, batch ${resume.batch}`, hint: 'the checkpoint was made with another batch size or data set',
      });
    }
    const params = this.parameters();
    const monitor = options.monitor ?? true ? new TrainingMonitor() : undefined;
    const stepOptions: StepOptions = { clipNorm: options.clipNorm, gradNorm: monitor !== undefined };
    const warn = (w: TrainingWarning): void => {
      for (const c of callbacks) c.onWarning?.(w);
    };
    // The last good weights: restored if the loss diverges.
    const snapshot = params.map((p) => p.value.data.slice());
    const restore = (): void => params.forEach((p, i) => p.value.data.set(snapshot[i]));
    this.stopTraining = false;
    this.stopAfterBatch = false;
    const initialEpoch = resume?.epoch ?? 0;
    this.state = { epoch: initialEpoch, batch: 0, history };
    for (const c of callbacks) {
      c.onTrainBegin?.({
        epochs: options.epochs, batches, samples: train.count, initialEpoch,
        step: initialEpoch * batches + (resume?.batch ?? 0), history,
      });
    }

    for (let epoch = initialEpoch + 1; epoch <= options.epochs && !this.stopTraining; epoch++) {
      // A run resumed mid-epoch replays that epoch's shuffle from the Rng state it started with.
      const partial = epoch === initialEpoch + 1 && resume !== undefined && resume.batch > 0 ? resume : undefined;
      // NOTE: the model Rng (restored from the checkpoint) stands where the interrupted run left it,
      // after its done batches' dropout masks and augmentations; the shuffle is replayed from the
      // epoch's start state, then the Rng is moved back to that later position.
      const rngNow = partial ? this.rng.getState() : undefined;
      if (partial) this.rng.setState(partial.epochRng!);
      const epochRng = this.rng.getState();
      const t0 = performance.now() - (partial?.seconds ?? 0) * 1000;
      for (const c of callbacks) c.onEpochBegin?.(epoch);
      const lr = partial?.lr ?? options.optimizer.lr;
      let lossSum = partial?.lossSum ?? 0;
      let correct = partial?.correct ?? 0;
      let b = partial?.batch ?? 0;
      for (const batch of batchesIt.epoch(b, () => rngNow && this.rng.setState(rngNow))) {
        const n = batch.size;
        b++;
        options.augment?.(batch.x, n);
        const xt = new Tensor([n, ...this.inputShape], batch.x);
        const yt = new Tensor([n, k], batch.y);
        const step = this.trainStep(xt, yt, loss, options.optimizer, stepOptions);
        if (step.nonFinite) {
          restore();
          throw new DivergenceError(epoch, b, step.loss, history, String(step.loss), step.nonFinite);
        }
        if (monitor && step.gradNorm !== undefined) {
          const w = monitor.onGradNorm(step.gradNorm, epoch, b, options.clipNorm);
          if (w) warn(w);
        }
        lossSum += step.loss * n;
        correct += step.correct;
        const log: BatchLog = { epoch, batch: b, batches, loss: step.loss };
        for (const c of callbacks) c.onBatchEnd?.(log);
        if (this.stopAfterBatch && b < batches) {
          this.state = {
            epoch: epoch - 1, batch: b, history, epochRng, lossSum, correct, lr, seconds: (performance.now() - t0) / 1000,
          };
          return history;
        }
        yield log;
      }
      // NOTE: a batch's loss is measured before its update, so the last update of an epoch can
      // overflow the weights to ±Infinity or NaN while every loss was finite. Such weights must
      // never become "the last good epoch".
      if (!params.every((p) => allFinite(p.value.data))) {
        restore();
        throw new DivergenceError(epoch, b, NaN, history, 'non-finite weights after this batch\'s update');
      }
      if (monitor) for (const w of monitor.onEpochEnd(this.layers, this.acts, epoch, b)) warn(w);
      const log: EpochLog = {
        epoch,
        loss: lossSum / train.count,
        accuracy: correct / train.count,
        seconds: 0,
        lr,
      };
      if (val && val.count > 0) {
        const ev = this.evaluate(val, { loss, batchSize: Math.max(batchSize, 256) });
        log.valLoss = ev.loss;
        log.valAccuracy = ev.accuracy;
      }
      log.seconds = (performance.now() - t0) / 1000;
      history.epochs.push(log);
      params.forEach((p, i) => snapshot[i].set(p.value.data));
      this.state = { epoch, batch: 0, history };
      for (const c of callbacks) c.onEpochEnd?.(log);
      // Stopping at an epoch end needs no partial state: the checkpoint written there resumes it.
      if (this.stopAfterBatch) return history;
    }
    for (const c of callbacks) c.onTrainEnd?.(history);
    return history;
  }

  /** Loss, accuracy and confusion matrix over a data set (inference mode). */
  evaluate(data: Samples, options: { loss: Loss | LossName; batchSize?: number }): Evaluation {
    const loss = lossByName(options.loss);
    const features = shapeSize(this.inputShape);
    const k = shapeSize(this.outputShape);
    checkSamples(data, features, k, 'evaluation data');
    const batchSize = options.batchSize ?? 256;
    const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    const dy = this.backend.allocate(batchSize * k);
    let lossSum = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const n = Math.min(batchSize, data.count - start);
      const x = this.inputBatch(data.x, start, n);
      const out = this.forward(x, false);
      const y = data.y.subarray(start * k, (start + n) * k);
      lossSum += loss.compute(this.backend, dy, out.data, y, n, k) * n;
      for (let r = 0; r < n; r++) {
        confusion[argmax(y, r * k, k)][argmax(out.data, r * k, k)]++;
      }
    }
    let correct = 0;
    const perClass = confusion.map((row, c) => {
      correct += row[c];
      const total = row.reduce((s, v) => s + v, 0);
      return total === 0 ? NaN : row[c] / total;
    });
    return { loss: lossSum / data.count, accuracy: correct / data.count, count: data.count, confusion, perClass };
  }

  /**
   * Rows [start, start + n) of x as a tensor in the backend's memory: a copy (one batch, cheap
   * next to the forward pass) that lets every kernel of the first layer run in place.
   */
  private inputBatch(x: Float32Array, start: number, n: number): Tensor {
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
   */
  predictProbabilities(x: Float32Array, count: number): Float32Array {
    const out = this.predict(x, count);
    const last = findLayerKind(this.layers[this.layers.length - 1].type)?.output;
    const k = shapeSize(this.outputShape);
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

/**
 * Index of the largest value in v[offset, offset + k).
 *
 * @example
 * argmax(new Float32Array([0.1, 0.7, 0.2]), 0, 3); // 1
 */
export function argmax(v: Float32Array, offset: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[offset + j] > v[offset + best]) best = j;
  return best;
}

function countCorrect(out: Float32Array, y: Float32Array, n: number, k: number): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (argmax(out, r * k, k) === argmax(y, r * k, k)) c++;
  return c;
}

function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}

function checkPositiveInt(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new NablaError({ where, expected: `${name} to be a positive integer`, found: String(v) });
  }
}

function checkSamples(s: Samples, features: number, k: number, role: string): void {
  if (s.x.length !== s.count * features || s.y.length !== s.count * k) {
    throw new NablaError({
      where: role,
      expected: `${s.count} samples of ${features} features and ${k} targets`,
      found: `${s.x.length} input values and ${s.y.length} target values`,
      hint: 'the data does not match the model input/output shape',
    });
  }
}
