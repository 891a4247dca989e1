/**
 * Window geometry shared by Conv2D, MaxPool2D and AvgPool2D: reading (h, w) pairs from options
 * and configs, checking an image input (N, C, H, W), and the output size
 *
 *     OH = floor((H + 2·PH − KH) / SH) + 1,   OW = floor((W + 2·PW − KW) / SW) + 1.
 */
import { NablaError } from '../errors.ts';
import { shapeToString, type Shape } from '../tensor.ts';

/**
 * A (height, width) pair; a single number means the same for both.
 *
 * @example
 * new Conv2D(8, [5, 3]); // 5×3 kernel
 * new MaxPool2D(2); // 2×2
 */
export type Pair = number | readonly [number, number];

/**
 * [h, w] from a number or a pair, each an integer ≥ min.
 * @example toPair(3, 'kernelSize', 'Conv2D', 1) // [3, 3]
 */
export function toPair(value: Pair | unknown, name: string, where: string, min: number): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= min)) {
    throw new NablaError({
      where,
      expected: `${name} to be an integer ≥ ${min} or a pair [h, w] of them`,
      found: JSON.stringify(value),
      hint: min >= 1 && name === 'stride' ? 'a stride must be positive: 1 visits every position, 2 every other one' : undefined,
    });
  }
  return [pair[0], pair[1]];
}

export interface WindowCheck {
  /** "layer 2 (Conv2D)". */
  label: string;
  /** "kernel" or "pool window". */
  what: string;
  k: [number, number];
  s: [number, number];
  p: [number, number];
}

/**
 * Checks that `inputShape` is an image (C, H, W) and that the window fits into the padded input;
 * returns [C, H, W, OH, OW].
 */
export function imageWindow(inputShape: Shape, check: WindowCheck): [number, number, number, number, number] {
  const { label, what, k, s, p } = check;
  if (inputShape.length !== 3) {
    throw new NablaError({
      where: label,
      expected: 'an image input (N, C, H, W)',
      found: `input shape ${shapeToString(['N', ...inputShape])}`,
      hint: inputShape.length === 1
        ? 'image layers cannot follow a Flatten or Dense layer: move them before it, and give the model an image inputShape such as [1, 28, 28]'
        : 'give the model an image inputShape [C, H, W], e.g. [1, 28, 28] for MNIST',
    });
  }
  const [c, h, w] = inputShape;
  if (h + 2 * p[0] < k[0] || w + 2 * p[1] < k[1]) {
    throw new NablaError({
      where: label,
      expected: `an input of at least ${k[0]}×${k[1]} (after padding) for its ${k[0]}×${k[1]} ${what}`,
      found: `input shape ${shapeToString(['N', ...inputShape])}, ${h + 2 * p[0]}×${w + 2 * p[1]} with padding [${p[0]}, ${p[1]}]`,
      hint: `use a ${what} of at most ${h + 2 * p[0]}×${w + 2 * p[1]}, add padding, or remove a pooling layer before it`,
    });
  }
  const oh = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const ow = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  return [c, h, w, oh, ow];
}

/**
 * "5×5 s2 p1": a window as summary() shows it; stride only when not `defaultStride`, padding when
 * not zero, a square pair as one number.
 * @example windowSummary([3, 3], [1, 1], [1, 1], [1, 1]) // "3×3 p1"
 */
export function windowSummary(k: unknown, s: unknown, defaultStride: unknown, p: unknown = [0, 0]): string {
  const [kh, kw] = k as number[];
  const short = (v: number[]): string => (v[0] !== v[1] ? `${v[0]}×${v[1]}` : String(v[0]));
  const stride = s as number[];
  const padding = p as number[];
  return `${kh}×${kw}` + (stride.some((v, i) => v !== (defaultStride as number[])[i]) ? ` s${short(stride)}` : '') +
    (padding.some((v) => v !== 0) ? ` p${short(padding)}` : '');
}
