/**
 * Metrics of a classifier: argmax, correct counts, and evaluate (loss, accuracy, confusion
 * matrix and per-class accuracy over a data set, in inference mode). Accuracy compares the argmax
 * of the output with the argmax of the one-hot target.
 */
import type { Samples } from '../data/batches.ts';
import { NablaError } from '../errors.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import type { Sequential } from '../model/sequential.ts';
import { shapeSize } from '../tensor.ts';

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
}

/**
 * Loss, accuracy and confusion matrix over a data set (inference mode; model.evaluate calls this).
 * A data set of no samples is refused: its accuracy would be 0/0.
 * @example const { accuracy, perClass } = evaluate(model, test, { loss: 'ce' });
 */
export function evaluate(model: Sequential, data: Samples, options: EvaluateOptions): Evaluation {
  const loss = lossByName(options.loss);
  const features = shapeSize(model.inputShape);
  const k = shapeSize(model.outputShape);
  checkSamples(data, features, k, options.role ?? 'evaluation data', 1);
  const batchSize = options.batchSize ?? 256;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const dy = model.backend.allocate(batchSize * k);
  let lossSum = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const x = model.inputBatch(data.x, start, n);
    const out = model.forward(x, false);
    const y = data.y.subarray(start * k, (start + n) * k);
    lossSum += loss.compute(model.backend, dy, out.data, y, n, k) * n;
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
 * Rows whose argmax output matches the argmax target, over n rows of k values.
 * @example countCorrect(out.data, y.data, n, 10); // e.g. 61 of a batch of 64
 */
export function countCorrect(out: Float32Array, y: Float32Array, n: number, k: number): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (argmax(out, r * k, k) === argmax(y, r * k, k)) c++;
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
