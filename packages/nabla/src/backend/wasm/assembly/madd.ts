// a·b + c. Built twice: with relaxed SIMD enabled it is one fused multiply-add on CPUs that
// have FMA; otherwise a separate multiply and add (baseline SIMD, every engine since 2021).
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build has only one branch.
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
