/**
 * The wasm kernels' signatures and the threaded ops, written once for the calling thread and the
 * workers.
 *
 * `Kernels` is the module's exports as JS sees them (pointers are byte offsets into the wasm
 * memory, booleans are 0 or 1). `OPS` lists every kernel that runs split over the threads: the
 * job's arguments by name, and `part`, which computes part p of a job by calling the export.
 * The caller runs `part` for the parts it claims; the workers run the very same functions, shipped
 * to them as source text with the table (see kernelWorker.ts), so an op's code is its index here.
 *
 * NOTE: because it is shipped as source, a `part` must not reference anything outside its own
 * body (no imports, no module constants); ops.test.ts runs every one from its source text.
 *
 * @example
 * OPS.relu.part(kernels, { out, x, n: 1000, per: 512 }, 1, thread); // values 512..999
 */

/** The module's exported functions. */
export interface Kernels {
  gemm(c: number, a: number, b: number, m: number, n: number, k: number, transA: number, transB: number,
    alpha: number, beta: number, n0: number, n1: number, scratch: number): number;
  gemmScratchBytes(): number;
  gemmEpilogue(c: number, m: number, n: number, bias: number, relu: number, n0: number, n1: number): void;
  fill(out: number, value: number, n: number): void;
  sumSquares(x: number, n: number): number;
  addRowVector(out: number, x: number, v: number, rows: number, cols: number): void;
  sumRows(out: number, x: number, rows: number, cols: number, beta: number): void;
  relu(out: number, x: number, n: number): void;
  reluBackward(dx: number, dy: number, x: number, n: number): void;
  leakyRelu(out: number, x: number, n: number, slope: number): void;
  leakyReluBackward(dx: number, dy: number, x: number, n: number, slope: number): void;
  sgdUpdate(param: number, grad: number, velocity: number, n: number, lr: number, momentum: number, weightDecay: number,
    nesterov: number): void;
  sgdSumSquares(param: number, grad: number, n: number, lr: number, weightDecay: number): number;
  adamUpdate(param: number, grad: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, decoupled: number, bc1: number, bc2: number): void;
  gatherRows(out: number, src: number, order: number, count: number, rowBytes: number): void;
  softmaxCrossEntropy(dlogits: number, logits: number, target: number, rows: number, cols: number, scale: number, stats: number): void;
  softmaxScratchBytes(rows: number, cols: number): number;
  im2col(cols: number, x: number, ...geometry: Geometry): void;
  col2im(dx: number, cols: number, ...geometry: Geometry): void;
  maxPool(y: number, x: number, ...geometry: Geometry): void;
  maxPoolBackward(dx: number, dy: number, x: number, ...geometry: Geometry): void;
  convForward(y: number, x: number, wt: number, b: number, s0: number, s1: number, ...rest: ConvGeometry): void;
  convBackward(dwPart: number, dbPart: number, dx: number, x: number, dy: number, wt: number, s0: number, s1: number,
    ...rest: ConvGeometry): void;
  direct3x3Forward(y: number, x: number, wt: number, b: number, s0: number, s1: number, h: number, w: number, ph: number, pw: number,
    oc: number, scratch: number): void;
  direct3x3Backward(dwPart: number, dbPart: number, x: number, dy: number, s0: number, s1: number, h: number, w: number, ph: number,
    pw: number, oc: number, scratch: number): void;
  winoScratchBytes(c: number, h: number, w: number, ph: number, pw: number, oc: number, chunk: number): number;
  winoFilterBytes(oc: number, c: number): number;
  winoFilter(u: number, wt: number, oc: number, c: number, transpose: number, oh: number, ow: number): void;
  winoForward(y: number, x: number, u: number, b: number, s0: number, s1: number, c: number, h: number, w: number, ph: number, pw: number,
    oc: number, chunk: number, scratch: number): void;
  winoAddPartials(dw: number, db: number, parts: number, count: number, stride: number, dbOffset: number, oc: number, c: number,
    oh: number, ow: number, tmp: number): void;
  winoBackward(duPart: number, dbPart: number, dx: number, x: number, dy: number, ut: number, s0: number, s1: number,
    c: number, h: number, w: number, ph: number, pw: number, oc: number, chunk: number, scratch: number): void;
  convAddPartials(dw: number, db: number, parts: number, count: number, stride: number, dwLen: number, dbOffset: number,
    oc: number): void;
  batchNormShift(shift: number, x: number, n: number, c: number, s: number): void;
  batchNormStats(sums: number, x: number, shift: number, c: number, s: number, b0: number, b1: number): void;
  batchNormStatsFinish(mean: number, variance: number, sums: number, parts: number, partStride: number, x: number, shift: number,
    n: number, c: number, s: number): void;
  batchNormNormalize(y: number, x: number, mean: number, invStd: number, gamma: number, beta: number,
    c: number, s: number, p0: number, p1: number, relu: number): void;
  batchNormGrad(sums: number, dy: number, x: number, mean: number, invStd: number, gamma: number, beta: number, c: number, s: number,
    b0: number, b1: number): void;
  batchNormGradFinish(dgamma: number, dbeta: number, coef: number, sums: number, parts: number, partStride: number, invStd: number,
    gamma: number, n: number, c: number, s: number, batchStats: number): void;
  batchNormBackward(dx: number, dy: number, x: number, mean: number, coef: number, invStd: number, gamma: number, beta: number,
    c: number, s: number, batchStats: number, p0: number, p1: number): void;
}

/** The window geometry of the image kernels: n, c, h, w, kh, kw, sh, sw, ph, pw. @inline */
export type Geometry = [number, number, number, number, number, number, number, number, number, number];
/** A chunk kernel's sizes, then its cols/yc scratch and its GEMM packing scratch: c, h, w, kh, kw, sh, sw, ph, pw, oc, scratch, gemmScratch. */
type ConvGeometry = [number, number, number, number, number, number, number, number, number, number, number, number];

/** The thread running a part: its index (0 is the caller) and its own GEMM packing scratch. */
export interface Thread {
  index: number;
  scratch: number;
  memory: WebAssembly.Memory;
}

/** A threaded op: its job arguments by name, and part p of a job. */
export interface Op<A extends string = string> {
  readonly args: readonly A[];
  readonly part: (k: Kernels, a: Record<A, number>, p: number, t: Thread) => void;
}

function op<const A extends string>(args: readonly A[], part: Op<A>['part']): Op<A> {
  return { args, part };
}

// Parts are ranges [p·per, (p + 1)·per) of something: a GEMM's columns, values, rows, planes,
// channels, or chunks of samples. Which thread computes a part never changes its result.
export const OPS = {
  /** Output columns [n0, n1), a multiple of the 8-column panels. */
  /** Columns [p·per, …) of C; then, when `epilogue` (1: + bias, 2: ReLU, 3: both), gemmEpilogue on them. */
  gemm: op(['c', 'a', 'b', 'm', 'n', 'k', 'transA', 'transB', 'alpha', 'beta', 'per', 'bias', 'epilogue'], (k, a, p, t) => {
    const n0 = Math.min(a.n, p * a.per);
    const n1 = Math.min(a.n, (p + 1) * a.per);
    k.gemm(a.c, a.a, a.b, a.m, a.n, a.k, a.transA, a.transB, a.alpha, a.beta, n0, n1, t.scratch);
    if (a.epilogue) k.gemmEpilogue(a.c, a.m, a.n, a.epilogue & 1 ? a.bias : 0, a.epilogue >> 1, n0, n1);
  }),
  /**
   * Chunk `first + p` of `chunkSize` samples; each thread has its own cols/yc scratch at
   * scratch + index·stride.
   */
  convForward: op(['y', 'x', 'weight', 'bias', 'first', 'chunkSize', 'n', 'c', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const s0 = (a.first + p) * a.chunkSize;
    k.convForward(a.y, a.x, a.weight, a.bias, s0, Math.min(a.n, s0 + a.chunkSize), a.c, a.h, a.w, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, a.oc,
      a.scratch + t.index * a.stride, t.scratch);
  }),
  /** As convForward; chunk i writes its dW partial at partials + i·partStride, its db partial dbOffset after (−1: no db). */
  convBackward: op(['partials', 'partStride', 'dbOffset', 'dx', 'x', 'dy', 'weight', 'first', 'chunkSize', 'n',
    'c', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const chunk = a.first + p;
    const s0 = chunk * a.chunkSize;
    const dwPart = a.partials + chunk * a.partStride;
    k.convBackward(dwPart, a.dbOffset < 0 ? 0 : dwPart + a.dbOffset, a.dx, a.x, a.dy, a.weight, s0, Math.min(a.n, s0 + a.chunkSize),
      a.c, a.h, a.w, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, a.oc, a.scratch + t.index * a.stride, t.scratch);
  }),
  /** One input channel, 3×3, stride 1 (assembly/conv.ts direct3x3Forward): chunk `first + p`, as convForward. */
  direct3x3Forward: op(['y', 'x', 'weight', 'bias', 'first', 'chunkSize', 'n', 'h', 'w', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const s0 = (a.first + p) * a.chunkSize;
    k.direct3x3Forward(a.y, a.x, a.weight, a.bias, s0, Math.min(a.n, s0 + a.chunkSize), a.h, a.w, a.ph, a.pw, a.oc, a.scratch + t.index * a.stride);
  }),
  /** Its dW and db (no dx), as convBackward: chunk i's partials at partials + i·partStride. */
  direct3x3Backward: op(['partials', 'partStride', 'dbOffset', 'x', 'dy', 'first', 'chunkSize', 'n', 'h', 'w', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const chunk = a.first + p;
    const s0 = chunk * a.chunkSize;
    const dwPart = a.partials + chunk * a.partStride;
    k.direct3x3Backward(dwPart, a.dbOffset < 0 ? 0 : dwPart + a.dbOffset, a.x, a.dy, s0, Math.min(a.n, s0 + a.chunkSize), a.h, a.w, a.ph, a.pw, a.oc,
      a.scratch + t.index * a.stride);
  }),
  /** 3×3 stride-1 convolutions by Winograd's minimal filtering (assembly/winograd.ts): chunk `first + p`, as convForward; u: the transformed filters. */
  winoForward: op(['y', 'x', 'u', 'bias', 'first', 'chunkSize', 'n', 'c', 'h', 'w', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const s0 = (a.first + p) * a.chunkSize;
    k.winoForward(a.y, a.x, a.u, a.bias, s0, Math.min(a.n, s0 + a.chunkSize), a.c, a.h, a.w, a.ph, a.pw, a.oc, a.chunkSize,
      a.scratch + t.index * a.stride);
  }),
  /** As convBackward, the partials being Winograd-domain sums (winoAddPartials); ut: the transformed filters transposed (C × OC), for dx. */
  winoBackward: op(['partials', 'partStride', 'dbOffset', 'dx', 'x', 'dy', 'ut', 'first', 'chunkSize', 'n',
    'c', 'h', 'w', 'ph', 'pw', 'oc', 'scratch', 'stride'], (k, a, p, t) => {
    const chunk = a.first + p;
    const s0 = chunk * a.chunkSize;
    const dwPart = a.partials + chunk * a.partStride;
    k.winoBackward(dwPart, a.dbOffset < 0 ? 0 : dwPart + a.dbOffset, a.dx, a.x, a.dy, a.ut, s0, Math.min(a.n, s0 + a.chunkSize),
      a.c, a.h, a.w, a.ph, a.pw, a.oc, a.chunkSize, a.scratch + t.index * a.stride);
  }),
  /** Values [p·per, …) of n. */
  relu: op(['out', 'x', 'n', 'per'], (k, a, p) => {
    const s = p * a.per;
    const e = Math.min(a.n, s + a.per);
    if (e > s) k.relu(a.out + 4 * s, a.x + 4 * s, e - s);
  }),
  reluBackward: op(['dx', 'dy', 'x', 'n', 'per'], (k, a, p) => {
    const s = p * a.per;
    const e = Math.min(a.n, s + a.per);
    if (e > s) k.reluBackward(a.dx + 4 * s, a.dy + 4 * s, a.x + 4 * s, e - s);
  }),
  /** Whole planes [p·per, …) of the N·C planes of inPlane input and outPlane output values. */
  maxPool: op(['y', 'x', 'planes', 'per', 'inPlane', 'outPlane', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw'], (k, a, p) => {
    const s = p * a.per;
    const e = Math.min(a.planes, s + a.per);
    if (e > s) k.maxPool(a.y + 4 * s * a.outPlane, a.x + 4 * s * a.inPlane, e - s, 1, a.h, a.w, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw);
  }),
  maxPoolBackward: op(['dx', 'dy', 'x', 'planes', 'per', 'inPlane', 'outPlane', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw'], (k, a, p) => {
    const s = p * a.per;
    const e = Math.min(a.planes, s + a.per);
    if (e > s) {
      k.maxPoolBackward(a.dx + 4 * s * a.inPlane, a.dy + 4 * s * a.outPlane, a.x + 4 * s * a.inPlane, e - s, 1,
        a.h, a.w, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw);
    }
  }),
  sgdUpdate: op(['param', 'grad', 'velocity', 'n', 'per', 'lr', 'momentum', 'weightDecay', 'nesterov'], (k, a, p) => {
    const s = p * a.per;
    k.sgdUpdate(a.param + 4 * s, a.grad + 4 * s, a.velocity + 4 * s, Math.min(a.n, s + a.per) - s, a.lr, a.momentum, a.weightDecay, a.nesterov);
  }),
  adamUpdate: op(['param', 'grad', 'm', 'v', 'n', 'per', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'decoupled', 'bc1', 'bc2'], (k, a, p) => {
    const s = p * a.per;
    k.adamUpdate(a.param + 4 * s, a.grad + 4 * s, a.m + 4 * s, a.v + 4 * s, Math.min(a.n, s + a.per) - s,
      a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.decoupled, a.bc1, a.bc2);
  }),
  /** Part p's float64 sum goes to out[p] (8-byte slots), added up by the caller in part order. */
  sumSquares: op(['x', 'n', 'per', 'out'], (k, a, p, t) => {
    const s = p * a.per;
    new Float64Array(t.memory.buffer, a.out + 8 * p, 1)[0] = k.sumSquares(a.x + 4 * s, Math.min(a.n, s + a.per) - s);
  }),
  /** sumSquares' parts, each also updating its values with plain SGD (sgdSumSquares). */
  sgdSumSquares: op(['param', 'grad', 'n', 'per', 'out', 'lr', 'weightDecay'], (k, a, p, t) => {
    const s = p * a.per;
    new Float64Array(t.memory.buffer, a.out + 8 * p, 1)[0] = k.sgdSumSquares(a.param + 4 * s, a.grad + 4 * s, Math.min(a.n, s + a.per) - s, a.lr, a.weightDecay);
  }),
  /** Rows [p·per, …) of the batch; order points at the batch's first position. */
  gatherRows: op(['out', 'src', 'order', 'count', 'per', 'rowBytes'], (k, a, p) => {
    const s = p * a.per;
    k.gatherRows(a.out + s * a.rowBytes, a.src, a.order + 4 * s, Math.min(a.count, s + a.per) - s, a.rowBytes);
  }),
  /**
   * Samples [p·per, …) of n: part p writes its per-channel float64 sums (Σd, Σd²) at
   * sums + p·partStride, added up in part order by batchNormStatsFinish.
   */
  batchNormStats: op(['sums', 'partStride', 'x', 'shift', 'n', 'c', 's', 'per'], (k, a, p) => {
    const b0 = p * a.per;
    k.batchNormStats(a.sums + p * a.partStride, a.x, a.shift, a.c, a.s, b0, Math.min(a.n, b0 + a.per));
  }),
  /** Planes [p·per, …) of the N·C planes. */
  batchNormNormalize: op(['y', 'x', 'mean', 'invStd', 'gamma', 'beta', 'c', 's', 'planes', 'relu', 'per'], (k, a, p) => {
    const p0 = p * a.per;
    const p1 = Math.min(a.planes, p0 + a.per);
    if (p1 > p0) k.batchNormNormalize(a.y, a.x, a.mean, a.invStd, a.gamma, a.beta, a.c, a.s, p0, p1, a.relu);
  }),
  /** As batchNormStats: part p's sums (Σdy, Σdy·(x − μ)) at sums + p·partStride; beta ≠ 0: through a ReLU. */
  batchNormGrad: op(['sums', 'partStride', 'dy', 'x', 'mean', 'invStd', 'gamma', 'beta', 'n', 'c', 's', 'per'], (k, a, p) => {
    const b0 = p * a.per;
    k.batchNormGrad(a.sums + p * a.partStride, a.dy, a.x, a.mean, a.invStd, a.gamma, a.beta, a.c, a.s, b0, Math.min(a.n, b0 + a.per));
  }),
  /** Planes [p·per, …) of the N·C planes. */
  batchNormBackward: op(['dx', 'dy', 'x', 'mean', 'coef', 'invStd', 'gamma', 'beta', 'c', 's', 'batchStats', 'planes', 'per'], (k, a, p) => {
    const p0 = p * a.per;
    const p1 = Math.min(a.planes, p0 + a.per);
    if (p1 > p0) k.batchNormBackward(a.dx, a.dy, a.x, a.mean, a.coef, a.invStd, a.gamma, a.beta, a.c, a.s, a.batchStats, p0, p1);
  }),
};

/** A threaded op's name, which is also the export its parts call. */
export type OpName = keyof typeof OPS;
/** The named arguments of a job of op N. */
export type OpArgs<N extends OpName> = Parameters<(typeof OPS)[N]['part']>[1];
/** The ops in code order: an op's code is its index here, for the caller and the workers alike. */
export const OP_NAMES = Object.keys(OPS) as OpName[];

/** The table as source text, for a worker: `[{ args: [...], part: (k, a, p, t) => ... }, ...]` in code order. */
export function opsSource(): string {
  return `[${OP_NAMES.map((name) => `{ args: ${JSON.stringify(OPS[name].args)}, part: ${OPS[name].part.toString()} }`).join(',\n')}]`;
}
