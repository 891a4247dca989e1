// Entry point of the wasm module: every exported kernel. Built by scripts/build-wasm.mjs twice
// (baseline SIMD, and relaxed SIMD for fused multiply-add) into src/backend/wasm/kernels.generated.ts.
export { gemm, gemmScratchBytes } from './gemm';
export {
  addRowVector, sumRows, relu, reluBackward, leakyRelu, leakyReluBackward, sgdUpdate, adamUpdate,
} from './elementwise';
