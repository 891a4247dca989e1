/**
 * Optimizer: the notes' Update step, w ← w + Δw with Δw = −η ∂C/∂w, and its refinements.
 * PyTorch-shaped: construct with the model's parameters, call `zeroGrad()` before a batch's
 * backward pass and `step()` after it.
 */
import type { Backend } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import type { Param } from '../layers/layer.ts';
import { OVERWRITABLE, PENDING } from '../pendingGrads.ts';

/**
 * Options every optimiser takes.
 *
 * @example
 * new SGD(model.parameters(), { lr: 0.1, backend: new JsBackend() }); // other kernels than the model's
 */
export interface OptimizerOptions {
  /** Kernels for the update (default: the parameters' backend, i.e. the model's; else a JS backend). */
  backend?: Backend;
}

/**
 * The base of the optimisers, PyTorch-shaped: zeroGrad() clears the gradients, step() updates
 * the parameters from them.
 *
 * @example
 * optimizer.zeroGrad();
 * model.backward(dy); // after a forward
 * optimizer.step();
 */
export abstract class Optimizer {
  readonly params: Param[];
  /** The kernels of the update: the model's unless the options named others. */
  readonly backend: Backend;
  /** Learning rate η; schedules may change it between steps. */
  lr: number;

  constructor(params: Param[], lr: number, options: OptimizerOptions, owner: string) {
    checkRange(owner, 'lr', lr, 0, Infinity, false);
    this.params = params;
    this.lr = lr;
    this.backend = options.backend ?? params[0]?.backend ?? new JsBackend();
  }

  /** Clear every parameter gradient (the only place gradients are reset). */
  zeroGrad(): void {
    for (const p of this.params) {
      PENDING.delete(p.grad.data);
      this.backend.fill(p.grad.data, 0, p.grad.size);
    }
  }

  /**
   * zeroGrad for one training step (trainStep): a gradient whose layer writes all of it in one
   * product (markOverwritable) is not cleared but left pending, and the layer's backward writes
   * it instead of adding to it (takeCleared), which saves a pass over the largest gradients;
   * every other gradient is cleared now. finishZeroGrad() must follow the backward pass: it
   * clears the pending gradients that no backward wrote.
   */
  zeroGradLazily(): void {
    for (const p of this.params) {
      if (OVERWRITABLE.has(p.grad.data)) PENDING.add(p.grad.data);
      else this.backend.fill(p.grad.data, 0, p.grad.size);
    }
  }

  /** After zeroGradLazily and the backward pass: zeros in every gradient still pending. */
  finishZeroGrad(): void {
    for (const p of this.params) if (PENDING.delete(p.grad.data)) this.backend.fill(p.grad.data, 0, p.grad.size);
  }

  /** Update every parameter from its gradient (one step of the notes' w ← w − η ∂C/∂w, refined). */
  abstract step(): void;

  /**
   * step() and the gradients' Σ g² (gradSumOfSquares(params), to the bit) in one pass over the
   * gradients, where the update keeps no state that a non-finite gradient could spoil (plain
   * SGD); else undefined, and nothing is updated. When the sum is not finite, part of the update
   * may have run (see Backend.sgdUpdateSumSquares): only a caller that restores the weights then
   * (fit) may use it for its gradient norm.
   */
  stepWithGradSumOfSquares(): number | undefined {
    return undefined;
  }
}

/**
 * Validate a hyperparameter: "Adam: beta1 must be in [0, 1), got 1.2".
 * `closedHigh` says whether `high` itself is allowed.
 */
export function checkRange(owner: string, name: string, value: number, low: number, high: number, closedHigh: boolean): void {
  const ok = Number.isFinite(value) && value >= low && (closedHigh ? value <= high : value < high);
  if (!ok) {
    const range = high === Infinity ? `≥ ${low}` : `in [${low}, ${high}${closedHigh ? ']' : ')'}`;
    throw new NablaError({ where: owner, expected: `${name} ${range}`, found: String(value) });
  }
}
