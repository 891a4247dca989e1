/**
 * gradCheck: verify an analytic gradient against central differences,
 *
 *     ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h,
 *
 * whose truncation error is O(h²) (a one-sided difference is only O(h)). Values are float32, so
 * f must accumulate its result in float64 and h cannot be tiny: the round-off in f(x ± h), about
 * 6e-8·|f|, is divided by 2h. See docs/numerics.md for the chosen h and tolerances.
 *
 * `checkLayerGradients` applies it to a layer: with the scalar f = Σ r ⊙ layer(x) for a fixed
 * random r, ∂f/∂y = r, so backward(r) must return ∂f/∂x and add ∂f/∂θ into every parameter
 * gradient.
 */
import { JsBackend } from '../backend/js/jsBackend.ts';
import type { Backend } from '../backend/backend.ts';
import type { Layer } from '../layers/layer.ts';
import { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';

/**
 * Step and tolerances of a central-difference check.
 *
 * @example
 * gradCheck(f, x, analytic, { h: 1e-3, rtol: 1e-3, atol: 1e-5 });
 */
export interface GradCheckOptions {
  /** Step h (default 1e-2, see docs/numerics.md). */
  h?: number;
  rtol?: number;
  atol?: number;
  /** Check at most this many coordinates, spread evenly (default: all). */
  maxChecks?: number;
}

/**
 * gradCheck's verdict, with the worst coordinate.
 *
 * @example
 * const r: GradCheckResult = gradCheck(f, x, analytic);
 * if (!r.ok) throw new Error(r.message);
 */
export interface GradCheckResult {
  ok: boolean;
  checked: number;
  maxAbsError: number;
  /** Index with the largest error relative to its tolerance, and its two values. */
  worst: { index: number; analytic: number; numeric: number };
  message: string;
}

/**
 * Check `analytic` = ∂f/∂x at the current contents of `x`, where `f()` reads `x`.
 * `x` is perturbed in place and restored.
 *
 * @example
 * const x = new Float32Array([1, 2]);
 * const f = () => x[0] * x[0] + 3 * x[1]; // ∂f/∂x = [2x0, 3]
 * gradCheck(f, x, new Float32Array([2, 3])).ok; // true
 */
export function gradCheck(
  f: () => number, x: Float32Array, analytic: ArrayLike<number>, options: GradCheckOptions = {},
): GradCheckResult {
  const h = options.h ?? 1e-2;
  const rtol = options.rtol ?? 1e-2;
  const atol = options.atol ?? 1e-3;
  const stride = Math.max(1, Math.floor(x.length / (options.maxChecks ?? x.length)));
  let checked = 0;
  let maxAbsError = 0;
  let worst = { index: -1, analytic: 0, numeric: 0 };
  let worstRatio = -Infinity;
  let failures = 0;
  for (let i = 0; i < x.length; i += stride) {
    const saved = x[i];
    x[i] = saved + h;
    const up = f();
    x[i] = saved - h;
    const down = f();
    x[i] = saved;
    // The step actually taken is what float32 could represent, not h itself.
    const step = Math.fround(saved + h) - Math.fround(saved - h);
    const numeric = (up - down) / step;
    const err = Math.abs(analytic[i] - numeric);
    const limit = atol + rtol * Math.abs(numeric);
    maxAbsError = Math.max(maxAbsError, err);
    if (!(err <= limit)) failures++;
    const ratio = Number.isNaN(err) ? Infinity : err / limit;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, analytic: analytic[i], numeric };
    }
    checked++;
  }
  const ok = failures === 0;
  const message =
    `${ok ? 'gradient ok' : `${failures} of ${checked} gradient entries off`}: max |analytic − numeric| ${maxAbsError.toExponential(2)}; ` +
    `worst at ${worst.index}: analytic ${worst.analytic}, numeric ${worst.numeric} (h ${h}, rtol ${rtol}, atol ${atol})`;
  return { ok, checked, maxAbsError, worst, message };
}

/**
 * Options of checkLayerGradients: the input shape and batch to check a layer on, and the tolerances.
 *
 * @example
 * checkLayerGradients(new Dense(3), { inputShape: [4], batch: 2 });
 */
export interface LayerCheckOptions extends GradCheckOptions {
  /** Per-sample input shape. */
  inputShape: Shape;
  /** Batch size (default 3). */
  batch?: number;
  seed?: number;
  backend?: Backend;
  /** Inputs closer than this to a kink (0 for ReLU) are moved away from it (default 0). */
  avoidZero?: number;
  /** Run forward in training mode (default true); false checks e.g. BatchNorm's evaluation mode. */
  training?: boolean;
}

/**
 * checkLayerGradients's verdict for the input gradient and each parameter.
 *
 * @example
 * const report: LayerCheckReport = checkLayerGradients(new Tanh(), { inputShape: [5] });
 */
export interface LayerCheckReport {
  ok: boolean;
  results: { name: string; result: GradCheckResult }[];
  message: string;
}

/**
 * Gradient-check one layer: its input gradient and every parameter gradient.
 *
 * @example
 * const report = checkLayerGradients(new Dense(4), { inputShape: [5] });
 * if (!report.ok) throw new Error(report.message);
 */
export function checkLayerGradients(layer: Layer, options: LayerCheckOptions): LayerCheckReport {
  const rng = new Rng(options.seed ?? 1);
  const backend = options.backend ?? new JsBackend();
  const outShape = layer.build(options.inputShape, { backend, rng, index: 0 });
  const n = options.batch ?? 3;
  const x = new Tensor([n, ...options.inputShape]);
  const avoid = options.avoidZero ?? 0;
  const training = options.training ?? true;
  for (let i = 0; i < x.size; i++) {
    let v = rng.normal();
    if (Math.abs(v) < avoid) v = v < 0 ? v - avoid : v + avoid;
    x.data[i] = v;
  }
  const probe = new Tensor([n, ...outShape]);
  for (let i = 0; i < probe.size; i++) probe.data[i] = rng.normal();

  // f = Σ probe ⊙ layer(x), accumulated in float64.
  const f = (): number => {
    const y = layer.forward(x, training);
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.data[i] * probe.data[i];
    return s;
  };

  for (const p of layer.params()) p.grad.data.fill(0);
  layer.needsInputGrad = true;
  layer.forward(x, training);
  const dx = layer.backward(probe).data.slice();
  const grads = layer.params().map((p) => ({ p, analytic: p.grad.data.slice() }));

  const results: { name: string; result: GradCheckResult }[] = [];
  results.push({ name: 'input', result: gradCheck(f, x.data, dx, options) });
  for (const { p, analytic } of grads) results.push({ name: p.name, result: gradCheck(f, p.value.data, analytic, options) });
  const ok = results.every((r) => r.result.ok);
  const message = results.map((r) => `${layer.type} ${r.name}: ${r.result.message}`).join('\n');
  return { ok, results, message };
}
