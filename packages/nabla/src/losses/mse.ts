/**
 * Mean squared error: the notes' quadratic cost.
 *
 * Per sample: C0 = Σ_j (a_j − y_j)²  — the notes' (a(L) − y)², summed over the K outputs.
 * Over a batch: C = (1/m) Σ_samples C0, so ∂C/∂a = 2(a − y)/m.
 *
 * NOTE on constants (they change the effective learning rate, nothing else):
 * - PyTorch's nn.MSELoss() (reduction 'mean') divides by m·K: ours is K times it.
 * - Nielsen's book uses C = 1/(2m) Σ ||y − a||²: ours is 2 times it, so his η = 3.0 is our 1.5.
 */
import type { Backend } from '../backend/backend.ts';
import type { Loss } from './loss.ts';

/**
 * Mean squared error (the notes' C0 = (a − y)², averaged); pass 'mse' to fit for the same.
 *
 * @example
 * model.fit(train, { optimizer, loss: new MSELoss(), epochs: 1 });
 */
export class MSELoss implements Loss {
  readonly name = 'mse';
  readonly takesLogits = false;

  compute(
    backend: Backend, dy: Float32Array, y: Float32Array, target: Float32Array, rows: number, cols: number,
  ): number {
    return backend.squaredError(dy, y, target, rows * cols, 1 / rows) / rows;
  }
}
