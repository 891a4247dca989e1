/**
 * ThreadPool: the calling thread plus (threads − 1) kernel workers over one shared memory.
 *
 * A job is cut into parts (ranges of a GEMM's rows or columns, of values, of samples) that any
 * thread may claim, the caller included; each thread claims its own home range first (claims.ts).
 * Control block (Int32 words at CONTROL): [0] job counter; [2] parts finished; [4] the background
 * job's state (see post); [HOME + i] thread i's claims (job tag · 256 + its next unclaimed part);
 * [32 + i] 1 while worker i sleeps (see awake); [48 + i] status of worker i (1 = failed, with text
 * at ERROR + 256·i). The job travels as up to ARG_COUNT float64 at ARGS: its op code (its index in
 * the op table, ops.ts), its part count, then the op's named arguments in table order; the
 * background job the same way at BG_ARGS.
 *
 * A dispatch writes the arguments, opens the claims, bumps the job counter and wakes the
 * workers, then claims parts itself until none is left, and finally waits only for parts that a
 * worker claimed and is still computing. So a worker that the OS has not scheduled (a busy
 * machine) never holds the caller up: the caller simply does its parts. Which thread computes a
 * part does not change its result, so results stay deterministic.
 *
 * On a busy machine two things go wrong, and both are handled here: a worker the OS pauses in
 * the middle of a part it claimed holds the caller up for a time slice (a "miss", counted; the
 * caller can run the next jobs alone, see MISS_MS), and a worker that spins between jobs takes CPU
 * time from this process's own threads (it spins only while the OS leaves it alone, see
 * WORKER_SPIN_MS).
 *
 * NOTE: the caller blocks in Atomics.wait while it waits. Node allows that on its main thread;
 * browsers allow it only in workers, so a page's main thread gets no pool (createBackend falls
 * back to one thread there). Failures never hang: an error inside a worker's kernel is reported
 * through its status word and thrown by the caller; a worker that dies while computing a part
 * leaves that part unfinished past a deadline, which throws; a worker that dies while idle is
 * reported by the runtime's exit event, after which every job throws.
 */
import { NablaError } from '../../errors.ts';
import { spawnKernelWorker, type WorkerHandle, type WorkerInit } from './kernelWorker.ts';
import type { WasmMemory } from './wasmMemory.ts';
import { OPS, OP_NAMES, type OpArgs, type OpName } from './ops.ts';
import { claimPart, homeStart } from './claims.ts';

export const CONTROL = 1024;
export const ARGS = 2048;
export const ERROR = 8192;
export const MAX_THREADS = 16;
const JOB = 0;
const FINISHED = 2;
/** Thread i's claim word is HOME + i (up to MAX_THREADS of them, below STATUS). */
const HOME = 16;
const STATUS = 48;
/** Worker i's asleep word is ASLEEP + i: 1 while it waits for a job in Atomics.wait, not spinning. */
const ASLEEP = 32;
/** The op code that tells the workers to leave their loop. */
const EXIT = -1;
/** float64 argument slots of a job (ARGS + 8·ARG_COUNT stays below ERROR). */
export const ARG_COUNT = 32;
/**
 * The background job (see post): its state word (Int32 index) and its argument block (bytes, right
 * after the job's, ARG_COUNT float64 as well: BG_ARGS + 8·ARG_COUNT stays below ERROR).
 */
const BG = 4;
const BG_ARGS = ARGS + 8 * ARG_COUNT;
const BG_NONE = 0;
const BG_POSTED = 1;
const BG_CLAIMED = 2;
const BG_DONE = 3;
/**
 * Busy-wait iterations of the caller waiting for parts that workers are computing, before it
 * sleeps (tens of microseconds; the worker notifies each finished part). 2,000 measured slower
 * on the `cnn` preset (one run each: 25.7 s against 20.9 s at load 2.5–2.9).
 */
const SPIN = 20_000;
/**
 * How long a worker busy-waits for the next job before it sleeps (ms): in a training step the
 * threaded products come a few hundred microseconds apart, and a worker woken from Atomics.wait
 * arrives too late to take its part. But spinning is only free on an otherwise idle core: when
 * the OS keeps pausing a spinning worker (a spin round takes over WORKER_PAUSED_MS), other
 * processes want the cores, and every spin then takes time from this process's own threads
 * (measured on a busy 2-core machine: the MLP epoch 2–4× slower on 2 threads than on 1). After
 * a pause the worker sleeps between jobs for the next WORKER_QUIET_FIRST jobs, twice as many
 * after each pause that follows within WORKER_CALM_JOBS spinning jobs, up to WORKER_QUIET_MAX
 * (spinPolicy.ts). A lone pause is the development VM's host taking a core for 1–6 ms, 6–11
 * times per 100 steps of the `cnn` preset: a fixed 200 quiet jobs after each kept the worker
 * asleep at the start of 33–40% of that preset's jobs (docs/backends.md, "On a busy machine").
 */
const WORKER_SPIN_MS = 1;
const WORKER_PAUSED_MS = 0.2;
const WORKER_QUIET_FIRST = 8;
const WORKER_QUIET_MAX = 200;
const WORKER_CALM_JOBS = 100;
/**
 * A job "misses" when, after the caller ran out of parts, it waited longer than this (ms) and
 * longer than it computed itself for a part that a worker claimed: on a busy machine the OS
 * pauses a worker in the middle of its part, for a scheduler time slice (milliseconds), and the
 * caller can only wait. With SOLO_AFTER_MISS the caller then runs the next jobs alone
 * (SOLO_FIRST, doubling after each further miss up to SOLO_MAX) before it shares work again.
 */
const MISS_MS = 0.25;
const SOLO_FIRST = 8;
/**
 * Off: running jobs alone after a miss made the `cnn` preset's epoch 47 s against main's 27 s at
 * load 3–5 (its many short two-part jobs count as misses when a sleeping worker wakes late, and
 * the stretches grew until big convolutions ran on one thread). Misses are still counted.
 */
const SOLO_AFTER_MISS = false;
const SOLO_MAX = 512;

export class ThreadPool {
  readonly threads: number;
  private readonly workers: WorkerHandle[];
  private readonly memory: WasmMemory;
  private readonly ctl: Int32Array;
  private failure: Error | undefined;
  /** Jobs the caller still runs alone after a miss, and the next such stretch (see MISS_MS). */
  private solo = 0;
  private nextSolo = SOLO_FIRST;
  /**
   * Jobs shared with the workers, jobs that missed, jobs run alone after a miss, and posted
   * background jobs a worker ran or the caller did (for tests and benchmarks).
   */
  readonly stats = { shared: 0, missed: 0, solo: 0, ownMs: 0, waitMs: 0, postedByWorker: 0, postedHere: 0 };

  /** Resolves once every worker has loaded the module (at once for a pool made by `start`). */
  readonly joined: Promise<void>;

  private constructor(memory: WasmMemory, workers: WorkerHandle[], joined: Promise<void> = Promise.resolve(), watched = workers) {
    this.memory = memory;
    this.workers = workers;
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(memory.buffer, CONTROL, 64);
    this.joined = joined;
    watched.forEach((w) => this.watch(w));
  }

  /** From now on a death of worker `w` breaks the pool: every later job throws. */
  private watch(w: WorkerHandle): void {
    const i = this.workers.indexOf(w);
    w.onExit((err) => {
      this.failure ??= new Error(`wasm worker ${i + 1} stopped: ${err.message}`);
    });
  }

  /**
   * Spawn `threads − 1` workers and send each its WorkerInit; `ready[i]` settles when worker i+1
   * has loaded the module (rejects if it failed to).
   */
  private static spawn(memory: WasmMemory, module: WebAssembly.Module, threads: number, scratch: number[]): { workers: WorkerHandle[]; ready: Promise<void>[] } {
    const workers: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 1; i < threads; i++) {
      const w = spawnKernelWorker();
      if (!w) {
        workers.forEach((x) => x.terminate());
        throw new NablaError({
          where: 'wasm backend',
          expected: 'a way to start worker threads (Web Workers or node:worker_threads)',
          found: 'neither in this environment',
          hint: 'use --threads 1',
        });
      }
      workers.push(w);
      ready.push(new Promise((resolve, reject) => w.onReady((err) => (err ? reject(err) : resolve()))));
      const init: WorkerInit = {
        module, memory: memory.memory, index: i, control: CONTROL, args: ARGS, error: ERROR + 256 * i, scratch: scratch[i],
        argCount: ARG_COUNT, home: HOME, asleep: ASLEEP, background: BG, backgroundArgs: BG_ARGS, threads, spinMs: WORKER_SPIN_MS, pausedMs: WORKER_PAUSED_MS, quietFirst: WORKER_QUIET_FIRST, quietMax: WORKER_QUIET_MAX, calmJobs: WORKER_CALM_JOBS,
      };
      w.postMessage(init);
    }
    return { workers, ready };
  }

  /** Start `threads − 1` workers and wait until each has instantiated the module. */
  static async start(memory: WasmMemory, module: WebAssembly.Module, threads: number, scratch: number[]): Promise<ThreadPool> {
    const { workers, ready } = ThreadPool.spawn(memory, module, threads, scratch);
    try {
      await Promise.all(ready);
    } catch (err) {
      workers.forEach((x) => x.terminate());
      throw new NablaError({
        where: 'wasm backend',
        expected: `${threads - 1} worker thread(s) to start`,
        found: `a worker failed: ${(err as Error).message}`,
        hint: 'use --threads 1, or --backend js',
      });
    }
    return new ThreadPool(memory, workers);
  }

  /**
   * Start `threads − 1` workers without waiting for them: the pool is usable at once, and until a
   * worker has loaded the module it claims no part, so the caller computes them all (the same
   * results, see the header). In Node a worker starts on its own thread, so workers join even
   * while the caller trains synchronously (measured: within 0.15–0.4 s on a busy 2-core machine).
   * A worker that fails to start is reported through `log` and left out (it never claimed a
   * part); one that dies after joining breaks the pool as in `start`. `joined` resolves when
   * every worker has joined or failed to.
   */
  static startLazily(memory: WasmMemory, module: WebAssembly.Module, threads: number, scratch: number[], log: (message: string) => void): ThreadPool {
    const { workers, ready } = ThreadPool.spawn(memory, module, threads, scratch);
    const joined = Promise.all(ready.map((r, i) => r.then(
      () => pool.watch(workers[i]),
      (err: Error) => {
        log(`nabla: wasm worker ${i + 1} did not start (${err.message}); its share runs on the calling thread`);
        workers[i].terminate();
      },
    )));
    // The promises settle later, by which time `pool` is set.
    const pool: ThreadPool = new ThreadPool(memory, workers, joined.then(() => undefined), []);
    return pool;
  }

  /**
   * Workers spinning for the next job, as far as their asleep words say. A job wakes a sleeping
   * worker through Atomics.notify, which measured 17–18 µs of the caller's time on the development
   * machine (a 2-core VM; 0.2 µs with nobody to wake): more than a short job saves by sharing.
   */
  awake(): number {
    let n = 0;
    for (let i = 1; i < this.threads; i++) if (Atomics.load(this.ctl, ASLEEP + i) === 0) n++;
    return n;
  }

  /**
   * Post a background job: part 0 of op `name`, for a spinning worker to run while the caller
   * does work of its own (the next batch's gather, during a training step's single-threaded
   * stretch). Returns false, posting nothing, when no worker is spinning (waking one costs the
   * caller more than a short job saves) or a background job is still unsettled. The caller must
   * call `settle` before it uses what the job writes: settle runs the job itself if no worker has
   * started it, so a posted job is always done exactly once, and by whom never changes its result.
   */
  post<N extends OpName>(name: N, args: OpArgs<N>): boolean {
    if (this.failure || this.awake() === 0 || Atomics.load(this.ctl, BG) !== BG_NONE) return false;
    this.writeArgs(BG_ARGS, name, 1, args);
    Atomics.store(this.ctl, BG, BG_POSTED);
    return true;
  }

  /**
   * Make sure the posted background job is done: run it here with `part` if no worker has claimed
   * it, else wait for the worker (throwing as `run` does if it failed or does not finish within
   * `deadlineMs`). Nothing to do when no job is posted.
   */
  settle(part: () => void, what: string, deadlineMs: number): void {
    const ctl = this.ctl;
    if (Atomics.compareExchange(ctl, BG, BG_POSTED, BG_CLAIMED) === BG_POSTED) {
      this.stats.postedHere++;
      try {
        part();
      } finally {
        Atomics.store(ctl, BG, BG_NONE);
      }
      return;
    }
    if (Atomics.load(ctl, BG) === BG_NONE) return;
    this.stats.postedByWorker++;
    const start = performance.now();
    // Claimed by a worker, which sets BG_DONE when it has finished.
    for (let s = 0; Atomics.load(ctl, BG) !== BG_DONE; s++) {
      if (s < SPIN) continue;
      Atomics.wait(ctl, BG, BG_CLAIMED, 20);
      if (performance.now() - start > deadlineMs) {
        this.failure ??= new Error(`a wasm worker did not finish a ${what} within ${Math.round(deadlineMs)} ms`);
        throw this.brokenError(what);
      }
    }
    Atomics.store(ctl, BG, BG_NONE);
    this.throwWorkerError(what);
  }

  /** Write a job's op code, part count and arguments into the block at `at` (bytes). */
  private writeArgs<N extends OpName>(at: number, name: N, parts: number, args: OpArgs<N>): void {
    const block = new Float64Array(this.memory.buffer, at, ARG_COUNT);
    block[0] = OP_NAMES.indexOf(name);
    block[1] = parts;
    const names = OPS[name].args;
    for (let i = 0; i < names.length; i++) block[2 + i] = (args as Record<string, number>)[names[i]];
  }

  /** Throw the first failure a worker reported through its status word, and clear it. */
  private throwWorkerError(what: string): void {
    for (let i = 1; i < this.threads; i++) {
      if (Atomics.load(this.ctl, STATUS + i) === 0) continue;
      Atomics.store(this.ctl, STATUS + i, 0);
      const bytes = new Uint8Array(this.memory.buffer, ERROR + 256 * i, 256).slice();
      const end = bytes.indexOf(0);
      const text = new TextDecoder().decode(bytes.subarray(0, end < 0 ? 256 : end));
      throw new NablaError({ where: `wasm worker ${i}`, expected: `${what} to succeed`, found: `an error: ${text}` });
    }
  }

  /**
   * Run one job of op `name` in `parts` parts (at most 255): the workers run the op's `part` on
   * `args`, the calling thread runs `part(p)` for the parts it claims. Returns when every part is
   * done; throws if a worker failed, or if a claimed part is not finished within `deadlineMs` (a
   * dead worker).
   */
  run<N extends OpName>(name: N, parts: number, args: OpArgs<N>, part: (p: number) => void, what: string, deadlineMs: number): void {
    if (this.failure) throw this.brokenError(what);
    if (this.solo > 0) {
      // Recently a worker held the caller up: do this job alone, in part order (the same results).
      this.solo--;
      this.stats.solo++;
      for (let p = 0; p < parts; p++) part(p);
      return;
    }
    this.stats.shared++;
    const begin = performance.now();
    const ctl = this.ctl;
    const job = (Atomics.load(ctl, JOB) + 1) | 0;
    const tag = (job & 0x7fffff) << 8;
    // Close the claims BEFORE the arguments change: a worker that woke late for the previous job
    // may be reading the block while it is rewritten, and its claim must then fail. Its claim
    // checks a claim word for the previous job's tag and an unclaimed part (below `parts` as read
    // from the block, possibly this job's larger count); without these stores the previous job's
    // exhausted ranges could pass that check, and the worker would run a part with half-written
    // arguments (seen under load: "conv2d forward ... divide by zero" in a worker). Every range
    // closed under this job's tag (255 parts claimed) matches no job a worker can be looking at.
    for (let i = 0; i < this.threads; i++) Atomics.store(ctl, HOME + i, tag | 0xff);
    this.writeArgs(ARGS, name, parts, args);
    Atomics.store(ctl, FINISHED, 0);
    for (let i = 0; i < this.threads; i++) Atomics.store(ctl, HOME + i, tag | homeStart(i, parts, this.threads));
    Atomics.store(ctl, JOB, job);
    Atomics.notify(ctl, JOB);
    let ownError: unknown;
    for (;;) {
      const p = claimPart(ctl, HOME, tag, parts, this.threads, 0);
      if (p < 0) break;
      try {
        part(p);
      } catch (err) {
        ownError ??= err;
      }
      Atomics.add(ctl, FINISHED, 1);
    }
    // Only parts a worker claimed can still be running.
    const start = performance.now();
    const own = start - begin;
    for (let s = 0; s < SPIN && Atomics.load(ctl, FINISHED) < parts; s++);
    for (;;) {
      const done = Atomics.load(ctl, FINISHED);
      if (done >= parts) break;
      Atomics.wait(ctl, FINISHED, done, 20);
      if (performance.now() - start > deadlineMs) {
        this.failure ??= new Error(`a wasm worker did not finish its part of a ${what} within ${Math.round(deadlineMs)} ms`);
        throw this.brokenError(what);
      }
    }
    const waited = performance.now() - start;
    this.stats.ownMs += own;
    this.stats.waitMs += waited;
    if (waited > MISS_MS && waited > own) {
      this.stats.missed++;
      if (SOLO_AFTER_MISS) {
        this.solo = this.nextSolo;
        this.nextSolo = Math.min(2 * this.nextSolo, SOLO_MAX);
      }
    } else {
      this.nextSolo = SOLO_FIRST;
    }
    this.throwWorkerError(what);
    if (ownError) throw ownError;
  }

  private brokenError(what: string): NablaError {
    return new NablaError({
      where: 'wasm backend',
      expected: `its ${this.threads - 1} worker thread(s) running`,
      found: `${this.failure!.message} (while running a ${what})`,
      hint: 'create a new backend, or use --threads 1',
    });
  }

  /** Tell every worker to leave its loop, then terminate it. */
  stop(): void {
    new Float64Array(this.memory.buffer, ARGS, ARG_COUNT)[0] = EXIT;
    Atomics.add(this.ctl, JOB, 1);
    Atomics.notify(this.ctl, JOB);
    for (const w of this.workers) w.terminate();
    this.failure ??= new Error('the backend was disposed');
  }

  /** For tests: kill worker i without telling the pool, as a crash would. */
  crashWorkerForTesting(i: number): void {
    this.workers[i - 1].terminate();
  }
}
