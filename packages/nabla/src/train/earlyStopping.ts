/**
 * Early stopping: end fit when a validation metric has not improved for `patience` epochs, and
 * (restoreBest) put back the weights of the best epoch when training ends.
 *
 * Selecting the epoch on validation data, never on the test set, keeps the test accuracy an
 * honest estimate. Its state (best value, epochs waited, the best weights) is saved in checkpoints
 * so a resumed run stops at the same epoch with the same weights.
 */
import { NablaError } from '../errors.ts';
import type { Callback, EpochLog, TrainBeginInfo } from './fit.ts';
import type { Sequential } from '../model/sequential.ts';

/**
 * The metrics early stopping can watch: val_accuracy (classifiers), val_loss (any model), and
 * val_mae, val_rmse, val_r2 (regression).
 *
 * @example
 * MONITOR_METRICS; // ['val_accuracy', 'val_loss', 'val_mae', 'val_rmse', 'val_r2']
 */
export const MONITOR_METRICS = ['val_accuracy', 'val_loss', 'val_mae', 'val_rmse', 'val_r2'] as const;
/** Where each metric is in an EpochLog, and whether higher is better. */
const METRICS: Record<MonitorMetric, { field: 'valAccuracy' | 'valLoss' | 'valMae' | 'valRmse' | 'valR2'; higherIsBetter: boolean; task?: string }> = {
  val_accuracy: { field: 'valAccuracy', higherIsBetter: true, task: 'classification' },
  val_loss: { field: 'valLoss', higherIsBetter: false },
  val_mae: { field: 'valMae', higherIsBetter: false, task: 'regression' },
  val_rmse: { field: 'valRmse', higherIsBetter: false, task: 'regression' },
  val_r2: { field: 'valR2', higherIsBetter: true, task: 'regression' },
};

/**
 * One of MONITOR_METRICS.
 *
 * @example
 * const monitor: MonitorMetric = 'val_loss';
 */
export type MonitorMetric = (typeof MONITOR_METRICS)[number];

/**
 * Settings of EarlyStopping.
 *
 * @example
 * new EarlyStopping(model, { monitor: 'val_loss', patience: 5, minDelta: 1e-4 });
 */
export interface EarlyStoppingOptions {
  /**
   * What to watch: higher is better for val_accuracy and val_r2, lower for val_loss, val_mae and
   * val_rmse. Default: 'val_accuracy' for a classifier, 'val_loss' for a regression model.
   */
  monitor?: MonitorMetric;
  /** Epochs without improvement before stopping (default 3). */
  patience?: number;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Restore the best epoch's weights at the end of training (default true). */
  restoreBest?: boolean;
}

/**
 * What a checkpoint stores to resume early stopping exactly.
 *
 * @example
 * const saved: EarlyStoppingState = stopper.getState(); // { best: 0.98, bestEpoch: 4, wait: 1, stopped: false }
 */
export interface EarlyStoppingState {
  best: number | null;
  bestEpoch: number;
  wait: number;
  stopped: boolean;
}

/**
 * Stops fit when the monitored validation metric stops improving, and restores the best epoch.
 *
 * @example
 * const stop = new EarlyStopping(model, { monitor: 'val_r2', patience: 5 });
 * model.fit(train, { optimizer, loss: 'mse', epochs: 200, validationSplit: 0.2, callbacks: [stop] });
 */
export class EarlyStopping implements Callback {
  /** The metric watched; without the option, 'val_accuracy' until a regression run's onTrainBegin makes it 'val_loss'. */
  monitor: MonitorMetric;
  private readonly monitorGiven: boolean;
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBest: boolean;
  best: number | null = null;
  bestEpoch = 0;
  wait = 0;
  /** True once patience ran out: training ended early (a resumed run then does not train on). */
  stopped = false;
  /** Copies of the state dict (parameters and buffers) at the best epoch (restoreBest only). */
  bestWeights: Float32Array[] | undefined;
  private readonly model: Sequential;

  /**
   * @example
   * const stop = new EarlyStopping(model, { monitor: 'val_accuracy', patience: 3 });
   * model.fit(train, { optimizer, loss: 'ce', epochs: 50, validationData: val, callbacks: [stop] });
   * stop.bestEpoch; // the epoch whose weights the model now holds
   */
  constructor(model: Sequential, options: EarlyStoppingOptions = {}) {
    this.model = model;
    this.monitor = options.monitor ?? 'val_accuracy';
    this.monitorGiven = options.monitor !== undefined;
    this.patience = options.patience ?? 3;
    this.minDelta = options.minDelta ?? 0;
    this.restoreBest = options.restoreBest ?? true;
    if (!(MONITOR_METRICS as readonly string[]).includes(this.monitor)) {
      throw new NablaError({ where: 'EarlyStopping', expected: `monitor one of ${MONITOR_METRICS.join(', ')}`, found: String(this.monitor) });
    }
    if (!(Number.isInteger(this.patience) && this.patience >= 1)) {
      throw new NablaError({ where: 'EarlyStopping', expected: 'patience a positive integer (epochs)', found: String(this.patience) });
    }
    if (!(this.minDelta >= 0)) {
      throw new NablaError({ where: 'EarlyStopping', expected: 'minDelta ≥ 0', found: String(this.minDelta) });
    }
  }

  /** Its counters, for a checkpoint (the best weights are saved as tensors beside them). */
  getState(): EarlyStoppingState {
    return { best: this.best, bestEpoch: this.bestEpoch, wait: this.wait, stopped: this.stopped };
  }

  /** Restore counters (and the best weights) from a checkpoint. */
  setState(state: EarlyStoppingState, bestWeights?: Float32Array[]): void {
    this.best = state.best;
    this.bestEpoch = state.bestEpoch;
    this.wait = state.wait;
    this.stopped = state.stopped;
    this.bestWeights = bestWeights?.map((w) => w.slice());
  }

  /** Picks the default metric for the run's task; a resumed run that had already stopped trains no further. */
  onTrainBegin(info?: TrainBeginInfo): void {
    if (!this.monitorGiven && info?.task === 'regression') this.monitor = 'val_loss';
    const needs = METRICS[this.monitor].task;
    if (info?.task !== undefined && needs !== undefined && needs !== info.task) {
      throw new NablaError({
        where: 'EarlyStopping', expected: `a metric of ${info.task}: ${MONITOR_METRICS.filter((m) => (METRICS[m].task ?? info.task) === info.task).join(', ')}`,
        found: `monitor ${this.monitor} (a ${needs} metric)`, hint: `this run is ${info.task}: fit's task comes from its loss and targets, or its task option`,
      });
    }
    // A run resumed after the stop: nothing more to train.
    if (this.stopped) this.model.stopTraining = true;
  }

  onEpochEnd(log: EpochLog): void {
    const { field, higherIsBetter } = METRICS[this.monitor];
    const value = log[field];
    if (value === undefined) {
      throw new NablaError({
        where: 'EarlyStopping', expected: `a ${this.monitor} at each epoch end`, found: 'no validation data',
        hint: 'pass validationData or validationSplit to fit (CLI: --val > 0)',
      });
    }
    const better = this.best === null ||
      (higherIsBetter ? value > this.best + this.minDelta : value < this.best - this.minDelta);
    if (better) {
      this.best = value;
      this.bestEpoch = log.epoch;
      this.wait = 0;
      // The whole state dict: batch-norm running statistics belong to the best epoch too.
      if (this.restoreBest) this.bestWeights = [...this.model.stateDict().values()].map((t) => t.data.slice());
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      this.stopped = true;
      this.model.stopTraining = true;
    }
  }

  onTrainEnd(): void {
    if (!this.restoreBest || !this.bestWeights) return;
    [...this.model.stateDict().values()].forEach((t, i) => t.data.set(this.bestWeights![i]));
  }
}
