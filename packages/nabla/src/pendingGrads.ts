/**
 * Gradients left uncleared for one training step: Optimizer.zeroGradLazily marks a gradient
 * pending instead of filling it with zeros when its layer registered it (markOverwritable), and
 * that layer's backward then writes it with beta = 0 instead of adding to zeros (takeCleared);
 * Optimizer.finishZeroGrad clears what no backward wrote. The same numbers, one pass fewer over
 * the largest gradients. Shared by layers and optimisers, so it lives here, beside the tensors.
 */
/** Gradients that their layer writes whole in one product when told to (Dense's weight gradient). */
export const OVERWRITABLE = new WeakSet<Float32Array>();
/** Gradients zeroGradLazily left uncleared: they hold stale values until written or cleared. */
export const PENDING = new WeakSet<Float32Array>();

/**
 * For a layer: its backward can write this gradient whole (beta = 0) instead of adding to it,
 * when takeCleared says it is pending.
 *
 * @example
 * markOverwritable(this.weight.grad.data); // in init
 */
export function markOverwritable(grad: Float32Array): void {
  OVERWRITABLE.add(grad);
}

/**
 * For a layer's backward: true (once) when zeroGradLazily left this gradient pending, so the
 * layer must write it rather than add to it; false when it holds a gradient to add to.
 *
 * @example
 * const beta = takeCleared(dW) ? 0 : 1;
 */
export function takeCleared(grad: Float32Array): boolean {
  return PENDING.delete(grad);
}
