// The 4 × 4 transpose the kernels share: GEMM panels, and the Winograd packing that interleaves
// 4 samples per vector (and undoes it).

// Transpose the 4 × 4 block whose rows are x0..x3 and store its columns at out, out + step,
// out + 2·step, out + 3·step (bytes): vector k holds lane k of each row.
// @ts-ignore: decorator
@inline
export function transpose4(out: usize, step: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(out + step, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(out + 2 * step, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(out + 3 * step, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}
