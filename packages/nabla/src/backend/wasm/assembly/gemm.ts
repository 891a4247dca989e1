// GEMM in AssemblyScript with 128-bit SIMD: C = alpha·op(A)·op(B) + beta·C, columns [n0, n1).
//
// The classic blocked scheme (Goto & van de Geijn): for each block of KC values of k and NC
// columns, copy ("pack") op(B) into panels of NR = 8 columns so the micro-kernel reads it
// contiguously, and op(A) into panels of MR = 4 rows; then a micro-kernel keeps a 4 × 8 tile of
// C in eight v128 registers while it walks k. Packing is also where the transposes are handled:
// the micro-kernel never knows about them.
//
// Zero skipping: packing also lists, for every panel, the k-steps where the panel holds any
// non-zero value. A step where A's 4 values or B's 8 values are all zero adds exactly nothing
// to the tile, so when one side's panels are mostly empty (a first layer's inputs: ~80% of
// MNIST's pixels are 0, and whole rows of them), the micro-kernel walks that side's list
// instead of every step. Skipping exact zeros changes no bit of the result (the sums see the
// same non-zero terms in the same order), so which path runs never affects determinism.
//
// The column path: when op(B) is stored (k × n) and mostly zeros value by value, with op(A) =
// Aᵀ (a first layer's weight gradient dYᵀ·X; MNIST's pixels are 81% zeros), even the step
// lists keep about twice the needed steps: a step stays when any of a panel's 8 columns is
// non-zero (39% of that product's steps). The column path lists each pair of B's columns
// instead (22% of the steps) and multiplies them with 16 contiguous values of a row of A at a
// time. It adds the same non-zero products in the same order, per KC block, as the tile
// kernel, and runs only with alpha = 1, where every way of storing a tile rounds alike: so it
// gives the tile kernel's bits, and which path a thread's columns take never changes a result.
// The row path, the same idea for a mostly-zero op(A) stored (m × k) (a first layer's X·Wᵀ):
// each k block lists every row's non-zero steps (19% of MNIST's, against 39% for the tile
// kernel's 4-row panels) just before the block is computed, and each listed step multiplies the
// row's value with 24 columns of packed B (six accumulators). Same sums, same order, same bits.
// It is taken at most ROW_MAX_FILL full, with alpha = 1, also for one thread's range of columns:
// each thread then lists all of A, and in exchange keeps its own rows of W from one training step
// to the next (docs/backends.md, "The MLP epoch: where it goes").
//
// All pointers are byte offsets into the shared memory; matrices are row-major f32.
// NOTE: written for imported shared memory and the stub runtime: nothing here allocates, and
// every scratch area (packA, packB, tile) is handed in by the caller, one set per thread.

import { madd } from './madd';
import { transpose4 } from './transpose';

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 1024;

// Scratch layout (per thread): packed A (MC×KC floats), packed B (KC×NC), the 4×8 edge tile,
// then the step lists: A's (MC/MR panels × KC) and B's (NC/NR × KC) i32 step offsets, and one
// count per panel.
const LIST_A: i32 = (MC / MR) * KC;
const LIST_B: i32 = (NC / NR) * KC;

/** Bytes of scratch one thread needs. */
export function gemmScratchBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR + LIST_A + LIST_B + MC / MR + NC / NR + COMPRESS) * 4;
}

// The row lists' compress table (16 masks × 4 lanes, i32 words): see fillCompress.
const COMPRESS: i32 = 64;

// Use a step list when at most this fraction of a side's steps are non-zero: walking a list
// costs an extra load per step, so nearly full panels are faster the plain way.
const LIST_MAX_FILL: f32 = 0.75;
// Take the column path when at most this fraction of the steps of B's column pairs hold a
// non-zero (MNIST: 22%; the tile kernel's 8-column panels then keep 39%).
const SPARSE_MAX_FILL: f32 = 0.5;
// Take the row path when at most this fraction of a block's steps are non-zero row by row (MNIST:
// 19%). Measured on 64 × 128 × 784 with random zeros, µs a product, row path against tile kernel:
// 137-149 / 186 at 20% non-zero, 210 / 265 at 40%, 246-250 / 265-270 at 50%, 283-289 / 264-269 at 60%.
const ROW_MAX_FILL: f32 = 0.5;
// Below this many steps a block is not worth listing: making the lists costs about as much as
// the multiply-adds they could save (a 5×5 convolution on one channel has k = 25).
const LIST_MIN_STEPS: i32 = 32;

// Pack op(A)[i0 .. i0+mc, p0 .. p0+kc) into panels of MR rows: panel q holds, for each p,
// the MR values op(A)[i0 + q·MR + r, p] (r = 0..MR−1), zero-padded past mc.
// Returns the number of non-zero steps over all panels; panel q's list of step indices
// (increasing p) is at list + q·KC·4, its length at counts + q·4.
function packA(dst: usize, a: usize, lda: i32, transA: bool, i0: i32, mc: i32, p0: i32, kc: i32, list: usize, counts: usize, listing: bool): i32 {
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
    } else if (rows == MR) {
      // A is stored (m × k): read 4 rows × 4 steps as four vectors, transpose them in registers
      // and store the 4 steps' columns contiguously.
      const r0 = a + (<usize>(i0 + q) * lda + <usize>p0) * 4;
      const stride = <usize>lda * 4;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const src = r0 + <usize>p * 4;
        transpose4(panel + <usize>(p * MR) * 4, 16,
          v128.load(src), v128.load(src + stride), v128.load(src + 2 * stride), v128.load(src + 3 * stride));
      }
      for (; p < kc; p++) {
        for (let r = 0; r < MR; r++) store<f32>(panel + <usize>(p * MR + r) * 4, load<f32>(r0 + <usize>r * stride + <usize>p * 4));
      }
    } else {
      // The last, partial panel: walk each row and scatter into the panel, zero-padded.
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
  return listing ? listSteps(dst, mc / MR + (mc % MR != 0 ? 1 : 0), kc, MR, list, counts) : mc * kc;
}

// Pack op(B)[p0 .. p0+kc, j0 .. j0+nc) into panels of NR columns: panel q holds, for each p,
// the NR values op(B)[p, j0 + q·NR + c], zero-padded past nc.
function packB(dst: usize, b: usize, ldb: i32, transB: bool, p0: i32, kc: i32, j0: i32, nc: i32, list: usize, counts: usize, listing: bool): i32 {
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
    } else if (cols == NR) {
      // B is stored (n × k): op(B)[p, j] = B[j, p]. Read 8 stored rows × 4 steps as eight
      // vectors, transpose each 4 × 4 half in registers, store every step's 8 values together.
      const r0 = b + (<usize>(j0 + q) * ldb + <usize>p0) * 4;
      const stride = <usize>ldb * 4;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const src = r0 + <usize>p * 4;
        const out = panel + <usize>(p * NR) * 4;
        transpose4(out, 32,
          v128.load(src), v128.load(src + stride), v128.load(src + 2 * stride), v128.load(src + 3 * stride));
        const hi = src + 4 * stride;
        transpose4(out + 16, 32,
          v128.load(hi), v128.load(hi + stride), v128.load(hi + 2 * stride), v128.load(hi + 3 * stride));
      }
      for (; p < kc; p++) {
        for (let c = 0; c < NR; c++) store<f32>(panel + <usize>(p * NR + c) * 4, load<f32>(r0 + <usize>c * stride + <usize>p * 4));
      }
    } else {
      // The last, partial panel: walk each stored row and scatter, zero-padded.
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
  return listing ? listSteps(dst, nc / NR + (nc % NR != 0 ? 1 : 0), kc, NR, list, counts) : nc * kc;
}

// For each of `panels` packed panels (kc steps of `width` floats, width 4 or 8), list the
// steps holding any non-zero (NaN counts: it must propagate). Returns the total, or every step
// (panels·kc, "dense") when the first panel is already too full for its lists to be used.
function listSteps(packed: usize, panels: i32, kc: i32, width: i32, list: usize, counts: usize): i32 {
  const zero = f32x4.splat(0);
  let total = 0;
  for (let q = 0; q < panels; q++) {
    const panel = packed + <usize>(q * kc * width) * 4;
    const out = list + <usize>(q * KC) * 4;
    let n = 0;
    for (let p = 0; p < kc; p++) {
      const at = <usize>(p * width) * 4;
      let nz = f32x4.ne(v128.load(panel + at), zero);
      if (width == 8) nz = v128.or(nz, f32x4.ne(v128.load(panel + at, 16), zero));
      // Branch-free: always write p, advance only past a non-zero step (zeros are scattered
      // unpredictably, so a branch here would mispredict half the time).
      store<i32>(out + <usize>n * 4, p);
      n += <i32>v128.any_true(nz);
    }
    store<i32>(counts + <usize>q * 4, n);
    total += n;
    // A dense first panel says the operand is dense (weights, gradients): stop listing, the
    // lists would not be used (and listing a dense side costs about as much as its product).
    if (q == 0 && <f32>n > LIST_MAX_FILL * <f32>kc) return panels * kc;
  }
  return total;
}

// The micro-kernel: tile (MR × NR) = Σ_p Apanel[p] ⊗ Bpanel[p], then C[tile] += alpha·tile, or
// with `store` C[tile] = alpha·tile + 0 without reading C (the first k block of a beta = 0
// product: the same bits as adding to the zeros scaleColumns would have written).
// Eight accumulators + two B vectors + one broadcast A value fit the 16 SIMD registers.
// @ts-ignore: decorator
@inline
function micro(
  c: usize, ldc: i32, ap: usize, bp: usize, kc: i32, alpha: f32, rows: i32, cols: i32, tile: usize,
  steps: usize, nsteps: i32, overwrite: bool,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (nsteps < 0) {
    // Every step, in order.
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
  } else {
    // Only the listed steps (the others hold zeros on one side), still in increasing order.
    for (let t = 0; t < nsteps; t++) {
      const p = <usize>load<i32>(steps + <usize>t * 4);
      const bq = bp + p * (NR * 4);
      const aq = ap + p * (MR * 4);
      const b0 = v128.load(bq);
      const b1 = v128.load(bq, 16);
      let a = v128.load32_splat(aq);
      c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
      a = v128.load32_splat(aq, 4);
      c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
      a = v128.load32_splat(aq, 8);
      c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
      a = v128.load32_splat(aq, 12);
      c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    }
  }
  const al = f32x4.splat(alpha);
  const ldc4 = <usize>ldc * 4;
  if (rows == MR && cols == NR && overwrite) {
    const z = f32x4.splat(0);
    let row = c;
    v128.store(row, madd(al, c00, z)); v128.store(row, madd(al, c01, z), 16);
    row += ldc4;
    v128.store(row, madd(al, c10, z)); v128.store(row, madd(al, c11, z), 16);
    row += ldc4;
    v128.store(row, madd(al, c20, z)); v128.store(row, madd(al, c21, z), 16);
    row += ldc4;
    v128.store(row, madd(al, c30, z)); v128.store(row, madd(al, c31, z), 16);
    return;
  }
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
      const old: f32 = overwrite ? 0 : load<f32>(dst);
      store<f32>(dst, old + alpha * load<f32>(tile + <usize>(r * NR + j) * 4));
    }
  }
}

// For each 4-bit mask of non-zero lanes, the i8x16.swizzle control that moves the set lanes'
// i32 values to the front, in order (the rest become 0): listRows appends 4 steps with one
// shuffle and one store. Written into the thread's scratch, not a data segment (see
// build-wasm.mjs: a worker instantiating the module must not write the shared memory).
function fillCompress(table: usize): void {
  for (let m = 0; m < 16; m++) {
    let o = 0;
    for (let l = 0; l < 4; l++) {
      if ((m >> l) & 1) {
        store<i32>(table + <usize>(m * 16 + o * 4), (l * 4) | ((l * 4 + 1) << 8) | ((l * 4 + 2) << 16) | ((l * 4 + 3) << 24));
        o++;
      }
    }
    for (; o < 4; o++) store<i32>(table + <usize>(m * 16 + o * 4), 0x80808080);
  }
}

// The row path's lists for the k block pc .. pc+kc, made just before the block is computed (its
// rows are still in cache): for each row i of A (stored m × k), the block's steps where A[i, p] is
// non-zero, at lists + i·KC·4, their values A[i, p] at vals + i·KC·4, their count at counts + i·4.
// Returns the total, or −1 as soon as the rows seen are too full for the row path (judged first
// from 4 rows: a dense A costs little).
function listRows(a: usize, lda: i32, m: i32, pc: i32, kc: i32, lists: usize, counts: usize, table: usize, vals: usize): i32 {
  const zero = f32x4.splat(0);
  const lanes = i32x4(0, 1, 2, 3);
  let total = 0;
  for (let i = 0; i < m; i++) {
    const row = a + (<usize>i * lda + <usize>pc) * 4;
    const out = lists + <usize>(i * KC) * 4;
    const vout = vals + <usize>(i * KC) * 4;
    let n = 0;
    let p = 0;
    // The 4 steps p..p+3, the kept ones moved to the front, stored whole: n ≤ p, so the store
    // stays within the row's KC entries.
    for (; p + 4 <= kc; p += 4) {
      const v = v128.load(row + <usize>p * 4);
      const mask = i32x4.bitmask(f32x4.ne(v, zero));
      const ctrl = v128.load(table + <usize>(mask << 4));
      v128.store(out + <usize>n * 4, i8x16.swizzle(i32x4.add(i32x4.splat(p), lanes), ctrl));
      v128.store(vout + <usize>n * 4, i8x16.swizzle(v, ctrl));
      n += popcnt(mask);
    }
    for (; p < kc; p++) {
      const v = load<f32>(row + <usize>p * 4);
      store<i32>(out + <usize>n * 4, p);
      store<f32>(vout + <usize>n * 4, v);
      n += <i32>(v != 0);
    }
    store<i32>(counts + <usize>i * 4, n);
    total += n;
    if (i == 3 && <f32>total > ROW_MAX_FILL * <f32>(kc << 2)) return -1;
  }
  return <f32>total > ROW_MAX_FILL * <f32>(kc * m) ? -1 : total;
}

// Store acc (4 consecutive values of C) as C = acc + 0 (first k block) or C += acc: with
// alpha = 1 this is the tile kernel's madd(alpha, acc, old), bit for bit.
// @ts-ignore: decorator
@inline
function storeSum(at: usize, acc: v128, first: bool): void {
  v128.store(at, f32x4.add(acc, first ? f32x4.splat(0) : v128.load(at)));
}

// The row path over one k block: for each row i of A (listed by listRows), C[i, jc .. jc+nc) +=
// Σ over the row's listed steps p of A[i, p] · packed B[p, :]: 24 columns (3 panels) per pass,
// then 16 in one pass where 16 remain, then one panel at a time. A pass costs about the same
// whatever its width (each step waits on the previous step's multiply-adds), so fewer, wider
// passes are faster: a thread's 64 of the MLP's 128 columns are 24 + 24 + 16. Six accumulators,
// the broadcast and a loaded vector fit the 15 SIMD registers V8 allocates; 32 columns (eight)
// measured slower.
// Rows go through each pass in groups of ROW_GROUP, reading A's values from the lists, not from
// A: a pass's panels (24 KB for 24 columns) then stay in L1 across the group, where one row at a
// time through all of packed B (128 KB for 128 columns) missed L1 on most loads. The same sums in
// the same order. Measured on MNIST's 64 × 128 × 784 on one thread: 122-123 µs against 131-133
// (1, 4, 8, 16, 32 and 64 rows: 143, 129, 128, 122, 127, 132; with B held in L1 by force, 106).
function rowSparse(
  c: usize, ldc: i32, m: i32, kc: i32, pB: usize, jc: i32, nc: i32,
  lists: usize, vals: usize, counts: usize, first: bool, tile: usize,
): void {
  const panelBytes = <usize>(kc * NR) * 4;
  for (let g = 0; g < m; g += ROW_GROUP) {
    const end = min(m, g + ROW_GROUP);
    let jr = 0;
    for (; jr + 3 * NR <= nc; jr += 3 * NR) rowGroup(c, ldc, g, end, jc + jr, lists, vals, counts, pB + <usize>(jr * kc) * 4, panelBytes, 3, first);
    if (jr + 2 * NR <= nc) {
      rowGroup(c, ldc, g, end, jc + jr, lists, vals, counts, pB + <usize>(jr * kc) * 4, panelBytes, 2, first);
      jr += 2 * NR;
    }
    for (; jr + NR <= nc; jr += NR) rowGroup(c, ldc, g, end, jc + jr, lists, vals, counts, pB + <usize>(jr * kc) * 4, panelBytes, 1, first);
    if (jr < nc) {
      // A last, partial panel reads packed B's zero padding: its sums go to the tile, and only
      // the columns that exist to C.
      for (let i = g; i < end; i++) {
        const row = <usize>(i * KC) * 4;
        rowPass(tile, vals + row, lists + row, load<i32>(counts + <usize>i * 4), pB + <usize>(jr * kc) * 4, panelBytes, 1, first, true);
        const at = c + (<usize>i * ldc + <usize>(jc + jr)) * 4;
        for (let j = 0; j < nc - jr; j++) storeOne(at + <usize>j * 4, load<f32>(tile + <usize>j * 4), first);
      }
    }
  }
}

const ROW_GROUP: i32 = 16;

// Rows g .. end through one pass of `panels` panels (columns j .. j + 8·panels of C).
// @ts-ignore: decorator
@inline
function rowGroup(
  c: usize, ldc: i32, g: i32, end: i32, j: i32, lists: usize, vals: usize, counts: usize,
  bp: usize, panelBytes: usize, panels: i32, first: bool,
): void {
  for (let i = g; i < end; i++) {
    const row = <usize>(i * KC) * 4;
    rowPass(c + (<usize>i * ldc + <usize>j) * 4, vals + row, lists + row, load<i32>(counts + <usize>i * 4), bp, panelBytes, panels, first, false);
  }
}

// One pass of the row path over `panels` (1 to 3) panels of packed B from bp: 2·panels
// accumulators over the row's listed steps (their values at v0), stored at `at` by storeSum (or,
// `raw`, as they are).
// Inlined with a constant `panels`, so each call compiles to its own loop.
// @ts-ignore: decorator
@inline
function rowPass(at: usize, v0: usize, list: usize, count: i32, bp: usize, panelBytes: usize, panels: i32, first: bool, raw: bool): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0), s4 = f32x4.splat(0), s5 = f32x4.splat(0);
  for (let t = 0; t < count; t++) {
    const p = <usize>load<i32>(list + <usize>t * 4);
    const b0 = bp + p * (NR * 4);
    const x = v128.load32_splat(v0 + <usize>t * 4);
    s0 = madd(x, v128.load(b0), s0); s1 = madd(x, v128.load(b0, 16), s1);
    if (panels >= 2) {
      s2 = madd(x, v128.load(b0 + panelBytes), s2); s3 = madd(x, v128.load(b0 + panelBytes, 16), s3);
    }
    if (panels >= 3) {
      s4 = madd(x, v128.load(b0 + 2 * panelBytes), s4); s5 = madd(x, v128.load(b0 + 2 * panelBytes, 16), s5);
    }
  }
  if (raw) {
    v128.store(at, s0); v128.store(at, s1, 16);
    return;
  }
  storeSum(at, s0, first); storeSum(at + 16, s1, first);
  if (panels >= 2) {
    storeSum(at + 32, s2, first); storeSum(at + 48, s3, first);
  }
  if (panels >= 3) {
    storeSum(at + 64, s4, first); storeSum(at + 80, s5, first);
  }
}

// List, for each pair of columns (j0 + 2q, j0 + 2q + 1) of B (stored k × n), the steps p0 .. p0+kc
// where either column is non-zero: pair q's list at lists + q·KC·4, its length at counts + q·4.
// Walks down 4 pairs (8 columns, two vectors a row) at a time, appending branch-free. Returns the
// total, or −1 when the pairs are too full for the column path (judged first from the first 8
// columns, so that a dense B costs one such walk).
function listColumnPairs(b: usize, ldb: i32, p0: i32, kc: i32, j0: i32, nc: i32, lists: usize, counts: usize): i32 {
  const zero = f32x4.splat(0);
  const ldb4 = <usize>ldb * 4;
  let total = 0;
  let j = 0;
  for (; j + 8 <= nc; j += 8) {
    const q = j >> 1;
    const l0 = lists + <usize>(q * KC) * 4;
    const l1 = l0 + <usize>KC * 4, l2 = l1 + <usize>KC * 4, l3 = l2 + <usize>KC * 4;
    let n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    let row = b + (<usize>p0 * ldb + <usize>(j0 + j)) * 4;
    for (let p = 0; p < kc; p++) {
      const lo = i32x4.bitmask(f32x4.ne(v128.load(row), zero));
      const hi = i32x4.bitmask(f32x4.ne(v128.load(row, 16), zero));
      store<i32>(l0 + <usize>n0 * 4, p); n0 += <i32>((lo & 3) != 0);
      store<i32>(l1 + <usize>n1 * 4, p); n1 += <i32>((lo & 12) != 0);
      store<i32>(l2 + <usize>n2 * 4, p); n2 += <i32>((hi & 3) != 0);
      store<i32>(l3 + <usize>n3 * 4, p); n3 += <i32>((hi & 12) != 0);
      row += ldb4;
    }
    const at = counts + <usize>q * 4;
    store<i32>(at, n0); store<i32>(at, n1, 4); store<i32>(at, n2, 8); store<i32>(at, n3, 12);
    total += n0 + n1 + n2 + n3;
    if (j == 0 && <f32>total > SPARSE_MAX_FILL * <f32>(kc << 2)) return -1;
  }
  // The ragged end: a pair (or a lone last column) at a time.
  for (; j < nc; j += 2) {
    const q = j >> 1;
    const two = j + 1 < nc;
    const out = lists + <usize>(q * KC) * 4;
    let n = 0;
    let row = b + (<usize>p0 * ldb + <usize>(j0 + j)) * 4;
    for (let p = 0; p < kc; p++) {
      store<i32>(out + <usize>n * 4, p);
      n += <i32>(load<f32>(row) != 0 || (two && load<f32>(row, 4) != 0));
      row += ldb4;
    }
    store<i32>(counts + <usize>q * 4, n);
    total += n;
  }
  return <f32>total > SPARSE_MAX_FILL * <f32>(kc * ((nc + 1) >> 1)) ? -1 : total;
}

// Add two columns' sums (rows i .. i+3 of column j in sj, of column j+1 in sk) to C at `at`
// (C[i, j]), row by row as pairs: C = 0 + v (first k block) or C += v, as the tile kernel's
// stores do with alpha = 1.
// @ts-ignore: decorator
@inline
function storePairs(at: usize, ldc4: usize, sj: v128, sk: v128, first: bool): void {
  const lo = v128.shuffle<f32>(sj, sk, 0, 4, 1, 5);
  const hi = v128.shuffle<f32>(sj, sk, 2, 6, 3, 7);
  storeRowPair(at, lo, first);
  storeRowPair(at + ldc4, v128.shuffle<f32>(lo, lo, 2, 3, 0, 1), first);
  storeRowPair(at + 2 * ldc4, hi, first);
  storeRowPair(at + 3 * ldc4, v128.shuffle<f32>(hi, hi, 2, 3, 0, 1), first);
}

// Store the low 64 bits of v (C[i, j], C[i, j+1]) at `at`, added to what is there unless first.
// @ts-ignore: decorator
@inline
function storeRowPair(at: usize, v: v128, first: bool): void {
  v128.store64_lane(at, f32x4.add(v, first ? f32x4.splat(0) : v128.load64_zero(at)), 0);
}

// The column path's last rows of a column pair: rows i .. i+3 (A's row p at ai + p·lda4, B's
// pair at bj + p·ldb4), or with `one` row i alone, in lane 0 so that its multiply-adds round
// as the vector ones do. Not inlined: only row counts that are not a multiple of 16 get here.
function pairRows(
  at: usize, ldc4: usize, ai: usize, lda4: usize, bj: usize, ldb4: usize, list: usize, count: i32, first: bool, one: bool,
): void {
  let s0 = f32x4.splat(0), t0 = f32x4.splat(0);
  for (let t = 0; t < count; t++) {
    const p = <usize>load<i32>(list + <usize>t * 4);
    const v0 = one ? v128.load32_zero(ai + p * lda4) : v128.load(ai + p * lda4);
    s0 = madd(v128.load32_splat(bj + p * ldb4), v0, s0);
    t0 = madd(v128.load32_splat(bj + p * ldb4, 4), v0, t0);
  }
  if (one) storeRowPair(at, v128.shuffle<f32>(s0, t0, 0, 4, 0, 4), first);
  else storePairs(at, ldc4, s0, t0, first);
}

// The column path for a lone last column j (an odd count of columns): the same sums as a pair's
// first column, 4 rows at a time then one (lane 0), stored value by value. Not inlined: it runs
// once per block at most, and the module stays small.
function loneColumn(
  at: usize, ldc4: usize, a0: usize, lda4: usize, m: i32, bj: usize, ldb4: usize, list: usize, count: i32, first: bool,
): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    let s0 = f32x4.splat(0);
    const ai = a0 + <usize>i * 4;
    for (let t = 0; t < count; t++) {
      const p = <usize>load<i32>(list + <usize>t * 4);
      s0 = madd(v128.load32_splat(bj + p * ldb4), v128.load(ai + p * lda4), s0);
    }
    const dst = at + <usize>i * ldc4;
    storeOne(dst, f32x4.extract_lane(s0, 0), first);
    storeOne(dst + ldc4, f32x4.extract_lane(s0, 1), first);
    storeOne(dst + 2 * ldc4, f32x4.extract_lane(s0, 2), first);
    storeOne(dst + 3 * ldc4, f32x4.extract_lane(s0, 3), first);
  }
  for (; i < m; i++) {
    let s0 = f32x4.splat(0);
    const ai = a0 + <usize>i * 4;
    for (let t = 0; t < count; t++) {
      const p = <usize>load<i32>(list + <usize>t * 4);
      s0 = madd(v128.load32_splat(bj + p * ldb4), v128.load32_zero(ai + p * lda4), s0);
    }
    storeOne(at + <usize>i * ldc4, f32x4.extract_lane(s0, 0), first);
  }
}

// C = 0 + v (first k block) or C += v, as the tile kernel's edge stores do with alpha = 1.
// @ts-ignore: decorator
@inline
function storeOne(at: usize, v: f32, first: bool): void {
  store<f32>(at, (first ? <f32>0 : load<f32>(at)) + v);
}

// The column path over one block: for each pair of columns (j, j+1) of B in jc .. jc+nc
// (listed by listColumnPairs), C[:, j..j+1] += Σ over the pair's listed steps p of
// A[p, :] ⊗ B[p, j..j+1] (A stored k × m, so op(A)[:, p] is A's row p: contiguous): 16 rows ×
// 2 columns per pass with eight accumulators, then 4 rows, then 1 (a lone last column:
// loneColumn). Eight accumulators + 4 loads + 2 broadcasts fit the 15 SIMD registers V8
// allocates (it loads a step's vectors before its multiply-adds; a 32 × 1 tile with 8 loads
// spilled an accumulator to the stack every step).
function columnSparse(
  c: usize, ldc: i32, a: usize, lda: i32, m: i32, b: usize, ldb: i32, pc: i32,
  jc: i32, nc: i32, lists: usize, counts: usize, first: bool,
): void {
  const ldc4 = <usize>ldc * 4;
  const lda4 = <usize>lda * 4;
  const ldb4 = <usize>ldb * 4;
  const a0 = a + <usize>pc * lda4;
  const b0 = b + <usize>pc * ldb4;
  for (let q = 0; q < nc >> 1; q++) {
    const j = jc + 2 * q;
    const list = lists + <usize>(q * KC) * 4;
    const count = load<i32>(counts + <usize>q * 4);
    const bj = b0 + <usize>j * 4;
    const cj = c + <usize>j * 4;
    let i = 0;
    for (; i + 16 <= m; i += 16) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let t0 = f32x4.splat(0), t1 = f32x4.splat(0), t2 = f32x4.splat(0), t3 = f32x4.splat(0);
      const ai = a0 + <usize>i * 4;
      for (let t = 0; t < count; t++) {
        const p = <usize>load<i32>(list + <usize>t * 4);
        const ar = ai + p * lda4;
        const v0 = v128.load(ar), v1 = v128.load(ar, 16), v2 = v128.load(ar, 32), v3 = v128.load(ar, 48);
        const bp = bj + p * ldb4;
        const x = v128.load32_splat(bp);
        s0 = madd(x, v0, s0); s1 = madd(x, v1, s1); s2 = madd(x, v2, s2); s3 = madd(x, v3, s3);
        const y = v128.load32_splat(bp, 4);
        t0 = madd(y, v0, t0); t1 = madd(y, v1, t1); t2 = madd(y, v2, t2); t3 = madd(y, v3, t3);
      }
      const at = cj + <usize>i * ldc4;
      storePairs(at, ldc4, s0, t0, first);
      storePairs(at + 4 * ldc4, ldc4, s1, t1, first);
      storePairs(at + 8 * ldc4, ldc4, s2, t2, first);
      storePairs(at + 12 * ldc4, ldc4, s3, t3, first);
    }
    for (; i + 4 <= m; i += 4) pairRows(cj + <usize>i * ldc4, ldc4, a0 + <usize>i * 4, lda4, bj, ldb4, list, count, first, false);
    for (; i < m; i++) pairRows(cj + <usize>i * ldc4, ldc4, a0 + <usize>i * 4, lda4, bj, ldb4, list, count, first, true);
  }
  if (nc & 1) {
    const q = nc >> 1;
    const j = jc + nc - 1;
    loneColumn(c + <usize>j * 4, ldc4, a0, lda4, m, b0 + <usize>j * 4, ldb4, lists + <usize>(q * KC) * 4, load<i32>(counts + <usize>q * 4), first);
  }
}

/** C[:, n0..n1) = beta·C[:, n0..n1) (beta = 0 writes zeros, ignoring NaN already there). */
export function scaleColumns(c: usize, m: i32, n: i32, beta: f32, n0: i32, n1: i32): void {
  if (beta == 1) return;
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

/**
 * C[:, n0..n1) = alpha·op(A)·op(B)[:, n0..n1) + beta·C[:, n0..n1). Scratch from gemmScratchBytes.
 * Returns which sparse path ran, for tests: 1 the column path, 2 the row path, else 0.
 */
export function gemm(
  c: usize, a: usize, b: usize, m: i32, n: i32, k: i32,
  transA: bool, transB: bool, alpha: f32, beta: f32,
  n0: i32, n1: i32, scratch: usize,
): i32 {
  const lda = transA ? m : k;
  // beta first, once: every k block then accumulates into C. With beta = 0 the first k block
  // writes C instead (its old values, NaN included, are never read): one pass over C saved.
  const overwrite = beta == 0 && k > 0 && alpha != 0;
  if (!overwrite) scaleColumns(c, m, n, beta, n0, n1);
  if (k == 0 || alpha == 0) return 0;
  const pA = scratch;
  const pB = pA + <usize>(MC * KC) * 4;
  const tile = pB + <usize>(KC * NC) * 4;
  const listA = tile + <usize>(MR * NR) * 4;
  const listB = listA + <usize>LIST_A * 4;
  const countA = listB + <usize>LIST_B * 4;
  const countB = countA + <usize>(MC / MR) * 4;
  const compress = countB + <usize>(NC / NR) * 4;
  const ldb = transB ? k : n;
  // The column path is tried until a block shows that B is not sparse enough for it.
  let tryColumns = transA && !transB && alpha == 1 && m >= 16;
  let path = 0;
  // The row path: each block's row lists and their values go past packed B (kc steps × nc columns
  // rounded up to whole panels), so 2·m lists of KC steps must fit there.
  const ncMax = min(NC, (n + NR - 1) / NR * NR);
  let tryRows = !transA && alpha == 1 && n1 - n0 >= 3 * NR && 2 * m <= NC - ncMax;
  if (tryRows) fillCompress(compress);
  const rowLists = pB + <usize>(KC * ncMax) * 4;
  const rowVals = rowLists + <usize>(KC * m) * 4;
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    const panelsB = (nc + NR - 1) / NR;
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const listing = kc >= LIST_MIN_STEPS;
      const first = overwrite && pc == 0;
      if (tryColumns && listing) {
        // Lists where packed B would go, lengths in B's step-list area (packing B rewrites both).
        if (listColumnPairs(b, ldb, pc, kc, jc, nc, pB, listB) >= 0) {
          columnSparse(c, n, a, lda, m, b, ldb, pc, jc, nc, pB, listB, first);
          path = 1;
          continue;
        }
        tryColumns = false;
      }
      // A short last block (784 = 3 × 256 + 16) stays on the row path once it was taken: the
      // same bits, without packing A and walking every step of it with the tile kernel.
      if (tryRows && (listing || path == 2)) {
        if (listRows(a, lda, m, pc, kc, rowLists, listA, compress, rowVals) >= 0) {
          packB(pB, b, ldb, transB, pc, kc, jc, nc, listB, countB, false);
          rowSparse(c, n, m, kc, pB, jc, nc, rowLists, rowVals, listA, first, tile);
          path = 2;
          continue;
        }
        tryRows = false;
      }
      const fillB = <f32>packB(pB, b, ldb, transB, pc, kc, jc, nc, listB, countB, listing) / <f32>(panelsB * kc);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        const panelsA = (mc + MR - 1) / MR;
        const fillA = <f32>packA(pA, a, lda, transA, ic, mc, pc, kc, listA, countA, listing) / <f32>(panelsA * kc);
        // Walk the emptier side's lists if it is empty enough; else every step.
        const useA = listing && fillA <= LIST_MAX_FILL && fillA <= fillB;
        const useB = listing && !useA && fillB <= LIST_MAX_FILL;
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bp = pB + <usize>(jr * kc) * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const cp = c + (<usize>(ic + ir) * n + <usize>(jc + jr)) * 4;
            let steps: usize = 0;
            let nsteps = -1;
            if (useA) {
              steps = listA + <usize>((ir / MR) * KC) * 4;
              nsteps = load<i32>(countA + <usize>(ir / MR) * 4);
            } else if (useB) {
              steps = listB + <usize>((jr / NR) * KC) * 4;
              nsteps = load<i32>(countB + <usize>(jr / NR) * 4);
            }
            micro(cp, n, pA + <usize>(ir * kc) * 4, bp, kc, alpha, rows, cols, tile, steps, nsteps, first);
          }
        }
      }
    }
  }
  return path;
}
