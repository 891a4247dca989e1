// The ceiling for any wasm GEMM on this CPU: f32x4 multiply-adds with no memory traffic at all.
// Twelve independent accumulators hide the multiply-add latency (4 cycles, 2 per cycle). Built
// by bench/peak.ts with relaxed SIMD (one fused multiply-add each), as nabla's GEMM is.

/** Runs iters × 12 f32x4 multiply-adds (8 flops each); returns a sum so that nothing is optimised away. */
export function peak(iters: i32): f32 {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
  let c8 = f32x4.splat(0), c9 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  const a = f32x4.splat(1.0000001);
  const b = f32x4.splat(0.9999999);
  for (let i = 0; i < iters; i++) {
    c0 = f32x4.relaxed_madd(a, b, c0); c1 = f32x4.relaxed_madd(a, b, c1);
    c2 = f32x4.relaxed_madd(a, b, c2); c3 = f32x4.relaxed_madd(a, b, c3);
    c4 = f32x4.relaxed_madd(a, b, c4); c5 = f32x4.relaxed_madd(a, b, c5);
    c6 = f32x4.relaxed_madd(a, b, c6); c7 = f32x4.relaxed_madd(a, b, c7);
    c8 = f32x4.relaxed_madd(a, b, c8); c9 = f32x4.relaxed_madd(a, b, c9);
    c10 = f32x4.relaxed_madd(a, b, c10); c11 = f32x4.relaxed_madd(a, b, c11);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  const t = f32x4.add(s, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)));
  return f32x4.extract_lane(t, 0);
}
