/**
 * GELU: the Gaussian error linear unit (Hendrycks & Gimpel 2016), exact form, as PyTorch's
 * nn.GELU() computes it by default (approximate='none'):
 *
 *   y = x · Φ(x) = ½ · x · (1 + erf(x / √2))        Φ: the standard normal CDF
 *   ∂y/∂x = Φ(x) + x · φ(x)                          φ(x) = e^(−x²/2) / √(2π)
 *
 * Shapes: x, y, dy, dx: (N, ...), any per-sample shape (elementwise). Caches x, and after a
 * training forward also ∂y/∂x (N, ...) in float32, so that backward is one product per value;
 * one exp per value serves both Φ's tails and φ. After an evaluation forward (predict, or
 * traceSample's backward) backward computes ∂y/∂x from x instead.
 *
 * JS has no Math.erf: `GELU.erf` is nabla's own, fitted for this file by scripts/fit-erf.py, computed
 * in float64 and accurate far below float32's resolution. Both loops run in JS on the backend's
 * arrays (the wasm backend's are views on its memory); there is no kernel for GELU.
 */
import type { Rng } from '../random.ts';
import type { Shape, Tensor } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { TensorBuffer, Layer, NO_GRAD, type LayerConfig } from './layer.ts';

// erf(z) = z · A(z²) for |z| < 0.75: an even polynomial of degree 6 in z² (Chebyshev least
// squares against mpmath's erf on [0, 0.75²], converted to powers of z²). Max |error| 6.2e-11.
const ERF_SMALL = [
  1.128379167077263, -0.37612638561071554, 0.11283781270219963, -0.02686498970608584,
  0.005217598286200094, -0.000837065356611052, 9.557234569771888e-05,
];
// erfc(z) = e^(−z²) · t · B(t), t = 1 / (1 + z/2), for z ≥ 0.75: Numerical Recipes' variable t
// (its erfcc fits log B with 10 coefficients, 1.2e-7, and needs a second exp), B of degree 16
// (Chebyshev least squares of erfc(z)·e^(z²)/t against mpmath on z ∈ [0.75, 30]). Max relative
// error 7.2e-14. Its only exp, e^(−z²) = e^(−x²/2) for z = x/√2, is also GELU's density φ.
const ERFC_TAIL = [
  0.28209479183427555, 0.2820947872903012, 0.24683308810213736, 0.17630653960548548,
  0.0837787927972183, -0.004652485421746234, -0.055588701117802224, -0.05577859500358158,
  -0.013648071786515595, 0.15352345036143078, -0.4009850278811218, 1.2438084604512913,
  -2.3763915342427597, 2.638787099306593, -1.7376623397211977, 0.6403728372952385,
  -0.10289747087701095,
];
const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Horner: c[0] + c[1]·v + c[2]·v² + ... */
function poly(c: readonly number[], v: number): number {
  let acc = c[c.length - 1];
  for (let k = c.length - 2; k >= 0; k--) acc = acc * v + c[k];
  return acc;
}

/** erfc(z) / e^(−z²) for z ≥ 0.75. */
function erfcScaled(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  return t * poly(ERFC_TAIL, t);
}

/** erf(z), float64 (the doc of GELU.erf says how accurate). */
function erfImpl(z: number): number {
  const a = Math.abs(z);
  if (a < 0.75) return z * poly(ERF_SMALL, z * z);
  const r = 1 - Math.exp(-a * a) * erfcScaled(a); // e^(−z²) underflows to 0 past z ≈ 27
  return z < 0 ? -r : r;
}

/**
 * Φ(x) = ½ erfc(−x/√2), given e = e^(−x²/2) (which the caller shares with φ(x) = e/√(2π)); the
 * small tail from erfc directly, so x·Φ(x) keeps its digits for x ≪ 0.
 */
function normalCdf(x: number, e: number): number {
  const z = x * Math.SQRT1_2;
  if (Math.abs(z) < 0.75) return 0.5 + 0.5 * z * poly(ERF_SMALL, z * z);
  const tail = 0.5 * e * erfcScaled(Math.abs(z));
  return z < 0 ? tail : 1 - tail;
}

/**
 * x·Φ(x) elementwise: PyTorch's nn.GELU() (the exact form, not the tanh approximation).
 *
 * @example
 * new Sequential([new Dense(256), new GELU(), new Dense(10)], { inputShape: [784] });
 */
export class GELU extends Layer {
  readonly type = 'GELU';
  private readonly out = new TensorBuffer();
  private readonly slopeBuf = new TensorBuffer();
  private x: Tensor | undefined;
  /** ∂y/∂x of the last forward, when it was a training one (slopeFresh). */
  private slope: Tensor | undefined;
  private slopeFresh = false;
  private readonly dxBuf = new TensorBuffer();

  protected init(inputShape: Shape, _rng: Rng): Shape {
    return inputShape;
  }

  forward(x: Tensor, training: boolean): Tensor {
    const n = x.shape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    const xd = x.data;
    const yd = y.data;
    this.x = x;
    this.slopeFresh = training;
    if (!training) {
      for (let i = 0; i < xd.length; i++) {
        const v = xd[i];
        const z = v * Math.SQRT1_2;
        // Φ needs the exp only in its tails (normalCdf's own test of |z|).
        yd[i] = v * normalCdf(v, Math.abs(z) < 0.75 ? 0 : Math.exp(-z * z));
      }
      return y;
    }
    // Training: also keep ∂y/∂x = Φ(x) + x·φ(x), so that backward is one product per value.
    const dydx = this.slopeBuf.get(this.backend, n, this.outputShape);
    const sd = dydx.data;
    for (let i = 0; i < xd.length; i++) {
      const v = xd[i];
      const e = Math.exp(-0.5 * v * v);
      const cdf = normalCdf(v, e);
      yd[i] = v * cdf;
      sd[i] = cdf + v * SQRT1_2PI * e;
    }
    this.slope = dydx;
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.needsInputGrad) return NO_GRAD;
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    const dyd = dy.data;
    const dxd = dx.data;
    if (this.slopeFresh) {
      const sd = this.slope!.data;
      for (let i = 0; i < dyd.length; i++) dxd[i] = dyd[i] * sd[i];
      return dx;
    }
    // After an evaluation forward (traceSample does this): ∂y/∂x from the cached x.
    const xd = this.x!.data;
    for (let i = 0; i < dyd.length; i++) {
      const v = xd[i];
      const e = Math.exp(-0.5 * v * v);
      dxd[i] = dyd[i] * (normalCdf(v, e) + v * SQRT1_2PI * e);
    }
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type };
  }

  /**
   * The error function erf(z) = 2/√π ∫₀^z e^(−t²) dt, in float64: a polynomial for |z| < 0.75 and
   * 1 − erfc(|z|) from a fitted tail beyond. Measured against mpmath (40 digits) on 400 001 points
   * of [−8, 8]: max absolute error 6.2e-11, max relative error 8.8e-11 (both at |z| → 0.75 from
   * below, the polynomial's end). float32 resolves 6e-8: GELU's float32 outputs measured on 200 001
   * points of [−12, 12] are within 6.0e-8 relative of mpmath's x·Φ(x), i.e. correctly rounded.
   *
   * @example
   * GELU.erf(0.5); // 0.5204998778130465
   * GELU.erf(-3);  // -0.9999779095030014
   */
  static erf(z: number): number {
    return erfImpl(z);
  }

  static readonly kind: LayerKind = {
    type: 'GELU',
    fromConfig: () => new GELU(),
    spec: { names: ['gelu'], grammar: 'gelu', parse(t) { t.noArg(); return { type: 'GELU' }; } },
    output: 'activations',
    // Opset 13 has Erf but no Gelu (opset 20): y = (x · (1 + Erf(x / √2))) · 0.5, as PyTorch exports it.
    onnx(ctx) {
      const sqrt2 = ctx.constant('sqrt2', [Math.SQRT2], []);
      const one = ctx.constant('one', [1], []);
      const half = ctx.constant('half', [0.5], []);
      ctx.node('Div', [ctx.input, sqrt2], [], [ctx.value('div')]);
      ctx.node('Erf', [ctx.value('div')], [], [ctx.value('erf')]);
      ctx.node('Add', [ctx.value('erf'), one], [], [ctx.value('add')]);
      ctx.node('Mul', [ctx.input, ctx.value('add')], [], [ctx.value('mul')]);
      ctx.node('Mul', [ctx.value('mul'), half]);
    },
    pytorch: () => "nn.GELU(approximate='none')",
  };
}
