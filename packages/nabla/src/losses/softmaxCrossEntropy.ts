/**
 * Softmax cross-entropy on logits, fused: C = (1/m) Σ_samples −Σ_j t_j log softmax(z)_j.
 *
 * Fusing the softmax into the loss gives the famously simple gradient ∂C/∂z = (p − t)/m, and the
 * log-sum-exp form log p_j = z_j − max − log Σ e^{z_k − max} never overflows, even for logits in
 * the thousands (computing softmax first and then log(p) would give log(0) = −∞ there).
 * The model's last layer should output raw logits (no Softmax layer) when this loss is used.
 */
import type { Backend } from '../backend/backend.ts';
import type { Loss } from './loss.ts';

/**
 * Softmax then cross-entropy, fused and numerically stable, on logits; pass 'ce' to fit for the same.
 *
 * @example
 * model.fit(train, { optimizer, loss: new SoftmaxCrossEntropyLoss(), epochs: 1 });
 */
export class SoftmaxCrossEntropyLoss implements Loss {
  readonly name = 'ce';
  readonly takesLogits = true;

  compute(
    backend: Backend, dy: Float32Array, y: Float32Array, target: Float32Array, rows: number, cols: number,
  ): number {
    return backend.softmaxCrossEntropy(dy, y, target, rows, cols, 1 / rows) / rows;
  }
}
