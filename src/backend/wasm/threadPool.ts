/**
 * ThreadPool: the main thread plus (threads − 1) kernel workers over one shared memory.
 *
 * Control block (Int32 words at CONTROL): [0] job counter; [16 + i] last job thread i finished;
 * [48 + i] its status (0 ok, 1 failed, with text at ERROR + 256·i). Thread i's arguments are 16
 * float64 at ARGS + 128·i. A dispatch writes every worker's arguments, bumps the counter and
 * wakes the workers, runs the main thread's own share, then waits for every "done".
 *
 * NOTE: the main thread blocks in Atomics.wait while it waits. Node allows that on its main
 * thread; browsers allow it only in workers, so a page's main thread gets no pool (createBackend
 * falls back to one thread there). A worker that dies cannot answer; waits have a deadline so
 * that a crash becomes an error, never a hang.
 */
import { NablaError } from '../../errors.ts';
import { spawnKernelWorker, type WorkerHandle, type WorkerInit } from './kernelWorker.ts';
import type { WasmMemory } from './wasmMemory.ts';

export const CONTROL = 1024;
export const ARGS = 2048;
export const ERROR = 8192;
export const MAX_THREADS = 16;
const JOB = 0;
const DONE = 16;
const STATUS = 48;
export const OP_EXIT = -1;
export const OP_GEMM = 1;
/** Busy-wait iterations (a fraction of a millisecond) before a thread sleeps. */
const SPIN = 100_000;

export class ThreadPool {
  readonly threads: number;
  private readonly workers: WorkerHandle[];
  private readonly memory: WasmMemory;
  private readonly ctl: Int32Array;
  private failure: Error | undefined;

  private constructor(memory: WasmMemory, workers: WorkerHandle[]) {
    this.memory = memory;
    this.workers = workers;
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(memory.buffer, CONTROL, 64);
    workers.forEach((w, i) => w.onExit((err) => {
      this.failure ??= new Error(`wasm worker ${i + 1} stopped: ${err.message}`);
    }));
  }

  /** Start `threads − 1` workers and wait until each has instantiated the module. */
  static async start(memory: WasmMemory, module: WebAssembly.Module, threads: number): Promise<ThreadPool> {
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
        module, memory: memory.memory, index: i, control: CONTROL, args: ARGS + 128 * i, error: ERROR + 256 * i, spin: SPIN,
      };
      w.postMessage(init);
    }
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

  /** Thread i's argument block (re-viewed each time: the memory may have grown). */
  args(i: number): Float64Array {
    return new Float64Array(this.memory.buffer, ARGS + 128 * i, 16);
  }

  /**
   * Run one job: `fill(i, args)` writes worker i's arguments, `own()` computes the main thread's
   * share. Returns when every thread is done; throws if a worker failed or did not answer
   * within `deadlineMs`.
   */
  run(fill: (i: number, args: Float64Array) => void, own: () => void, what: string, deadlineMs: number): void {
    if (this.failure) throw this.brokenError(what);
    for (let i = 1; i < this.threads; i++) fill(i, this.args(i));
    const job = (Atomics.add(this.ctl, JOB, 1) + 1) | 0;
    Atomics.notify(this.ctl, JOB);
    let ownError: unknown;
    try {
      own();
    } catch (err) {
      ownError = err;
    }
    const start = performance.now();
    for (let i = 1; i < this.threads; i++) {
      const slot = DONE + i;
      for (let s = 0; s < SPIN && Atomics.load(this.ctl, slot) !== job; s++);
      for (;;) {
        const seen = Atomics.load(this.ctl, slot);
        if (seen === job) break;
        Atomics.wait(this.ctl, slot, seen, 20);
        if (performance.now() - start > deadlineMs) {
          this.failure ??= new Error(`wasm worker ${i} did not finish a ${what} within ${Math.round(deadlineMs)} ms`);
          throw this.brokenError(what);
        }
      }
      if (Atomics.load(this.ctl, STATUS + i) !== 0) {
        const bytes = new Uint8Array(this.memory.buffer, ERROR + 256 * i, 256).slice();
        const text = new TextDecoder().decode(bytes.subarray(0, Math.max(0, bytes.indexOf(0)) || 256));
        throw new NablaError({ where: `wasm worker ${i}`, expected: `${what} to succeed`, found: `an error: ${text}` });
      }
    }
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
    for (let i = 1; i < this.threads; i++) this.args(i)[0] = OP_EXIT;
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
