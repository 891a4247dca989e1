/**
 * GELU: the Gaussian error linear unit (Hendrycks & Gimpel 2016), exact form, as PyTorch's
 * nn.GELU() computes it by default (approximate='none'):
 *
 *   y = x · Φ(x) = ½ · x · (1 + erf(x / √2))        Φ: the standard normal CDF
 *   ∂y/∂x = Φ(x) + x · φ(x)                          φ(x) = e^(−x²/2) / √(2π)
 *
 * Shapes: x, y, dy, dx: (N, ...), any per-sample shape (elementwise). Caches x and Φ(x) (N, ...,
 * float32) for backward, so backward needs one exp per value and no second erf.
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
// erfc(z) = t · exp(−z² + B(t)), t = 1 / (1 + z/2), for z ≥ 0.75: the form of Numerical Recipes'
// erfcc (whose 10 coefficients give 1.2e-7), refitted with degree 13 in t (Chebyshev least squares
// of log(erfc(z)/t) + z² against mpmath on z ∈ [0.75, 30]). Max relative error 2.6e-11.
const ERFC_TAIL = [
  -1.2655121453854232, 1.0000014543777827, 0.37495798494178256, 0.08403351003332016,
  -0.09346700756621523, -0.08839750922542838, -0.37887074487250444, 1.0951754011562196,
  -2.6960902913398526, 5.391818610151938, -6.585460504636041, 4.655712491592357,
  -1.7822171932760462, 0.2882937831811925,
];
const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Horner: c[0] + c[1]·v + c[2]·v² + ... */
function poly(c: readonly number[], v: number): number {
  let acc = c[c.length - 1];
  for (let k = c.length - 2; k >= 0; k--) acc = acc * v + c[k];
  return acc;
}

/** erfc(z) for z ≥ 0.75 (underflows to 0 past z ≈ 26.5, as float64 must). */
function erfcTail(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  return t * Math.exp(-z * z + poly(ERFC_TAIL, t));
}

/** erf(z), float64 (the doc of GELU.erf says how accurate). */
function erfImpl(z: number): number {
  const a = Math.abs(z);
  if (a < 0.75) return z * poly(ERF_SMALL, z * z);
  const r = 1 - erfcTail(a);
  return z < 0 ? -r : r;
}

/** Φ(x) = ½ erfc(−x/√2): the small tail from erfc directly, so x·Φ(x) keeps its digits for x ≪ 0. */
function normalCdf(x: number): number {
  const z = x * Math.SQRT1_2;
  if (Math.abs(z) < 0.75) return 0.5 + 0.5 * z * poly(ERF_SMALL, z * z);
  const tail = 0.5 * erfcTail(Math.abs(z));
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
  private x: Tensor | undefined;
  private readonly out = new TensorBuffer();
  private readonly cdf = new TensorBuffer();
  private phi: Tensor | undefined;
  private readonly dxBuf = new TensorBuffer();

  protected init(inputShape: Shape, _rng: Rng): Shape {
    return inputShape;
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    const p = this.cdf.get(this.backend, n, this.outputShape);
    const xd = x.data;
    const yd = y.data;
    const pd = p.data;
    for (let i = 0; i < xd.length; i++) {
      const v = xd[i];
      const phi = normalCdf(v);
      pd[i] = phi;
      yd[i] = v * phi;
    }
    this.x = x;
    this.phi = p;
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.needsInputGrad) return NO_GRAD;
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    const xd = this.x!.data;
    const pd = this.phi!.data;
    const dyd = dy.data;
    const dxd = dx.data;
    // dx = dy · (Φ(x) + x·φ(x)); φ(x)·x → 0 for large |x|, where exp underflows harmlessly.
    for (let i = 0; i < dyd.length; i++) {
      const v = xd[i];
      dxd[i] = dyd[i] * (pd[i] + v * SQRT1_2PI * Math.exp(-0.5 * v * v));
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
  };
}
