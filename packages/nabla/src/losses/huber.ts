/**
 * Huber loss (PyTorch's nn.HuberLoss; smooth L1 scaled by delta): quadratic near the target,
 * linear far from it, so a few outliers pull on the weights with a bounded force.
 *
 * Per element, with d = a − y:
 *   h(d) = ½ d²               when |d| < δ
 *   h(d) = δ (|d| − ½ δ)       otherwise
 *   h'(d) = d when |d| ≤ δ, δ·sign(d) otherwise (continuous: both are δ at |d| = δ)
 * Per sample the sum over the K outputs, over a batch the mean over the m samples (as every nabla
 * loss): C = (1/m) Σ Σ h(a − y), ∂C/∂a = h'(a − y)/m.
 *
 * NOTE on constants: PyTorch's nn.HuberLoss(delta) (reduction 'mean') divides by m·K, so ours is K
 * times it (equal for one output). nn.SmoothL1Loss(beta) is HuberLoss(delta = beta) / beta. For
 * |d| < δ everywhere, Huber is half of MSE (whose per-element cost is d²).
 */
import type { Backend } from '../backend/backend.ts';
import { NablaError } from '../errors.ts';
import type { Loss } from './loss.ts';

/**
 * Huber loss with threshold `delta` (default 1, as PyTorch); pass 'huber' to fit for delta 1.
 *
 * @example
 * model.fit(train, { optimizer, loss: new HuberLoss({ delta: 0.5 }), epochs: 10 });
 */
export class HuberLoss implements Loss {
  readonly name = 'huber';
  readonly takesLogits = false;
  readonly delta: number;

  /**
   * @example
   * const loss = new HuberLoss({ delta: 2 }); // quadratic for |error| < 2
   */
  constructor(options: { delta?: number } = {}) {
    this.delta = options.delta ?? 1;
    if (!(this.delta > 0 && Number.isFinite(this.delta))) {
      throw new NablaError({ where: 'HuberLoss', expected: 'delta a finite number > 0', found: String(options.delta) });
    }
  }

  compute(
    _backend: Backend, dy: Float32Array, y: Float32Array, target: Float32Array, rows: number, cols: number,
  ): number {
    const delta = this.delta;
    const scale = 1 / rows;
    let sum = 0;
    for (let i = 0; i < rows * cols; i++) {
      const d = y[i] - target[i];
      const ad = Math.abs(d);
      if (ad < delta) {
        sum += 0.5 * d * d;
        dy[i] = d * scale;
      } else {
        sum += delta * (ad - 0.5 * delta);
        // NaN stays NaN (the divergence check sees it in the loss too).
        dy[i] = (d > 0 ? delta : d < 0 ? -delta : d) * scale;
      }
    }
    return sum / rows;
  }
}
