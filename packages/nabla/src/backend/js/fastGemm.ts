/**
 * fastGemm: a register-blocked GEMM in plain JavaScript.
 *
 * How it is fast (as fast as scalar JS gets, ≈ 2-3 GFLOP/s here):
 * - op(B) is packed into panels of 4 columns, (k × 4) each, contiguous, so the inner loop reads
 *   B sequentially whatever the transpose flag was;
 * - op(A) is made row-major (copied only when transA), so 4 rows are read with unit stride;
 * - a 4 × 4 block of C lives in 16 local variables over the whole k loop, so every loaded
 *   value of A and B is used 4 times before it leaves a register.
 * Edge rows (m not a multiple of 4) take a 1 × 4 path; edge columns are zero-padded in the panel
 * and simply not stored.
 *
 * Operands that are mostly zeros go to sparseGemm instead (see there).
 * The caller supplies growable scratch space; see JsBackend.
 */
import { density, gemmSparseA, gemmSparseB, SPARSE_DENSITY, SPARSE_MIN_ROW, transpose } from './sparseGemm.ts';

export interface GemmScratch {
  /** Returns a buffer of at least `size` floats for packed B (reused across calls). */
  packB(size: number): Float32Array;
  /** Returns a buffer of at least `size` floats for row-major A (reused across calls). */
  packA(size: number): Float32Array;
  /** A third float buffer (sparse values). */
  floats(size: number): Float32Array;
  /** Integer buffer number `slot` (0..2), at least `size` long. */
  ints(slot: number, size: number): Int32Array;
}

export function fastGemm(
  c: Float32Array, a: Float32Array, b: Float32Array,
  m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, beta: number,
  scratch: GemmScratch,
): void {
  scaleC(c, m * n, beta);
  if (alpha === 0 || k === 0 || m === 0 || n === 0) return;
  // Mostly-zero operands (pixels, ReLU outputs) take the sparse path. It streams rows of the
  // other operand, so it only pays when those rows are long (≥ SPARSE_MIN_ROW); the density scan
  // is one pass over the operand, small next to the m·n·k multiply-adds.
  // When both qualify, the sparser one wins: the work is proportional to its non-zeros.
  const densityA = n >= SPARSE_MIN_ROW ? density(a, m * k) : 1;
  const densityB = m >= SPARSE_MIN_ROW ? density(b, k * n) : 1;
  if (Math.min(densityA, densityB) < SPARSE_DENSITY) {
    if (densityA <= densityB) return gemmSparseA(c, a, b, m, n, k, transA, transB, alpha, scratch);
    return gemmSparseB(c, a, b, m, n, k, transA, transB, alpha, scratch);
  }

  const panels = Math.ceil(n / 4);
  const bp = scratch.packB(panels * k * 4);
  packPanels(bp, b, n, k, transB);
  const ar = transA ? transpose(scratch.packA(m * k), a, k, m) : a;

  for (let p = 0; p < panels; p++) {
    const j = p * 4;
    const width = Math.min(4, n - j);
    const pb = p * k * 4;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let q = 0, bo = pb; q < k; q++, bo += 4) {
        const b0 = bp[bo], b1 = bp[bo + 1], b2 = bp[bo + 2], b3 = bp[bo + 3];
        let x = ar[a0 + q];
        c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
        x = ar[a1 + q];
        c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
        x = ar[a2 + q];
        c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
        x = ar[a3 + q];
        c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
      }
      storeRow(c, i * n + j, width, alpha, c00, c01, c02, c03);
      storeRow(c, (i + 1) * n + j, width, alpha, c10, c11, c12, c13);
      storeRow(c, (i + 2) * n + j, width, alpha, c20, c21, c22, c23);
      storeRow(c, (i + 3) * n + j, width, alpha, c30, c31, c32, c33);
    }
    for (; i < m; i++) {
      const a0 = i * k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      for (let q = 0, bo = pb; q < k; q++, bo += 4) {
        const x = ar[a0 + q];
        c00 += x * bp[bo]; c01 += x * bp[bo + 1]; c02 += x * bp[bo + 2]; c03 += x * bp[bo + 3];
      }
      storeRow(c, i * n + j, width, alpha, c00, c01, c02, c03);
    }
  }
}

function scaleC(c: Float32Array, size: number, beta: number): void {
  if (beta === 0) c.fill(0, 0, size);
  else if (beta !== 1) for (let i = 0; i < size; i++) c[i] *= beta;
}

/** Pack op(B) (k × n) into ceil(n/4) panels of (k × 4), zero-padding the last panel. */
function packPanels(bp: Float32Array, b: Float32Array, n: number, k: number, transB: boolean): void {
  let o = 0;
  for (let j = 0; j < n; j += 4) {
    const width = Math.min(4, n - j);
    for (let q = 0; q < k; q++) {
      for (let jj = 0; jj < 4; jj++) {
        bp[o++] = jj >= width ? 0 : transB ? b[(j + jj) * k + q] : b[q * n + j + jj];
      }
    }
  }
}

function storeRow(
  c: Float32Array, o: number, width: number, alpha: number,
  v0: number, v1: number, v2: number, v3: number,
): void {
  c[o] += alpha * v0;
  if (width > 1) c[o + 1] += alpha * v1;
  if (width > 2) c[o + 2] += alpha * v2;
  if (width > 3) c[o + 3] += alpha * v3;
}
