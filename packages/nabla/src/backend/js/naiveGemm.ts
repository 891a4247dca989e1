/**
 * naiveGemm: the triple loop, straight from the definition, with float64 accumulation.
 * Slow on purpose and kept forever: it is the oracle every fast GEMM is tested against.
 *
 * C (m × n) = alpha·op(A)·op(B) + beta·C; see Backend.gemm for the layout of A and B.
 *
 * @example
 * const c = new Float32Array(4);
 * naiveGemm(c, new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([1, 2, 3, 4, 5, 6]), 2, 2, 3, false, false, 1, 0);
 * // c = [22, 28, 49, 64]: the notes' worked product, corrected
 */
export function naiveGemm(
  c: Float32Array, a: Float32Array, b: Float32Array,
  m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, beta: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) {
        const aip = transA ? a[p * m + i] : a[i * k + p];
        const bpj = transB ? b[j * k + p] : b[p * n + j];
        acc += aip * bpj;
      }
      // NOTE: beta = 0 must ignore C entirely (BLAS semantics), even if C holds NaN.
      c[i * n + j] = beta === 0 ? alpha * acc : alpha * acc + beta * c[i * n + j];
    }
  }
}
