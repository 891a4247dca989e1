/**
 * For a layer that also does the forward and the backward of a ReLU right after it in a model
 * (Layer.forwardThrough and backwardThrough: batch norm, Dense): what the model asked before the
 * layer's next forward and before its next backward, each answer good for that one call.
 */
import type { Layer } from './layer.ts';
import { ReLU } from './activations.ts';

export class FollowingRelu {
  private forward = false;
  private backward = false;

  /** forwardThrough's answer: whether `next` is a ReLU (takeForward then says so, once). */
  askForward(next: Layer): boolean {
    return (this.forward = next instanceof ReLU);
  }

  /** backwardThrough's answer: whether `next` is a ReLU and the layer has run a forward. */
  askBackward(next: Layer, ranForward: boolean): boolean {
    return (this.backward = next instanceof ReLU && ranForward);
  }

  /** Whether this forward does the ReLU's too; a forward also drops a backward answer still pending. */
  takeForward(): boolean {
    const through = this.forward;
    this.forward = false;
    this.backward = false;
    return through;
  }

  /** Whether this backward does the ReLU's too (dy is then the gradient at the ReLU's output). */
  takeBackward(): boolean {
    const through = this.backward;
    this.backward = false;
    return through;
  }
}
