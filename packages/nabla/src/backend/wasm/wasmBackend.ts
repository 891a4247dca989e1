/**
 * WasmBackend: the kernels compiled from AssemblyScript to WebAssembly with 128-bit SIMD, GEMM
 * split over worker threads that share one memory.
 *
 * - GEMM, batch convolution, batch normalisation, the ReLU family, max pooling, im2col/col2im,
 *   bias add and bias gradient, the optimiser updates, sums of squares, fill and the batch gather
 *   run in wasm; every other kernel (sigmoid, tanh, softmax, the losses, average pooling) is the
 *   JS reference backend, held as `js`, running on the same buffers, which live in the wasm memory
 *   and are ordinary Float32Arrays to JS.
 * - `allocate` returns views into the wasm memory, so parameters, gradients and activations never
 *   move. Kernels still accept any Float32Array: a foreign operand is copied into a staging area
 *   (GEMM) or the JS code handles the call (every other kernel).
 * - Large kernels are split over the threads as the ops of ops.ts. Every output element is
 *   computed by one thread in the same order whatever the thread count, so results are
 *   deterministic (and identical across thread counts).
 *
 * @example
 * const backend = await WasmBackend.create({ threads: 2 });
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], backend });
 */
import { NablaError } from '../../errors.ts';
import type { Backend } from '../backend.ts';
import { JsBackend, checkGather, copyRows } from '../js/jsBackend.ts';
import * as conv from '../js/convKernels.ts';
import { outSize } from '../js/imageKernels.ts';
import { KERNELS } from './kernels.generated.ts';
import { OPS, type Geometry, type Kernels, type Op, type OpArgs, type OpName, type Thread } from './ops.ts';
import { MAX_THREADS, ThreadPool } from './threadPool.ts';
import { SplitChooser } from './splitChooser.ts';
import { WasmMemory, withUnsharedMemory } from './wasmMemory.ts';

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

/** Columns of one GEMM panel: thread ranges are multiples of it. */
const PANEL = 8;
/**
 * Below this many flops (≈ 40 µs of one core) a batch convolution or a GEMM runs on one thread:
 * handing half of it to a worker costs more than it saves (a small CNN's per-sample products are
 * 0.2–0.4 Mflop).
 */
const PARALLEL_MIN_FLOPS = 1 << 21;
/**
 * A GEMM of at least PARALLEL_MIN_FLOPS is split over the threads by columns of C when each value
 * of its operands takes part in at least this many multiply-adds, m·n·k / (m·k + k·n + m·n): in
 * training its operands cross between the cores' caches every batch, which only a product with
 * enough reuse repays. A shorter product on a Dense layer's weights W (OUT × IN, at least
 * PARALLEL_MIN_VALUES values, so that its update is split too) is split too, by columns: the
 * forward X·Wᵀ so that each thread keeps its own rows of W, the weight gradient dYᵀ·X so that each
 * thread lists only its own columns of X (cut by rows, to keep W's rows too, each thread listed
 * all of them, and epochs split took 1.06–1.10× as long), and the update by values; the pool gives part i of every job to the
 * same thread first (claims.ts). Measured in docs/backends.md ("The MLP epoch: where it goes"):
 * with the MNIST MLP's first layer (784 × 128 at batch 64, reuse 40) split its epoch took about
 * 0.75× the one-thread time in minutes when both cores ran at full speed, and about 1.1× in
 * others, so these splits run only while timing them in training shows that they pay (runChosen).
 */
const GEMM_PARALLEL_MIN_REUSE = 48;
/**
 * Elementwise kernels (Adam updates, sums of squares, ReLU, max pooling) split over threads from
 * this many values: a CNN's activations (the small CNN's first ReLU sees 295k values per batch)
 * and large layers' weights are, biases and small layers are not. SGD: SGD_PARALLEL_MIN_VALUES.
 */
const PARALLEL_MIN_VALUES = 1 << 16;
/**
 * SGD updates of fewer values run on one thread, except those of weights whose products were split
 * to keep each thread on its rows (`owned` in gemm): those follow the chooser with their products.
 * (Measured when those products stayed on one thread: 784 × 128 weights at batch 64 trained faster
 * with their update on one thread too; docs/backends.md, Threads.)
 */
const SGD_PARALLEL_MIN_VALUES = 1 << 17;
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
/**
 * Values per part of a batch-norm sum (rounded to whole samples): 128 KiB, a few per thread for
 * the cnn preset's layers. Fixed by the shapes, never by the thread count (see bnParts).
 */
const BN_PART_VALUES = 1 << 15;
/**
 * Samples per part of a Winograd convolution (assembly/winograd.ts: 3×3, stride 1): fixed for the
 * same reason as CONV_CHUNK (it depends only on the output size, never on the thread count), and
 * a multiple of the 4 samples that share a SIMD vector. Small outputs take 16: their products
 * are short (an 8×8 output is 4 tiles a sample) and per-chunk work dominates; measured on the
 * `cnn` preset's 10×10 and 8×8 outputs (batch 128, fwd + bwd, alternating in one process, load
 * ~4): 9.0 → 6.1 ms and 12.4 → 7.4 ms on 2 threads, while the 24×24 one was slower with 16.
 * Larger outputs take 4 (one SIMD group): a chunk's transformed planes are then ~0.3 MB instead
 * of ~0.7 MB for the 24×24 output, within a core's L2. The whole `cnn` preset step on 2 threads
 * (a timer around every backend call, 12,800 samples, three pairs alternating, load ~1.5–2.3):
 * 2.08, 1.99, 1.99 s against 2.34, 2.11, 2.13 s with 8 (ratios 0.89, 0.94, 0.93); on 1 thread
 * six pairs gave ratios 0.94–1.56, median 1.01 (two outliers of 4.8 and 4.3 s on a noisy stretch).
 */
function winoChunk(oh: number, ow: number): number {
  return oh * ow <= 100 ? 16 : 4;
}
/** Multiplies of a 3×3 convolution per multiply of its F(2×2, 3×3) form (36 / 16), for job sizes. */
const WINO_SAVING = 2.25;
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

/** What both constructors of WasmBackend decide before compiling: threads, SIMD variant, memory. */
interface BackendPlan {
  threads: number;
  simd: 'relaxed' | 'baseline';
  bytes: Uint8Array<ArrayBuffer>;
  memory: WasmMemory;
}

function planBackend(options: WasmBackendOptions): BackendPlan {
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
    const build = decodeBase64(KERNELS[v]);
    const candidate = shared ? build : withUnsharedMemory(build);
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
  return { threads, simd, bytes, memory: new WasmMemory(shared, options.maxMemoryMiB ?? 2048) };
}

function kernelImports(memory: WasmMemory): WebAssembly.Imports {
  return { env: { memory: memory.memory, abort: () => { throw new Error('wasm abort'); } } };
}

/** One packing scratch per thread, the caller's first. */
function reserveScratch(memory: WasmMemory, kernels: Kernels, threads: number): number[] {
  return Array.from({ length: threads }, () => memory.reserve(kernels.gemmScratchBytes()));
}

/** An operand of a kernel: the array (undefined: an optional one left out), how many values it must hold, and that count's shape for messages. */
/** An operand: the array, the values it must hold, and how to say that size in an error (a label, or the
 *  column count of a rows × cols matrix; worded only when the check fails). */
type Operand = readonly [array: Float32Array | undefined, length: number, shape?: string | number];

/**
 * The wasm backend: kernels whose operands all live in its memory run in wasm, split over its
 * threads when large; everything else runs the JS reference backend it holds, on the same arrays.
 *
 * @example
 * const backend = await WasmBackend.create({ threads: 2 });
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], backend });
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly threads: number;
  /** 'relaxed' (fused multiply-add) or 'baseline' SIMD. */
  readonly simd: 'relaxed' | 'baseline';
  /** The memory and its allocator. @internal */
  readonly wasmMemory: WasmMemory;
  /** The worker threads (undefined on one thread). @internal */
  readonly pool: ThreadPool | undefined;
  /** Whether the jobs that may run either way run split or on this thread, learnt from their times. @internal */
  readonly chooser = new SplitChooser();
  /** Sizes of the weights whose products were split to keep each thread on its rows (gemm's `owned`). */
  private readonly ownedSizes = new Set<number>();
  /** The reference kernels: those not written in wasm, and calls with an operand outside the wasm memory. */
  private readonly js = new JsBackend();
  private readonly k: Kernels;
  /** The calling thread as the ops see it: index 0, with its own packing scratch (each worker has its own). */
  private readonly self: Thread;
  private readonly timeoutMs: number;
  // Grow-only blocks kept between calls: GEMM staging, partial sums, convolution scratch.
  private stage = { ptr: 0, bytes: 0 };
  private sums = { ptr: 0, bytes: 0 };
  /** A plain array that batches from outside the wasm memory are gathered into first. */
  private gatherStage = new Float32Array(0);
  /**
   * The gather prefetchRows took on: its job, the arguments it was asked with, and whether it was
   * posted to a worker yet (it is after the next shared job: see run).
   */
  private ahead: { args: OpArgs<'gatherRows'>; asked: [Float32Array, Float32Array, Uint32Array, number, number, number]; posted: boolean } | undefined;
  private convBlock = { ptr: 0, bytes: 0 };
  /** Batch norm's per-channel values and per-part sums (bnParts). */
  private bnBlock = { ptr: 0, bytes: 0 };
  /** y and the ReLU's gradient, for a batch norm backward through a ReLU with an operand outside the memory. */
  private bnStage = { ptr: 0, bytes: 0 };
  /** The per-sample convolution loop's scratch, for operands outside the wasm memory. */
  private readonly convScratch: conv.ConvScratch = { cols: new Float32Array(0), dcols: new Float32Array(0) };

  private constructor(
    memory: WasmMemory, kernels: Kernels, pool: ThreadPool | undefined, simd: 'relaxed' | 'baseline', timeoutMs: number,
    scratch: number,
  ) {
    this.wasmMemory = memory;
    this.k = kernels;
    this.pool = pool;
    this.threads = pool?.threads ?? 1;
    this.simd = simd;
    this.timeoutMs = timeoutMs;
    this.self = { index: 0, scratch, memory: memory.memory };
  }

  /**
   * Compile the kernels and start the worker threads. Rejects with a NablaError when this engine
   * has no WebAssembly SIMD or the thread count is not allowed here.
   */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const plan = planBackend(options);
    const module = await WebAssembly.compile(plan.bytes);
    const instance = await WebAssembly.instantiate(module, kernelImports(plan.memory));
    const kernels = instance.exports as unknown as Kernels;
    const scratch = reserveScratch(plan.memory, kernels, plan.threads);
    const pool = plan.threads > 1 ? await ThreadPool.start(plan.memory, module, plan.threads, scratch) : undefined;
    return new WasmBackend(plan.memory, kernels, pool, plan.simd, options.workerTimeoutMs ?? 5000, scratch[0]);
  }

  /**
   * The same backend built synchronously, for callers that cannot await (the default backend of
   * a model built before anyone awaited `ready()`): the module is compiled on the spot (Node and
   * Workers allow that; a page's main thread refuses modules this large, and this throws), and
   * the worker threads are started but not waited for. Until a worker has loaded the module the
   * calling thread simply computes every part itself, so the first steps run on fewer threads,
   * with the same results (parts never depend on which thread runs them). `whenReady()` resolves
   * once every worker has joined. Throws a NablaError where `create` would reject.
   *
   * @example
   * const backend = WasmBackend.createSync(); // usable at once; threads join within ~100 ms
   * await backend.whenReady();
   */
  static createSync(options: WasmBackendOptions = {}): WasmBackend {
    const plan = planBackend(options);
    const module = new WebAssembly.Module(plan.bytes);
    const instance = new WebAssembly.Instance(module, kernelImports(plan.memory));
    const kernels = instance.exports as unknown as Kernels;
    const scratch = reserveScratch(plan.memory, kernels, plan.threads);
    const log = options.log ?? ((m: string) => console.warn(m));
    const pool = plan.threads > 1 ? ThreadPool.startLazily(plan.memory, module, plan.threads, scratch, log) : undefined;
    return new WasmBackend(plan.memory, kernels, pool, plan.simd, options.workerTimeoutMs ?? 5000, scratch[0]);
  }

  /**
   * Resolves once every worker thread computes its share: at once for `create`'s backends and on
   * one thread, when the last worker has loaded the module for `createSync`'s. Never rejects: a
   * worker that fails to start is reported through `log` and its parts run on the caller.
   *
   * @example
   * await WasmBackend.createSync().whenReady();
   */
  whenReady(): Promise<void> {
    return this.pool?.joined ?? Promise.resolve();
  }

  allocate(length: number): Float32Array {
    // Unshared memory detaches views when it grows: hand out ordinary arrays instead.
    return this.wasmMemory.shared ? this.wasmMemory.allocate(length) : new Float32Array(length);
  }

  /** Stop the worker threads (the backend must not be used afterwards). */
  dispose(): void {
    this.settleAhead();
    this.pool?.stop();
  }

  /**
   * Every kernel method's pattern, written once: check that each operand holds its length (a
   * wasm kernel reading past a buffer would silently read its neighbour), then call `wasm` with
   * the operands' byte offsets when all of them live in the wasm memory, else `js`. An undefined
   * operand (an optional one left out) is not checked and has offset 0.
   */
  private kernel<K extends string, R>(kernel: string, operands: Record<K, Operand>, wasm: (p: Record<K, number>) => R, js: () => R): R {
    const p = {} as Record<K, number>;
    let resident = true;
    for (const name in operands) {
      const [array, length, shape] = operands[name];
      if (array && array.length < length) checkLength(kernel, name, array, length, shape);
      p[name] = array ? this.wasmMemory.pointerOf(array) : 0;
      if (p[name] < 0) resident = false;
    }
    return resident ? wasm(p) : js();
  }

  /**
   * Run op `name` in `parts` parts (ops.ts): split over the threads when there are threads and
   * 2 to MAX_PARTS parts, else (or `here`) on this thread, in part order. `extraMs` is added to
   * the deadline.
   */
  private run<N extends OpName>(name: N, parts: number, args: OpArgs<N>, what: string, extraMs = 0, here = false): void {
    const op = OPS[name] as Op;
    if (this.pool && !here && parts > 1 && parts <= MAX_PARTS) {
      this.pool.run(name, parts, args, (p) => op.part(this.k, args, p, this.self), what, this.timeoutMs + extraMs);
      // A gather asked for ahead goes to the workers now: the one that just finished its part is
      // still spinning, and a training step's next stretch is the caller's own small kernels.
      if (this.ahead && !this.ahead.posted) this.ahead.posted = this.pool.post('gatherRows', this.ahead.args);
    } else {
      for (let p = 0; p < parts; p++) op.part(this.k, args, p, this.self);
    }
  }

  /**
   * Run a job that pays split only while both cores are free and at full speed (a short product on
   * a large W, its update): split or on this thread alone, as the chooser says (the same parts,
   * so the same bits), and tell it when the job ended. The jobs on one layer's `weights` (their
   * count) share one choice. `wholePer`: alone, run one part of this size instead of the parts in
   * turn (a GEMM: one product lists its sparse operand once).
   */
  private runChosen<N extends OpName>(weights: number, name: N, parts: number, args: OpArgs<N>, what: string, extraMs = 0, wholePer = 0): void {
    if (!this.pool || parts <= 1) return this.run(name, parts, args, what, extraMs);
    const key = `W ${weights}`;
    if (this.chooser.split(key)) this.run(name, parts, args, what, extraMs);
    else if (wholePer > 0) this.run(name, 1, { ...args, per: wholePer }, what, extraMs);
    else this.run(name, parts, args, what, extraMs, true);
    this.chooser.record(key, performance.now());
  }

  /**
   * Run op `name` over `count` items (values, planes or channels) in ranges of whole `align`s:
   * one range, or `perThread` ranges per thread (at most `count`) when there are threads and the
   * kernel touches at least `minValues` values; with `chosen`, split as the chooser says.
   */
  private split<N extends OpName>(
    name: N, count: number, values: number, perThread: number, align: number, args: Omit<OpArgs<N>, 'per'>, what: string,
    minValues = PARALLEL_MIN_VALUES, chosen = false,
  ): void {
    const parts = this.pool && (values >= minValues || chosen) ? Math.min(perThread * this.threads, count) : 1;
    const per = Math.ceil(count / parts / align) * align;
    // The caller's args object is fresh for this call: fill in `per` rather than copy it.
    (args as Record<string, number>).per = per;
    if (chosen) this.runChosen(values, name, parts, args as OpArgs<N>, what, values / 1e5);
    else this.run(name, parts, args as OpArgs<N>, what, values / 1e5);
  }

  gemm(
    c: Float32Array, a: Float32Array, b: Float32Array,
    m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
    epilogue?: { bias?: Float32Array; relu?: boolean },
  ): void {
    checkLength('gemm', 'C', c, m * n, `${m} × ${n}`);
    checkLength('gemm', 'A', a, m * k, transA ? `${k} × ${m}` : `${m} × ${k}`);
    checkLength('gemm', 'B', b, k * n, transB ? `${n} × ${k}` : `${k} × ${n}`);
    if (epilogue?.bias) checkLength('gemm', 'bias', epilogue.bias, n, `${n}`);
    if (m === 0 || n === 0) return;
    const mem = this.wasmMemory;
    let pa = mem.pointerOf(a);
    let pb = mem.pointerOf(b);
    let pc = mem.pointerOf(c);
    const stagedC = pc < 0;
    // Foreign operands go to one staging block: C first, then A, then B.
    const need = (pc < 0 ? m * n : 0) + (pa < 0 ? m * k : 0) + (pb < 0 ? k * n : 0);
    if (need > 0) {
      this.stage = mem.regrow(this.stage, need * 4);
      let at = this.stage.ptr;
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
    const flops = 2 * m * n * k;
    // Every product is cut by columns of C: a short one on a large W (a forward X·Wᵀ, B is W, or
    // a weight gradient dYᵀ·X, C is W) as the chooser says, any other only with enough reuse.
    const reused = m * n * k >= GEMM_PARALLEL_MIN_REUSE * (m * k + k * n + m * n);
    const weights = transA && !transB ? m * n : !transA && transB ? n * k : 0;
    const owned = !reused && weights >= PARALLEL_MIN_VALUES;
    const parts = this.pool && flops >= PARALLEL_MIN_FLOPS && (owned || reused) ? Math.max(1, Math.min(this.threads, Math.floor(n / PANEL))) : 1;
    // Part t is columns [t·per, (t + 1)·per), cut at panel boundaries.
    const per = Math.ceil(n / parts / PANEL) * PANEL;
    // The epilogue runs in each part, on the part's own columns, where the bias lives in the wasm
    // memory; a foreign bias gets the two kernels afterwards (the same bits).
    const pbias = epilogue?.bias ? mem.pointerOf(epilogue.bias) : 0;
    const inPart = pbias >= 0 ? (epilogue?.bias ? 1 : 0) | (epilogue?.relu ? 2 : 0) : 0;
    const args = { c: pc, a: pa, b: pb, m, n, k, transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha, beta, per, bias: pbias, epilogue: inPart };
    if (!owned) this.run('gemm', parts, args, 'gemm', flops / 1e6);
    else {
      this.ownedSizes.add(weights);
      this.runChosen(weights, 'gemm', parts, args, 'gemm', flops / 1e6, n);
    }
    if (stagedC) c.set(new Float32Array(mem.buffer, pc, m * n));
    if (pbias < 0) {
      this.addRowVector(c, c, epilogue!.bias!, m, n);
      if (epilogue!.relu) this.relu(c, c, m * n);
    }
  }

  sumSquares(x: Float32Array, n: number): number {
    return this.kernel('sumSquares', { x: [x, n] }, (p) => {
      if (n < 2 * SUM_PART) return this.k.sumSquares(p.x, n);
      // Parts of SUM_PART values, each summed on whichever thread claims it, added in order.
      const parts = Math.ceil(n / SUM_PART);
      this.sums = this.wasmMemory.regrow(this.sums, parts * 8);
      this.run('sumSquares', parts, { x: p.x, n, per: SUM_PART, out: this.sums.ptr }, 'sumSquares');
      return this.addPartialSums(parts);
    }, () => this.js.sumSquares(x, n));
  }

  /** The float64 partial sums of a threaded sum of squares, added in part order. */
  private addPartialSums(parts: number): number {
    const sums = new Float64Array(this.wasmMemory.buffer, this.sums.ptr, parts);
    let total = 0;
    for (let t = 0; t < parts; t++) total += sums[t];
    return total;
  }

  // The exps in wasm (assembly/softmax.ts: one f64x2 polynomial for two logits, where the JS
  // backend calls Math.exp for each; an MNIST epoch's 938 calls took 11.7 ms that way, 6.0 ms so),
  // the log of each row's sum and the loss here, in the JS backend's order: the same bits.
  softmaxCrossEntropy(dlogits: Float32Array, logits: Float32Array, target: Float32Array, rows: number, cols: number, scale: number): number {
    const n = rows * cols;
    const shape = `${rows} × ${cols}`;
    return this.kernel('softmaxCrossEntropy', { dlogits: [dlogits, n, shape], logits: [logits, n, shape], target: [target, n, shape] }, (p) => {
      this.sums = this.wasmMemory.regrow(this.sums, this.k.softmaxScratchBytes(rows, cols));
      this.k.softmaxCrossEntropy(p.dlogits, p.logits, p.target, rows, cols, scale, this.sums.ptr);
      const stats = new Float64Array(this.wasmMemory.buffer, this.sums.ptr, rows * 3);
      let loss = 0;
      for (let r = 0; r < rows; r++) loss -= stats[3 * r + 1] - stats[3 * r + 2] * Math.log(stats[3 * r]);
      return loss;
    }, () => this.js.softmaxCrossEntropy(dlogits, logits, target, rows, cols, scale));
  }

  gatherRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void {
    const ahead = this.ahead;
    if (ahead) {
      this.settleAhead();
      const [o, s, r, a, c, w] = ahead.asked;
      if (ahead.posted && o === out && s === src && r === order && a === start && c === count && w === width) return;
    }
    // Sizes and every row index, before anything is copied: a row past the dataset would copy
    // some other buffer of the memory without a trap.
    checkGather(out, src, order, start, count, width);
    const [pout, psrc, porder] = [out, src, order].map((arr) => this.wasmMemory.pointerOf(arr));
    // The dataset (or the order) is not in the wasm memory: the JS copies, from any array.
    if (pout < 0 || psrc < 0 || porder < 0 || width === 0) {
      if (pout >= 0 && this.wasmMemory.shared && width >= 64) {
        // NOTE: a copy into shared memory is a word-by-word relaxed copy in V8, slow for rows
        // scattered over a large dataset (MNIST's 60,000 rows into a batch: 100 ms an epoch);
        // into a plain array it is a memcpy (46 ms), and the batch then moves over in one piece.
        const values = count * width;
        if (this.gatherStage.length < values) this.gatherStage = new Float32Array(values);
        copyRows(this.gatherStage, src, order, start, count, width);
        out.set(this.gatherStage.subarray(0, values));
      } else {
        copyRows(out, src, order, start, count, width);
      }
      return;
    }
    // Random rows of a large dataset come from main memory: two cores keep twice as many loads
    // in flight, but only with workers that are spinning: waking a sleeping one costs the caller
    // about half of what a batch's gather takes (MNIST, batch 64: 35 µs). Part t is rows
    // [t·per, (t + 1)·per).
    const helpers = !this.pool || count * width < PARALLEL_MIN_VALUES / 2 ? 0 : this.pool.awake();
    const parts = Math.max(1, Math.min(count, 1 + helpers));
    const args = { out: pout, src: psrc, order: porder + 4 * start, count, per: Math.ceil(count / parts), rowBytes: 4 * width };
    this.run('gatherRows', parts, args, 'gatherRows');
  }

  /**
   * Gather rows ahead of time as gatherRows would, on a worker while the calling thread works: the
   * copy is posted to the workers after the next job they share (a training step's first layer
   * forward), when one that is spinning can take it during the step's single-threaded stretch.
   * `gatherRows` with the same arguments then waits for it, or makes the copy itself if no worker
   * took it. Takes it on (returns true) only with worker threads and all three arrays in this
   * backend's memory; `out` must not be used until that gatherRows call.
   *
   * @example
   * if (backend.prefetchRows(nextX, train.x, order, 64, 64, 784)) { ... } // later: backend.gatherRows(nextX, train.x, order, 64, 64, 784)
   */
  prefetchRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): boolean {
    if (!this.pool || this.ahead || count * width < PARALLEL_MIN_VALUES / 2) return false;
    const [pout, psrc, porder] = [out, src, order].map((arr) => this.wasmMemory.pointerOf(arr));
    if (pout < 0 || psrc < 0 || porder < 0) return false;
    checkGather(out, src, order, start, count, width);
    const args = { out: pout, src: psrc, order: porder + 4 * start, count, per: count, rowBytes: 4 * width };
    this.ahead = { args, asked: [out, src, order, start, count, width], posted: false };
    return true;
  }

  /** Finish the gather prefetchRows took on, if a worker has it (see prefetchRows), and forget it. */
  private settleAhead(): void {
    const ahead = this.ahead;
    if (!ahead) return;
    this.ahead = undefined;
    if (ahead.posted) this.pool!.settle(() => OPS.gatherRows.part(this.k, ahead.args, 0, this.self), 'gatherRows', this.timeoutMs);
  }

  fill(out: Float32Array, value: number, n: number): void {
    this.kernel('fill', { out: [out, n] }, (p) => this.k.fill(p.out, value, n), () => this.js.fill(out, value, n));
  }

  addRowVector(out: Float32Array, x: Float32Array, v: Float32Array, rows: number, cols: number): void {
    this.kernel('addRowVector', { x: [x, rows * cols, cols], out: [out, rows * cols, cols], v: [v, cols] },
      (p) => this.k.addRowVector(p.out, p.x, p.v, rows, cols), () => this.js.addRowVector(out, x, v, rows, cols));
  }

  sumRows(out: Float32Array, x: Float32Array, rows: number, cols: number, beta: number): void {
    this.kernel('sumRows', { x: [x, rows * cols, cols], out: [out, cols] },
      (p) => this.k.sumRows(p.out, p.x, rows, cols, beta), () => this.js.sumRows(out, x, rows, cols, beta));
  }

  // ReLU splits into four ranges of whole 64-byte lines per thread (so two threads never write
  // the same cache line): which thread computes a value never changes it.
  relu(out: Float32Array, x: Float32Array, n: number): void {
    this.kernel('relu', { out: [out, n], x: [x, n] },
      (p) => this.split('relu', n, n, SPLIT_PARTS_PER_THREAD, 16, { out: p.out, x: p.x, n }, 'relu'), () => this.js.relu(out, x, n));
  }

  reluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void {
    this.kernel('reluBackward', { dx: [dx, n], dy: [dy, n], x: [x, n] },
      (p) => this.split('reluBackward', n, n, SPLIT_PARTS_PER_THREAD, 16, { dx: p.dx, dy: p.dy, x: p.x, n }, 'reluBackward'), () => this.js.reluBackward(dx, dy, x, n));
  }

  leakyRelu(out: Float32Array, x: Float32Array, n: number, slope: number): void {
    this.kernel('leakyRelu', { out: [out, n], x: [x, n] }, (p) => this.k.leakyRelu(p.out, p.x, n, slope), () => this.js.leakyRelu(out, x, n, slope));
  }

  leakyReluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number, slope: number): void {
    this.kernel('leakyReluBackward', { dx: [dx, n], dy: [dy, n], x: [x, n] },
      (p) => this.k.leakyReluBackward(p.dx, p.dy, p.x, n, slope), () => this.js.leakyReluBackward(dx, dy, x, n, slope));
  }

  im2col(cols: Float32Array, x: Float32Array, ...g: Geometry): void {
    const size = imageSizes(g);
    this.kernel('im2col', { x: [x, size.input, 'N·C·H·W'], cols: [cols, size.cols, 'N·C·KH·KW·OH·OW'] },
      (p) => this.k.im2col(p.cols, p.x, ...g), () => this.js.im2col(cols, x, ...g));
  }

  col2im(dx: Float32Array, cols: Float32Array, ...g: Geometry): void {
    const size = imageSizes(g);
    this.kernel('col2im', { dx: [dx, size.input, 'N·C·H·W'], cols: [cols, size.cols, 'N·C·KH·KW·OH·OW'] },
      (p) => this.k.col2im(p.dx, p.cols, ...g), () => this.js.col2im(dx, cols, ...g));
  }

  maxPool(y: Float32Array, x: Float32Array, ...g: Geometry): void {
    const size = imageSizes(g);
    this.kernel('maxPool', { x: [x, size.input, 'N·C·H·W'], y: [y, size.output, 'N·C·OH·OW'] },
      (p) => this.splitPool('maxPool', g, p), () => this.js.maxPool(y, x, ...g));
  }

  maxPoolBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, ...g: Geometry): void {
    const size = imageSizes(g);
    this.kernel('maxPoolBackward', { x: [x, size.input, 'N·C·H·W'], dx: [dx, size.input, 'N·C·H·W'], dy: [dy, size.output, 'N·C·OH·OW'] },
      (p) => this.splitPool('maxPoolBackward', g, p), () => this.js.maxPoolBackward(dx, dy, x, ...g));
  }

  /** Max pooling or its backward, split into ranges of whole planes of the N·C planes. */
  private splitPool(name: 'maxPool' | 'maxPoolBackward', g: Geometry, pointers: Record<string, number>): void {
    const [n, c, h, w, kh, kw, sh, sw, ph, pw] = g;
    const planes = n * c;
    const sizes = { planes, inPlane: h * w, outPlane: outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw), h, w, kh, kw, sh, sw, ph, pw };
    this.split(name, planes, planes * h * w, SPLIT_PARTS_PER_THREAD, 1, { ...pointers, ...sizes } as OpArgs<'maxPoolBackward'>,
      `max pool over ${planes} planes`);
  }

  sgdUpdate(
    param: Float32Array, grad: Float32Array, velocity: Float32Array, n: number,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void {
    // Without momentum the velocity is never touched (it may be empty).
    this.kernel('sgdUpdate', { param: [param, n], grad: [grad, n], velocity: [momentum === 0 ? undefined : velocity, n] },
      (p) => this.split('sgdUpdate', n, n, 1, 4, { param: p.param, grad: p.grad, velocity: p.velocity, n, lr, momentum, weightDecay, nesterov: nesterov ? 1 : 0 },
        'SGD update', SGD_PARALLEL_MIN_VALUES, this.ownedSizes.has(n)),
      () => this.js.sgdUpdate(param, grad, velocity, n, lr, momentum, weightDecay, nesterov));
  }

  sgdUpdateSumSquares(param: Float32Array, grad: Float32Array, n: number, lr: number, weightDecay: number): number {
    return this.kernel('sgdUpdateSumSquares', { param: [param, n], grad: [grad, n] }, (p) => {
      if (n < 2 * SUM_PART) return this.k.sgdSumSquares(p.param, p.grad, n, lr, weightDecay);
      // sumSquares' parts (so the same partial sums, added in the same order), each updating its values too.
      const parts = Math.ceil(n / SUM_PART);
      this.sums = this.wasmMemory.regrow(this.sums, parts * 8);
      const args = { param: p.param, grad: p.grad, n, per: SUM_PART, out: this.sums.ptr, lr, weightDecay };
      if (this.ownedSizes.has(n)) this.runChosen(n, 'sgdSumSquares', parts, args, 'SGD update');
      else this.run('sgdSumSquares', parts, args, 'SGD update', 0, n < SGD_PARALLEL_MIN_VALUES);
      return this.addPartialSums(parts);
    }, () => this.js.sgdUpdateSumSquares(param, grad, n, lr, weightDecay));
  }

  adamUpdate(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean,
    bc1: number, bc2: number,
  ): void {
    this.kernel('adamUpdate', { param: [param, n], grad: [grad, n], m: [m, n], v: [v, n] },
      (p) => this.split('adamUpdate', n, n, 1, 4, {
        param: p.param, grad: p.grad, m: p.m, v: p.v, n, lr, beta1, beta2, eps, weightDecay, decoupled: decoupled ? 1 : 0, bc1, bc2,
      }, 'Adam update'),
      () => this.js.adamUpdate(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, bc1, bc2));
  }

  // ── Batch convolution: 3×3 stride-1 windows with C ≥ 2 by Winograd (assembly/winograd.ts, chunks
  // of winoChunk samples, the transformed filters made once per call on the calling thread),
  // with C = 1 by the direct kernels of assembly/conv.ts (directApplies; chunks of CONV_CHUNK),
  // every other window by im2col + GEMM:
  // chunks of CONV_CHUNK samples run entirely in wasm (assembly/conv.ts),
  // as the parts of one threaded job. Each thread has its own cols/yc scratch in one block
  // (threads × stride), reserved on first use and grown when a larger layer needs more.
  // Operands outside the wasm memory take the per-sample loop (im2col and GEMM calls).

  /** Runs `count` chunks as jobs of at most MAX_PARTS parts when the work is large enough to thread, else one by one. */
  private convJobs<N extends 'convForward' | 'convBackward' | 'winoForward' | 'winoBackward' | 'direct3x3Forward' | 'direct3x3Backward'>(name: N, args: Omit<OpArgs<N>, 'first'>, count: number, flops: number, what: string): void {
    const step = flops >= PARALLEL_MIN_FLOPS ? MAX_PARTS : 1;
    for (let first = 0; first < count; first += step) {
      this.run(name, Math.min(step, count - first), { ...args, first } as OpArgs<N>, what, flops / 1e6);
    }
  }

  conv2dForward(
    y: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    const size = convSizes('conv2dForward', n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
    const operands = { x: [x, size.input, 'N·C·H·W'], y: [y, size.output, 'N·OC·OH·OW'], weight: [weight, size.weight, 'OC·C·KH·KW'], bias: [bias, oc, 'OC'] } as const;
    this.kernel('conv2dForward', operands, (p) => {
      if (n === 0) return;
      if (winogradApplies(c, kh, kw, sh, sw)) {
        // Per-thread scratch, then the transformed filters (16 or 36 planes of OC × C).
        const chunk = winoChunk(outSize(h, 3, 1, ph), outSize(w, 3, 1, pw));
        const stride = align64(this.k.winoScratchBytes(c, h, w, ph, pw, oc, chunk));
        this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride + align64(this.k.winoFilterBytes(oc, c)));
        const u = this.convBlock.ptr + this.threads * stride;
        this.k.winoFilter(u, p.weight, oc, c, 0, outSize(h, 3, 1, ph), outSize(w, 3, 1, pw));
        const args = { y: p.y, x: p.x, u, bias: p.bias, chunkSize: chunk, n, c, h, w, ph, pw, oc, scratch: this.convBlock.ptr, stride };
        this.convJobs('winoForward', args, Math.ceil(n / chunk), (2 * n * size.weight * size.s) / WINO_SAVING, `conv2d forward ${n}×${c}×${h}×${w}`);
        return;
      }
      if (directApplies(c, kh, kw, sh, sw, outSize(h, kh, sh, ph), outSize(w, kw, sw, pw))) {
        // One padded plane of scratch per thread (fits in im2col's).
        const stride = size.scratchPerThread;
        this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride);
        const args = { y: p.y, x: p.x, weight: p.weight, bias: p.bias, chunkSize: CONV_CHUNK, n, h, w, ph, pw, oc, scratch: this.convBlock.ptr, stride };
        this.convJobs('direct3x3Forward', args, Math.ceil(n / CONV_CHUNK), 2 * n * size.weight * size.s, `conv2d forward ${n}×${c}×${h}×${w}`);
        return;
      }
      const stride = size.scratchPerThread;
      this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride);
      const args = { ...p, chunkSize: CONV_CHUNK, n, c, h, w, kh, kw, sh, sw, ph, pw, oc, scratch: this.convBlock.ptr, stride };
      this.convJobs('convForward', args, Math.ceil(n / CONV_CHUNK), 2 * n * size.weight * size.s, `conv2d forward ${n}×${c}×${h}×${w}`);
    }, () => conv.conv2dForward(this, this.convScratch, y, x, weight, bias, n, c, h, w, kh, kw, sh, sw, ph, pw, oc));
  }

  conv2dBackward(
    dW: Float32Array, db: Float32Array | undefined, dx: Float32Array | undefined,
    x: Float32Array, dy: Float32Array, weight: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void {
    const size = convSizes('conv2dBackward', n, c, h, w, kh, kw, sh, sw, ph, pw, oc);
    const operands = {
      x: [x, size.input, 'N·C·H·W'], dy: [dy, size.output, 'N·OC·OH·OW'], weight: [weight, size.weight, 'OC·C·KH·KW'],
      dW: [dW, size.weight, 'OC·C·KH·KW'], db: [db, oc, 'OC'], dx: [dx, size.input, 'N·C·H·W'],
    } as const;
    this.kernel('conv2dBackward', operands, (p) => {
      if (n === 0) return;
      if (winogradApplies(c, kh, kw, sh, sw)) {
        const chunk = winoChunk(outSize(h, 3, 1, ph), outSize(w, 3, 1, pw));
        const chunks = Math.ceil(n / chunk);
        // Threads' scratch, the transformed filters transposed for dx (≤ 36 planes of C × OC), 9·OC·C
        // floats for dW's transform, then per chunk its Winograd-domain dW sums (≤ 36 planes of
        // OC × C) and db sums, added in chunk order and transformed once by winoAddPartials.
        const filters = align64(this.k.winoFilterBytes(oc, c));
        const dbOffset = filters;
        const partStride = align64(dbOffset + 4 * oc);
        const stride = align64(this.k.winoScratchBytes(c, h, w, ph, pw, oc, chunk));
        this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride + filters + align64(4 * size.weight) + chunks * partStride);
        const ut = this.convBlock.ptr + this.threads * stride;
        const tmp = ut + filters;
        const partials = tmp + align64(4 * size.weight);
        if (dx) this.k.winoFilter(ut, p.weight, oc, c, 1, outSize(h, 3, 1, ph), outSize(w, 3, 1, pw));
        const flops = ((dx ? 4 : 2) * n * size.weight * size.s) / WINO_SAVING;
        const args = {
          partials, partStride, dbOffset: db ? dbOffset : -1, dx: p.dx, x: p.x, dy: p.dy, ut, chunkSize: chunk,
          n, c, h, w, ph, pw, oc, scratch: this.convBlock.ptr, stride,
        };
        this.convJobs('winoBackward', args, chunks, flops, `conv2d backward ${n}×${c}×${h}×${w}`);
        this.k.winoAddPartials(p.dW, p.db, partials, chunks, partStride, dbOffset, oc, c, outSize(h, 3, 1, ph), outSize(w, 3, 1, pw), tmp);
        return;
      }
      const chunks = Math.ceil(n / CONV_CHUNK);
      // Each chunk writes its own dW partial (OC·K floats) and db partial (OC) into a slot of
      // `partStride` bytes after the threads' scratch; they are added to dW and db in chunk order.
      const dbOffset = size.weight * 4;
      const partStride = Math.ceil((size.weight + oc) / 16) * 64;
      const stride = size.scratchPerThread;
      this.convBlock = this.wasmMemory.regrow(this.convBlock, this.threads * stride + chunks * partStride);
      const scratch = this.convBlock.ptr;
      const partials = scratch + this.threads * stride;
      if (!dx && directApplies(c, kh, kw, sh, sw, outSize(h, kh, sh, ph), outSize(w, kw, sw, pw))) {
        // dW and db only (a first layer's input needs no gradient): the chunk's padded planes in
        // the thread's scratch (they fit in im2col's), the same partials added in chunk order.
        const args = { partials, partStride, dbOffset: db ? dbOffset : -1, x: p.x, dy: p.dy, chunkSize: CONV_CHUNK, n, h, w, ph, pw, oc, scratch, stride };
        this.convJobs('direct3x3Backward', args, chunks, 2 * n * size.weight * size.s, `conv2d backward ${n}×${c}×${h}×${w}`);
        this.k.convAddPartials(p.dW, p.db, partials, chunks, partStride, size.weight, dbOffset, oc);
        return;
      }
      // 3 products per sample with dx (dW, dcols), 2 without.
      const flops = (dx ? 4 : 2) * n * size.weight * size.s;
      const args = {
        partials, partStride, dbOffset: db ? dbOffset : -1, dx: p.dx, x: p.x, dy: p.dy, weight: p.weight, chunkSize: CONV_CHUNK,
        n, c, h, w, kh, kw, sh, sw, ph, pw, oc, scratch, stride,
      };
      this.convJobs('convBackward', args, chunks, flops, `conv2d backward ${n}×${c}×${h}×${w}`);
      this.k.convAddPartials(p.dW, p.db, partials, chunks, partStride, size.weight, dbOffset, oc);
    }, () => conv.conv2dBackward(this, this.convScratch, dW, db, dx, x, dy, weight, n, c, h, w, kh, kw, sh, sw, ph, pw, oc));
  }

  // ── Batch normalisation in wasm (assembly/batchNorm.ts), walking the memory in order: the
  // per-channel sums in parts of whole samples (bnParts), the elementwise passes in ranges of
  // whole planes.

  /**
   * The parts of a batch-norm sum over n samples of c·s values, and its scratch: `headBytes` for
   * per-channel values, then one float64 (Σ, Σ) pair per channel per part. The parts depend only
   * on the shapes (never on the thread count), and their sums are added in part order: the same
   * bits on any number of threads.
   */
  private bnParts(n: number, c: number, s: number, headBytes: number): { per: number; parts: number; partStride: number; head: number; sums: number } {
    const per = Math.max(1, Math.ceil(BN_PART_VALUES / (c * s)), Math.ceil(n / MAX_PARTS));
    const parts = Math.max(1, Math.ceil(n / per));
    const partStride = Math.ceil((c * 16) / 64) * 64;
    const head = Math.ceil(headBytes / 64) * 64;
    this.bnBlock = this.wasmMemory.regrow(this.bnBlock, head + parts * partStride);
    return { per, parts, partStride, head: this.bnBlock.ptr, sums: this.bnBlock.ptr + head };
  }

  /** Parts of a batch-norm sum: on the threads when the kernel touches PARALLEL_MIN_VALUES values, else here (same parts, same order). */
  private bnRun<N extends 'batchNormStats' | 'batchNormGrad'>(name: N, parts: number, args: OpArgs<N>, values: number): void {
    if (values >= PARALLEL_MIN_VALUES) this.run(name, parts, args, name, values / 1e5);
    else for (let p = 0; p < parts; p++) (OPS[name] as Op).part(this.k, args, p, this.self);
  }

  batchNormStats(mean: Float32Array, variance: Float32Array, x: Float32Array, n: number, c: number, s: number): void {
    const values = n * c * s;
    this.kernel('batchNormStats', { x: [x, values, 'N·C·S'], mean: [mean, c], variance: [variance, c] }, (p) => {
      // One pass of Σ(x − K), Σ(x − K)² with K near the mean (batchNormShift); exact second
      // passes only for a channel where that could lose digits (batchNormStatsFinish).
      const b = this.bnParts(n, c, s, c * 4);
      this.k.batchNormShift(b.head, p.x, n, c, s);
      this.bnRun('batchNormStats', b.parts, { sums: b.sums, partStride: b.partStride, x: p.x, shift: b.head, n, c, s, per: b.per }, values);
      this.k.batchNormStatsFinish(p.mean, p.variance, b.sums, b.parts, b.partStride, p.x, b.head, n, c, s);
    }, () => this.js.batchNormStats(mean, variance, x, n, c, s));
  }

  batchNormNormalize(
    y: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, beta: Float32Array,
    n: number, c: number, s: number, relu = false,
  ): void {
    const values = n * c * s;
    this.kernel('batchNormNormalize', { y: [y, values], x: [x, values], mean: [mean, c], invStd: [invStd, c], gamma: [gamma, c], beta: [beta, c] },
      (p) => this.split('batchNormNormalize', n * c, values, SPLIT_PARTS_PER_THREAD, 1,
        { y: p.y, x: p.x, mean: p.mean, invStd: p.invStd, gamma: p.gamma, beta: p.beta, c, s, planes: n * c, relu: relu ? 1 : 0 }, 'batchNormNormalize'),
      () => this.js.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s, relu));
  }

  batchNormBackward(
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
    dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array,
    n: number, c: number, s: number, batchStats: boolean, reluBeta?: Float32Array,
  ): void {
    const values = n * c * s;
    const operands = {
      dx: [dx, values], dy: [dy, values], x: [x, values],
      dgamma: [dgamma, c], dbeta: [dbeta, c], mean: [mean, c], invStd: [invStd, c], gamma: [gamma, c], beta: [reluBeta, c],
    } as const;
    this.kernel('batchNormBackward', operands, (p) => {
      // Two passes: the per-channel sums Σdy, Σdy·(x − μ) (parts of samples, added in order),
      // then dx from three coefficients per channel. beta = 0: no ReLU after the layer.
      const b = this.bnParts(n, c, s, c * 12);
      const through = { mean: p.mean, invStd: p.invStd, gamma: p.gamma, beta: p.beta };
      this.bnRun('batchNormGrad', b.parts, { sums: b.sums, partStride: b.partStride, dy: p.dy, x: p.x, ...through, n, c, s, per: b.per }, values);
      this.k.batchNormGradFinish(p.dgamma, p.dbeta, b.head, b.sums, b.parts, b.partStride, p.invStd, p.gamma, n, c, s, batchStats ? 1 : 0);
      this.split('batchNormBackward', n * c, values, SPLIT_PARTS_PER_THREAD, 1,
        { dx: p.dx, dy: p.dy, x: p.x, coef: b.head, ...through, c, s, batchStats: batchStats ? 1 : 0, planes: n * c }, 'batchNormBackward');
    }, () => {
      if (!reluBeta || !this.wasmMemory.shared) {
        this.js.batchNormBackward(dx, dgamma, dbeta, dy, x, mean, invStd, gamma, n, c, s, batchStats, reluBeta);
        return;
      }
      // An operand outside the wasm memory, through a ReLU: y again by this backend's normalize
      // (in wasm when x and the parameters are in its memory, as in the forward), then the ReLU's
      // and the batch norm's backward apart, so the mask is the forward's whatever runs here.
      this.bnStage = this.wasmMemory.regrow(this.bnStage, 8 * values);
      const y = new Float32Array(this.wasmMemory.buffer, this.bnStage.ptr, values);
      const g = new Float32Array(this.wasmMemory.buffer, this.bnStage.ptr + 4 * values, values);
      this.batchNormNormalize(y, x, mean, invStd, gamma, reluBeta, n, c, s);
      this.reluBackward(g, dy, y, values);
      this.batchNormBackward(dx, dgamma, dbeta, g, x, mean, invStd, gamma, n, c, s, batchStats);
    });
  }

  // ── The kernels not written in wasm: the JS reference code, on the same arrays.
  sigmoid(...a: Parameters<Backend['sigmoid']>): void { this.js.sigmoid(...a); }
  sigmoidBackward(...a: Parameters<Backend['sigmoidBackward']>): void { this.js.sigmoidBackward(...a); }
  tanh(...a: Parameters<Backend['tanh']>): void { this.js.tanh(...a); }
  tanhBackward(...a: Parameters<Backend['tanhBackward']>): void { this.js.tanhBackward(...a); }
  softmax(...a: Parameters<Backend['softmax']>): void { this.js.softmax(...a); }
  softmaxBackward(...a: Parameters<Backend['softmaxBackward']>): void { this.js.softmaxBackward(...a); }
  squaredError(...a: Parameters<Backend['squaredError']>): number { return this.js.squaredError(...a); }
  multiply(...a: Parameters<Backend['multiply']>): void { this.js.multiply(...a); }
  addChannelBias(...a: Parameters<Backend['addChannelBias']>): void { this.js.addChannelBias(...a); }
  sumChannels(...a: Parameters<Backend['sumChannels']>): void { this.js.sumChannels(...a); }
  avgPool(...a: Parameters<Backend['avgPool']>): void { this.js.avgPool(...a); }
  avgPoolBackward(...a: Parameters<Backend['avgPoolBackward']>): void { this.js.avgPoolBackward(...a); }
}

/**
 * Whether a convolution runs by Winograd's minimal filtering (assembly/winograd.ts): a 3×3 window
 * at stride 1, any padding, and at least 2 input channels (with one, as a first layer on
 * grey images has, its products have a single term and the transforms cost more than im2col's
 * GEMM: measured 3.8 ms against 3.2 ms per batch of 128 MNIST-sized images, forward + dW).
 */
function winogradApplies(c: number, kh: number, kw: number, sh: number, sw: number): boolean {
  return c >= 2 && kh === 3 && kw === 3 && sh === 1 && sw === 1;
}

/**
 * Whether a convolution runs by the direct kernels of assembly/conv.ts (direct3x3Forward, and
 * direct3x3Backward when no dx is asked for): one input channel, a 3×3 window at stride 1, any
 * padding, outputs of at least 2 rows of 4 (the kernels compute two rows of one vector at a time).
 * im2col's GEMM has only 9 terms per output there.
 */
function directApplies(c: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number): boolean {
  return c === 1 && kh === 3 && kw === 3 && sh === 1 && sw === 1 && oh >= 2 && ow >= 4;
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Sizes of an image kernel's operands: the input (N·C·H·W), windows (N·C·KH·KW·OH·OW), output (N·C·OH·OW). */
function imageSizes(g: Geometry): { input: number; cols: number; output: number } {
  const [n, c, h, w, kh, kw, sh, sw, ph, pw] = g;
  const ohw = outSize(h, kh, sh, ph) * outSize(w, kw, sw, pw);
  return { input: n * c * h * w, cols: n * c * kh * kw * ohw, output: n * c * ohw };
}

// A kernel reading past a buffer would read (or write) some other buffer of the wasm memory
// without any trap, so sizes are checked before every call.
function checkLength(kernel: string, name: string, arr: Float32Array, need: number, shape: string | number = String(need)): void {
  if (arr.length < need) {
    const size = typeof shape === 'number' ? `${need / shape} × ${shape}` : shape;
    throw new NablaError({
      where: `wasm ${kernel}`,
      expected: `${name} to hold ${size} = ${need} values`,
      found: `${arr.length}`,
      hint: 'the sizes passed do not match the buffers',
    });
  }
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
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
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
