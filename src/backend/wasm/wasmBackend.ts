/**
 * WasmBackend: the kernels compiled from AssemblyScript to WebAssembly with 128-bit SIMD, GEMM
 * split over worker threads that share one memory.
 *
 * - GEMM, bias add and bias gradient, the ReLU family and the SGD/Adam updates run in wasm;
 *   every other kernel (sigmoid, tanh, softmax, the losses) is the JS reference code running on
 *   the same buffers, which live in the wasm memory and are ordinary Float32Arrays to JS.
 * - `allocate` returns views into the wasm memory, so parameters, gradients and activations never
 *   move. Kernels still accept any Float32Array: a foreign operand is copied into a staging area
 *   (GEMM) or the JS code handles the call (elementwise kernels).
 * - Threads split a GEMM's output columns into contiguous ranges aligned to the 8-column panels.
 *   Every output element is computed by one thread in the same order whatever the thread count,
 *   so results are deterministic (and identical across thread counts).
 *
 * @example
 * const backend = await WasmBackend.create({ threads: 2 });
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], backend });
 */
import { NablaError } from '../../errors.ts';
import { JsBackend, checkGather, copyRows } from '../js/jsBackend.ts';
import * as image from '../js/imageKernels.ts';
import { KERNELS } from './kernels.generated.ts';
import {
  MAX_THREADS, OP_ADAM, OP_BN_BACKWARD, OP_BN_NORMALIZE, OP_BN_STATS, OP_CONV_BACKWARD, OP_CONV_FORWARD, OP_GATHER, OP_GEMM, OP_MAX_POOL, OP_MAX_POOL_BACKWARD, OP_RELU,
  OP_RELU_BACKWARD, OP_SGD, OP_SUM_SQUARES, ThreadPool,
} from './threadPool.ts';
import { WasmMemory } from './wasmMemory.ts';

/**
 * Options of `WasmBackend.create`.
 * @example const options: WasmBackendOptions = { threads: 2, relaxedSimd: true };
 */
export interface WasmBackendOptions {
  /** Threads including the caller's (default: the available cores, or 1 without shared memory). */
  threads?: number;
  /** Use relaxed SIMD's fused multiply-add where the engine supports it (default true). */
  relaxedSimd?: boolean;
  /** Upper bound on the wasm memory in MiB (default 2048). */
  maxMemoryMiB?: number;
  /** Slack added to every threaded job's deadline before a silent worker counts as dead (ms, default 5000). */
  workerTimeoutMs?: number;
  /** Where to say that a request was scaled down (default console.warn). */
  log?: (message: string) => void;
}

interface Kernels {
  gemm(c: number, a: number, b: number, m: number, n: number, k: number, tA: number, tB: number,
    alpha: number, beta: number, n0: number, n1: number, scratch: number): void;
  gemmScratchBytes(): number;
  gatherRows(out: number, src: number, order: number, count: number, rowBytes: number): void;
  batchNormStats(mean: number, variance: number, x: number, n: number, c: number, s: number, c0: number, c1: number): void;
  batchNormNormalize(y: number, x: number, mean: number, invStd: number, gamma: number, beta: number,
    n: number, c: number, s: number, c0: number, c1: number): void;
  batchNormBackward(dx: number, dgamma: number, dbeta: number, dy: number, x: number, mean: number, invStd: number,
    gamma: number, n: number, c: number, s: number, batchStats: number, c0: number, c1: number): void;
  fill(out: number, value: number, n: number): void;
  sumSquares(x: number, n: number): number;
  addRowVector(out: number, x: number, v: number, rows: number, cols: number): void;
  sumRows(out: number, x: number, rows: number, cols: number, beta: number): void;
  relu(out: number, x: number, n: number): void;
  reluBackward(dx: number, dy: number, x: number, n: number): void;
  leakyRelu(out: number, x: number, n: number, slope: number): void;
  leakyReluBackward(dx: number, dy: number, x: number, n: number, slope: number): void;
  sgdUpdate(p: number, g: number, v: number, n: number, lr: number, mu: number, wd: number, nesterov: number): void;
  im2col(cols: number, x: number, ...geometry: number[]): void;
  col2im(dx: number, cols: number, ...geometry: number[]): void;
  maxPool(y: number, x: number, ...geometry: number[]): void;
  maxPoolBackward(dx: number, dy: number, x: number, ...geometry: number[]): void;
  adamUpdate(p: number, g: number, m: number, v: number, n: number, lr: number, b1: number, b2: number, eps: number,
    wd: number, decoupled: number, bc1: number, bc2: number): void;
  convForward(y: number, x: number, w: number, b: number, s0: number, s1: number, ...rest: number[]): void;
  convBackward(dwPart: number, dbPart: number, dx: number, x: number, dy: number, w: number, s0: number, s1: number,
    ...rest: number[]): void;
  convAddPartials(dw: number, db: number, parts: number, count: number, stride: number, dwLen: number, dbOffset: number, oc: number): void;
}

/** Columns of one GEMM panel: thread ranges are multiples of it. */
const PANEL = 8;
/**
 * Below this many flops (≈ 40 µs of one core) a GEMM runs on one thread: handing half of it to a
 * worker costs more than it saves (a small CNN's per-sample products are 0.2–0.4 Mflop).
 */
const PARALLEL_MIN_FLOPS = 1 << 21;
/**
 * Elementwise kernels (optimiser updates, sums of squares, ReLU, max pooling) split over threads
 * from this many values: a first layer's weights (784 × 128) are, and a CNN's activations (the
 * small CNN's first ReLU sees 295k values per batch), biases and small layers are not.
 */
const PARALLEL_MIN_VALUES = 1 << 16;
/**
 * Values per part of a threaded sum of squares. Fixed, not derived from the thread count, so the
 * partial sums, added in part order, give the same total on any number of threads.
 */
const SUM_PART = 1 << 14;
/**
 * Samples per part of a batch convolution. Fixed (never derived from the thread count) because
 * the backward sums one dW partial per chunk, in chunk order: the same chunks give the same bits
 * on any number of threads. 8 samples of the small CNN's first layer are 8 × 576 GEMM columns.
 */
const CONV_CHUNK = 8;
/** Parts of one pool job (its claim counter has 8 bits); larger batches run several jobs. */
const MAX_PARTS = 255;
/**
 * Parts per thread of a ReLU or max-pooling split: more than one, so that a worker the OS pauses
 * in the middle of its part (a busy machine) holds the caller up for a small part only.
 */
const SPLIT_PARTS_PER_THREAD = 4;

/**
 * Cores this process may use (os.availableParallelism() in Node, navigator.hardwareConcurrency
 * in a browser).
 * @example availableCores(); // 2 on the development machine
 */
export function availableCores(): number {
  const g = globalThis as unknown as {
    navigator?: { hardwareConcurrency?: number };
    process?: { getBuiltinModule?: (name: string) => unknown };
  };
  const os = g.process?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return os?.availableParallelism?.() ?? g.navigator?.hardwareConcurrency ?? 1;
}

/**
 * Throws unless `threads` is undefined (the default) or an integer from 1 to the available cores
 * (at most 16): more threads than cores would only make them wait for each other.
 */
export function checkThreadCount(threads: number | undefined): void {
  if (threads === undefined) return;
  const cores = availableCores();
  const limit = Math.min(cores, MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > limit) {
    throw new NablaError({
      where: 'wasm backend',
      expected: `a thread count from 1 to ${limit} (this machine has ${cores} core${cores === 1 ? '' : 's'})`,
      found: String(threads),
      hint: `use --threads ${limit} or leave it out for the default`,
    });
  }
}

/**
 * Whether this engine can share a WebAssembly.Memory between threads (Node: yes; a browser page:
 * only when cross-origin isolated).
 * @example if (!sharedMemoryAvailable()) console.log('the wasm backend will run on one thread');
 */
export function sharedMemoryAvailable(): boolean {
  try {
    if (typeof SharedArrayBuffer === 'undefined') return false;
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class WasmBackend extends JsBackend {
  override readonly name: string;
  readonly threads: number;
  /** 'relaxed' (fused multiply-add) or 'baseline' SIMD. */
  readonly simd: 'relaxed' | 'baseline';
  /** The memory and its allocator. @internal */
  readonly wasmMemory: WasmMemory;
  private readonly k: Kernels;
  /** The worker threads (undefined on one thread). @internal */
  readonly pool: ThreadPool | undefined;
  /** The calling thread's packing scratch (each worker has its own). */
  private readonly ownScratch: number;
  private readonly timeoutMs: number;
  private stage = { ptr: 0, bytes: 0 };
  private sums = { ptr: 0, bytes: 0 };

  private constructor(
    memory: WasmMemory, kernels: Kernels, pool: ThreadPool | undefined, simd: 'relaxed' | 'baseline', timeoutMs: number,
    scratch: number,
  ) {
    super();
    this.wasmMemory = memory;
    this.k = kernels;
    this.pool = pool;
    this.threads = pool?.threads ?? 1;
    this.simd = simd;
    this.timeoutMs = timeoutMs;
    this.name = 'wasm';
    this.ownScratch = scratch;
  }

  /**
   * Compile the kernels and start the worker threads. Rejects with a NablaError when this engine
   * has no WebAssembly SIMD or the thread count is not allowed here.
   */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const log = options.log ?? ((m: string) => console.warn(m));
    checkThreadCount(options.threads);
    const shared = sharedMemoryAvailable();
    let threads = options.threads ?? (shared ? Math.min(availableCores(), MAX_THREADS) : 1);
    if (threads > 1 && !shared) {
      log(`nabla: shared WebAssembly memory is not available here (a browser page needs cross-origin isolation); the wasm backend runs on 1 thread instead of ${threads}`);
      threads = 1;
    }
    const mainThreadOfPage = typeof (globalThis as { document?: unknown }).document !== 'undefined';
    if (threads > 1 && mainThreadOfPage) {
      log('nabla: a page\'s main thread cannot wait for worker threads; the wasm backend runs on 1 thread (run nabla inside a Worker to use threads)');
      threads = 1;
    }
    const variants = options.relaxedSimd === false ? (['simd'] as const) : (['relaxed', 'simd'] as const);
    let bytes: Uint8Array<ArrayBuffer> | undefined;
    let simd: 'relaxed' | 'baseline' = 'baseline';
    for (const v of variants) {
      const candidate = decodeBase64(KERNELS[`${v}${shared ? 'Shared' : 'Unshared'}`]);
      if (WebAssembly.validate(candidate)) {
        bytes = candidate;
        simd = v === 'relaxed' ? 'relaxed' : 'baseline';
        break;
      }
    }
    if (!bytes) {
      throw new NablaError({
        where: 'wasm backend',
        expected: 'a JavaScript engine with WebAssembly SIMD (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)',
        found: 'an engine that rejects the SIMD module',
        hint: 'use --backend js',
      });
    }
    const memory = new WasmMemory(shared, options.maxMemoryMiB ?? 2048);
    const module = await WebAssembly.compile(bytes);
    const instance = await WebAssembly.instantiate(module, {
      env: { memory: memory.memory, abort: () => { throw new Error('wasm abort'); } },
    });
    const kernels = instance.exports as unknown as Kernels;
    // One packing scratch per thread, the caller's first.
    const scratch = Array.from({ length: threads }, () => memory.reserve(kernels.gemmScratchBytes()));
    const pool = threads > 1 ? await ThreadPool.start(memory, module, threads, scratch) : undefined;
    return new WasmBackend(memory, kernels, pool, simd, options.workerTimeoutMs ?? 5000, scratch[0]);
  }

  override allocate(length: number): Float32Array {
    // Unshared memory detaches views when it grows: hand out ordinary arrays instead.
    return this.wasmMemory.shared ? this.wasmMemory.allocate(length) : new Float32Array(length);
  }

  /** Stop the worker threads (the backend must not be used afterwards). */
  dispose(): void {
    this.pool?.stop();
  }

  override gemm(
    c: Float32Array, a: Float32Array, b: Float32Array,
    m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
  ): void {
    checkLength('gemm', 'C', c, m * n, `${m} × ${n}`);
    checkLength('gemm', 'A', a, m * k, transA ? `${k} × ${m}` : `${m} × ${k}`);
    checkLength('gemm', 'B', b, k * n, transB ? `${n} × ${k}` : `${k} × ${n}`);
    if (m === 0 || n === 0) return;
    const mem = this.wasmMemory;
    let pa = mem.pointerOf(a);
    let pb = mem.pointerOf(b);
    let pc = mem.pointerOf(c);
    const stagedC = pc < 0;
    // Foreign operands go to one staging block: C first, then A, then B.
    const need = (pc < 0 ? m * n : 0) + (pa < 0 ? m * k : 0) + (pb < 0 ? k * n : 0);
    if (need > 0) {
      let at = this.stageBlock(need * 4);
      const f = new Float32Array(mem.buffer);
      if (pc < 0) {
        pc = at;
        if (beta !== 0) f.set(c.subarray(0, m * n), at >> 2);
        at += m * n * 4;
      }
      if (pa < 0) {
        pa = at;
        f.set(a.subarray(0, m * k), at >> 2);
        at += m * k * 4;
      }
      if (pb < 0) {
        pb = at;
        f.set(b.subarray(0, k * n), at >> 2);
      }
    }
    const tA = transA ? 1 : 0;
    const tB = transB ? 1 : 0;
    const flops = 2 * m * n * k;
    const pool = this.pool;
    const parts = pool && flops >= PARALLEL_MIN_FLOPS ? Math.min(pool.threads, Math.floor(n / PANEL)) : 1;
    // Part t is columns [t·per, (t + 1)·per), cut at panel boundaries.
    const per = Math.ceil(n / parts / PANEL) * PANEL;
    if (parts <= 1) {
      this.k.gemm(pc, pa, pb, m, n, k, tA, tB, alpha, beta, 0, n, this.ownScratch);
    } else {
      pool!.run(
        [OP_GEMM, pc, pa, pb, m, n, k, tA, tB, alpha, beta, parts, per],
        parts,
        (t) => this.k.gemm(pc, pa, pb, m, n, k, tA, tB, alpha, beta, Math.min(n, t * per), Math.min(n, (t + 1) * per), this.ownScratch),
        `gemm ${m}×${n}×${k}`,
        this.timeoutMs + flops / 1e6,
      );
    }
    if (stagedC) c.set(new Float32Array(mem.buffer, pc, m * n));
  }

  private stageBlock(bytes: number): number {
    this.stage = this.wasmMemory.regrow(this.stage, bytes);
    return this.stage.ptr;
  }

  /** Pointers of arrays that all live in the wasm memory, or undefined if any does not. */
  private resident(...arrays: Float32Array[]): number[] | undefined {
    const out: number[] = [];
    for (const arr of arrays) {
      const p = this.wasmMemory.pointerOf(arr);
      if (p < 0) return undefined;
      out.push(p);
    }
    return out;
  }

  override sumSquares(x: Float32Array, n: number): number {
    checkLength('sumSquares', 'x', x, n, `${n}`);
    const px = this.wasmMemory.pointerOf(x);
    if (px < 0) return super.sumSquares(x, n);
    if (n < 2 * SUM_PART) return this.k.sumSquares(px, n);
    // Parts of SUM_PART values, each summed on whichever thread claims it, added in order.
    const parts = Math.ceil(n / SUM_PART);
    const out = this.sumSlots(parts);
    const sums = new Float64Array(this.wasmMemory.buffer, out, parts);
    const part = (t: number): void => {
      sums[t] = this.k.sumSquares(px + 4 * t * SUM_PART, Math.min(n, (t + 1) * SUM_PART) - t * SUM_PART);
    };
    if (this.pool && parts <= 255) {
      this.pool.run([OP_SUM_SQUARES, parts, SUM_PART, px, n, out], parts, part, `sumSquares of ${n}`, this.timeoutMs);
    } else {
      for (let t = 0; t < parts; t++) part(t);
    }
    let total = 0;
    for (let t = 0; t < parts; t++) total += sums[t];
    return total;
  }

  /** 8-byte-aligned room for `parts` float64 partial sums, kept between calls. */
  private sumSlots(parts: number): number {
    this.sums = this.wasmMemory.regrow(this.sums, parts * 8);
    return this.sums.ptr;
  }

  /**
   * Run an elementwise kernel over [0, n) on every thread when n is large: `call(from, to)`
   * computes one range on the calling thread; `args` (after [op, parts, per]) go to workers.
   */
  private elementwise(op: number, n: number, args: number[], call: (from: number, to: number) => void, what: string): void {
    const pool = this.pool;
    if (!pool || n < PARALLEL_MIN_VALUES) {
      call(0, n);
      return;
    }
    const parts = pool.threads;
    // Parts start on multiples of 4 values (whole SIMD vectors).
    const per = Math.ceil(n / parts / 4) * 4;
    pool.run([op, parts, per, ...args], parts, (t) => call(t * per, Math.min(n, (t + 1) * per)), what, this.timeoutMs);
  }

  override gatherRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
    // Sizes and every row index, before anything is copied: a row past the dataset would copy
    // some other buffer of the memory without a trap.
    checkGather(out, src, order, start, count, width);
    const porder = this.wasmMemory.pointerOf(order);
    const pout = this.wasmMemory.pointerOf(out);
    const psrc = this.wasmMemory.pointerOf(src);
    // The dataset (or the order) is not in the wasm memory: the JS copies, from any array.
    if (porder < 0 || pout < 0 || psrc < 0 || width === 0) {
      copyRows(out, src, order, start, count, width);
      return;
    }
    const po = porder + 4 * start;
    const rowBytes = 4 * width;
    const pool = this.pool;
    if (!pool || count * width < PARALLEL_MIN_VALUES / 2 || count < pool.threads) {
      this.k.gatherRows(pout, psrc, po, count, rowBytes);
      return;
    }
    // Random rows of a large dataset come from main memory: two cores keep twice as many loads
    // in flight. Part t is rows [t·per, (t + 1)·per).
    const parts = pool.threads;
    const per = Math.ceil(count / parts);
    pool.run([OP_GATHER, parts, per, pout, psrc, po, count, rowBytes], parts,
      (t) => this.k.gatherRows(pout + t * per * rowBytes, psrc, po + 4 * t * per, Math.min(count, (t + 1) * per) - t * per, rowBytes),
      `gather of ${count} rows`, this.timeoutMs);
  }

  override fill(out: Float32Array, value: number, n: number): void {
    checkLengths('fill', n, { out });
    const p = this.resident(out);
    if (p) this.k.fill(p[0], value, n);
    else super.fill(out, value, n);
  }

  override addRowVector(out: Float32Array, x: Float32Array, v: Float32Array, rows: number, cols: number): void {
    checkLength('addRowVector', 'x', x, rows * cols, `${rows} × ${cols}`);
    checkLength('addRowVector', 'out', out, rows * cols, `${rows} × ${cols}`);
    checkLength('addRowVector', 'v', v, cols, `${cols}`);
    const p = this.resident(out, x, v);
    if (p) this.k.addRowVector(p[0], p[1], p[2], rows, cols);
    else super.addRowVector(out, x, v, rows, cols);
  }

  override sumRows(out: Float32Array, x: Float32Array, rows: number, cols: number, beta: number): void {
    checkLength('sumRows', 'x', x, rows * cols, `${rows} × ${cols}`);
    checkLength('sumRows', 'out', out, cols, `${cols}`);
    const p = this.resident(out, x);
    if (p) this.k.sumRows(p[0], p[1], rows, cols, beta);
    else super.sumRows(out, x, rows, cols, beta);
  }

  override relu(out: Float32Array, x: Float32Array, n: number): void {
    checkLengths('relu', n, { out, x });
    const p = this.resident(out, x);
    if (p) this.split(OP_RELU, n, p[0], p[1], 0);
    else super.relu(out, x, n);
  }

  override reluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void {
    checkLengths('reluBackward', n, { dx, dy, x });
    const p = this.resident(dx, dy, x);
    if (p) this.split(OP_RELU_BACKWARD, n, p[0], p[1], p[2]);
    else super.reluBackward(dx, dy, x, n);
  }

  override leakyRelu(out: Float32Array, x: Float32Array, n: number, slope: number): void {
    checkLengths('leakyRelu', n, { out, x });
    const p = this.resident(out, x);
    if (p) this.k.leakyRelu(p[0], p[1], n, slope);
    else super.leakyRelu(out, x, n, slope);
  }

  override leakyReluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number, slope: number): void {
    checkLengths('leakyReluBackward', n, { dx, dy, x });
    const p = this.resident(dx, dy, x);
    if (p) this.k.leakyReluBackward(p[0], p[1], p[2], n, slope);
    else super.leakyReluBackward(dx, dy, x, n, slope);
  }

  // NOTE: properties, not methods, because JsBackend defines the image kernels as properties.
  override readonly im2col = (cols: Float32Array, x: Float32Array, ...g: Geometry): void => {
    const size = imageSizes(g);
    checkLength('im2col', 'x', x, size.input, 'N·C·H·W');
    checkLength('im2col', 'cols', cols, size.cols, 'N·C·KH·KW·OH·OW');
    const p = this.resident(cols, x);
    if (p) this.k.im2col(p[0], p[1], ...g);
    else image.im2col(cols, x, ...g);
  };

  override readonly col2im = (dx: Float32Array, cols: Float32Array, ...g: Geometry): void => {
    const size = imageSizes(g);
    checkLength('col2im', 'dx', dx, size.input, 'N·C·H·W');
    checkLength('col2im', 'cols', cols, size.cols, 'N·C·KH·KW·OH·OW');
    const p = this.resident(dx, cols);
    if (p) this.k.col2im(p[0], p[1], ...g);
    else image.col2im(dx, cols, ...g);
  };

  override readonly maxPool = (y: Float32Array, x: Float32Array, ...g: Geometry): void => {
    const size = imageSizes(g);
    checkLength('maxPool', 'x', x, size.input, 'N·C·H·W');
    checkLength('maxPool', 'y', y, size.output, 'N·C·OH·OW');
    const p = this.resident(y, x);
    if (p) this.splitPool(OP_MAX_POOL, p[0], p[1], 0, g);
    else image.maxPool(y, x, ...g);
  };

  override readonly maxPoolBackward = (dx: Float32Array, dy: Float32Array, x: Float32Array, ...g: Geometry): void => {
    const size = imageSizes(g);
    checkLength('maxPoolBackward', 'x', x, size.input, 'N·C·H·W');
    checkLength('maxPoolBackward', 'dx', dx, size.input, 'N·C·H·W');
    checkLength('maxPoolBackward', 'dy', dy, size.output, 'N·C·OH·OW');
    const p = this.resident(dx, dy, x);
    if (p) this.splitPool(OP_MAX_POOL_BACKWARD, p[0], p[1], p[2], g);
    else image.maxPoolBackward(dx, dy, x, ...g);
  };

  override sgdUpdate(
    param: Float32Array, grad: Float32Array, velocity: Float32Array, n: number,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void {
    checkLengths('sgdUpdate', n, momentum === 0 ? { param, grad } : { param, grad, velocity });
    const p = this.resident(param, grad, momentum === 0 ? param : velocity);
    if (!p) {
      super.sgdUpdate(param, grad, velocity, n, lr, momentum, weightDecay, nesterov);
      return;
    }
    const [pp, pg, pv] = p;
    const nest = nesterov ? 1 : 0;
    this.elementwise(OP_SGD, n, [pp, pg, pv, n, lr, momentum, weightDecay, nest], (from, to) =>
      this.k.sgdUpdate(pp + 4 * from, pg + 4 * from, pv + 4 * from, to - from, lr, momentum, weightDecay, nest), 'SGD update');
  }

  override adamUpdate(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean,
    bc1: number, bc2: number,
  ): void {
    checkLengths('adamUpdate', n, { param, grad, m, v });
    const p = this.resident(param, grad, m, v);
    if (!p) {
      super.adamUpdate(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, bc1, bc2);
      return;
    }
    const [pp, pg, pm, pv] = p;
    const dec = decoupled ? 1 : 0;
    this.elementwise(OP_ADAM, n, [pp, pg, pm, pv, n, lr, beta1, beta2, eps, weightDecay, dec, bc1, bc2], (from, to) =>
      this.k.adamUpdate(pp + 4 * from, pg + 4 * from, pm + 4 * from, pv + 4 * from, to - from,
        lr, beta1, beta2, eps, weightDecay, dec, bc1, bc2), 'Adam update');
  }

  // ── Batch convolution: chunks of CONV_CHUNK samples run entirely in wasm (assembly/conv.ts),
  // as the parts of one threaded job. Each thread has its own cols/yc scratch in one block
  // (threads × stride), reserved on first use and grown when a larger layer needs more.
  private convBlock = { ptr: 0, bytes: 0 };

  /** The scratch block: per-thread slots of `stride` bytes, then `extra` bytes; returns its pointer. */
  private convBlockAt(stride: number, extra: number): number {
    this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride + extra);
    return this.convBlock.ptr;
  }

  /** Runs `count` chunks as jobs of at most MAX_PARTS parts, threaded when the work is large enough. */
  private convJobs(
    args: (first: number, parts: number) => number[], count: number, flops: number, what: string,
    part: (chunk: number) => void,
  ): void {
    const pool = this.pool;
    for (let first = 0; first < count; first += MAX_PARTS) {
      const parts = Math.min(MAX_PARTS, count - first);
      if (!pool || parts < 2 || flops < PARALLEL_MIN_FLOPS) {
        for (let t = 0; t < parts; t++) part(first + t);
      } else {
        pool.run(args(first, parts), parts, (t) => part(first + t), what, this.timeoutMs + flops / 1e6);
      }
    }
  }

  override conv2dForward(
    y: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    const size = convSizes('conv2dForward', n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
    checkLength('conv2dForward', 'x', x, size.input, 'N·C·H·W');
    checkLength('conv2dForward', 'y', y, size.output, 'N·OC·OH·OW');
    checkLength('conv2dForward', 'weight', weight, size.weight, 'OC·C·KH·KW');
    if (bias) checkLength('conv2dForward', 'bias', bias, oc, 'OC');
    const p = this.resident(y, x, weight, bias ?? weight);
    if (!p) {
      super.conv2dForward(y, x, weight, bias, n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
      return;
    }
    if (n === 0) return;
    const [py, px, pw8, pb] = [p[0], p[1], p[2], bias ? p[3] : 0];
    const g = [c, h, w, kh, kw, sh, sw, ph, pw, oc];
    const stride = size.scratchPerThread;
    const scratch = this.convBlockAt(stride, 0);
    this.convJobs(
      (first, parts) => [OP_CONV_FORWARD, parts, first, CONV_CHUNK, py, px, pw8, pb, n, ...g, scratch, stride],
      Math.ceil(n / CONV_CHUNK), 2 * n * size.weight * size.s, `conv2d forward ${n}×${c}×${h}×${w}`,
      (chunk) => this.k.convForward(py, px, pw8, pb, chunk * CONV_CHUNK, Math.min(n, (chunk + 1) * CONV_CHUNK), ...g, scratch, this.ownScratch),
    );
  }

  override conv2dBackward(
    dW: Float32Array, db: Float32Array | undefined, dx: Float32Array | undefined,
    x: Float32Array, dy: Float32Array, weight: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    const size = convSizes('conv2dBackward', n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
    checkLength('conv2dBackward', 'x', x, size.input, 'N·C·H·W');
    checkLength('conv2dBackward', 'dy', dy, size.output, 'N·OC·OH·OW');
    checkLength('conv2dBackward', 'weight', weight, size.weight, 'OC·C·KH·KW');
    checkLength('conv2dBackward', 'dW', dW, size.weight, 'OC·C·KH·KW');
    if (db) checkLength('conv2dBackward', 'db', db, oc, 'OC');
    if (dx) checkLength('conv2dBackward', 'dx', dx, size.input, 'N·C·H·W');
    const p = this.resident(dW, x, dy, weight, db ?? dW, dx ?? dW);
    if (!p) {
      super.conv2dBackward(dW, db, dx, x, dy, weight, n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
      return;
    }
    if (n === 0) return;
    const [pdW, px, pdy, pwt] = p;
    const pdb = db ? p[4] : 0;
    const pdx = dx ? p[5] : 0;
    const g = [c, h, w, kh, kw, sh, sw, ph, pw, oc];
    const chunks = Math.ceil(n / CONV_CHUNK);
    // Each chunk writes its own dW partial (OC·K floats) and db partial (OC) into a slot of
    // `partStride` bytes after the threads' scratch; they are added to dW and db in chunk order.
    const dbOffset = size.weight * 4;
    const partStride = Math.ceil((size.weight + oc) / 16) * 64;
    const stride = size.scratchPerThread;
    const scratch = this.convBlockAt(stride, chunks * partStride);
    const partials = scratch + this.threads * stride;
    const part = (chunk: number): number => partials + chunk * partStride;
    // 3 products per sample with dx (dW, dcols), 2 without.
    const flops = (dx ? 4 : 2) * n * size.weight * size.s;
    this.convJobs(
      (first, parts) => [OP_CONV_BACKWARD, parts, first, CONV_CHUNK, partials, partStride, db ? dbOffset : -1, pdx, px, pdy, pwt, n,
        ...g, scratch, stride],
      chunks, flops, `conv2d backward ${n}×${c}×${h}×${w}`,
      (chunk) => this.k.convBackward(part(chunk), db ? part(chunk) + dbOffset : 0, pdx, px, pdy, pwt,
        chunk * CONV_CHUNK, Math.min(n, (chunk + 1) * CONV_CHUNK), ...g, scratch, this.ownScratch),
    );
    this.k.convAddPartials(pdW, pdb, partials, chunks, partStride, size.weight, dbOffset, oc);
  }

  // ── Batch normalisation in wasm, split by channels (each channel on one thread, so the sums
  // do not depend on the thread count). Properties, as JsBackend's image kernels.

  override readonly batchNormStats = (mean: Float32Array, variance: Float32Array, x: Float32Array, n: number, c: number, s: number): void => {
    checkLength('batchNormStats', 'x', x, n * c * s, 'N·C·S');
    checkLengths('batchNormStats', c, { mean, variance });
    const p = this.resident(mean, variance, x);
    if (!p) image.batchNormStats(mean, variance, x, n, c, s);
    else this.byChannels(OP_BN_STATS, n * c * s, c, [p[0], p[1], p[2], n, c, s], (c0, c1) => this.k.batchNormStats(p[0], p[1], p[2], n, c, s, c0, c1));
  };

  override readonly batchNormNormalize = (
    y: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, beta: Float32Array,
    n: number, c: number, s: number,
  ): void => {
    checkLengths('batchNormNormalize', n * c * s, { y, x });
    checkLengths('batchNormNormalize', c, { mean, invStd, gamma, beta });
    const p = this.resident(y, x, mean, invStd, gamma, beta);
    if (!p) image.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
    else this.byChannels(OP_BN_NORMALIZE, n * c * s, c, [...p, n, c, s], (c0, c1) => this.k.batchNormNormalize(p[0], p[1], p[2], p[3], p[4], p[5], n, c, s, c0, c1));
  };

  override readonly batchNormBackward = (
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
    dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array,
    n: number, c: number, s: number, batchStats: boolean,
  ): void => {
    checkLengths('batchNormBackward', n * c * s, { dx, dy, x });
    checkLengths('batchNormBackward', c, { dgamma, dbeta, mean, invStd, gamma });
    const p = this.resident(dx, dgamma, dbeta, dy, x, mean, invStd, gamma);
    const bs = batchStats ? 1 : 0;
    if (!p) image.batchNormBackward(dx, dgamma, dbeta, dy, x, mean, invStd, gamma, n, c, s, batchStats);
    else this.byChannels(OP_BN_BACKWARD, n * c * s, c, [...p, n, c, s, bs], (c0, c1) => this.k.batchNormBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], n, c, s, bs, c0, c1));
  };

  /** Run a batch-norm kernel over channels [0, c), split over the threads when the data is large. */
  private byChannels(op: number, values: number, c: number, args: number[], call: (c0: number, c1: number) => void): void {
    const parts = this.pool && values >= PARALLEL_MIN_VALUES ? Math.min(SPLIT_PARTS_PER_THREAD * this.threads, c) : 1;
    const per = Math.ceil(c / parts);
    const part = (t: number): void => {
      const c0 = t * per;
      const c1 = Math.min(c, c0 + per);
      if (c1 > c0) call(c0, c1);
    };
    if (parts === 1) part(0);
    else this.pool!.run([op, parts, per, c, ...args], parts, part, `batch norm over ${values} values`, this.timeoutMs + values / 1e5);
  }

  // ── ReLU and max pooling split into one contiguous range per thread (elementwise, or whole
  // planes for pooling: which thread computes a value never changes it).

  /** relu(out, a) or reluBackward(out, a = dy, b = x) over n values. */
  private split(op: number, n: number, out: number, a: number, b: number): void {
    const parts = this.pool && n >= PARALLEL_MIN_VALUES ? SPLIT_PARTS_PER_THREAD * this.threads : 1;
    // Ranges of whole 64-byte lines, so two threads never write the same cache line.
    const per = Math.ceil(n / parts / 16) * 16;
    const part = (t: number): void => {
      const s = t * per;
      const e = Math.min(n, s + per);
      if (e <= s) return;
      if (op === OP_RELU) this.k.relu(out + 4 * s, a + 4 * s, e - s);
      else this.k.reluBackward(out + 4 * s, a + 4 * s, b + 4 * s, e - s);
    };
    if (parts === 1) part(0);
    else this.pool!.run([op, parts, per, n, out, a, b], parts, part, `relu over ${n}`, this.timeoutMs + n / 1e5);
  }

  /** maxPool(out = y, a = x) or maxPoolBackward(out = dx, a = dy, b = x), split over the N·C planes. */
  private splitPool(op: number, out: number, a: number, b: number, g: Geometry): void {
    const [n, c, h, w, kh, kw, sh, sw, ph, pw] = g;
    const planes = n * c;
    const inPlane = h * w;
    const outPlane = image.outSize(h, kh, sh, ph) * image.outSize(w, kw, sw, pw);
    const parts = this.pool && planes * inPlane >= PARALLEL_MIN_VALUES ? Math.min(SPLIT_PARTS_PER_THREAD * this.threads, planes) : 1;
    const per = Math.ceil(planes / parts);
    const window = [h, w, kh, kw, sh, sw, ph, pw];
    const part = (t: number): void => {
      const s = t * per;
      const e = Math.min(planes, s + per);
      if (e <= s) return;
      if (op === OP_MAX_POOL) this.k.maxPool(out + 4 * s * outPlane, a + 4 * s * inPlane, e - s, 1, ...window);
      else this.k.maxPoolBackward(out + 4 * s * inPlane, a + 4 * s * outPlane, b + 4 * s * inPlane, e - s, 1, ...window);
    };
    if (parts === 1) part(0);
    else this.pool!.run([op, parts, per, planes, out, a, b, inPlane, outPlane, ...window], parts, part, `max pool over ${planes} planes`, this.timeoutMs + (planes * inPlane) / 1e5);
  }
}

/** The window geometry of the image kernels: n, c, h, w, kh, kw, sh, sw, ph, pw. @inline */
type Geometry = [number, number, number, number, number, number, number, number, number, number];

/** Sizes of an image kernel's operands: the input (N·C·H·W), windows (N·C·KH·KW·OH·OW), output (N·C·OH·OW). */
function imageSizes(g: Geometry): { input: number; cols: number; output: number } {
  const [n, c, h, w, kh, kw, sh, sw, ph, pw] = g;
  const ohw = image.outSize(h, kh, sh, ph) * image.outSize(w, kw, sw, pw);
  return { input: n * c * h * w, cols: n * c * kh * kw * ohw, output: n * c * ohw };
}

// A kernel reading past a buffer would read (or write) some other buffer of the wasm memory
// without any trap, so sizes are checked before every call.
function checkLength(kernel: string, name: string, arr: Float32Array, need: number, shape: string): void {
  if (arr.length < need) {
    throw new NablaError({
      where: `wasm ${kernel}`,
      expected: `${name} to hold ${shape} = ${need} values`,
      found: `${arr.length}`,
      hint: 'the sizes passed do not match the buffers',
    });
  }
}

function checkLengths(kernel: string, n: number, arrays: Record<string, Float32Array>): void {
  for (const [name, arr] of Object.entries(arrays)) checkLength(kernel, name, arr, n, `${n}`);
}

/**
 * Sizes of a batch convolution's operands, after checking that its geometry gives at least one
 * output (the layer checks this when it is built; a direct call with a bad geometry would
 * otherwise hand wasm negative sizes).
 */
function convSizes(
  kernel: string, n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  oc: number,
): { input: number; output: number; weight: number; s: number; scratchPerThread: number } {
  const all = { n, c, h, w, kh, kw, sh, sw, ph, pw, oc };
  const oh = image.outSize(h, kh, sh, ph);
  const ow = image.outSize(w, kw, sw, pw);
  const whole = Object.values(all).every((v) => Number.isInteger(v) && v >= 0);
  if (!whole || c < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || oc < 1 || oh < 1 || ow < 1) {
    throw new NablaError({
      where: `wasm ${kernel}`,
      expected: 'whole sizes with C, KH, KW, SH, SW, OC ≥ 1 and a window that fits the padded input',
      found: Object.entries(all).map(([k, v]) => `${k} ${v}`).join(', '),
      hint: 'the sizes passed do not describe a convolution',
    });
  }
  const s = oh * ow;
  const k = c * kh * kw;
  // cols (K × chunk·S) and yc / dyc (OC × chunk·S), 64-byte aligned.
  const scratchPerThread = Math.ceil(((k + oc) * CONV_CHUNK * s) / 16) * 64;
  return { input: n * c * h * w, output: n * oc * s, weight: oc * k, s, scratchPerThread };
}
