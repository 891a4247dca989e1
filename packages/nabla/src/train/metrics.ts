/**
 * Metrics: what a model's outputs mean for its task, and evaluate (over a data set, in inference
 * mode).
 *
 * Classification: the predicted class is the argmax of the outputs, the true class the argmax of
 * the (one-hot) target; a single-output model is a binary classifier whose output is thresholded
 * (at 0 for logits, 0.5 for a Sigmoid output) against a 0/1 target: accuracy, a confusion matrix
 * (2 × 2 for one output, K × K for K outputs) and per-class accuracy.
 * Regression: MAE, RMSE and R² (coefficient of determination) of the outputs against the targets.
 *
 * The task (see inferTask) is explicit when given (`task` in fit's and evaluate's options); else
 * 'ce' and 'bce' mean classification, 'huber' regression, and 'mse' regression for one output or
 * targets that are not one-hot rows, classification for one-hot targets.
 */
import type { Samples } from '../data/batches.ts';
import { NablaError } from '../errors.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import type { Sequential } from '../model/sequential.ts';
import { shapeSize } from '../tensor.ts';

/**
 * What a model does: 'classification' (scores per class, or one yes/no output) or 'regression'
 * (real-valued outputs compared with real-valued targets).
 *
 * @example
 * model.fit(train, { optimizer, loss: 'mse', epochs: 20, task: 'regression' satisfies Task });
 */
export type Task = 'classification' | 'regression';

/**
 * Every Task.
 *
 * @example
 * TASKS; // ['classification', 'regression']
 */
export const TASKS: readonly Task[] = ['classification', 'regression'];

/**
 * evaluate's result for a classifier.
 *
 * @example
 * const ev = model.evaluate(test, { loss: 'ce', task: 'classification' });
 * const { accuracy, confusion }: ClassificationEvaluation = ev;
 */
export interface ClassificationEvaluation {
  task: 'classification';
  loss: number;
  accuracy: number;
  count: number;
  /** confusion[true][predicted] = number of samples; 2 × 2 for a single-output (binary) model. */
  confusion: number[][];
  /** Accuracy per true class (NaN for a class with no samples). */
  perClass: number[];
}

/**
 * One regression target's figures (see RegressionEvaluation).
 *
 * @example
 * const { mae, rmse, r2 }: TargetMetrics = ev.perTarget[0];
 */
export interface TargetMetrics {
  mae: number;
  rmse: number;
  r2: number;
}

/**
 * evaluate's result for a regression model. MAE and RMSE are over every output of every sample
 * (in the targets' units); R² is the mean of the targets' R² (scikit-learn's r2_score with
 * 'uniform_average'), 1 − Σ(y − ŷ)² / Σ(y − ȳ)² per target, 1 for a perfect fit, 0 for predicting
 * the mean, negative for worse. A target that is constant in the data has R² 1 when predicted
 * exactly, else 0 (as scikit-learn's force_finite).
 *
 * @example
 * const ev = model.evaluate(test, { loss: 'mse', task: 'regression' });
 * const { mae, rmse, r2 }: RegressionEvaluation = ev;
 */
export interface RegressionEvaluation extends TargetMetrics {
  task: 'regression';
  loss: number;
  count: number;
  /** Per target (output column): its MAE, RMSE and R². */
  perTarget: TargetMetrics[];
}

/**
 * evaluate's result: its `task` says which.
 *
 * @example
 * const ev: Evaluation = model.evaluate(test, { loss });
 * console.log(ev.task === 'classification' ? ev.accuracy : ev.r2);
 */
export type Evaluation = ClassificationEvaluation | RegressionEvaluation;

/**
 * evaluate's options.
 *
 * @example
 * const options: EvaluateOptions = { loss: 'ce', batchSize: 256, role: 'test set' };
 */
export interface EvaluateOptions {
  loss: Loss | LossName;
  batchSize?: number;
  /** Names the data in messages, e.g. 'test set (MNIST-format IDX files in data/)'; default 'evaluation data'. */
  role?: string;
  /** What to measure; default inferTask(loss, outputs, the data's targets). */
  task?: Task;
}

/**
 * evaluate's options that make it a classifier's evaluation: task 'classification', or loss 'ce' or 'bce'.
 *
 * @example
 * const ev = evaluate(model, test, { loss: 'ce' } satisfies ClassifierEvaluateOptions); // ev.accuracy
 */
export type ClassifierEvaluateOptions = EvaluateOptions & ({ task: 'classification' } | { loss: 'ce' | 'bce' });

/**
 * evaluate's options that make it a regression evaluation: task 'regression', or loss 'huber'.
 *
 * @example
 * const ev = evaluate(model, test, { loss: 'mse', task: 'regression' } satisfies RegressionEvaluateOptions); // ev.r2
 */
export type RegressionEvaluateOptions = EvaluateOptions & ({ task: 'regression' } | { loss: 'huber' });

/**
 * The task a loss, a number of outputs and (optionally) the targets imply, when none is given:
 * 'ce' and 'bce' → classification; 'huber' → regression; 'mse' → regression for one output or for
 * targets that are not all one-hot rows, classification for one-hot targets (and, without
 * targets, for several outputs). A one-output classifier trained with 'mse' needs an explicit
 * task: 'classification'.
 *
 * @example
 * inferTask('mse', 1);              // 'regression'
 * inferTask('mse', 10, train.y);    // 'classification' when train.y is one-hot
 * inferTask('bce', 1);              // 'classification'
 */
export function inferTask(loss: Loss | LossName, outputs: number, targets?: Float32Array): Task {
  const name = typeof loss === 'string' ? loss : loss.name;
  if (name === 'ce' || name === 'bce') return 'classification';
  if (name === 'huber' || outputs === 1) return 'regression';
  if (targets === undefined) return 'classification';
  return isOneHot(targets, outputs) ? 'classification' : 'regression';
}

/** True when every row of k values is a one-hot row (exactly one 1, the rest 0). */
function isOneHot(y: Float32Array, k: number): boolean {
  for (let r = 0; r < y.length; r += k) {
    let ones = 0;
    for (let j = r; j < r + k; j++) {
      const v = y[j];
      if (v === 1) ones++;
      else if (v !== 0) return false;
    }
    if (ones !== 1) return false;
  }
  return true;
}

/**
 * The task to use: `task` when given (checked), else inferTask. Refuses combinations that cannot
 * work: regression with 'ce' or 'bce' (they turn outputs into probabilities), and 'ce' on a single
 * output (the softmax of one value is always 1, the loss always 0).
 *
 * @example
 * const task = resolveTask(options.task, loss, 1, train.y, 'fit'); // 'regression' for 'mse'
 */
export function resolveTask(task: Task | undefined, loss: Loss | LossName, outputs: number, targets: Float32Array | undefined, where: string): Task {
  if (task !== undefined && !TASKS.includes(task)) {
    throw new NablaError({ where, expected: `task one of ${TASKS.map((t) => `'${t}'`).join(', ')}`, found: JSON.stringify(task) ?? String(task) });
  }
  const name = typeof loss === 'string' ? loss : loss.name;
  const resolved = task ?? inferTask(loss, outputs, targets);
  if (resolved === 'regression' && (name === 'ce' || name === 'bce')) {
    throw new NablaError({
      where, expected: `a regression loss ('mse' or 'huber') for task 'regression'`, found: `loss '${name}'`,
      hint: `'${name}' compares probabilities with class targets; use 'mse' or 'huber', or task 'classification'`,
    });
  }
  if (name === 'ce' && outputs === 1) {
    throw new NablaError({
      where, expected: `'ce' on at least 2 outputs (one per class)`, found: 'a model with 1 output',
      hint: "the softmax of a single output is always 1, so the loss is always 0: for a binary classifier use loss 'bce' on 1 output (0/1 targets), or 2 outputs with 'ce'",
    });
  }
  return resolved;
}

/**
 * Where a single-output classifier's output is cut into class 0 / class 1: 0.5 when the model ends
 * in a Sigmoid (or Softmax), else 0 for a loss on logits ('bce': σ(z) > 0.5 ⇔ z > 0), else 0.5.
 *
 * @example
 * decisionThreshold(model, 'bce'); // 0: the model outputs logits
 */
export function decisionThreshold(model: Sequential, loss: Loss | LossName): number {
  const kind = model.outputKind;
  if (kind === 'scores' || kind === 'probabilities') return 0.5;
  return lossByName(loss).takesLogits ? 0 : 0.5;
}

/**
 * The class a row of k outputs predicts: the argmax, or for k = 1 whether the output exceeds
 * `threshold` (class 1) or not (class 0).
 *
 * @example
 * predictedClass(out, r * k, k, 0); // 0 or 1 for k = 1 logits
 */
export function predictedClass(out: Float32Array, offset: number, k: number, threshold = 0.5): number {
  return k === 1 ? (out[offset] > threshold ? 1 : 0) : argmax(out, offset, k);
}

/**
 * The class of a target row: the argmax of a one-hot row, or for k = 1 whether it exceeds 0.5.
 *
 * @example
 * targetClass(y, r * k, k);
 */
export function targetClass(y: Float32Array, offset: number, k: number): number {
  return k === 1 ? (y[offset] > 0.5 ? 1 : 0) : argmax(y, offset, k);
}

/**
 * How many classes a classifier with k outputs tells apart: k, or 2 for a single output.
 *
 * @example
 * classCount(1); // 2
 */
export function classCount(k: number): number {
  return k === 1 ? 2 : k;
}

/**
 * Loss and the task's metrics over a data set (inference mode; model.evaluate calls this): for a
 * classifier accuracy, confusion matrix and per-class accuracy, for regression MAE, RMSE and R².
 * A data set of no samples is refused: its accuracy would be 0/0.
 * @example const { accuracy, perClass } = evaluate(model, test, { loss: 'ce', task: 'classification' });
 */
export function evaluate(model: Sequential, data: Samples, options: ClassifierEvaluateOptions): ClassificationEvaluation;
export function evaluate(model: Sequential, data: Samples, options: RegressionEvaluateOptions): RegressionEvaluation;
export function evaluate(model: Sequential, data: Samples, options: EvaluateOptions): Evaluation;
export function evaluate(model: Sequential, data: Samples, options: EvaluateOptions): Evaluation {
  const loss = lossByName(options.loss);
  const features = shapeSize(model.inputShape);
  const k = shapeSize(model.outputShape);
  const role = options.role ?? 'evaluation data';
  checkSamples(data, features, k, role, 1);
  const task = resolveTask(options.task, loss, k, data.y, role);
  const batchSize = options.batchSize ?? 256;
  const classes = classCount(k);
  const threshold = decisionThreshold(model, loss);
  const confusion = task === 'classification' ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : [];
  // Regression: per target Σ|e|, Σe², and (two passes: exact even when the mean is far from 0) Σ(y − ȳ)².
  const absSum = new Float64Array(k);
  const sqSum = new Float64Array(k);
  const dy = model.backend.allocate(batchSize * k);
  let lossSum = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const x = model.inputBatch(data.x, start, n);
    const out = model.forward(x, false);
    const y = data.y.subarray(start * k, (start + n) * k);
    lossSum += loss.compute(model.backend, dy, out.data, y, n, k) * n;
    if (task === 'classification') {
      for (let r = 0; r < n; r++) confusion[targetClass(y, r * k, k)][predictedClass(out.data, r * k, k, threshold)]++;
    } else {
      for (let i = 0; i < n * k; i++) {
        const e = out.data[i] - y[i];
        absSum[i % k] += Math.abs(e);
        sqSum[i % k] += e * e;
      }
    }
  }
  const meanLoss = lossSum / data.count;
  if (task === 'regression') return regressionFigures(meanLoss, data, k, absSum, sqSum);
  let correct = 0;
  const perClass = confusion.map((row, c) => {
    correct += row[c];
    const total = row.reduce((s, v) => s + v, 0);
    return total === 0 ? NaN : row[c] / total;
  });
  return { task, loss: meanLoss, accuracy: correct / data.count, count: data.count, confusion, perClass };
}

function regressionFigures(loss: number, data: Samples, k: number, absSum: Float64Array, sqSum: Float64Array): RegressionEvaluation {
  const n = data.count;
  const mean = new Float64Array(k);
  for (let i = 0; i < n * k; i++) mean[i % k] += data.y[i];
  for (let j = 0; j < k; j++) mean[j] /= n;
  const total = new Float64Array(k);
  for (let i = 0; i < n * k; i++) {
    const d = data.y[i] - mean[i % k];
    total[i % k] += d * d;
  }
  const perTarget = Array.from({ length: k }, (_, j): TargetMetrics => ({
    mae: absSum[j] / n, rmse: Math.sqrt(sqSum[j] / n),
    r2: total[j] > 0 ? 1 - sqSum[j] / total[j] : sqSum[j] === 0 ? 1 : 0,
  }));
  const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
  return {
    task: 'regression', loss, count: n,
    mae: sum(absSum) / (n * k), rmse: Math.sqrt(sum(sqSum) / (n * k)),
    r2: perTarget.reduce((s, t) => s + t.r2, 0) / k,
    perTarget,
  };
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

/**
 * Rows whose predicted class matches the target's, over n rows of k values (see predictedClass:
 * for k = 1 the output is cut at `threshold`, the target at 0.5).
 * @example countCorrect(out.data, y.data, n, 10); // e.g. 61 of a batch of 64
 */
export function countCorrect(out: Float32Array, y: Float32Array, n: number, k: number, threshold = 0.5): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (predictedClass(out, r * k, k, threshold) === targetClass(y, r * k, k)) c++;
  return c;
}

/**
 * Check that samples match the model's input features and K targets, naming their role, and that
 * there are at least `minCount` of them (a mean over none is NaN, an accuracy 0/0).
 * @example checkSamples(val, 784, 10, 'validation data');
 */
export function checkSamples(s: Samples, features: number, k: number, role: string, minCount = 0): void {
  if (!(s.count >= minCount)) {
    throw new NablaError({
      where: role, expected: `at least ${minCount} sample${minCount === 1 ? '' : 's'}`, found: `${s.count} samples`,
      hint: 'the data set is empty: check the files it came from (an IDX file can declare 0 items)',
    });
  }
  if (s.x.length !== s.count * features || s.y.length !== s.count * k) {
    throw new NablaError({
      where: role,
      expected: `${s.count} samples of ${features} features and ${k} targets`,
      found: `${s.x.length} input values and ${s.y.length} target values`,
      hint: 'the data does not match the model input/output shape',
    });
  }
}
