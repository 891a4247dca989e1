/**
 * sparseGemm: the GEMM path for an operand that is mostly zeros.
 *
 * Why: MNIST pixels are ≈ 81% zeros, and a ReLU zeroes about half of its outputs. The two largest
 * products of an MLP's training step — the first layer's X·Wᵀ and its weight gradient dYᵀ·X —
 * have such an operand. Skipping its zeros does ≈ 5× less arithmetic; in plain JS that makes the
 * first layer ≈ 4× faster than the dense register-blocked kernel.
 *
 * How: the sparse operand S (rows × depth) is listed row by row as (offset, value) pairs
 * (compressed sparse rows), and the product T = S·D with a dense row-major D (depth × cols) is
 * a sum of scaled rows of D: T[r, :] += s[r, p] · D[p, :]. Four non-zeros are applied per pass
 * over T[r, :], so each load and store of T is shared by four multiply-adds.
 */
import type { GemmScratch } from './fastGemm.ts';

/** Fraction of non-zeros below which the sparse path wins (measured: dense ≈ 2.0, sparse ≈ 1.6 GFLOP/s of real work). */
export const SPARSE_DENSITY = 0.6;
/** Shortest dense row worth streaming: below it, loop overhead beats the skipped zeros. */
export const SPARSE_MIN_ROW = 32;

/** Share of non-zero values in the first `size` entries of v. */
export function density(v: Float32Array, size: number): number {
  let nz = 0;
  for (let i = 0; i < size; i++) if (v[i] !== 0) nz++;
  return size === 0 ? 1 : nz / size;
}

/**
 * C (m × n) += alpha·op(A)·op(B) where op(A) is the sparse one. C must already hold beta·C.
 * Same argument meaning as Backend.gemm.
 */
export function gemmSparseA(
  c: Float32Array, a: Float32Array, b: Float32Array,
  m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, scratch: GemmScratch,
): void {
  // D = op(B) as a row-major (k × n) matrix.
  const d = transB ? transpose(scratch.packB(k * n), b, n, k) : b;
  const csr = toCsr(scratch, a, m, k, transA, n, alpha);
  applyRows(c, csr, d, m, n);
}

/**
 * C (m × n) += alpha·op(A)·op(B) where op(B) is the sparse one, via Cᵀ = op(B)ᵀ·op(A)ᵀ:
 * computed into scratch as (n × m), then added transposed into C. C must hold beta·C.
 */
export function gemmSparseB(
  c: Float32Array, a: Float32Array, b: Float32Array,
  m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, scratch: GemmScratch,
): void {
  // D = op(A)ᵀ as a row-major (k × m) matrix: that is A itself when transA.
  const d = transA ? a : transpose(scratch.packA(k * m), a, m, k);
  // S = op(B)ᵀ (n × k): its rows are op(B)'s columns, i.e. B's rows when transB.
  const csr = toCsr(scratch, b, n, k, !transB, m, alpha);
  const t = scratch.packB(n * m);
  t.fill(0, 0, n * m);
  applyRows(t, csr, d, n, m);
  for (let i = 0; i < m; i++) {
    const o = i * n;
    for (let j = 0; j < n; j++) c[o + j] += t[j * m + i];
  }
}

interface Csr {
  start: Int32Array;
  offset: Int32Array;
  value: Float32Array;
}

/**
 * List the non-zeros of S (rows × depth) row by row. S is stored row-major (rows × depth), or
 * (depth × rows) when `stored transposed`. Each entry keeps p·cols (the offset of row p of D) and
 * alpha·s, so the inner loop has nothing left to multiply.
 */
function toCsr(
  scratch: GemmScratch, s: Float32Array, rows: number, depth: number, storedTransposed: boolean,
  cols: number, alpha: number,
): Csr {
  const start = scratch.ints(0, rows + 1);
  start.fill(0, 0, rows + 1);
  if (!storedTransposed) {
    let nnz = 0;
    for (let r = 0; r < rows; r++) {
      start[r] = nnz;
      const o = r * depth;
      for (let p = 0; p < depth; p++) if (s[o + p] !== 0) nnz++;
    }
    start[rows] = nnz;
    const offset = scratch.ints(1, nnz);
    const value = scratch.floats(nnz);
    for (let r = 0, q = 0; r < rows; r++) {
      const o = r * depth;
      for (let p = 0; p < depth; p++) {
        const v = s[o + p];
        if (v !== 0) {
          offset[q] = p * cols;
          value[q++] = alpha * v;
        }
      }
    }
    return { start, offset, value };
  }
  // Stored (depth × rows): count per row first, then fill (a counting sort by row).
  for (let p = 0; p < depth; p++) {
    const o = p * rows;
    for (let r = 0; r < rows; r++) if (s[o + r] !== 0) start[r + 1]++;
  }
  for (let r = 0; r < rows; r++) start[r + 1] += start[r];
  const nnz = start[rows];
  const offset = scratch.ints(1, nnz);
  const value = scratch.floats(nnz);
  const fill = scratch.ints(2, rows);
  fill.set(start.subarray(0, rows));
  for (let p = 0; p < depth; p++) {
    const o = p * rows;
    for (let r = 0; r < rows; r++) {
      const v = s[o + r];
      if (v !== 0) {
        const q = fill[r]++;
        offset[q] = p * cols;
        value[q] = alpha * v;
      }
    }
  }
  return { start, offset, value };
}

/** T[r, :] += Σ_q value[q]·D[offset[q] ...] over row r's non-zeros, four at a time. */
function applyRows(t: Float32Array, csr: Csr, d: Float32Array, rows: number, cols: number): void {
  const { start, offset, value } = csr;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const end = start[r + 1];
    let q = start[r];
    for (; q + 4 <= end; q += 4) {
      const v0 = value[q], v1 = value[q + 1], v2 = value[q + 2], v3 = value[q + 3];
      const d0 = offset[q], d1 = offset[q + 1], d2 = offset[q + 2], d3 = offset[q + 3];
      for (let j = 0; j < cols; j++) {
        t[o + j] += v0 * d[d0 + j] + v1 * d[d1 + j] + v2 * d[d2 + j] + v3 * d[d3 + j];
      }
    }
    for (; q < end; q++) {
      const v = value[q], d0 = offset[q];
      for (let j = 0; j < cols; j++) t[o + j] += v * d[d0 + j];
    }
  }
}

/** out (cols × rows) = transpose of src (rows × cols). */
export function transpose(out: Float32Array, src: Float32Array, rows: number, cols: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    const s = r * cols;
    for (let q = 0; q < cols; q++) out[q * rows + r] = src[s + q];
  }
  return out;
}
