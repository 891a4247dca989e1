/**
 * Loss: turns the network output y (N × K) and the targets t (N × K) into one number, the mean
 * cost over the batch, and writes dy = ∂C/∂y: the start of the backward pass.
 *
 * Averaging: every loss here is a sum over a sample's outputs, then a mean over the m = N samples
 * of the batch. So dy already carries the 1/m of the notes, and the gradients that the layers add
 * up are averages over the batch.
 */
import type { Backend } from '../backend/backend.ts';

/**
 * Loss names: 'mse' (the notes' quadratic cost), 'ce' (softmax cross-entropy on logits), 'huber'
 * (robust regression loss, delta 1) and 'bce' (binary cross-entropy on logits, for sigmoid outputs).
 *
 * @example
 * model.fit(train, { optimizer, loss: 'ce' satisfies LossName, epochs: 1 });
 */
export type LossName = 'mse' | 'ce' | 'huber' | 'bce';
/**
 * Every LossName.
 *
 * @example
 * LOSS_NAMES; // ['mse', 'ce', 'huber', 'bce']
 */
export const LOSS_NAMES: readonly LossName[] = ['mse', 'ce', 'huber', 'bce'];

/**
 * A loss: its mean over a batch and the output gradient, in one pass.
 *
 * @example
 * const loss: Loss = new SoftmaxCrossEntropyLoss();
 * const value = loss.compute(backend, dy, logits, targets, n, 10); // dy now holds ∂C/∂logits
 */
export interface Loss {
  readonly name: LossName;
  /**
   * Mean loss over `rows` samples; writes dy (rows × cols) = ∂C/∂y.
   * @param dy output gradient buffer, overwritten
   */
  compute(
    backend: Backend, dy: Float32Array, y: Float32Array, target: Float32Array, rows: number, cols: number,
  ): number;
  /**
   * True when y are logits that must go through softmax (several outputs) or the logistic sigmoid
   * (one output, 'bce') to become probabilities.
   */
  readonly takesLogits: boolean;
}
