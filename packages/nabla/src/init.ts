/**
 * Weight initialisers. The scale matters: too small and the signal fades layer after layer, too
 * large and it explodes (or saturates a sigmoid, whose gradient then vanishes).
 *
 * - He (Kaiming) normal: N(0, 2/fanIn). Keeps the variance of ReLU activations constant from
 *   layer to layer, since ReLU zeroes half of its inputs (He et al. 2015).
 * - Xavier (Glorot) uniform: U(−l, l), l = sqrt(6/(fanIn + fanOut)). Keeps the variance of both
 *   the forward signal and the backward gradient for tanh/sigmoid-like units (Glorot & Bengio 2010).
 */
import { NablaError } from './errors.ts';
import type { Rng } from './random.ts';

/**
 * Weight initialisers: 'he' (normal, variance 2/fanIn, for ReLU) and 'xavier' (uniform, for sigmoid/tanh).
 *
 * @example
 * const init: InitName = 'xavier';
 */
export type InitName = 'he' | 'xavier';
/**
 * Every InitName, for validation and help texts.
 *
 * @example
 * INIT_NAMES.includes('he'); // true
 */
export const INIT_NAMES: readonly InitName[] = ['he', 'xavier'];

/** @example heNormal(w.data, 784, rng) */
export function heNormal(out: Float32Array, fanIn: number, rng: Rng): void {
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < out.length; i++) out[i] = std * rng.normal();
}

/** @example xavierUniform(w.data, 784, 128, rng) */
export function xavierUniform(out: Float32Array, fanIn: number, fanOut: number, rng: Rng): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
}

/**
 * `name` as an InitName, or a NablaError naming `where`.
 *
 * @example
 * checkInit('he', 'Dense'); // 'he'
 */
export function checkInit(name: unknown, where: string): InitName {
  if (!INIT_NAMES.includes(name as InitName)) {
    throw new NablaError({ where, expected: `init one of ${INIT_NAMES.join(', ')}`, found: String(name) });
  }
  return name as InitName;
}

/**
 * Fill `out` with the named initialiser.
 *
 * @example
 * initialize('he', weights, 784, 128, new Rng(1));
 */
export function initialize(name: InitName, out: Float32Array, fanIn: number, fanOut: number, rng: Rng): void {
  if (name === 'he') heNormal(out, fanIn, rng);
  else if (name === 'xavier') xavierUniform(out, fanIn, fanOut, rng);
  else {
    throw new NablaError({ where: 'initializer', expected: `one of ${INIT_NAMES.join(', ')}`, found: String(name) });
  }
}
