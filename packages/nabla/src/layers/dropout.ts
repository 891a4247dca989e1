/**
 * Dropout (inverted): in training, each value is kept with probability 1 − rate and scaled by
 * 1/(1 − rate), or set to 0; in evaluation it is the identity. The scaling keeps the expected
 * activation the same in both modes, so nothing changes at inference (PyTorch's nn.Dropout).
 *
 * Shapes: any x: (N, ...) → y of the same shape. Caches the mask (values 0 or 1/(1 − rate)),
 * drawn from the model's seeded Rng, so a run is repeatable; backward is dx = dy ⊙ mask.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import type { Shape, Tensor } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, type LayerConfig } from './layer.ts';

export class Dropout extends Layer {
  readonly type = 'Dropout';
  readonly rate: number;
  private rng!: Rng;
  /** Whether the last forward dropped anything (training with rate > 0). */
  private masked = false;
  private readonly mask = new TensorBuffer();
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  /** @example new Dropout(0.5) // drops half of the values while training */
  constructor(rate: number) {
    super();
    if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) {
      throw new NablaError({ where: 'Dropout', expected: 'rate in [0, 1)', found: String(rate), hint: 'rate is the fraction dropped, e.g. 0.5' });
    }
    this.rate = rate;
  }

  protected init(inputShape: Shape, rng: Rng): Shape {
    this.rng = rng;
    return inputShape;
  }

  /** Fill `mask` with 0 (probability rate) or 1/(1 − rate). Overridable for deterministic tests. */
  protected drawMask(mask: Float32Array): void {
    const keep = 1 / (1 - this.rate);
    for (let i = 0; i < mask.length; i++) mask[i] = this.rng.uniform() < this.rate ? 0 : keep;
  }

  forward(x: Tensor, training: boolean): Tensor {
    this.masked = training && this.rate > 0;
    if (!this.masked) return x;
    const n = x.shape[0];
    const mask = this.mask.get(this.backend, n, this.outputShape);
    this.drawMask(mask.data);
    const y = this.out.get(this.backend, n, this.outputShape);
    this.backend.multiply(y.data, x.data, mask.data, x.size);
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.masked) return dy;
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.multiply(dx.data, dy.data, this.mask.get(this.backend, dy.shape[0], this.outputShape).data, dy.size);
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type, rate: this.rate };
  }

  static readonly kind: LayerKind = {
    type: 'Dropout',
    fromConfig: (c) => new Dropout(Number(c.rate)),
    spec: {
      names: ['dropout'],
      grammar: 'dropout:RATE',
      parse(t) {
        const rate = Number(t.arg);
        if (t.arg === undefined || t.arg.trim() === '' || !(rate >= 0 && rate < 1) || t.options.length > 0) {
          throw t.fail('dropout:RATE with RATE in [0, 1), e.g. dropout:0.5');
        }
        return { type: 'Dropout', rate };
      },
    },
    summary: (l) => `(${l.config.rate})`,
    // An exported model is for inference, where dropout is the identity.
    onnx: (ctx) => ctx.node('Identity', [ctx.input]),
    // Inverted dropout, as ours: kept values scaled by 1/(1 − p) in training (a different random mask).
    pytorch: (ctx) => `nn.Dropout(p=${ctx.py(Number(ctx.layer.config.rate))})`,
  };
}
