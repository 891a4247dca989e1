/**
 * The training loop, apart from the model it trains: the notes' Forward → Backward → Update,
 * batch after batch, epoch after epoch, with a validation split, callbacks, divergence snapshots
 * and a state that resumes a stopped run bit for bit (the Rng replay). Sequential.fit, the CLI,
 * the search's trials and the playground's Worker all train through `fitSteps`.
 */
import type { Samples } from '../data/batches.ts';
import { BatchIterator } from '../data/batches.ts';
import { NablaError } from '../errors.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import { TrainingMonitor, chanceAccuracy, type NonFinite, type TrainingWarning } from './diagnostics.ts';
import type { Sequential, StepOptions } from '../model/sequential.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Tensor, firstNonFinite, shapeSize } from '../tensor.ts';
import { checkSamples, evaluate, resolveTask, type Task } from './metrics.ts';

/**
 * What fit records after each epoch (training figures are means over the epoch's batches, each
 * measured before its update; validation figures are evaluate's on the validation data). A
 * classifier's log has accuracy (and valAccuracy), a regression model's mae and rmse (and valMae,
 * valRmse, valR2) instead.
 *
 * @example
 * const last: EpochLog = history.epochs[history.epochs.length - 1];
 * console.log(last.loss, last.valAccuracy ?? last.valR2);
 */
export interface EpochLog {
  epoch: number;
  loss: number;
  /** Classification: the fraction of training samples classified right. */
  accuracy?: number;
  /** Regression: mean |output − target| over the training outputs. */
  mae?: number;
  /** Regression: root of the mean (output − target)² over the training outputs. */
  rmse?: number;
  valLoss?: number;
  valAccuracy?: number;
  valMae?: number;
  valRmse?: number;
  /** Regression: R² of the validation data (see RegressionEvaluation). */
  valR2?: number;
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
  /** What this run measures: accuracy ('classification') or MAE, RMSE and R² ('regression'). */
  task: Task;
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
  /** Regression's running sums: Σ|e| and Σe² over the epoch's outputs so far. */
  absError?: number;
  squaredError?: number;
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
  /**
   * What to measure: 'classification' (accuracy) or 'regression' (MAE, RMSE, R²). Default
   * inferTask(loss, outputs, training targets): 'ce'/'bce' classify, 'huber' regresses, 'mse'
   * regresses unless the targets are one-hot rows (see train/metrics.ts).
   */
  task?: Task;
  /**
   * Warnings through Callback.onWarning (default true): exploding gradients, dead ReLUs, a loss
   * that grows far above where it started, and a run that ends at about chance accuracy.
   */
  monitor?: boolean;
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

/** Where each model's current (or last) fit stands: what trainingState() returns. */
const STATES = new WeakMap<Sequential, FitState>();

/**
 * Where the model's current (or last) fit stands: what a checkpoint stores to resume it.
 *
 * @example
 * const state = trainingState(model); // { epoch: 2, batch: 150, history, ... } after a stop
 */
export function trainingState(model: Sequential): FitState {
  return structuredClone(STATES.get(model) ?? { epoch: 0, batch: 0, history: { epochs: [] } });
}

/**
 * Train for `epochs` passes over the data; returns the per-epoch history (model.fit calls this).
 * @example const history = fit(model, train, { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 5 });
 */
export function fit(model: Sequential, data: Samples, options: FitOptions): History {
  const steps = fitSteps(model, data, options);
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
 * const history = await fitAsync(model, train, { optimizer, loss: 'ce', epochs: 8 });
 */
export async function fitAsync(model: Sequential, data: Samples, options: FitOptions, yieldMs = 50): Promise<History> {
  const steps = fitSteps(model, data, options);
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

/**
 * The training loop, one batch per iteration: fit and fitAsync drive it.
 * @example for (const log of fitSteps(model, train, options)) if (log.batch % 100 === 0) console.log(log.loss);
 */
export function* fitSteps(model: Sequential, data: Samples, options: FitOptions): Generator<BatchLog, History, undefined> {
  const loss = lossByName(options.loss);
  const batchSize = options.batchSize ?? 32;
  for (const [name, v, min] of [['batchSize', batchSize, 1], ['epochs', options.epochs, 0]] as const) {
    if (!Number.isInteger(v) || v < min) {
      throw new NablaError({ where: 'fit', expected: `${name} to be ${min ? 'a positive integer' : 'an integer ≥ 0'}`, found: String(v) });
    }
  }
  if (options.clipNorm !== undefined && !(options.clipNorm > 0 && Number.isFinite(options.clipNorm))) {
    throw new NablaError({ where: 'fit', expected: 'clipNorm > 0', found: String(options.clipNorm) });
  }
  const features = shapeSize(model.inputShape);
  const k = shapeSize(model.outputShape);
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
  checkSamples(train, features, k, 'training data', 1);
  if (val) checkSamples(val, features, k, 'validation data');
  const task = resolveTask(options.task, loss, k, data.y, 'fit');

  const resume = options.resume;
  const history: History = resume ? structuredClone(resume.history) : { epochs: [] };
  const callbacks = options.callbacks ?? [];
  const batchesIt = new BatchIterator(train, {
    batchSize, shuffle: options.shuffle ?? true, rng: model.rng, backend: model.backend,
  });
  const batches = batchesIt.batches;
  if (resume && !(Number.isInteger(resume.epoch) && resume.epoch >= 0 && Number.isInteger(resume.batch) &&
    resume.batch >= 0 && resume.batch < batches && (resume.batch === 0 || resume.epochRng !== undefined))) {
    throw new NablaError({
      where: 'fit resume', expected: `a state at an epoch ≥ 0 and a batch in 0..${batches - 1}`,
      found: `epoch ${resume.epoch}, batch ${resume.batch}`, hint: 'the checkpoint was made with another batch size or data set',
    });
  }
  const monitor = options.monitor ?? true ? new TrainingMonitor() : undefined;
  // fit restores the last good weights after a non-finite step, so the gradient norm may come
  // from the update's own pass (plain SGD: one read of the gradients instead of two).
  const stepOptions: StepOptions = { clipNorm: options.clipNorm, gradNorm: monitor !== undefined, fuseGradNorm: true, task };
  const warn = (w: TrainingWarning): void => {
    for (const c of callbacks) c.onWarning?.(w);
  };
  // The last good state: restored if the loss diverges. NOTE: the whole state dict, parameters AND
  // buffers: batch norm updates its running statistics in every training forward pass, so the
  // batches before the divergence is noticed have already pushed them to ±Infinity or 1e19; weights
  // restored beside such statistics make a model that scores at chance.
  const state = [...model.stateDict().values()].map((t) => t.data);
  const snapshot = state.map((d) => d.slice());
  const restore = (): void => state.forEach((d, i) => d.set(snapshot[i]));
  model.stopTraining = false;
  model.stopAfterBatch = false;
  const initialEpoch = resume?.epoch ?? 0;
  STATES.set(model, { epoch: initialEpoch, batch: 0, history });
  for (const c of callbacks) {
    c.onTrainBegin?.({
      epochs: options.epochs, batches, samples: train.count, initialEpoch,
      step: initialEpoch * batches + (resume?.batch ?? 0), history, task,
    });
  }

  for (let epoch = initialEpoch + 1; epoch <= options.epochs && !model.stopTraining; epoch++) {
    // A run resumed mid-epoch replays that epoch's shuffle from the Rng state it started with.
    const partial = epoch === initialEpoch + 1 && resume !== undefined && resume.batch > 0 ? resume : undefined;
    // NOTE: the model Rng (restored from the checkpoint) stands where the interrupted run left it,
    // after its done batches' dropout masks and augmentations; the shuffle is replayed from the
    // epoch's start state, then the Rng is moved back to that later position.
    const rngNow = partial ? model.rng.getState() : undefined;
    if (partial) model.rng.setState(partial.epochRng!);
    const epochRng = model.rng.getState();
    const t0 = performance.now() - (partial?.seconds ?? 0) * 1000;
    for (const c of callbacks) c.onEpochBegin?.(epoch);
    const lr = partial?.lr ?? options.optimizer.lr;
    let lossSum = partial?.lossSum ?? 0;
    let correct = partial?.correct ?? 0;
    let absError = partial?.absError ?? 0;
    let squaredError = partial?.squaredError ?? 0;
    let b = partial?.batch ?? 0;
    for (const batch of batchesIt.epoch(b, () => rngNow && model.rng.setState(rngNow))) {
      const n = batch.size;
      b++;
      options.augment?.(batch.x, n);
      const xt = new Tensor([n, ...model.inputShape], batch.x);
      const yt = new Tensor([n, k], batch.y);
      const step = model.trainStep(xt, yt, loss, options.optimizer, stepOptions);
      if (step.nonFinite) {
        restore();
        throw new DivergenceError(epoch, b, step.loss, history, String(step.loss), step.nonFinite);
      }
      monitor?.onLoss(step.loss);
      if (monitor && step.gradNorm !== undefined) {
        const w = monitor.onGradNorm(step.gradNorm, epoch, b, options.clipNorm);
        if (w) warn(w);
      }
      lossSum += step.loss * n;
      correct += step.correct;
      absError += step.absError ?? 0;
      squaredError += step.squaredError ?? 0;
      const log: BatchLog = { epoch, batch: b, batches, loss: step.loss };
      for (const c of callbacks) c.onBatchEnd?.(log);
      if (model.stopAfterBatch && b < batches) {
        STATES.set(model, {
          epoch: epoch - 1, batch: b, history, epochRng, lossSum, correct, absError, squaredError, lr, seconds: (performance.now() - t0) / 1000,
        });
        return history;
      }
      yield log;
    }
    // NOTE: a batch's loss is measured before its update, so the last update of an epoch can
    // overflow the weights to ±Infinity or NaN while every loss was finite. Such weights must
    // never become "the last good epoch".
    const bad = state.findIndex((d) => firstNonFinite(d) >= 0);
    if (bad >= 0) {
      restore();
      const name = [...model.stateDict().keys()][bad];
      throw new DivergenceError(epoch, b, NaN, history, `non-finite values in "${name}" after this batch's update`);
    }
    if (monitor) for (const w of monitor.onEpochEnd(model.layers, model.acts, epoch, b)) warn(w);
    const log = epochLog(model, { epoch, lr, task, loss, k, batchSize, val }, { loss: lossSum, correct, absError, squaredError, count: train.count });
    log.seconds = (performance.now() - t0) / 1000;
    history.epochs.push(log);
    state.forEach((d, i) => snapshot[i].set(d));
    STATES.set(model, { epoch, batch: 0, history });
    for (const c of callbacks) c.onEpochEnd?.(log);
    // After the epoch's own log, which it comments on.
    const lossWarning = monitor?.onEpochLoss(epoch, b, log.loss, log.valLoss);
    if (lossWarning) warn(lossWarning);
    // Stopping at an epoch end needs no partial state: the checkpoint written there resumes it.
    if (model.stopAfterBatch) return history;
  }
  // A run that ends where a model that learned nothing would be gets a warning too (the loss alone
  // can look calm: a saturated network at chance has a steady, finite loss).
  const last = history.epochs[history.epochs.length - 1];
  if (monitor && task === 'classification' && last?.accuracy !== undefined && last.epoch > initialEpoch) {
    const w = monitor.onTrainEnd({
      epoch: last.epoch, accuracy: last.accuracy, valAccuracy: last.valAccuracy,
      chance: chanceAccuracy(train.y, train.count, k), valChance: val && val.count > 0 ? chanceAccuracy(val.y, val.count, k) : undefined,
    }, batches);
    if (w) warn(w);
  }
  for (const c of callbacks) c.onTrainEnd?.(history);
  return history;
}

/** The running sums of one epoch's batches. */
export interface EpochSums {
  loss: number;
  correct: number;
  absError: number;
  squaredError: number;
  count: number;
}

/**
 * One epoch's log from its running sums (accuracy for a classifier, MAE and RMSE for regression),
 * with the validation scores when there is validation data; `seconds` is left for the caller.
 * Shared by fit and fitSource.
 */
export function epochLog(
  model: Sequential,
  at: { epoch: number; lr: number; task: Task; loss: Loss | LossName; k: number; batchSize: number; val?: Samples },
  sums: EpochSums,
): EpochLog {
  const { epoch, lr, task, k, val } = at;
  const m = Math.max(1, sums.count);
  const log: EpochLog = task === 'classification'
    ? { epoch, loss: sums.loss / m, accuracy: sums.correct / m, seconds: 0, lr }
    : { epoch, loss: sums.loss / m, mae: sums.absError / (m * k), rmse: Math.sqrt(sums.squaredError / (m * k)), seconds: 0, lr };
  if (val && val.count > 0) {
    const ev = evaluate(model, val, { loss: at.loss, batchSize: Math.max(at.batchSize, 256), task, role: 'validation data' });
    log.valLoss = ev.loss;
    if (ev.task === 'classification') log.valAccuracy = ev.accuracy;
    else Object.assign(log, { valMae: ev.mae, valRmse: ev.rmse, valR2: ev.r2 });
  }
  return log;
}
