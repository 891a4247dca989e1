// GEMM in AssemblyScript with 128-bit SIMD: C = alpha·op(A)·op(B) + beta·C, columns [n0, n1).
//
// The classic blocked scheme (Goto & van de Geijn): for each block of KC values of k and NC
// columns, copy ("pack") op(B) into panels of NR = 8 columns so the micro-kernel reads it
// contiguously, and op(A) into panels of MR = 4 rows; then a micro-kernel keeps a 4 × 8 tile of
// C in eight v128 registers while it walks k. Packing is also where the transposes are handled:
// the micro-kernel never knows about them.
//
// All pointers are byte offsets into the shared memory; matrices are row-major f32.
// NOTE: written for imported shared memory and the stub runtime: nothing here allocates, and
// every scratch area (packA, packB, tile) is handed in by the caller, one set per thread.

import { madd } from './madd';

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 1024;

/** Bytes of packing scratch one thread needs: packA (MC×KC) + packB (KC×NC) + a 4×8 tile. */
export function gemmScratchBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4;
}

// Pack op(A)[i0 .. i0+mc, p0 .. p0+kc) into panels of MR rows: panel q holds, for each p,
// the MR values op(A)[i0 + q·MR + r, p] (r = 0..MR−1), zero-padded past mc.
function packA(dst: usize, a: usize, lda: i32, transA: bool, i0: i32, mc: i32, p0: i32, kc: i32): void {
  for (let q = 0; q < mc; q += MR) {
    const rows = min(MR, mc - q);
    const panel = dst + <usize>(q * kc) * 4;
    if (transA) {
      // A is stored (k × m): op(A)[i, p] = A[p, i]; the MR values for one p are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = a + (<usize>(p0 + p) * lda + <usize>(i0 + q)) * 4;
        const out = panel + <usize>(p * MR) * 4;
        if (rows == MR) v128.store(out, v128.load(src));
        else for (let r = 0; r < MR; r++) store<f32>(out + r * 4, r < rows ? load<f32>(src + r * 4) : 0);
      }
    } else {
      // A is stored (m × k): walk each row contiguously and scatter into the panel.
      for (let r = 0; r < MR; r++) {
        if (r < rows) {
          const src = a + (<usize>(i0 + q + r) * lda + <usize>p0) * 4;
          for (let p = 0; p < kc; p++) store<f32>(panel + <usize>(p * MR + r) * 4, load<f32>(src + p * 4));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(panel + <usize>(p * MR + r) * 4, 0);
        }
      }
    }
  }
}

// Pack op(B)[p0 .. p0+kc, j0 .. j0+nc) into panels of NR columns: panel q holds, for each p,
// the NR values op(B)[p, j0 + q·NR + c], zero-padded past nc.
function packB(dst: usize, b: usize, ldb: i32, transB: bool, p0: i32, kc: i32, j0: i32, nc: i32): void {
  for (let q = 0; q < nc; q += NR) {
    const cols = min(NR, nc - q);
    const panel = dst + <usize>(q * kc) * 4;
    if (!transB) {
      // B is stored (k × n): the NR values for one p are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = b + (<usize>(p0 + p) * ldb + <usize>(j0 + q)) * 4;
        const out = panel + <usize>(p * NR) * 4;
        if (cols == NR) {
          v128.store(out, v128.load(src));
          v128.store(out + 16, v128.load(src + 16));
        } else {
          for (let c = 0; c < NR; c++) store<f32>(out + c * 4, c < cols ? load<f32>(src + c * 4) : 0);
        }
      }
    } else {
      // B is stored (n × k): op(B)[p, j] = B[j, p]; walk each stored row contiguously.
      for (let c = 0; c < NR; c++) {
        if (c < cols) {
          const src = b + (<usize>(j0 + q + c) * ldb + <usize>p0) * 4;
          for (let p = 0; p < kc; p++) store<f32>(panel + <usize>(p * NR + c) * 4, load<f32>(src + p * 4));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(panel + <usize>(p * NR + c) * 4, 0);
        }
      }
    }
  }
}

// The micro-kernel: tile (MR × NR) = Σ_p Apanel[p] ⊗ Bpanel[p], then C[tile] += alpha·tile.
// Eight accumulators + two B vectors + one broadcast A value fit the 16 SIMD registers.
// @ts-ignore: decorator
@inline
function micro(c: usize, ldc: i32, ap: usize, bp: usize, kc: i32, alpha: f32, rows: i32, cols: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += MR * 4;
    bp += NR * 4;
  }
  const al = f32x4.splat(alpha);
  const ldc4 = <usize>ldc * 4;
  if (rows == MR && cols == NR) {
    let row = c;
    v128.store(row, madd(al, c00, v128.load(row))); v128.store(row, madd(al, c01, v128.load(row, 16)), 16);
    row += ldc4;
    v128.store(row, madd(al, c10, v128.load(row))); v128.store(row, madd(al, c11, v128.load(row, 16)), 16);
    row += ldc4;
    v128.store(row, madd(al, c20, v128.load(row))); v128.store(row, madd(al, c21, v128.load(row, 16)), 16);
    row += ldc4;
    v128.store(row, madd(al, c30, v128.load(row))); v128.store(row, madd(al, c31, v128.load(row, 16)), 16);
    return;
  }
  // Edge tile: spill to scratch, then add only the rows and columns that exist.
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  for (let r = 0; r < rows; r++) {
    const row = c + <usize>r * ldc4;
    for (let j = 0; j < cols; j++) {
      const dst = row + <usize>j * 4;
      store<f32>(dst, load<f32>(dst) + alpha * load<f32>(tile + <usize>(r * NR + j) * 4));
    }
  }
}

/** C[:, n0..n1) = alpha·op(A)·op(B)[:, n0..n1) + beta·C[:, n0..n1). Scratch from gemmScratchBytes. */
export function gemm(
  c: usize, a: usize, b: usize, m: i32, n: i32, k: i32,
  transA: bool, transB: bool, alpha: f32, beta: f32,
  n0: i32, n1: i32, scratch: usize,
): void {
  // beta first, once: every k block then accumulates into C.
  if (beta != 1) {
    const bv = f32x4.splat(beta);
    for (let i = 0; i < m; i++) {
      const row = c + <usize>i * n * 4;
      let j = n0;
      if (beta == 0) {
        for (; j + 4 <= n1; j += 4) v128.store(row + <usize>j * 4, f32x4.splat(0));
        for (; j < n1; j++) store<f32>(row + <usize>j * 4, 0);
      } else {
        for (; j + 4 <= n1; j += 4) v128.store(row + <usize>j * 4, f32x4.mul(bv, v128.load(row + <usize>j * 4)));
        for (; j < n1; j++) store<f32>(row + <usize>j * 4, beta * load<f32>(row + <usize>j * 4));
      }
    }
  }
  if (k == 0 || alpha == 0) return;
  const pA = scratch;
  const pB = scratch + <usize>(MC * KC) * 4;
  const tile = pB + <usize>(KC * NC) * 4;
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(pB, b, ldb, transB, pc, kc, jc, nc);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(pA, a, lda, transA, ic, mc, pc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bp = pB + <usize>(jr * kc) * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const cp = c + (<usize>(ic + ir) * n + <usize>(jc + jr)) * 4;
            micro(cp, n, pA + <usize>(ir * kc) * 4, bp, kc, alpha, rows, cols, tile);
          }
        }
      }
    }
  }
}
