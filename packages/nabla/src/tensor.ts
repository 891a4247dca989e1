/**
 * Tensor: a Float32Array plus a shape, row-major, nothing more. No strides, no broadcasting:
 * layers know the shapes they work with and call backend kernels on the raw buffers.
 *
 * Size letters used across nabla: N batch, D/IN features in, OUT features out, C channels,
 * H/W height and width, K classes.
 */
import { NablaError } from './errors.ts';

/**
 * A per-sample or batch shape, outermost dimension first (row-major).
 *
 * @example
 * const shape: Shape = [2, 3]; // 2 rows of 3
 */
export type Shape = readonly number[];

/** A Float32Array and its shape, row-major: what layers pass each other. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: Shape;

  /**
   * @example
   * const t = new Tensor([2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
   * t.get(1, 2); // 6
   */
  constructor(shape: Shape, data?: Float32Array) {
    const size = shapeSize(shape);
    if (data && data.length !== size) {
      throw new NablaError({
        where: 'Tensor',
        expected: `${size} values for shape [${shape.join(', ')}]`,
        found: `${data.length}`,
      });
    }
    this.shape = [...shape];
    this.data = data ?? new Float32Array(size);
  }

  get size(): number {
    return this.data.length;
  }

  /** Element at a multi-index (slow path; for tests and printing, not for kernels). */
  get(...index: number[]): number {
    return this.data[offset(this.shape, index)];
  }

  /** Write the element at a multi-index (slow path, like get). */
  set(value: number, ...index: number[]): void {
    this.data[offset(this.shape, index)] = value;
  }

  /** A tensor sharing this buffer with another shape of the same size. */
  reshape(shape: Shape): Tensor {
    return new Tensor(shape, this.data);
  }

  /** A copy with its own buffer. */
  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }

  /** Nested arrays, for printing and tests. */
  toArray(): unknown {
    const build = (dim: number, base: number): unknown => {
      const n = this.shape[dim];
      if (dim === this.shape.length - 1) return Array.from(this.data.subarray(base, base + n));
      const stride = shapeSize(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, base + i * stride));
    };
    return this.shape.length === 0 ? this.data[0] : build(0, 0);
  }

  /** Build from nested arrays: `Tensor.from([[1, 2], [3, 4]])`. */
  static from(values: unknown): Tensor {
    const shape: number[] = [];
    let probe: unknown = values;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = probe[0];
    }
    const flat = (values as unknown[]).flat(Infinity) as number[];
    return new Tensor(shape, Float32Array.from(flat));
  }
}

/**
 * Number of elements of a shape: the product of its dimensions (1 for []).
 *
 * @example
 * shapeSize([2, 3, 4]); // 24
 */
export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * "[2, 3]"; symbolic sizes allowed: shapeToString(['N', 784]) is "[N, 784]".
 *
 * @example
 * shapeToString(['N', 784]); // '[N, 784]'
 */
export function shapeToString(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function offset(shape: Shape, index: number[]): number {
  let o = 0;
  for (let d = 0; d < shape.length; d++) o = o * shape[d] + index[d];
  return o;
}

/**
 * Index of the first NaN or ±Infinity in v, or −1.
 *
 * @example
 * firstNonFinite(new Float32Array([1, NaN])); // 1
 */
export function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) {
    // x − x is 0 for every finite x and NaN for NaN and ±Infinity: one subtraction per value.
    if (v[i] - v[i] !== 0) return i;
  }
  return -1;
}
