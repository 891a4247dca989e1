// Entry point of the wasm module: every exported kernel. Built by scripts/build-wasm.mjs for
// baseline SIMD and for relaxed SIMD (fused multiply-add), each for shared and unshared memory,
// into src/backend/wasm/kernels.generated.ts.
export { gemm, gemmScratchBytes } from './gemm';
export {
  fill, sumSquares, addRowVector, sumRows, gemmEpilogue, relu, reluBackward, leakyRelu, leakyReluBackward, sgdUpdate, sgdSumSquares, adamUpdate, gatherRows,
} from './elementwise';
export { softmaxCrossEntropy, softmaxScratchBytes } from './softmax';
export { im2col, col2im, maxPool, maxPoolBackward } from './image';
export { convForward, convBackward, convAddPartials, direct3x3Forward, direct3x3Backward } from './conv';
export {
  batchNormShift, batchNormStats, batchNormStatsFinish, batchNormNormalize, batchNormGrad, batchNormGradFinish, batchNormBackward,
} from './batchNorm';
export { winoScratchBytes, winoFilterBytes, winoFilter, winoForward, winoBackward, winoAddPartials } from './winograd';
