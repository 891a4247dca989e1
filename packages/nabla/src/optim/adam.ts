/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with PyTorch's update rule:
 *
 *   t ← t + 1
 *   g ← ∂C/∂w (+ λ·w for Adam's L2 weight decay)
 *   m ← β1·m + (1 − β1)·g          running mean of gradients (momentum)
 *   v ← β2·v + (1 − β2)·g²         running mean of squared gradients (per-weight scale)
 *   m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)   bias correction: m and v start at 0
 *   w ← w − η·m̂ / (√v̂ + ε)
 *
 * AdamW decouples the decay from the gradient: w ← w − η·λ·w before the step, so the decay is
 * not rescaled by √v̂ (better regularisation; PyTorch's default λ for AdamW is 0.01).
 */
import type { Param } from '../layers/layer.ts';
import { checkRange, Optimizer, type OptimizerOptions } from './optimizer.ts';

/**
 * Adam's hyperparameters (defaults lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0).
 *
 * @example
 * new Adam(model.parameters(), { lr: 2e-3, beta2: 0.99 });
 */
export interface AdamOptions extends OptimizerOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  /** First and second moment estimates, one buffer per parameter. */
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  /** Steps taken so far (t in the bias correction). */
  t = 0;

  /** @example const opt = new Adam(model.parameters(), { lr: 1e-3 }); */
  constructor(params: Param[], options: AdamOptions = {}, decoupled = false) {
    const owner = decoupled ? 'AdamW' : 'Adam';
    super(params, options.lr ?? 1e-3, options, owner);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? (decoupled ? 0.01 : 0);
    this.decoupled = decoupled;
    checkRange(owner, 'beta1', this.beta1, 0, 1, false);
    checkRange(owner, 'beta2', this.beta2, 0, 1, false);
    checkRange(owner, 'eps', this.eps, Number.MIN_VALUE, Infinity, false);
    checkRange(owner, 'weightDecay', this.weightDecay, 0, Infinity, false);
    this.m = params.map((p) => this.backend.allocate(p.value.size));
    this.v = params.map((p) => this.backend.allocate(p.value.size));
  }

  step(): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      this.backend.adamUpdate(
        p.value.data, p.grad.data, this.m[i], this.v[i], p.value.size,
        this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, this.decoupled, bc1, bc2,
      );
    }
  }
}

/** AdamW: Adam with decoupled weight decay (default λ = 0.01, as in PyTorch). */
export class AdamW extends Adam {
  /** @example const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 }); */
  constructor(params: Param[], options: AdamOptions = {}) {
    super(params, options, true);
  }
}
