/**
 * Binary cross-entropy on logits (PyTorch's nn.BCEWithLogitsLoss): the sigmoid and the
 * cross-entropy fused, for a model whose every output is one yes/no logit z (no Sigmoid layer).
 *
 * Per element, with p = σ(z) = 1 / (1 + e^{−z}) and target t in [0, 1]:
 *   ℓ = −[t log p + (1 − t) log(1 − p)] = max(z, 0) − z·t + log(1 + e^{−|z|})
 * The right-hand form never overflows (e^{−|z|} ≤ 1), and stays exact for logits in the
 * thousands, where log(σ(z)) computed from σ would be log(0) = −∞. Its gradient is ∂ℓ/∂z = p − t.
 * Per sample the sum over the K outputs, over a batch the mean over the m samples (as every nabla
 * loss): PyTorch's reduction 'mean' divides by m·K, so ours is K times it (equal for one output).
 */
import type { Backend } from '../backend/backend.ts';
import type { Loss } from './loss.ts';

/**
 * Sigmoid then binary cross-entropy, fused and numerically stable, on logits; pass 'bce' to fit
 * for the same. A binary classifier ends in Dense(1) (no Sigmoid), with 0/1 targets.
 *
 * @example
 * const model = new Sequential([new Dense(16), new ReLU(), new Dense(1)], { inputShape: [2] });
 * model.fit(train, { optimizer, loss: new BinaryCrossEntropyLoss(), epochs: 20 }); // train.y: 0 or 1 per row
 */
export class BinaryCrossEntropyLoss implements Loss {
  readonly name = 'bce';
  readonly takesLogits = true;

  compute(
    _backend: Backend, dy: Float32Array, y: Float32Array, target: Float32Array, rows: number, cols: number,
  ): number {
    const scale = 1 / rows;
    let sum = 0;
    for (let i = 0; i < rows * cols; i++) {
      const z = y[i];
      const t = target[i];
      const e = Math.exp(-Math.abs(z));
      sum += Math.max(z, 0) - z * t + Math.log1p(e);
      // σ(z) from e^{−|z|}, without overflow on either side.
      const p = z >= 0 ? 1 / (1 + e) : e / (1 + e);
      dy[i] = (p - t) * scale;
    }
    return sum / rows;
  }
}
