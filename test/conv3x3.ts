// Shared by the wasm backend's 3×3 convolution tests (winograd.test.ts, direct3x3.test.ts): a
// float64 direct convolution with each value's scale Σ|terms| (the tolerance's yardstick), one
// forward and backward through a backend, and a counter of which wasm exports ran.
import type { Kernels } from '../packages/nabla/src/backend/wasm/ops.ts';
import type { WasmBackend } from '../packages/nabla/src/backend/wasm/wasmBackend.ts';

/** A 3×3 stride-1 convolution: batch n, c channels of h × w, padding p, oc filters; bias or none. */
export interface Conv3x3Case { n: number; c: number; h: number; w: number; p: number; oc: number; bias: boolean }
/** Operands as float32 values held in float64 (bias all 0 when the case has none). */
export interface Conv3x3Operands { x: Float64Array; weight: Float64Array; bias: Float64Array; dy: Float64Array }
export type Conv3x3Key = 'y' | 'dx' | 'dW' | 'db';

export const outOf = (g: Conv3x3Case): [number, number] => [g.h + 2 * g.p - 2, g.w + 2 * g.p - 2];
export const label = (g: Conv3x3Case): string => `N${g.n} C${g.c} ${g.h}×${g.w} p${g.p} OC${g.oc}${g.bias ? '' : ' no bias'}`;

/** Float64 direct convolution: y, dx, dW and db, each as [exact values, each value's Σ|terms|]. */
export function reference(g: Conv3x3Case, o: Conv3x3Operands): Record<Conv3x3Key, readonly [Float64Array, Float64Array]> {
  const [oh, ow] = outOf(g);
  const y = new Float64Array(g.n * g.oc * oh * ow), ys = new Float64Array(y.length);
  const dx = new Float64Array(o.x.length), dxs = new Float64Array(o.x.length);
  const dW = new Float64Array(o.weight.length), dWs = new Float64Array(o.weight.length);
  const db = new Float64Array(g.oc), dbs = new Float64Array(g.oc);
  for (let s = 0; s < g.n; s++) for (let k = 0; k < g.oc; k++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    const yi = ((s * g.oc + k) * oh + i) * ow + j;
    const d = o.dy[yi];
    y[yi] += o.bias[k];
    ys[yi] += Math.abs(o.bias[k]);
    db[k] += d;
    dbs[k] += Math.abs(d);
    for (let ch = 0; ch < g.c; ch++) for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++) {
      const r = i + u - g.p, q = j + v - g.p;
      if (r < 0 || r >= g.h || q < 0 || q >= g.w) continue;
      const xi = ((s * g.c + ch) * g.h + r) * g.w + q;
      const wi = ((k * g.c + ch) * 3 + u) * 3 + v;
      y[yi] += o.weight[wi] * o.x[xi];
      ys[yi] += Math.abs(o.weight[wi] * o.x[xi]);
      dx[xi] += o.weight[wi] * d;
      dxs[xi] += Math.abs(o.weight[wi] * d);
      dW[wi] += d * o.x[xi];
      dWs[wi] += Math.abs(d * o.x[xi]);
    }
  }
  return { y: [y, ys], dx: [dx, dxs], dW: [dW, dWs], db: [db, dbs] };
}

/**
 * One forward and backward on `backend`: y, dW and db (accumulated into from 0.5, so a kernel
 * that overwrote them would show), and dx when `withDx` (else the backward is asked for none).
 */
export function run(backend: WasmBackend, g: Conv3x3Case, o: Conv3x3Operands, withDx: boolean): Record<Conv3x3Key, Float32Array> {
  const [oh, ow] = outOf(g);
  const put = (values: Float64Array | number, length = typeof values === 'number' ? 0 : values.length) => {
    const a = backend.allocate(length);
    if (typeof values === 'number') a.fill(values);
    else a.set(values);
    return a;
  };
  const x = put(o.x), weight = put(o.weight), bias = g.bias ? put(o.bias) : undefined, dy = put(o.dy);
  const y = put(NaN, g.n * g.oc * oh * ow);
  const geometry = [g.n, g.c, g.h, g.w, 3, 3, 1, 1, g.p, g.p, g.oc] as const;
  backend.conv2dForward(y, x, weight, bias, ...geometry);
  const dW = put(0.5, weight.length), db = put(0.5, g.oc), dx = put(NaN, withDx ? x.length : 0);
  backend.conv2dBackward(dW, g.bias ? db : undefined, withDx ? dx : undefined, x, dy, weight, ...geometry);
  return { y, dx, dW: dW.map((v) => v - 0.5), db: db.map((v) => v - 0.5) };
}

/**
 * Runs `body` with the backend's calling-thread kernel table swapped for a copy that counts the
 * calls of `names`; returns body's result and the counts.
 */
export function countingCalls<T, N extends keyof Kernels>(backend: WasmBackend, names: readonly N[], body: () => T): [T, Record<N, number>] {
  const holder = backend as unknown as { k: Kernels };
  const saved = holder.k;
  const calls = Object.fromEntries(names.map((n) => [n, 0])) as Record<N, number>;
  const copy = { ...saved } as Record<string, unknown>;
  for (const name of names) copy[name] = (...a: number[]) => (calls[name]++, (saved[name] as (...b: number[]) => unknown)(...a));
  holder.k = copy as unknown as Kernels;
  try {
    return [body(), calls];
  } finally {
    holder.k = saved;
  }
}
