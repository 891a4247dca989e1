/**
 * Training on a {@link BatchSource} (data read chunk by chunk, larger than memory): the same
 * trainStep per batch as fit, epoch after epoch, with the model's seeded Rng drawing each epoch's
 * order. fit itself takes in-memory Samples and is unchanged; this loop is the streaming twin,
 * without fit's resume, validationSplit and training monitor (pass validationData instead).
 */
import type { BatchSource } from '../data/chunked.ts';
import type { Samples } from '../data/batches.ts';
import { NablaError } from '../errors.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import type { Sequential } from '../model/sequential.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Tensor, shapeSize } from '../tensor.ts';
import { DivergenceError, epochLog, type Callback, type History } from './fit.ts';
import { resolveTask, type Task } from './metrics.ts';

/**
 * How fitSource trains.
 *
 * @example
 * const options: FitSourceOptions = { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 3, batchSize: 64 };
 */
export interface FitSourceOptions {
  optimizer: Optimizer;
  loss: Loss | LossName;
  epochs: number;
  /** Default 32. */
  batchSize?: number;
  /** Held-out samples (in memory) evaluated at each epoch end. */
  validationData?: Samples;
  /** onTrainBegin, onEpochBegin, onBatchEnd, onEpochEnd and onTrainEnd are called as fit calls them. */
  callbacks?: Callback[];
  clipNorm?: number;
  /** Give the event loop a turn every this many milliseconds (default 50). */
  yieldMs?: number;
  /**
   * 'classification' or 'regression'; inferred from the loss and the output count when absent, as
   * fit does, except that the targets are not read up front: 'mse' on several outputs classifies.
   */
  task?: Task;
}

/**
 * Train `model` on batches from `source` for `epochs` epochs; each epoch asks the source for a
 * fresh order drawn from model.rng (so a seeded model trains reproducibly). Stops after the
 * current epoch when `model.stopTraining` is set, after the current batch on `model.stopAfterBatch`.
 * Throws a DivergenceError when the loss or a gradient becomes NaN or ±Infinity.
 *
 * @example
 * // openCsvChunks and openNpyChunks come with the Node entry, nabla/node
 * const source = openCsvChunks('big.csv', { chunkRows: 4096, bufferRows: 32768 });
 * const history = await fitSource(model, source, { optimizer: new Adam(model.parameters()), loss: 'ce', epochs: 2 });
 */
export async function fitSource(model: Sequential, source: BatchSource, options: FitSourceOptions): Promise<History> {
  const loss = lossByName(options.loss);
  const batchSize = options.batchSize ?? 32;
  const features = shapeSize(model.inputShape);
  const k = shapeSize(model.outputShape);
  if (source.features !== features || source.targets !== k) {
    throw new NablaError({
      where: 'fitSource', expected: `rows of ${features} features and ${k} targets (the model's input and output)`,
      found: `${source.features} features and ${source.targets} targets`,
      hint: 'build the model with the data\'s inputShape and class count',
    });
  }
  if (!Number.isInteger(options.epochs) || options.epochs < 0) {
    throw new NablaError({ where: 'fitSource', expected: 'epochs to be an integer ≥ 0', found: String(options.epochs) });
  }
  const task = resolveTask(options.task, loss, k, undefined, 'fitSource');
  const callbacks = options.callbacks ?? [];
  const yieldMs = options.yieldMs ?? 50;
  const batches = Math.ceil(source.count / batchSize);
  const history: History = { epochs: [] };
  model.stopTraining = false;
  model.stopAfterBatch = false;
  for (const c of callbacks) c.onTrainBegin?.({ epochs: options.epochs, batches, samples: source.count, initialEpoch: 0, step: 0, history, task });
  let last = performance.now();
  for (let epoch = 1; epoch <= options.epochs && !model.stopTraining; epoch++) {
    const t0 = performance.now();
    for (const c of callbacks) c.onEpochBegin?.(epoch);
    const lr = options.optimizer.lr;
    let lossSum = 0;
    let correct = 0;
    let absError = 0;
    let squaredError = 0;
    let seen = 0;
    let b = 0;
    for (const batch of source.epoch(batchSize, model.rng)) {
      const n = batch.size;
      b++;
      const step = model.trainStep(
        new Tensor([n, ...model.inputShape], batch.x), new Tensor([n, k], batch.y), loss, options.optimizer, { clipNorm: options.clipNorm, task },
      );
      if (step.nonFinite || !Number.isFinite(step.loss)) {
        throw new DivergenceError(epoch, b, step.loss, history, String(step.loss), step.nonFinite);
      }
      lossSum += step.loss * n;
      correct += step.correct;
      absError += step.absError ?? 0;
      squaredError += step.squaredError ?? 0;
      seen += n;
      for (const c of callbacks) c.onBatchEnd?.({ epoch, batch: b, batches, loss: step.loss });
      if (model.stopAfterBatch) return history;
      if (performance.now() - last >= yieldMs) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        last = performance.now();
      }
    }
    const log = epochLog(model, { epoch, lr, task, loss, k, batchSize, val: options.validationData }, { loss: lossSum, correct, absError, squaredError, count: seen });
    log.seconds = (performance.now() - t0) / 1000;
    history.epochs.push(log);
    for (const c of callbacks) c.onEpochEnd?.(log);
  }
  for (const c of callbacks) c.onTrainEnd?.(history);
  return history;
}
