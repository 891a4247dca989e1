/**
 * LayerNorm: normalise each sample over all its features to zero mean and unit variance, then
 * scale and shift every feature by learned γ (weight) and β (bias) (Ba, Kiros & Hinton 2016).
 * PyTorch's nn.LayerNorm(normalized_shape = the per-sample shape, eps, elementwise_affine=True):
 * after Dense, nn.LayerNorm(F); on images, nn.LayerNorm([C, H, W]) (every value of the sample,
 * one γ and β per value: not per channel).
 *
 *   μ = mean(x),  σ² = mean((x − μ)²)  (biased, as PyTorch)       over the D values of one sample
 *   x̂ = (x − μ) / sqrt(σ² + eps),  y = γ ⊙ x̂ + β
 *
 * Shapes: x, y, dy, dx: (N, ...S) with D = size of S (flat (N, F) or images (N, C, H, W));
 * weight, bias: S. Caches x̂ (N, ...S) and 1/sqrt(σ² + eps) (N), the same in training and
 * evaluation (no running statistics: a sample's output never depends on the rest of its batch).
 *
 * Backward, per sample, with g = dy ⊙ γ (the standard formula: x̂ depends on x through μ and σ):
 *   dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / sqrt(σ² + eps)
 *   dγ += Σ_N dy ⊙ x̂,   dβ += Σ_N dy
 * Both loops run in JS on the backend's arrays (the wasm backend's are views on its memory); sums
 * are float64.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import { shapeSize, shapeToString, type Shape, type Tensor } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, NO_GRAD, type LayerConfig, type Param } from './layer.ts';

/**
 * Options of LayerNorm.
 *
 * @example
 * new LayerNorm({ eps: 1e-6 });
 */
export interface LayerNormOptions {
  /** Added to the variance before the square root (default 1e-5, PyTorch's). */
  eps?: number;
}

/**
 * Layer normalisation over each sample's features (PyTorch's nn.LayerNorm over the per-sample
 * shape), with parameters `weight` (γ, starts at 1) and `bias` (β, starts at 0) of that shape.
 *
 * @example
 * new Sequential([new Dense(256), new LayerNorm(), new GELU(), new Dense(10)], { inputShape: [784] });
 */
export class LayerNorm extends Layer {
  readonly type = 'LayerNorm';
  readonly eps: number;
  weight!: Param;
  bias!: Param;
  private readonly out = new TensorBuffer();
  private readonly xhatBuf = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();
  /** x̂ of the last forward: (N, ...S). */
  private xhat: Tensor | undefined;
  /** 1/sqrt(σ² + eps) per sample of the last forward (grown to the largest batch, never shrunk). */
  private invStd = new Float64Array(0);

  /** @example new LayerNorm() // eps 1e-5 */
  constructor(options: LayerNormOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps > 0 && Number.isFinite(this.eps))) {
      throw new NablaError({ where: 'LayerNorm', expected: 'eps > 0', found: String(options.eps) });
    }
  }

  protected init(inputShape: Shape, _rng: Rng): Shape {
    if (inputShape.length === 0) throw this.shapeError('an input with features (N, F) or (N, C, H, W)', inputShape);
    // γ = 1, β = 0: the layer starts as a plain normalisation, as in PyTorch.
    this.weight = this.createParam('weight', inputShape);
    this.weight.value.data.fill(1);
    this.bias = this.createParam('bias', inputShape);
    return inputShape;
  }

  override params(): Param[] {
    return [this.weight, this.bias];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const d = this.weight.value.size;
    const y = this.out.get(this.backend, n, this.outputShape);
    const xhat = this.xhatBuf.get(this.backend, n, this.outputShape);
    if (this.invStd.length < n) this.invStd = new Float64Array(n);
    const xd = x.data;
    const yd = y.data;
    const hd = xhat.data;
    const gamma = this.weight.value.data;
    const beta = this.bias.value.data;
    for (let s = 0; s < n; s++) {
      const o = s * d;
      // Two passes (mean, then squared deviations): no cancellation as in E[x²] − E[x]².
      let sum = 0;
      for (let i = 0; i < d; i++) sum += xd[o + i];
      const mean = sum / d;
      let sq = 0;
      for (let i = 0; i < d; i++) {
        const c = xd[o + i] - mean;
        sq += c * c;
      }
      const inv = 1 / Math.sqrt(sq / d + this.eps);
      this.invStd[s] = inv;
      for (let i = 0; i < d; i++) {
        const h = (xd[o + i] - mean) * inv;
        hd[o + i] = h;
        yd[o + i] = gamma[i] * h + beta[i];
      }
    }
    this.xhat = xhat;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const n = dy.shape[0];
    const d = this.weight.value.size;
    const hd = this.xhat!.data;
    const dyd = dy.data;
    const gamma = this.weight.value.data;
    const dgamma = this.weight.grad.data;
    const dbeta = this.bias.grad.data;
    // dγ, dβ: sums over the batch, added (the gradient contract).
    for (let s = 0; s < n; s++) {
      const o = s * d;
      for (let i = 0; i < d; i++) {
        dgamma[i] += dyd[o + i] * hd[o + i];
        dbeta[i] += dyd[o + i];
      }
    }
    if (!this.needsInputGrad) return NO_GRAD;
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    const dxd = dx.data;
    for (let s = 0; s < n; s++) {
      const o = s * d;
      let sumG = 0;
      let sumGH = 0;
      for (let i = 0; i < d; i++) {
        const g = dyd[o + i] * gamma[i];
        sumG += g;
        sumGH += g * hd[o + i];
      }
      const meanG = sumG / d;
      const meanGH = sumGH / d;
      const inv = this.invStd[s];
      for (let i = 0; i < d; i++) dxd[o + i] = (dyd[o + i] * gamma[i] - meanG - hd[o + i] * meanGH) * inv;
    }
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type, eps: this.eps };
  }

  static readonly kind: LayerKind = {
    type: 'LayerNorm',
    fromConfig: (c) => new LayerNorm({ eps: c.eps === undefined ? undefined : Number(c.eps) }),
    spec: {
      names: ['ln', 'layernorm'],
      grammar: 'ln|layernorm[:EPS]',
      parse(t) {
        if (t.arg === undefined && t.options.length === 0 && t.body === undefined) return { type: 'LayerNorm', eps: 1e-5 };
        const eps = Number(t.arg);
        if (t.arg === undefined || t.arg.trim() === '' || !(eps > 0 && Number.isFinite(eps)) || t.options.length > 0 || t.body !== undefined) {
          throw t.fail(`${t.name} or ${t.name}:EPS with EPS > 0, e.g. ${t.name}:1e-6`);
        }
        return { type: 'LayerNorm', eps };
      },
    },
    summary: (l) => `(over ${shapeToString(l.inputShape)}, ${shapeSize(l.inputShape)} values)`,
    // LayerNormalization(x, weight, bias), axis 1: over every dimension after the batch.
    onnx(ctx) {
      const shape = ctx.layer.inputShape;
      const eps = ctx.layer.config.eps === undefined ? 1e-5 : Number(ctx.layer.config.eps);
      ctx.node('LayerNormalization', [ctx.input, ctx.weight('weight', shape), ctx.weight('bias', shape)],
        [ctx.int('axis', 1), ctx.float('epsilon', eps)]);
    },
    // Over every dimension after the batch, weight and bias of the per-sample shape: normalized_shape.
    pytorch: (ctx) => `nn.LayerNorm(${ctx.py(ctx.layer.inputShape)}, eps=${ctx.py(ctx.layer.config.eps === undefined ? 1e-5 : Number(ctx.layer.config.eps))})`,
  };
}
