/**
 * SGD: stochastic gradient descent, optionally with momentum, Nesterov momentum and L2 weight
 * decay, with PyTorch's update rule (so hyperparameters carry over):
 *
 *   g ← ∂C/∂w + λ·w              weight decay adds λw to the gradient (L2 penalty λ/2·||w||²)
 *   v ← μ·v + g                  velocity: a running sum of past gradients
 *   w ← w − η·(nesterov ? g + μ·v : v)
 *
 * With μ = 0 this is exactly the notes' w ← w − η ∂C/∂w.
 */
import type { Param } from '../layers/layer.ts';
import { checkRange, Optimizer, type OptimizerOptions } from './optimizer.ts';

/**
 * SGD's hyperparameters (defaults: momentum 0, nesterov false, weightDecay 0).
 *
 * @example
 * new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 */
export interface SGDOptions extends OptimizerOptions {
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  /** One velocity buffer per parameter (allocated only when momentum > 0). */
  readonly velocity: Float32Array[];

  /** @example const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }); */
  constructor(params: Param[], options: SGDOptions = {}) {
    super(params, options.lr ?? 0.01, options, 'SGD');
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkRange('SGD', 'momentum', this.momentum, 0, 1, false);
    checkRange('SGD', 'weightDecay', this.weightDecay, 0, Infinity, false);
    if (this.nesterov && this.momentum === 0) {
      checkRange('SGD', 'momentum (Nesterov needs it)', this.momentum, Number.MIN_VALUE, 1, false);
    }
    this.velocity = params.map((p) => this.backend.allocate(this.momentum > 0 ? p.value.size : 0));
  }

  step(): void {
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      this.backend.sgdUpdate(
        p.value.data, p.grad.data, this.velocity[i], p.value.size,
        this.lr, this.momentum, this.weightDecay, this.nesterov,
      );
    }
  }

  override stepWithGradSumOfSquares(): number | undefined {
    // Momentum keeps a velocity that a non-finite gradient would spoil for good.
    if (this.momentum !== 0) return undefined;
    let sum = 0;
    for (const p of this.params) sum += this.backend.sgdUpdateSumSquares(p.value.data, p.grad.data, p.value.size, this.lr, this.weightDecay);
    return sum;
  }
}
