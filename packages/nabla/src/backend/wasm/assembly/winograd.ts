// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, 2016):
// each 2×2 block ("tile") of outputs of one channel pair costs 16 multiplies instead of 36.
//
//   y_tile = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A,    d_c: the tile's 4×4 input window
//
//   Bᵀ = | 1  0 −1  0 |   G = | 1    0    0  |   Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |       | ½    ½    ½  |        | 0  1 −1 −1 |
//        | 0 −1  1  0 |       | ½   −½    ½  |
//        | 0  1  0 −1 |       | 0    0    1  |
//
// For each of the 16 positions ξ of the transformed 4×4 tile, the sum over c is a matrix
// product: M_ξ (OC × T) = U_ξ (OC × C) · V_ξ (C × T) over the T tiles of a chunk of samples, one
// gemm() each. Only ½ appears in G (exact in float32) and ±1 in B and A, so the transforms round
// like a few additions; the results differ from im2col's only by float32 rounding.
//
// The backward passes reuse the same pieces:
//   dx = the full correlation of dy with the kernels rotated by 180° and transposed (OC ↔ C):
//        a 3×3 stride-1 convolution of dy padded by 2 − p, through the forward path;
//   dW = Gᵀ [ Σ_tiles (A dy_tile Aᵀ) ⊙ (Bᵀ d_tile B) ] G, the adjoint of the forward: per position
//        one product dU_ξ (OC × C) = DY_ξ (OC × T) · V_ξᵀ (T × C), then the 4×4 → 3×3 transform.
//
// SIMD: four SAMPLES share a vector. A group of 4 samples is first copied into a zero-padded,
// interleaved plane P[c][row][col][lane] (lane = sample), so every load of a transform reads one
// pixel of 4 samples at once and every transformed value is stored as one vector: column
// t·4 + lane of V_ξ holds tile t of sample lane. A chunk of samples is ⌈count / 4⌉ such groups
// (missing samples of the last group are zeros, and their outputs are not written).
//
// Sizes: C input channels of H × W, padding PH/PW (any sign), OC output channels of
// OH × OW = (H + 2PH − 2) × (W + 2PW − 2); TH × TW = ⌈OH/2⌉ × ⌈OW/2⌉ tiles per sample. Pointers
// are byte offsets; every scratch area is the calling thread's own.

import { gemm } from './gemm';
import { madd } from './madd';

/** Output of a 3×3 stride-1 window over len values padded by p on each side. */
// @ts-ignore: decorator
@inline
function out3(len: i32, p: i32): i32 {
  return len + 2 * p - 2;
}

// ── Scratch: one thread's areas for a chunk of `chunk` samples, sized for the backward (which
// also runs the forward path for dx): P (one group's padded planes), V (16 × channels × T),
// M (16 × channels × T) and dU (16 × OC × C), each 64-byte aligned.

// @ts-ignore: decorator
@inline
function align16(floats: i32): i32 {
  return (floats + 15) & ~15;
}

function areaP(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32): i32 {
  const oh = out3(h, ph), ow = out3(w, pw);
  const th = (oh + 1) >> 1, tw = (ow + 1) >> 1;
  // Tiles over H × W for dx (dy padded by 2 − p).
  const thx = (h + 1) >> 1, twx = (w + 1) >> 1;
  const forward = c * (2 * th + 2) * (2 * tw + 2);
  const dyTiles = oc * (2 * th) * (2 * tw);
  const dxInput = oc * (2 * thx + 2) * (2 * twx + 2);
  return align16(max(forward, max(dyTiles, dxInput)) * 4);
}

function tileCols(chunk: i32, out: i32, outW: i32): i32 {
  return ((chunk + 3) >> 2) * ((out + 1) >> 1) * ((outW + 1) >> 1) * 4;
}

// Floats between two positions' planes of `floats` values: rounded up to a multiple of 4 KiB
// plus 256 bytes, so that the 16 values a transform stores (or loads) for one tile fall in 16
// different cache sets. (Planes a multiple of 4 KiB apart, as 16 channels × 1152 tiles are,
// map all 16 to one set of the 8-way L1 cache, and the transforms ran 5–20× slower.)
function planeOf(floats: i32): i32 {
  return ((floats + 1023) & ~1023) + 64;
}

function areaV(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32): i32 {
  const t = tileCols(chunk, out3(h, ph), out3(w, pw));
  const tx = tileCols(chunk, h, w);
  return 16 * planeOf(max(c * t, oc * tx));
}

function areaM(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32): i32 {
  const t = tileCols(chunk, out3(h, ph), out3(w, pw));
  const tx = tileCols(chunk, h, w);
  return 16 * planeOf(max(oc * t, c * tx));
}

/** Bytes of scratch one thread needs for chunks of `chunk` samples (forward or backward). */
export function winoScratchBytes(c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32): i32 {
  return (areaP(c, h, w, ph, pw, oc) + areaV(c, h, w, ph, pw, oc, chunk) + areaM(c, h, w, ph, pw, oc, chunk) + align16(16 * oc * c)) * 4;
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
 * u[ξ] (16 planes of OC × C floats) = G·W[o][ch]·Gᵀ; with flip, u[ξ] (16 planes of C × OC) =
 * G·rot180(W[o][ch])·Gᵀ at [ch][o]: the filters of the input gradient. wt: (OC, C, 3, 3).
 */
export function winoFilter(u: usize, wt: usize, oc: i32, c: i32, flip: i32): void {
  const plane = <usize>(oc * c) * 4;
  for (let o = 0; o < oc; o++) {
    for (let ch = 0; ch < c; ch++) {
      const g = wt + <usize>((o * c + ch) * 9) * 4;
      let g00 = load<f32>(g), g01 = load<f32>(g, 4), g02 = load<f32>(g, 8);
      let g10 = load<f32>(g, 12), g11 = load<f32>(g, 16), g12 = load<f32>(g, 20);
      let g20 = load<f32>(g, 24), g21 = load<f32>(g, 28), g22 = load<f32>(g, 32);
      if (flip) {
        let t = g00; g00 = g22; g22 = t;
        t = g01; g01 = g21; g21 = t;
        t = g02; g02 = g20; g20 = t;
        t = g10; g10 = g12; g12 = t;
      }
      const dst = u + <usize>(flip ? ch * oc + o : o * c + ch) * 4;
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
  memory.fill(p, 0, <usize>(c * hp * wp) * 16);
  const i0 = max(0, -ph), i1 = min(h, hp - ph);
  const j0 = max(0, -pw), j1 = min(w, wp - pw);
  if (i1 <= i0 || j1 <= j0) return;
  const sampleBytes = <usize>(c * h * w) * 4;
  const full = sg + 4 <= s1;
  for (let ch = 0; ch < c; ch++) {
    for (let i = i0; i < i1; i++) {
      const src = x + <usize>(((sg * c + ch) * h + i) * w) * 4;
      const dst = p + <usize>((ch * hp + i + ph) * wp + pw) * 16;
      let j = j0;
      if (full) {
        // 4 samples × 4 pixels, transposed in registers into 4 pixels × 4 samples.
        for (; j + 4 <= j1; j += 4) {
          const s = src + <usize>j * 4;
          const x0 = v128.load(s), x1 = v128.load(s + sampleBytes);
          const x2 = v128.load(s + 2 * sampleBytes), x3 = v128.load(s + 3 * sampleBytes);
          const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          const d = dst + <usize>j * 16;
          v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
          v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
          v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
          v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
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

let SKIP: i32 = 0;
export function winoSetSkip(v: i32): void { SKIP = v; }
// ── The convolution of a chunk.

/**
 * y[s] = conv3×3(x[s], padding ph/pw) + b for s in [s0, s1), from the transformed filters u
 * (winoFilter: 16 planes of OC × C). y: (N, OC, OH, OW), x: (N, C, H, W); b (OC) or 0.
 * Areas p, v, m of the thread's scratch.
 */
function convChunk(
  y: usize, x: usize, u: usize, b: usize, s0: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32,
  p: usize, v: usize, m: usize, gemmScratch: usize,
): void {
  const oh = out3(h, ph), ow = out3(w, pw);
  const th = (oh + 1) >> 1, tw = (ow + 1) >> 1;
  const hp = 2 * th + 2, wp = 2 * tw + 2;
  const tiles = th * tw * 4;
  const t = ((s1 - s0 + 3) >> 2) * tiles;
  const vPlane = <usize>planeOf(c * t) * 4, mPlane = <usize>planeOf(oc * t) * 4;
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    if (!(SKIP & 1)) packGroup(p, x, sg, s1, c, h, w, ph, pw, hp, wp);
    if (!(SKIP & 2)) inputTiles(v, vPlane, <usize>t * 4, col, p, c, hp, wp, th, tw);
  }
  if (!(SKIP & 4)) for (let xi = 0; xi < 16; xi++) {
    product(m + <usize>xi * mPlane, u + <usize>(xi * oc * c) * 4, v + <usize>xi * vPlane, oc, c, t);
  }
  if (!(SKIP & 8)) for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    outputTiles(y, b, m, mPlane, <usize>t * 4, col, sg, min(4, s1 - sg), oc, oh, ow, th, tw);
  }
}

/**
 * Forward of the samples [s0, s1): y = conv3×3(x) + b (b: (OC) or 0), u from winoFilter (flip 0).
 * scratch: winoScratchBytes(…) bytes for chunks of at least s1 − s0 samples.
 */
export function winoForward(
  y: usize, x: usize, u: usize, b: usize, s0: i32, s1: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32,
  scratch: usize, gemmScratch: usize,
): void {
  if (s1 <= s0) return;
  const p = scratch;
  const v = p + <usize>areaP(c, h, w, ph, pw, oc) * 4;
  const m = v + <usize>areaV(c, h, w, ph, pw, oc, chunk) * 4;
  convChunk(y, x, u, b, s0, s1, c, h, w, ph, pw, oc, p, v, m, gemmScratch);
}

/**
 * Backward of the samples [s0, s1): dwPart (OC, C, 3, 3) = the chunk's Σ dy ⋆ x and dbPart (OC)
 * its Σ dy (both written fresh; dbPart 0 for none), and when dx is not 0, dx[s] (written fresh) =
 * the full correlation of dy[s] with the rotated kernels, ut from winoFilter (flip 1).
 */
export function winoBackward(
  dwPart: usize, dbPart: usize, dx: usize, x: usize, dy: usize, ut: usize, s0: i32, s1: i32,
  c: i32, h: i32, w: i32, ph: i32, pw: i32, oc: i32, chunk: i32, scratch: usize, gemmScratch: usize,
): void {
  if (s1 <= s0) return;
  const p = scratch;
  const v = p + <usize>areaP(c, h, w, ph, pw, oc) * 4;
  const m = v + <usize>areaV(c, h, w, ph, pw, oc, chunk) * 4;
  const du = m + <usize>areaM(c, h, w, ph, pw, oc, chunk) * 4;
  const oh = out3(h, ph), ow = out3(w, pw);
  const th = (oh + 1) >> 1, tw = (ow + 1) >> 1;
  const hp = 2 * th + 2, wp = 2 * tw + 2;
  const tiles = th * tw * 4;
  const t = ((s1 - s0 + 3) >> 2) * tiles;
  const vPlane = <usize>planeOf(c * t) * 4, mPlane = <usize>planeOf(oc * t) * 4;
  // V = Bᵀ x B and DY = A dy Aᵀ (into m) for every tile of the chunk.
  for (let sg = s0, col = 0; sg < s1; sg += 4, col += tiles) {
    packGroup(p, x, sg, s1, c, h, w, ph, pw, hp, wp);
    inputTiles(v, vPlane, <usize>t * 4, col, p, c, hp, wp, th, tw);
    packGroup(p, dy, sg, s1, oc, oh, ow, 0, 0, 2 * th, 2 * tw);
    gradTiles(m, mPlane, <usize>t * 4, col, p, oc, th, tw);
  }
  // dU_ξ = DY_ξ · V_ξᵀ, then dW = Gᵀ dU G.
  const duPlane = <usize>(oc * c) * 4;
  for (let xi = 0; xi < 16; xi++) {
    gemm(du + <usize>xi * duPlane, m + <usize>xi * mPlane, v + <usize>xi * vPlane, oc, c, t, false, true, 1, 0, 0, c, gemmScratch);
  }
  filterGradient(dwPart, du, oc, c);
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
      const sum = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      store<f32>(dbPart + <usize>o * 4, sum + tail);
    }
  }
  if (dx == 0) return;
  // dx: dy (OC channels of OH × OW) padded by 2 − p, through the forward path with C outputs.
  convChunk(dx, dy, ut, 0, s0, s1, oc, oh, ow, 2 - ph, 2 - pw, c, p, v, m, gemmScratch);
}

// Gᵀ·(e0, e1, e2, e3) = (e0 + ½(e1 + e2), ½(e1 − e2), ½(e1 + e2) + e3).

/** dw[o][ch] (3×3) = Gᵀ dU[·][o][ch] G, dU: 16 planes of OC × C. */
function filterGradient(dw: usize, du: usize, oc: i32, c: i32): void {
  const plane = <usize>(oc * c) * 4;
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
