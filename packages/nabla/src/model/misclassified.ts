/**
 * misclassified: the samples a model gets wrong, most confident first: the "worst" mistakes,
 * which are the most instructive to look at (often mislabelled or genuinely ambiguous digits).
 */
import { NablaError } from '../errors.ts';
import { argmax, targetClass } from '../train/metrics.ts';

/**
 * One misclassified sample, as `misclassified` lists them (most confident first).
 * @example const [worst]: Mistake[] = misclassified(probs, test.y, 10, 1); worst.predicted;
 */
export interface Mistake {
  /** Row of the sample in the data set. */
  index: number;
  /** True class (argmax of the target row). */
  label: number;
  /** Predicted class (argmax of the probabilities). */
  predicted: number;
  /** Probability given to the predicted class. */
  confidence: number;
  /** Probability given to the true class. */
  labelProbability: number;
}

/**
 * The wrongly classified rows of `probabilities` (count × K), sorted by the confidence of the
 * wrong prediction, highest first, at most `limit` of them.
 *
 * @param probabilities (count × K), e.g. from model.predictProbabilities
 * @param targets       (count × K) one-hot targets, e.g. a Dataset's y; or, for a binary model
 *                      (K = 2 probabilities from one output), (count) 0/1 targets
 *
 * @example
 * const probs = model.predictProbabilities(test.x, test.count);
 * const worst = misclassified(probs, test.y, 10, 16); // [{ index, label, predicted, confidence, ... }]
 */
export function misclassified(probabilities: Float32Array, targets: Float32Array, k: number, limit = Infinity): Mistake[] {
  // A single-output binary model: probabilities [1 − p, p] per row, one 0/1 target per row.
  const binaryTargets = k === 2 && targets.length * 2 === probabilities.length;
  if (!Number.isInteger(k) || k < 1 || probabilities.length % k !== 0 || (targets.length !== probabilities.length && !binaryTargets)) {
    throw new NablaError({
      where: 'misclassified',
      expected: `probabilities and targets of the same length, a multiple of K = ${k} (or, for K = 2, one 0/1 target per row)`,
      found: `${probabilities.length} probabilities and ${targets.length} targets`,
    });
  }
  const count = probabilities.length / k;
  const out: Mistake[] = [];
  for (let r = 0; r < count; r++) {
    const label = binaryTargets ? targetClass(targets, r, 1) : argmax(targets, r * k, k);
    const predicted = argmax(probabilities, r * k, k);
    if (label !== predicted) {
      out.push({
        index: r, label, predicted,
        confidence: probabilities[r * k + predicted],
        labelProbability: probabilities[r * k + label],
      });
    }
  }
  // Ties keep data-set order (Array.prototype.sort is stable), so the result is deterministic.
  out.sort((a, b) => b.confidence - a.confidence);
  return out.slice(0, limit);
}
