// 3×3 stride-1 convolution by Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray, 2016):
// each m×m block ("tile") of outputs of one channel pair costs (m+2)² multiplies instead of 9m²:
// F(2×2, 3×3) 16 instead of 36, F(4×4, 3×3) 36 instead of 144 (tileOf picks m per output size).
//
//   y_tile = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A,    d_c: the tile's (m+2)×(m+2) input window
//
// F(2×2, 3×3):
//   Bᵀ = | 1  0 −1  0 |   G = | 1    0    0  |   Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |       | ½    ½    ½  |        | 0  1 −1 −1 |
//        | 0 −1  1  0 |       | ½   −½    ½  |
//        | 0  1  0 −1 |       | 0    0    1  |
// Only ½ appears in G (exact in float32) and ±1 in B and A, so these transforms round like a few
// additions. F(4×4, 3×3)'s matrices are written above its transforms below; their larger entries
// (up to 8) and inexact 1/6, 1/24 round more (measured in winograd.test.ts and docs/backends.md).
//
// For each of the (m+2)² positions ξ of the transformed tile, the sum over c is a matrix
// product: M_ξ (OC × T) = U_ξ (OC × C) · V_ξ (C × T) over the T tiles of a chunk of samples
// (`product`, below: C is short, so it reads V in place instead of packing as gemm() does).
//
// The backward passes are the forward's adjoints, on the forward's tiles, with DY = A dy_tile Aᵀ:
//   dW = Gᵀ [ Σ_tiles DY ⊙ (Bᵀ d_tile B) ] G: per position one product dU_ξ (OC × C) =
//        DY_ξ (OC × T) · V_ξᵀ (T × C); each chunk writes its dU sums, which winoAddPartials adds
//        in chunk order and transforms once ((m+2)² → 3×3);
//   dx: per tile B [ Σ_oc U ⊙ DY ] Bᵀ, added into the tile's input window (inputGradTiles): per
//        position one product dV_ξ (C × T) = U_ξᵀ (C × OC) · DY_ξ (OC × T).
//
// SIMD: four SAMPLES share a vector. A group of 4 samples is first copied into a zero-padded,
// interleaved plane P[c][row][col][lane] (lane = sample), so every load of a transform reads one
// pixel of 4 samples at once and every transformed value is stored as one vector: column
// t·4 + lane of V_ξ holds tile t of sample lane. A chunk of samples is ⌈count / 4⌉ such groups
// (missing samples of the last group are zeros, and their outputs are not written).
//
// Sizes: C input channels of H × W, padding PH/PW (any sign), OC output channels of
// OH × OW = (H + 2PH − 2) × (W + 2PW − 2); TH × TW = ⌈OH/m⌉ × ⌈OW/m⌉ tiles per sample. Pointers
// are byte offsets; every scratch area is the calling thread's own.

import { madd } from './madd';
import { transpose4 } from './transpose';

/** Output of a 3×3 stride-1 window over len values padded by p on each side. */
// @ts-ignore: decorator
@inline
function out3(len: i32, p: i32): i32 {
  return len + 2 * p - 2;
}

// ── Tile size: F(4×4, 3×3) where the outputs fill 4×4 tiles well, else F(2×2, 3×3).

/**
 * Outputs per tile side (2 or 4) for an OH × OW output: 4 when 4×4 tiles cover it with at most
 * 20% of their outputs past its edges (24×24, 26×26, 12×12, 8×8; not 10×10 or 9×11), else 2.
 */
// @ts-ignore: decorator
@inline
function tileOf(oh: i32, ow: i32): i32 {
  const covered = ((oh + 3) & ~3) * ((ow + 3) & ~3);
  return oh >= 8 && ow >= 8 && 5 * covered <= 6 * oh * ow ? 4 : 2;
}

// ── Scratch: one thread's areas for a chunk of `chunk` samples (forward or backward): a small
// staging area for the 6 × 6 transforms, P (one group's padded input planes, or its dy planes),
// V (positions × C × T) and M (positions × OC × T).

// @ts-ignore: decorator
@inline
function align16(floats: i32): i32 {
  return (floats + 15) & ~15;
}

const TMP: i32 = 160;

function areaP(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32): i32 {
  const oh = out3(h, ph), ow = out3(w, pw);
  const m = tileOf(oh, ow);
  const th = (oh + m - 1) / m, tw = (ow + m - 1) / m;
  const input = c * (m * th + 2) * (m * tw + 2);
  const dyTiles = oc * (m * th) * (m * tw);
  return align16(max(input, dyTiles) * 4);
}

/** Columns of a chunk's products: ⌈chunk / 4⌉ groups × tiles × 4 lanes. */
function tileCols(chunk: i32, oh: i32, ow: i32): i32 {
  const m = tileOf(oh, ow);
  return ((chunk + 3) >> 2) * ((oh + m - 1) / m) * ((ow + m - 1) / m) * 4;
}

// @ts-ignore: decorator
@inline
function positions(oh: i32, ow: i32): i32 {
  const a = tileOf(oh, ow) + 2;
  return a * a;
}

// Floats between two positions' planes of `floats` values: rounded up to a multiple of 4 KiB
// plus 256 bytes, so that the values a transform stores (or loads) for one tile fall in
// different cache sets. (Planes a multiple of 4 KiB apart, as 16 channels × 1152 tiles are,
// map all 16 to one set of the 8-way L1 cache, and the transforms ran 5–20× slower.)
function planeOf(floats: i32): i32 {
  return ((floats + 1023) & ~1023) + 64;
}

function areaV(c: i32, h: i32, w: i32, ph: i32, pw: i32, chunk: i32): i32 {
  const oh = out3(h, ph), ow = out3(w, pw);
  return positions(oh, ow) * planeOf(c * tileCols(chunk, oh, ow));
}

function areaM(h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32): i32 {
  const oh = out3(h, ph), ow = out3(w, pw);
  return positions(oh, ow) * planeOf(oc * tileCols(chunk, oh, ow));
}

// Floats between two positions' planes of transformed filters (U_ξ, OC × C) or of their
// gradients (dU_ξ): whole 64-byte lines, an ODD number of them. A filter's transform stores its
// 16 or 36 values one per plane, and the weight gradient's transform loads them so; with planes
// a multiple of 2 or 4 KiB apart (32 × 16 or 32 × 32 channels) those fell in one or two sets of
// the L1 cache: transforming the 32 × 32 filters of an 8 × 8 output took 583 µs instead of ~15.
// With an odd number of lines apart, successive planes fall in different sets.
// @ts-ignore: decorator
@inline
function filterPlane(oc: i32, c: i32): i32 {
  return (((oc * c + 15) >> 4) | 1) << 4;
}

/** Bytes of one set of transformed filters (or of one chunk's dU sums): 36 planes of OC × C. */
export function winoFilterBytes(oc: i32, c: i32): i32 {
  return 36 * filterPlane(oc, c) * 4;
}

/** Bytes of scratch one thread needs for chunks of `chunk` samples (forward or backward). */
export function winoScratchBytes(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32): i32 {
  return (TMP + areaP(c, h, w, ph, pw, oc) + areaV(c, h, w, ph, pw, chunk) + areaM(h, w, ph, pw, oc, chunk)) * 4;
}

// ── Filters.

// Stores G·(a, b, c) = (a, ½(a+b+c), ½(a−b+c), c) at dst + k·step, k = 0..3.
// @ts-ignore: decorator
@inline
function gRow(dst: usize, step: usize, a: f32, b: f32, c: f32): void {
  store<f32>(dst, a);
  store<f32>(dst + step, <f32>0.5 * (a + b + c));
  store<f32>(dst + 2 * step, <f32>0.5 * (a - b + c));
  store<f32>(dst + 3 * step, c);
}

/**
 * The transformed filters of a convolution with an OH × OW output: u[ξ] (one plane of OC × C
 * floats per position, filterPlane apart) = G·W[o][ch]·Gᵀ; with transpose, the same values in
 * planes of C × OC (at [ch][o]): Uᵀ, for the input gradient. wt: (OC, C, 3, 3);
 * u: winoFilterBytes(oc, c) bytes.
 */
export function winoFilter(u: usize, wt: usize, oc: i32, c: i32, transpose: i32, oh: i32, ow: i32): void {
  if (tileOf(oh, ow) == 2) filter2(u, wt, oc, c, transpose);
  else filter4(u, wt, oc, c, transpose);
}

// F(4×4, 3×3): G (6 × 3) = | 1/4    0     0  |
//                          | −1/6 −1/6  −1/6 |
//                          | −1/6  1/6  −1/6 |
//                          | 1/24 1/12   1/6 |
//                          | 1/24 −1/12  1/6 |
//                          | 0      0     1  |
// Stores G·(a, b, c) at dst + k·step, k = 0..5.
// @ts-ignore: decorator
@inline
function gRow6(dst: usize, step: usize, a: f32, b: f32, c: f32): void {
  const s = a + c;
  store<f32>(dst, <f32>0.25 * a);
  store<f32>(dst + step, <f32>(-1.0 / 6.0) * (s + b));
  store<f32>(dst + 2 * step, <f32>(-1.0 / 6.0) * (s - b));
  const q = <f32>(1.0 / 24.0) * a + <f32>(1.0 / 6.0) * c;
  const r = <f32>(1.0 / 12.0) * b;
  store<f32>(dst + 3 * step, q + r);
  store<f32>(dst + 4 * step, q - r);
  store<f32>(dst + 5 * step, c);
}

function filter4(u: usize, wt: usize, oc: i32, c: i32, transpose: i32): void {
  const plane = <usize>filterPlane(oc, c) * 4;
  for (let o = 0; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) {
      const g = wt + <usize>((o * c + ch) * 9) * 4;
      const dst = u + <usize>(transpose ? ch * oc + o : o * c + ch) * 4;
      // G·g column by column into positions 6i + j (j < 3) of rows i, then each row i of that
      // (3 values) expanded by G into positions 6i .. 6i + 5.
      for (let j = 0; j < 3; j++) {
        gRow6(dst + <usize>j * plane, 6 * plane, load<f32>(g + <usize>j * 4), load<f32>(g + <usize>(3 + j) * 4), load<f32>(g + <usize>(6 + j) * 4));
      }
      for (let i = 0; i < 6; i++) {
        const row = dst + <usize>(6 * i) * plane;
        gRow6(row, plane, load<f32>(row), load<f32>(row + plane), load<f32>(row + 2 * plane));
      }
    }
  }
}

function filter2(u: usize, wt: usize, oc: i32, c: i32, transpose: i32): void {
  const plane = <usize>filterPlane(oc, c) * 4;
  for (let o = 0; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) {
      const g = wt + <usize>((o * c + ch) * 9) * 4;
      const g00 = load<f32>(g), g01 = load<f32>(g, 4), g02 = load<f32>(g, 8);
      const g10 = load<f32>(g, 12), g11 = load<f32>(g, 16), g12 = load<f32>(g, 20);
      const g20 = load<f32>(g, 24), g21 = load<f32>(g, 28), g22 = load<f32>(g, 32);
      const dst = u + <usize>(transpose ? ch * oc + o : o * c + ch) * 4;
      // Rows of G·g, each expanded by the same G on the right: row i of U is position ξ = 4i + j.
      gRow(dst, plane, g00, g01, g02);
      gRow(dst + 4 * plane, plane, <f32>0.5 * (g00 + g10 + g20), <f32>0.5 * (g01 + g11 + g21), <f32>0.5 * (g02 + g12 + g22));
      gRow(dst + 8 * plane, plane, <f32>0.5 * (g00 - g10 + g20), <f32>0.5 * (g01 - g11 + g21), <f32>0.5 * (g02 - g12 + g22));
      gRow(dst + 12 * plane, plane, g20, g21, g22);
    }
  }
}

// ── Packing: one group of 4 samples into zero-padded interleaved planes.

/**
 * p[ch][r][q][lane] = x[sg + lane][ch][r − ph][q − pw] for r < hp, q < wp, and 0 outside x or
 * for samples ≥ s1. x: (·, C, H, W).
 */
function packGroup(p: usize, x: usize, sg: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, hp: i32, wp: i32): void {
  const i0 = max(0, -ph), i1 = min(h, hp - ph);
  const j0 = max(0, -pw), j1 = min(w, wp - pw);
  const full = sg + 4 <= s1;
  if (!full || i1 <= i0 || j1 <= j0) {
    memory.fill(p, 0, <usize>(c * hp * wp) * 16);
    if (i1 <= i0 || j1 <= j0) return;
  } else {
    // Only the padding: every other value of the planes is written below.
    const top = <usize>((i0 + ph) * wp) * 16, bottom = <usize>((hp - i1 - ph) * wp) * 16;
    const left = <usize>(j0 + pw) * 16, right = <usize>(wp - j1 - pw) * 16;
    for (let ch = 0; ch < c; ch++) {
      const plane = p + <usize>(ch * hp * wp) * 16;
      memory.fill(plane, 0, top);
      memory.fill(plane + <usize>((i1 + ph) * wp) * 16, 0, bottom);
      for (let r = i0 + ph; r < i1 + ph; r++) {
        const row = plane + <usize>(r * wp) * 16;
        for (let q: usize = 0; q < left; q += 16) v128.store(row + q, f32x4.splat(0));
        const end = row + <usize>wp * 16;
        for (let q: usize = 0; q < right; q += 16) v128.store(end - right + q, f32x4.splat(0));
      }
    }
  }
  const sampleBytes = <usize>(c * h * w) * 4;
  for (let ch = 0; ch < c; ch++) {
    for (let i = i0; i < i1; i++) {
      const src = x + <usize>(((sg * c + ch) * h + i) * w) * 4;
      const dst = p + <usize>((ch * hp + i + ph) * wp + pw) * 16;
      let j = j0;
      if (full) {
        // 4 samples × 4 pixels, transposed in registers into 4 pixels × 4 samples.
        for (; j + 4 <= j1; j += 4) {
          const s = src + <usize>j * 4;
          transpose4(dst + <usize>j * 16, 16, v128.load(s), v128.load(s + sampleBytes), v128.load(s + 2 * sampleBytes), v128.load(s + 3 * sampleBytes));
        }
      }
      for (; j < j1; j++) {
        for (let l = 0; l < 4; l++) {
          if (sg + l >= s1) break;
          store<f32>(dst + <usize>j * 16 + <usize>l * 4, load<f32>(src + <usize>l * sampleBytes + <usize>j * 4));
        }
      }
    }
  }
}

// ── Tile transforms (4 samples per vector).

/**
 * v[ξ][ch][col + t·4 ..] = Bᵀ d B for every tile t = ty·TW + tx of the packed planes p (c × hp × wp,
 * hp = 2·TH + 2). v's positions are `plane` bytes apart, its rows `ld` bytes long.
 */
function inputTiles(v: usize, plane: usize, ld: usize, col: i32, p: usize, c: i32, hp: i32, wp: i32, th: i32, tw: i32): void {
  const row = <usize>wp * 16;
  for (let ch = 0; ch < c; ch++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = p + <usize>((ch * hp + 2 * ty) * wp + 2 * tx) * 16;
        // Bᵀ on the columns first: rows r0..r3 of the window, each 4 vectors.
        const a0 = v128.load(s), a1 = v128.load(s, 16), a2 = v128.load(s, 32), a3 = v128.load(s, 48);
        s += row;
        const b0 = v128.load(s), b1 = v128.load(s, 16), b2 = v128.load(s, 32), b3 = v128.load(s, 48);
        s += row;
        const c0 = v128.load(s), c1 = v128.load(s, 16), c2 = v128.load(s, 32), c3 = v128.load(s, 48);
        s += row;
        const d0 = v128.load(s), d1 = v128.load(s, 16), d2 = v128.load(s, 32), d3 = v128.load(s, 48);
        // Bᵀ·d: row 0 = r0 − r2, row 1 = r1 + r2, row 2 = r2 − r1, row 3 = r1 − r3.
        const dst = v + <usize>(col + (ty * tw + tx) * 4) * 4 + <usize>ch * ld;
        bRow(dst, plane, f32x4.sub(a0, c0), f32x4.sub(a1, c1), f32x4.sub(a2, c2), f32x4.sub(a3, c3));
        bRow(dst + 4 * plane, plane, f32x4.add(b0, c0), f32x4.add(b1, c1), f32x4.add(b2, c2), f32x4.add(b3, c3));
        bRow(dst + 8 * plane, plane, f32x4.sub(c0, b0), f32x4.sub(c1, b1), f32x4.sub(c2, b2), f32x4.sub(c3, b3));
        bRow(dst + 12 * plane, plane, f32x4.sub(b0, d0), f32x4.sub(b1, d1), f32x4.sub(b2, d2), f32x4.sub(b3, d3));
      }
    }
  }
}

// Stores (e0, e1, e2, e3)·B = (e0 − e2, e1 + e2, e2 − e1, e1 − e3) at dst + k·step.
// @ts-ignore: decorator
@inline
function bRow(dst: usize, step: usize, e0: v128, e1: v128, e2: v128, e3: v128): void {
  v128.store(dst, f32x4.sub(e0, e2));
  v128.store(dst + step, f32x4.add(e1, e2));
  v128.store(dst + 2 * step, f32x4.sub(e2, e1));
  v128.store(dst + 3 * step, f32x4.sub(e1, e3));
}

/**
 * dyt[ξ][o][col + t·4 ..] = A·dy_tile·Aᵀ for every 2×2 tile of the packed planes p (oc × 2TH × 2TW,
 * zero past OH × OW). Positions `plane` bytes apart, rows `ld` bytes.
 */
function gradTiles(dyt: usize, plane: usize, ld: usize, col: i32, p: usize, oc: i32, th: i32, tw: i32): void {
  const hp = 2 * th, wp = 2 * tw;
  const row = <usize>wp * 16;
  for (let o = 0; o < oc; o++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const s = p + <usize>((o * hp + 2 * ty) * wp + 2 * tx) * 16;
        const a = v128.load(s), b = v128.load(s, 16), c = v128.load(s + row), d = v128.load(s + row, 16);
        // A·(r0, r1) by rows: (r0, r0 + r1, r0 − r1, −r1), each row then expanded the same way.
        const dst = dyt + <usize>o * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        aRow(dst, plane, a, b);
        aRow(dst + 4 * plane, plane, f32x4.add(a, c), f32x4.add(b, d));
        aRow(dst + 8 * plane, plane, f32x4.sub(a, c), f32x4.sub(b, d));
        aRow(dst + 12 * plane, plane, f32x4.neg(c), f32x4.neg(d));
      }
    }
  }
}

// Stores (e0, e1)·Aᵀ = (e0, e0 + e1, e0 − e1, −e1) at dst + k·step.
// @ts-ignore: decorator
@inline
function aRow(dst: usize, step: usize, e0: v128, e1: v128): void {
  v128.store(dst, e0);
  v128.store(dst + step, f32x4.add(e0, e1));
  v128.store(dst + 2 * step, f32x4.sub(e0, e1));
  v128.store(dst + 3 * step, f32x4.neg(e1));
}

// Stores the 4 lanes of v (samples sg..sg+3) at dst + lane·step, for the lanes below `count`.
// @ts-ignore: decorator
@inline
function storeLanes(dst: usize, step: usize, v: v128, count: i32): void {
  store<f32>(dst, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(dst + step, f32x4.extract_lane(v, 1));
  if (count > 2) store<f32>(dst + 2 * step, f32x4.extract_lane(v, 2));
  if (count > 3) store<f32>(dst + 3 * step, f32x4.extract_lane(v, 3));
}

/**
 * y[sg + lane][o] (OH × OW, bias b[o] added when b is not 0) = Aᵀ m A for every tile of one group,
 * m[ξ][o][col + t·4 ..] (positions `plane` bytes apart, rows `ld` bytes); only the outputs inside
 * OH × OW of the `count` existing samples are written.
 */
function outputTiles(
  y: usize, b: usize, m: usize, plane: usize, ld: usize, col: i32, sg: i32, count: i32, oc: i32, oh: i32, ow: i32, th: i32, tw: i32,
): void {
  const sampleBytes = <usize>(oc * oh * ow) * 4;
  const rowBytes = <usize>ow * 4;
  for (let o = 0; o < oc; o++) {
    const bias = f32x4.splat(b == 0 ? 0 : load<f32>(b + <usize>o * 4));
    const out = y + <usize>((sg * oc + o) * oh * ow) * 4;
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = m + <usize>o * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        // Aᵀ·(row ξ = 4i + j) over j for each i: (m0 + m1 + m2, m1 − m2 − m3).
        let e0 = v128.load(s), e1 = v128.load(s + plane), e2 = v128.load(s + 2 * plane), e3 = v128.load(s + 3 * plane);
        const p0 = f32x4.add(f32x4.add(e0, e1), e2), q0 = f32x4.sub(f32x4.sub(e1, e2), e3);
        s += 4 * plane;
        e0 = v128.load(s); e1 = v128.load(s + plane); e2 = v128.load(s + 2 * plane); e3 = v128.load(s + 3 * plane);
        const p1 = f32x4.add(f32x4.add(e0, e1), e2), q1 = f32x4.sub(f32x4.sub(e1, e2), e3);
        s += 4 * plane;
        e0 = v128.load(s); e1 = v128.load(s + plane); e2 = v128.load(s + 2 * plane); e3 = v128.load(s + 3 * plane);
        const p2 = f32x4.add(f32x4.add(e0, e1), e2), q2 = f32x4.sub(f32x4.sub(e1, e2), e3);
        s += 4 * plane;
        e0 = v128.load(s); e1 = v128.load(s + plane); e2 = v128.load(s + 2 * plane); e3 = v128.load(s + 3 * plane);
        const p3 = f32x4.add(f32x4.add(e0, e1), e2), q3 = f32x4.sub(f32x4.sub(e1, e2), e3);
        const y00 = f32x4.add(f32x4.add(f32x4.add(p0, p1), p2), bias);
        const y01 = f32x4.add(f32x4.add(f32x4.add(q0, q1), q2), bias);
        const y10 = f32x4.add(f32x4.sub(f32x4.sub(p1, p2), p3), bias);
        const y11 = f32x4.add(f32x4.sub(f32x4.sub(q1, q2), q3), bias);
        const oy = 2 * ty, ox = 2 * tx;
        const at = out + <usize>oy * rowBytes + <usize>ox * 4;
        storeLanes(at, sampleBytes, y00, count);
        if (ox + 1 < ow) storeLanes(at + 4, sampleBytes, y01, count);
        if (oy + 1 < oh) {
          storeLanes(at + rowBytes, sampleBytes, y10, count);
          if (ox + 1 < ow) storeLanes(at + rowBytes + 4, sampleBytes, y11, count);
        }
      }
    }
  }
}

// ── F(4×4, 3×3) tile transforms, in two passes through the staging area `tmp` (36 vectors):
//
//   Bᵀ = | 4  0 −5  0  1  0 |   Aᵀ = | 1  1  1  1  1  0 |
//        | 0 −4 −4  1  1  0 |        | 0  1 −1  2 −2  0 |
//        | 0  4 −4 −1  1  0 |        | 0  1  1  4  4  0 |
//        | 0 −2 −1  2  1  0 |        | 0  1 −1  8 −8  1 |
//        | 0  2 −1 −2  1  0 |
//        | 0  4  0 −5  0  1 |

// Stores Bᵀ·(d0 … d5) at dst + k·step, k = 0..5.
// @ts-ignore: decorator
@inline
function bt6(dst: usize, step: usize, d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128): void {
  // Multiply-adds (fused in the relaxed-SIMD build): 14 operations for the 6 outputs.
  const four = f32x4.splat(4), minus4 = f32x4.splat(-4), minus5 = f32x4.splat(-5), two = f32x4.splat(2), minus2 = f32x4.splat(-2);
  v128.store(dst, madd(four, d0, madd(minus5, d2, d4)));
  v128.store(dst + step, madd(minus4, f32x4.add(d1, d2), f32x4.add(d3, d4)));
  v128.store(dst + 2 * step, madd(four, f32x4.sub(d1, d2), f32x4.sub(d4, d3)));
  const e = f32x4.sub(d4, d2), g = f32x4.sub(d3, d1);
  v128.store(dst + 3 * step, madd(two, g, e));
  v128.store(dst + 4 * step, madd(minus2, g, e));
  v128.store(dst + 5 * step, madd(four, d1, madd(minus5, d3, d5)));
}

/** As inputTiles, for 6 × 6 windows at steps of 4 (hp = 4·TH + 2): 36 positions. */
function inputTiles4(v: usize, plane: usize, ld: usize, col: i32, p: usize, c: i32, hp: i32, wp: i32, th: i32, tw: i32, tmp: usize): void {
  const row = <usize>wp * 16;
  for (let ch = 0; ch < c; ch++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = p + <usize>((ch * hp + 4 * ty) * wp + 4 * tx) * 16;
        // Each window row r times B into tmp[r][0..5].
        for (let r = 0; r < 6; r++, s += row) {
          bt6(tmp + <usize>r * 96, 16, v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), v128.load(s, 64), v128.load(s, 80));
        }
        // Then Bᵀ on each column j: position 6i + j.
        const dst = v + <usize>ch * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        for (let j = 0; j < 6; j++) {
          const q = tmp + <usize>j * 16;
          bt6(dst + <usize>j * plane, 6 * plane, v128.load(q), v128.load(q, 96), v128.load(q, 192), v128.load(q, 288), v128.load(q, 384), v128.load(q, 480));
        }
      }
    }
  }
}

// Stores A·(g0 … g3) = (g0, g0+g1+g2+g3, g0−g1+g2−g3, g0+2g1+4g2+8g3, g0−2g1+4g2−8g3, g3) at dst + k·step.
// @ts-ignore: decorator
@inline
function a6(dst: usize, step: usize, g0: v128, g1: v128, g2: v128, g3: v128): void {
  const e = f32x4.add(g0, g2), o = f32x4.add(g1, g3);
  v128.store(dst, g0);
  v128.store(dst + step, f32x4.add(e, o));
  v128.store(dst + 2 * step, f32x4.sub(e, o));
  const e2 = madd(f32x4.splat(4), g2, g0), o2 = madd(f32x4.splat(8), g3, f32x4.add(g1, g1));
  v128.store(dst + 3 * step, f32x4.add(e2, o2));
  v128.store(dst + 4 * step, f32x4.sub(e2, o2));
  v128.store(dst + 5 * step, g3);
}

/** As gradTiles, for 4 × 4 tiles of dy (planes oc × 4TH × 4TW): A·dy·Aᵀ, 36 positions. */
function gradTiles4(dyt: usize, plane: usize, ld: usize, col: i32, p: usize, oc: i32, th: i32, tw: i32, tmp: usize): void {
  const hp = 4 * th, wp = 4 * tw;
  const row = <usize>wp * 16;
  for (let o = 0; o < oc; o++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = p + <usize>((o * hp + 4 * ty) * wp + 4 * tx) * 16;
        for (let r = 0; r < 4; r++, s += row) a6(tmp + <usize>r * 96, 16, v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48));
        const dst = dyt + <usize>o * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        for (let j = 0; j < 6; j++) {
          const q = tmp + <usize>j * 16;
          a6(dst + <usize>j * plane, 6 * plane, v128.load(q), v128.load(q, 96), v128.load(q, 192), v128.load(q, 288));
        }
      }
    }
  }
}

// Stores Aᵀ·(m0 … m5) at dst + k·step, k = 0..3, adding `bias`.
// @ts-ignore: decorator
@inline
function at4(dst: usize, step: usize, m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, bias: v128): void {
  const a = f32x4.add(m1, m2), b = f32x4.sub(m1, m2), c = f32x4.add(m3, m4), d = f32x4.sub(m3, m4);
  v128.store(dst, f32x4.add(f32x4.add(f32x4.add(m0, a), c), bias));
  v128.store(dst + step, f32x4.add(madd(f32x4.splat(2), d, b), bias));
  v128.store(dst + 2 * step, f32x4.add(madd(f32x4.splat(4), c, a), bias));
  v128.store(dst + 3 * step, f32x4.add(f32x4.add(madd(f32x4.splat(8), d, b), m5), bias));
}

/** As outputTiles, for 4 × 4 tiles: y = Aᵀ m A from 36 positions. */
function outputTiles4(
  y: usize, b: usize, m: usize, plane: usize, ld: usize, col: i32, sg: i32, count: i32, oc: i32, oh: i32, ow: i32, th: i32, tw: i32, tmp: usize,
): void {
  const sampleBytes = <usize>(oc * oh * ow) * 4;
  const rowBytes = <usize>ow * 4;
  const zero = f32x4.splat(0);
  for (let o = 0; o < oc; o++) {
    const bias = f32x4.splat(b == 0 ? 0 : load<f32>(b + <usize>o * 4));
    const out = y + <usize>((sg * oc + o) * oh * ow) * 4;
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = m + <usize>o * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        // Row i (positions 6i .. 6i + 5) times A into tmp[i][0..3].
        for (let i = 0; i < 6; i++, s += 6 * plane) {
          at4(tmp + <usize>i * 64, 16, v128.load(s), v128.load(s + plane), v128.load(s + 2 * plane), v128.load(s + 3 * plane),
            v128.load(s + 4 * plane), v128.load(s + 5 * plane), zero);
        }
        // Then Aᵀ on each column k into tmp[6 + r][k], and out to the outputs that exist.
        for (let k = 0; k < 4; k++) {
          const q = tmp + <usize>k * 16;
          at4(q + 384, 64, v128.load(q), v128.load(q, 64), v128.load(q, 128), v128.load(q, 192), v128.load(q, 256), v128.load(q, 320), bias);
        }
        const oy = 4 * ty, ox = 4 * tx;
        const rows = min(4, oh - oy), cols = min(4, ow - ox);
        if (count == 4 && cols == 4) {
          // Whole rows of 4 outputs for all 4 samples: transpose each row's 4 vectors (one per
          // output, lanes = samples) into one vector per sample (lanes = outputs) and store it.
          for (let r = 0; r < rows; r++) {
            const q = tmp + <usize>(384 + r * 64);
            transpose4(out + <usize>(oy + r) * rowBytes + <usize>ox * 4, sampleBytes, v128.load(q), v128.load(q, 16), v128.load(q, 32), v128.load(q, 48));
          }
          continue;
        }
        for (let r = 0; r < rows; r++) {
          const at = out + <usize>(oy + r) * rowBytes + <usize>ox * 4;
          for (let k = 0; k < cols; k++) storeLanes(at + <usize>k * 4, sampleBytes, v128.load(tmp + <usize>(384 + r * 64 + k * 16)), count);
        }
      }
    }
  }
}

// Stores Gᵀ·(e0 … e5) = (e0/4 − (e1+e2)/6 + (e3+e4)/24, (e2−e1)/6 + (e3−e4)/12,
// ((e3+e4) − (e1+e2))/6 + e5), read at src + k·st, to dst + k·dstStep (k = 0..2).
// @ts-ignore: decorator
@inline
function gt6(src: usize, st: usize, dst: usize, dstStep: usize): void {
  const e0 = load<f32>(src), e1 = load<f32>(src + st), e2 = load<f32>(src + 2 * st);
  const e3 = load<f32>(src + 3 * st), e4 = load<f32>(src + 4 * st), e5 = load<f32>(src + 5 * st);
  const a = e1 + e2, c = e3 + e4;
  store<f32>(dst, <f32>0.25 * e0 - <f32>(1.0 / 6.0) * a + <f32>(1.0 / 24.0) * c);
  store<f32>(dst + dstStep, <f32>(1.0 / 6.0) * (e2 - e1) + <f32>(1.0 / 12.0) * (e3 - e4));
  store<f32>(dst + 2 * dstStep, <f32>(1.0 / 6.0) * (c - a) + e5);
}

/** dw[o][ch] (3×3) = Gᵀ dU[·][o][ch] G for F(4×4, 3×3), dU: 36 planes of OC × C, filterPlane apart (overwritten). */
function filterGradient4(dw: usize, du: usize, oc: i32, c: i32): void {
  const plane = <usize>filterPlane(oc, c) * 4;
  for (let o = 0; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) {
      const s = du + <usize>(o * c + ch) * 4;
      const d = dw + <usize>((o * c + ch) * 9) * 4;
      // Each row i of dU times G, in place into positions 6i .. 6i + 2; then Gᵀ down those 3 columns.
      for (let i = 0; i < 6; i++) gt6(s + <usize>(6 * i) * plane, plane, s + <usize>(6 * i) * plane, plane);
      for (let k = 0; k < 3; k++) gt6(s + <usize>k * plane, 6 * plane, d + <usize>k * 4, 12);
    }
  }
}

// ── The input gradient, by the forward's adjoint. The forward is linear in each tile's window d:
// y = Aᵀ [ U ⊙ (Bᵀ d B) ] A, so ∂C/∂d = B [ Σ_oc U ⊙ (A dy Aᵀ) ] Bᵀ. DY = A dy Aᵀ is what the
// weight gradient transforms too (gradTiles), so the input gradient reuses it: per position one
// product dV_ξ (C × T) = U_ξᵀ (C × OC) · DY_ξ (OC × T), then per tile dd = B dV Bᵀ, added into
// the zeroed padded planes at the tile's window (neighbouring windows overlap by 2 rows and
// columns; tiles are added in order), and dx = those planes without the padding. Same tiles as
// the forward: for a 24 × 24 output 36 tiles a sample, where the full correlation of dy over a
// 26 × 26 dx took 49 and its own packing and transform of dy.
//
//   F(2×2): B rows (0 1 2 3): e0 | e1 − e2 + e3 | −e0 + e1 + e2 | −e3
//   F(4×4): B rows: 4e0 | 4(e2 − e1 + e5) + 2(e4 − e3) | −5e0 − 4(e1 + e2) − (e3 + e4) |
//                   (e1 − e2) + 2(e3 − e4) − 5e5 | e0 + e1 + e2 + e3 + e4 | e5

// Stores B·(e0, e1, e2, e3) at dst + k·step (F(2×2)).
// @ts-ignore: decorator
@inline
function bInv4(dst: usize, step: usize, e0: v128, e1: v128, e2: v128, e3: v128): void {
  v128.store(dst, e0);
  v128.store(dst + step, f32x4.add(f32x4.sub(e1, e2), e3));
  v128.store(dst + 2 * step, f32x4.sub(f32x4.add(e1, e2), e0));
  v128.store(dst + 3 * step, f32x4.neg(e3));
}

// Adds B·(e0, e1, e2, e3) to the values at dst + k·step (F(2×2)).
// @ts-ignore: decorator
@inline
function bInv4Add(dst: usize, step: usize, e0: v128, e1: v128, e2: v128, e3: v128): void {
  v128.store(dst, f32x4.add(v128.load(dst), e0));
  v128.store(dst + step, f32x4.add(v128.load(dst + step), f32x4.add(f32x4.sub(e1, e2), e3)));
  v128.store(dst + 2 * step, f32x4.add(v128.load(dst + 2 * step), f32x4.sub(f32x4.add(e1, e2), e0)));
  v128.store(dst + 3 * step, f32x4.sub(v128.load(dst + 3 * step), e3));
}

// Stores B·(e0 … e5) at dst + k·step, or with `add` adds it to the values there (F(4×4)).
// @ts-ignore: decorator
@inline
function bInv6(dst: usize, step: usize, e0: v128, e1: v128, e2: v128, e3: v128, e4: v128, e5: v128, add: bool): void {
  const four = f32x4.splat(4), two = f32x4.splat(2), minus5 = f32x4.splat(-5), minus4 = f32x4.splat(-4);
  const d0 = f32x4.mul(four, e0);
  const d1 = madd(four, f32x4.add(f32x4.sub(e2, e1), e5), f32x4.mul(two, f32x4.sub(e4, e3)));
  const d2 = madd(minus5, e0, madd(minus4, f32x4.add(e1, e2), f32x4.neg(f32x4.add(e3, e4))));
  const d3 = madd(two, f32x4.sub(e3, e4), madd(minus5, e5, f32x4.sub(e1, e2)));
  const d4 = f32x4.add(f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), e4);
  if (add) {
    v128.store(dst, f32x4.add(v128.load(dst), d0));
    v128.store(dst + step, f32x4.add(v128.load(dst + step), d1));
    v128.store(dst + 2 * step, f32x4.add(v128.load(dst + 2 * step), d2));
    v128.store(dst + 3 * step, f32x4.add(v128.load(dst + 3 * step), d3));
    v128.store(dst + 4 * step, f32x4.add(v128.load(dst + 4 * step), d4));
    v128.store(dst + 5 * step, f32x4.add(v128.load(dst + 5 * step), e5));
  } else {
    v128.store(dst, d0);
    v128.store(dst + step, d1);
    v128.store(dst + 2 * step, d2);
    v128.store(dst + 3 * step, d3);
    v128.store(dst + 4 * step, d4);
    v128.store(dst + 5 * step, e5);
  }
}

/**
 * p[ch] (zeroed planes c × hp × wp, 4 samples per vector) += B·dV·Bᵀ of every tile of one group,
 * at the tile's window (rows e·ty …, columns e·tx …); dV[ξ][ch][col + t·4 ..] in v (positions
 * `plane` bytes apart, rows `ld` bytes), e = 2 or 4. tmp: 36 vectors.
 */
function inputGradTiles(p: usize, v: usize, plane: usize, ld: usize, col: i32, c: i32, hp: i32, wp: i32, th: i32, tw: i32, e: i32, tmp: usize): void {
  const row = <usize>wp * 16;
  for (let ch = 0; ch < c; ch++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        let s = v + <usize>ch * ld + <usize>(col + (ty * tw + tx) * 4) * 4;
        const dst = p + <usize>((ch * hp + e * ty) * wp + e * tx) * 16;
        if (e == 2) {
          // Each row i of dV (positions 4i + j) times B into tmp[i][0..3], then B down each column.
          for (let i = 0; i < 4; i++, s += 4 * plane) {
            bInv4(tmp + <usize>i * 64, 16, v128.load(s), v128.load(s + plane), v128.load(s + 2 * plane), v128.load(s + 3 * plane));
          }
          for (let j = 0; j < 4; j++) {
            const q = tmp + <usize>j * 16;
            bInv4Add(dst + <usize>j * 16, row, v128.load(q), v128.load(q, 64), v128.load(q, 128), v128.load(q, 192));
          }
        } else {
          for (let i = 0; i < 6; i++, s += 6 * plane) {
            bInv6(tmp + <usize>i * 96, 16, v128.load(s), v128.load(s + plane), v128.load(s + 2 * plane), v128.load(s + 3 * plane),
              v128.load(s + 4 * plane), v128.load(s + 5 * plane), false);
          }
          for (let j = 0; j < 6; j++) {
            const q = tmp + <usize>j * 16;
            bInv6(dst + <usize>j * 16, row, v128.load(q), v128.load(q, 96), v128.load(q, 192), v128.load(q, 288), v128.load(q, 384),
              v128.load(q, 480), true);
          }
        }
      }
    }
  }
}

/**
 * The inverse of packGroup: dx[sg + lane][ch][i][j] = p[ch][i + ph][j + pw][lane] for the samples
 * below s1 (written fresh).
 */
function unpackGroup(dx: usize, p: usize, sg: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, hp: i32, wp: i32): void {
  const full = sg + 4 <= s1;
  const sampleBytes = <usize>(c * h * w) * 4;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h; i++) {
      const dst = dx + <usize>(((sg * c + ch) * h + i) * w) * 4;
      const src = p + <usize>((ch * hp + i + ph) * wp + pw) * 16;
      let j = 0;
      if (full) {
        // 4 pixels × 4 samples, transposed into 4 samples × 4 pixels.
        for (; j + 4 <= w; j += 4) {
          const q = src + <usize>j * 16;
          transpose4(dst + <usize>j * 4, sampleBytes, v128.load(q), v128.load(q, 16), v128.load(q, 32), v128.load(q, 48));
        }
      }
      for (; j < w; j++) storeLanes(dst + <usize>j * 4, sampleBytes, v128.load(src + <usize>j * 16), min(4, s1 - sg));
    }
  }
}

// ── The products of the forward path: M_ξ (OC × T) = U_ξ (OC × C) · V_ξ (C × T).
//
// gemm() packs its operands into panels so that its micro-kernel reads them contiguously; here
// C (the sum's length) is only 16 or 32, so packing and its scaling pass cost as much as the
// multiplies. V_ξ's rows are already contiguous runs of T, so this kernel reads them in place:
// a 4 × 8 block of M is eight accumulators over the C steps, each step two loads of V and four
// broadcasts of U (the same register tile as gemm's micro-kernel), stored once (no read of M).
// Every M value is one sum over ch = 0..C−1 in order, whichever block computes it.

// @ts-ignore: decorator
@inline
function rows4x8(m: usize, ldm: usize, u: usize, c: i32, v: usize, ldv: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const ldu = <usize>c * 4;
  let bp = v, ap = u;
  for (let k = 0; k < c; k++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap + ldu);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap + 2 * ldu);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap + 3 * ldu);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    bp += ldv;
    ap += 4;
  }
  v128.store(m, c00); v128.store(m, c01, 16);
  v128.store(m + ldm, c10); v128.store(m + ldm, c11, 16);
  v128.store(m + 2 * ldm, c20); v128.store(m + 2 * ldm, c21, 16);
  v128.store(m + 3 * ldm, c30); v128.store(m + 3 * ldm, c31, 16);
}

// One row of M × 4 columns: the edges (OC not a multiple of 4, T not a multiple of 8).
// @ts-ignore: decorator
@inline
function row1x4(m: usize, u: usize, c: i32, v: usize, ldv: usize): void {
  let acc = f32x4.splat(0);
  let bp = v, ap = u;
  for (let k = 0; k < c; k++) {
    acc = madd(v128.load32_splat(ap), v128.load(bp), acc);
    bp += ldv;
    ap += 4;
  }
  v128.store(m, acc);
}

/** m (OC × T, rows T floats) = u (OC × C) · v (C × T, rows T floats); T a multiple of 4. */
function product(m: usize, u: usize, v: usize, oc: i32, c: i32, t: i32): void {
  const ld = <usize>t * 4;
  const oc4 = oc & ~3;
  let j = 0;
  for (; j + 8 <= t; j += 8) {
    const vj = v + <usize>j * 4;
    const mj = m + <usize>j * 4;
    let o = 0;
    for (; o < oc4; o += 4) rows4x8(mj + <usize>o * ld, ld, u + <usize>(o * c) * 4, c, vj, ld);
    for (; o < oc; o++) {
      row1x4(mj + <usize>o * ld, u + <usize>(o * c) * 4, c, vj, ld);
      row1x4(mj + <usize>o * ld + 16, u + <usize>(o * c) * 4, c, vj + 16, ld);
    }
  }
  for (; j < t; j += 4) {
    for (let o = 0; o < oc; o++) row1x4(m + <usize>o * ld + <usize>j * 4, u + <usize>(o * c) * 4, c, v + <usize>j * 4, ld);
  }
}

// ── The products of the weight gradient: dU_ξ (OC × C) = DY_ξ (OC × T) · V_ξᵀ (T × C).
// The sum runs along rows of both operands, so each dU value is a dot product of two
// contiguous rows: a 4 × 2 block of dU keeps eight vector accumulators (four t's per lane) over
// the T columns, then adds each accumulator's lanes in a fixed order.

// @ts-ignore: decorator
@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline
function dots4x2(du: usize, ldu: usize, a: usize, b: usize, ld: usize, t: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = <usize>t * 4;
  for (let j: usize = 0; j < end; j += 16) {
    const b0 = v128.load(b + j), b1 = v128.load(b + ld + j);
    let x = v128.load(a + j);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
    x = v128.load(a + ld + j);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
    x = v128.load(a + 2 * ld + j);
    c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
    x = v128.load(a + 3 * ld + j);
    c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
  }
  store<f32>(du, hsum(c00)); store<f32>(du, hsum(c01), 4);
  store<f32>(du + ldu, hsum(c10)); store<f32>(du + ldu, hsum(c11), 4);
  store<f32>(du + 2 * ldu, hsum(c20)); store<f32>(du + 2 * ldu, hsum(c21), 4);
  store<f32>(du + 3 * ldu, hsum(c30)); store<f32>(du + 3 * ldu, hsum(c31), 4);
}

// @ts-ignore: decorator
@inline
function dot1(a: usize, b: usize, t: i32): f32 {
  let acc = f32x4.splat(0);
  const end = <usize>t * 4;
  for (let j: usize = 0; j < end; j += 16) acc = madd(v128.load(a + j), v128.load(b + j), acc);
  return hsum(acc);
}

/** du (OC × C) = a (OC × T) · b (C × T)ᵀ, rows of a and b T floats; T a multiple of 4. */
function productT(du: usize, a: usize, b: usize, oc: i32, c: i32, t: i32): void {
  const ld = <usize>t * 4;
  const ldu = <usize>c * 4;
  const oc4 = oc & ~3, c2 = c & ~1;
  for (let o = 0; o < oc4; o += 4) {
    let ch = 0;
    for (; ch < c2; ch += 2) dots4x2(du + <usize>o * ldu + <usize>ch * 4, ldu, a + <usize>o * ld, b + <usize>ch * ld, ld, t);
    for (; ch < c; ch++) {
      for (let r = 0; r < 4; r++) store<f32>(du + <usize>(o + r) * ldu + <usize>ch * 4, dot1(a + <usize>(o + r) * ld, b + <usize>ch * ld, t));
    }
  }
  for (let o = oc4; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) store<f32>(du + <usize>o * ldu + <usize>ch * 4, dot1(a + <usize>o * ld, b + <usize>ch * ld, t));
  }
}

/**
 * y[s] = conv3×3(x[s], padding ph/pw) + b for s in [s0, s1), from the transformed filters u
 * (winoFilter for this output size). y: (N, OC, OH, OW), x: (N, C, H, W); b (OC) or 0.
 * Areas tmp, p, v, m of the thread's scratch.
 */
function convChunk(
  y: usize, x: usize, u: usize, b: usize, s0: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32,
  tmp: usize, p: usize, v: usize, m: usize,
): void {
  const oh = out3(h, ph), ow = out3(w, pw);
  const e = tileOf(oh, ow);
  const th = (oh + e - 1) / e, tw = (ow + e - 1) / e;
  const hp = e * th + 2, wp = e * tw + 2;
  const tiles = th * tw * 4;
  const t = ((s1 - s0 + 3) >> 2) * tiles;
  const npos = (e + 2) * (e + 2);
  const vPlane = <usize>planeOf(c * t) * 4, mPlane = <usize>planeOf(oc * t) * 4;
  const ld = <usize>t * 4;
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    packGroup(p, x, sg, s1, c, h, w, ph, pw, hp, wp);
    if (e == 2) inputTiles(v, vPlane, ld, col, p, c, hp, wp, th, tw);
    else inputTiles4(v, vPlane, ld, col, p, c, hp, wp, th, tw, tmp);
  }
  const uPlane = <usize>filterPlane(oc, c) * 4;
  for (let xi = 0; xi < npos; xi++) {
    product(m + <usize>xi * mPlane, u + <usize>xi * uPlane, v + <usize>xi * vPlane, oc, c, t);
  }
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    if (e == 2) outputTiles(y, b, m, mPlane, ld, col, sg, min(4, s1 - sg), oc, oh, ow, th, tw);
    else outputTiles4(y, b, m, mPlane, ld, col, sg, min(4, s1 - sg), oc, oh, ow, th, tw, tmp);
  }
}

/**
 * Forward of the samples [s0, s1): y = conv3×3(x) + b (b: (OC) or 0), u from winoFilter (flip 0,
 * this output size). scratch: winoScratchBytes(…) bytes for chunks of at least s1 − s0 samples.
 */
export function winoForward(
  y: usize, x: usize, u: usize, b: usize, s0: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32,
  scratch: usize,
): void {
  if (s1 <= s0) return;
  const tmp = scratch;
  const p = tmp + <usize>TMP * 4;
  const v = p + <usize>areaP(c, h, w, ph, pw, oc) * 4;
  const m = v + <usize>areaV(c, h, w, ph, pw, chunk) * 4;
  convChunk(y, x, u, b, s0, s1, c, h, w, ph, pw, oc, tmp, p, v, m);
}

/**
 * Backward of the samples [s0, s1): duPart (positions × OC × C, planes filterPlane apart) = the chunk's weight gradient in
 * the Winograd domain, Σ_tiles (A dy Aᵀ) ⊙ (Bᵀ x B), and dbPart (OC) its Σ dy (both written fresh;
 * dbPart 0 for none); winoAddPartials turns the chunks' sums into dW. When dx is not 0, dx[s]
 * (written fresh) = the input gradient, by the forward's adjoint (inputGradTiles), ut from
 * winoFilter (transpose 1, the forward's output size).
 */
export function winoBackward(
  duPart: usize, dbPart: usize, dx: usize, x: usize, dy: usize, ut: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32, scratch: usize,
): void {
  if (s1 <= s0) return;
  const tmp = scratch;
  const p = tmp + <usize>TMP * 4;
  const v = p + <usize>areaP(c, h, w, ph, pw, oc) * 4;
  const m = v + <usize>areaV(c, h, w, ph, pw, chunk) * 4;
  const oh = out3(h, ph), ow = out3(w, pw);
  const e = tileOf(oh, ow);
  const th = (oh + e - 1) / e, tw = (ow + e - 1) / e;
  const hp = e * th + 2, wp = e * tw + 2;
  const tiles = th * tw * 4;
  const t = ((s1 - s0 + 3) >> 2) * tiles;
  const npos = (e + 2) * (e + 2);
  const vPlane = <usize>planeOf(c * t) * 4, mPlane = <usize>planeOf(oc * t) * 4;
  const ld = <usize>t * 4;
  // V = Bᵀ x B and DY = A dy Aᵀ (into m) for every tile of the chunk.
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    packGroup(p, x, sg, s1, c, h, w, ph, pw, hp, wp);
    if (e == 2) inputTiles(v, vPlane, ld, col, p, c, hp, wp, th, tw);
    else inputTiles4(v, vPlane, ld, col, p, c, hp, wp, th, tw, tmp);
    packGroup(p, dy, sg, s1, oc, oh, ow, 0, 0, e * th, e * tw);
    if (e == 2) gradTiles(m, mPlane, ld, col, p, oc, th, tw);
    else gradTiles4(m, mPlane, ld, col, p, oc, th, tw, tmp);
  }
  // dU_ξ = DY_ξ · V_ξᵀ.
  const duPlane = <usize>filterPlane(oc, c) * 4;
  for (let xi = 0; xi < npos; xi++) {
    productT(duPart + <usize>xi * duPlane, m + <usize>xi * mPlane, v + <usize>xi * vPlane, oc, c, t);
  }
  if (dbPart != 0) {
    const s = oh * ow;
    for (let o = 0; o < oc; o++) {
      let acc = f32x4.splat(0);
      let tail: f32 = 0;
      for (let sm = s0; sm < s1; sm++) {
        const row = dy + <usize>((sm * oc + o) * s) * 4;
        let j = 0;
        for (; j + 4 <= s; j += 4) acc = f32x4.add(acc, v128.load(row + <usize>j * 4));
        for (; j < s; j++) tail += load<f32>(row + <usize>j * 4);
      }
      store<f32>(dbPart + <usize>o * 4, hsum(acc) + tail);
    }
  }
  if (dx == 0) return;
  // dx by the adjoint (see inputGradTiles): dV_ξ = U_ξᵀ · DY_ξ into v (V is used up), then per
  // group its tiles' B·dV·Bᵀ added into zeroed padded planes, and those planes unpacked into dx.
  const uPlane = <usize>filterPlane(oc, c) * 4;
  for (let xi = 0; xi < npos; xi++) {
    product(v + <usize>xi * vPlane, ut + <usize>xi * uPlane, m + <usize>xi * mPlane, c, oc, t);
  }
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    memory.fill(p, 0, <usize>(c * hp * wp) * 16);
    inputGradTiles(p, v, vPlane, ld, col, c, hp, wp, th, tw, e, tmp);
    unpackGroup(dx, p, sg, s1, c, h, w, ph, pw, hp, wp);
  }
}

/**
 * dW += Gᵀ (part 0 + part 1 + …) G and db += the parts' db sums (when db is not 0): the chunks'
 * Winograd-domain sums are added first, in part order (the same sums whichever thread computed
 * each part), and transformed once. Part t is at parts + t·stride bytes (its positions × OC × C
 * sums, planes filterPlane apart; its db sums dbOffset bytes after); part 0 is overwritten;
 * tmp: 9·OC·C floats.
 */
export function winoAddPartials(
  dw: usize, db: usize, parts: usize, count: i32, stride: i32, dbOffset: i32, oc: i32, c: i32, oh: i32, ow: i32, tmp: usize,
): void {
  const e = tileOf(oh, ow);
  const len = (e + 2) * (e + 2) * filterPlane(oc, c);
  for (let t = 1; t < count; t++) {
    const p = parts + <usize>t * <usize>stride;
    let j = 0;
    for (; j + 4 <= len; j += 4) v128.store(parts + <usize>j * 4, f32x4.add(v128.load(parts + <usize>j * 4), v128.load(p + <usize>j * 4)));
    for (; j < len; j++) store<f32>(parts + <usize>j * 4, load<f32>(parts + <usize>j * 4) + load<f32>(p + <usize>j * 4));
    if (db == 0) continue;
    for (let o = 0; o < oc; o++) {
      const at = parts + <usize>dbOffset + <usize>o * 4;
      store<f32>(at, load<f32>(at) + load<f32>(p + <usize>dbOffset + <usize>o * 4));
    }
  }
  if (e == 2) filterGradient(tmp, parts, oc, c);
  else filterGradient4(tmp, parts, oc, c);
  const n = 9 * oc * c;
  for (let j = 0; j < n; j++) store<f32>(dw + <usize>j * 4, load<f32>(dw + <usize>j * 4) + load<f32>(tmp + <usize>j * 4));
  if (db == 0) return;
  for (let o = 0; o < oc; o++) store<f32>(db + <usize>o * 4, load<f32>(db + <usize>o * 4) + load<f32>(parts + <usize>dbOffset + <usize>o * 4));
}

// Gᵀ·(e0, e1, e2, e3) = (e0 + ½(e1 + e2), ½(e1 − e2), ½(e1 + e2) + e3).

/** dw[o][ch] (3×3) = Gᵀ dU[·][o][ch] G, dU: 16 planes of OC × C, filterPlane apart. */
function filterGradient(dw: usize, du: usize, oc: i32, c: i32): void {
  const plane = <usize>filterPlane(oc, c) * 4;
  for (let o = 0; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) {
      const s = du + <usize>(o * c + ch) * 4;
      const d = dw + <usize>((o * c + ch) * 9) * 4;
      // Gᵀ on the rows of the 4×4 (position 4i + j): for each column j, rows k = 0..2 in locals.
      let r00: f32 = 0, r01: f32 = 0, r02: f32 = 0, r03: f32 = 0;
      let r10: f32 = 0, r11: f32 = 0, r12: f32 = 0, r13: f32 = 0;
      let r20: f32 = 0, r21: f32 = 0, r22: f32 = 0, r23: f32 = 0;
      for (let j = 0; j < 4; j++) {
        const e0 = load<f32>(s + <usize>j * plane), e1 = load<f32>(s + <usize>(4 + j) * plane);
        const e2 = load<f32>(s + <usize>(8 + j) * plane), e3 = load<f32>(s + <usize>(12 + j) * plane);
        const a = e0 + <f32>0.5 * (e1 + e2), bq = <f32>0.5 * (e1 - e2), cq = <f32>0.5 * (e1 + e2) + e3;
        if (j == 0) { r00 = a; r10 = bq; r20 = cq; }
        else if (j == 1) { r01 = a; r11 = bq; r21 = cq; }
        else if (j == 2) { r02 = a; r12 = bq; r22 = cq; }
        else { r03 = a; r13 = bq; r23 = cq; }
      }
      // Then Gᵀ on the columns of each of the 3 rows.
      store<f32>(d, r00 + <f32>0.5 * (r01 + r02));
      store<f32>(d, <f32>0.5 * (r01 - r02), 4);
      store<f32>(d, <f32>0.5 * (r01 + r02) + r03, 8);
      store<f32>(d, r10 + <f32>0.5 * (r11 + r12), 12);
      store<f32>(d, <f32>0.5 * (r11 - r12), 16);
      store<f32>(d, <f32>0.5 * (r11 + r12) + r13, 20);
      store<f32>(d, r20 + <f32>0.5 * (r21 + r22), 24);
      store<f32>(d, <f32>0.5 * (r21 - r22), 28);
      store<f32>(d, <f32>0.5 * (r21 + r22) + r23, 32);
    }
  }
}
