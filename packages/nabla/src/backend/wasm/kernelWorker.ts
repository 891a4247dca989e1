/**
 * The body of a kernel worker thread, and how to start one in Node or in a browser.
 *
 * A worker instantiates the same wasm module over the same shared memory as the main thread,
 * then loops: wait for the job counter to move, look the job's op up in the op table (ops.ts),
 * decode its named arguments, claim parts until none is left (its own range first, claims.ts),
 * run each with the op's `part`, count each finished part, repeat. Jobs and their arguments
 * travel through the shared memory itself (see threadPool.ts), so a dispatch costs a few atomic
 * operations and no message passing; a worker spins briefly before sleeping so that the
 * back-to-back kernels of a training step find it awake.
 *
 * NOTE: `kernelWorkerMain` is shipped to the worker as source text (Function.prototype.toString),
 * together with the op table (`opsSource`), `claimPart` and `afterSpin`, so it must not
 * reference anything outside its own body: no imports, no module constants. That is what lets
 * one file start workers under tsx, from a bundle, or in a browser.
 */
import { opsSource, type Kernels, type Op } from './ops.ts';
import { claimPart } from './claims.ts';
import { afterSpin, type SpinLimits } from './spinPolicy.ts';

/** What the worker needs to join the pool (sent once, as its first message); SpinLimits: how
 *  many jobs to wait for without spinning after a pause (spinPolicy.ts). */
export interface WorkerInit extends SpinLimits {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** This worker's thread index (1 … threads−1; the main thread is 0). */
  index: number;
  /** Byte offsets of the control words, the job's argument block, this worker's error text
   *  and its packing scratch. */
  control: number;
  args: number;
  error: number;
  scratch: number;
  /** float64 slots of the argument block. */
  argCount: number;
  /** Int32 index of thread 0's claim word (claims.ts), and the pool's thread count. */
  home: number;
  /** Int32 index of thread 0's asleep word: thread i's is 1 while it waits for a job without spinning. */
  asleep: number;
  /** Int32 index of the background job's state word, and the byte offset of its argument block
   *  (threadPool.ts, post). */
  background: number;
  backgroundArgs: number;
  threads: number;
  /** How long to busy-wait for the next job before sleeping on the job counter (ms). */
  spinMs: number;
  /** A spin round longer than this (ms) means the OS paused the thread: the machine is busy. */
  pausedMs: number;
}

/** The minimal messaging a worker body needs from its host. */
export interface WorkerPort {
  once(handler: (message: WorkerInit) => void): void;
  post(message: unknown): void;
}

export function kernelWorkerMain(port: WorkerPort, ops: Op[], claim: typeof claimPart, after: typeof afterSpin): void {
  port.once((init) => {
    // Control words (Int32 indices), see threadPool.ts: JOB counter; FINISHED parts of the
    // current job; STATUS + i of thread i; the claim words from init.home (claims.ts).
    const JOB = 0;
    const FINISHED = 2;
    const STATUS = 48;
    const ctl = new Int32Array(init.memory.buffer, init.control, 64);
    const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory, abort() { throw new Error('wasm abort'); } } });
    const k = instance.exports as unknown as Kernels;
    const me = init.index;
    const thread = { index: me, scratch: init.scratch, memory: init.memory };
    let seen = Atomics.load(ctl, JOB);
    const spin = { quiet: 0, next: init.quietFirst, calm: 0 };
    // A block is [op code (−1: exit), parts, ...the op's arguments in table order], read fresh
    // each time: the memory may have grown since the last one.
    const decode = (at: number) => {
      const block = new Float64Array(init.memory.buffer, at, init.argCount);
      const op = ops[block[0]] as Op | undefined;
      const args: Record<string, number> = {};
      op?.args.forEach((name, i) => (args[name] = block[2 + i]));
      return { op, parts: block[1], args };
    };
    // Run part p; an error goes to this worker's status word and text, for the caller to throw.
    const runPart = (op: Op, args: Record<string, number>, p: number): void => {
      try {
        op.part(k, args, p, thread);
      } catch (err) {
        const text = new TextEncoder().encode(String(err instanceof Error ? err.message : err).slice(0, 200));
        new Uint8Array(init.memory.buffer, init.error, 256).fill(0).set(text);
        Atomics.store(ctl, STATUS + me, 1);
      }
    };
    // Run the posted background job if nobody has claimed it (states: 1 posted, 2 claimed,
    // 3 done; threadPool.ts, post). Returns whether it ran one.
    const background = (): boolean => {
      if (Atomics.load(ctl, init.background) !== 1 || Atomics.compareExchange(ctl, init.background, 1, 2) !== 1) return false;
      const { op, args } = decode(init.backgroundArgs);
      runPart(op!, args, 0);
      Atomics.store(ctl, init.background, 3);
      Atomics.notify(ctl, init.background);
      return true;
    };
    port.post({ ready: me });
    for (;;) {
      // Spin for the next job while that is free: up to spinMs, in short rounds. A round that
      // took far longer than a round takes means the OS paused this thread; after a pause,
      // sleep at once for the next spin.quiet jobs (spinPolicy.ts).
      if (spin.quiet > 0) spin.quiet--;
      else {
        const t0 = performance.now();
        let last = t0;
        let paused = false;
        while (Atomics.load(ctl, JOB) === seen) {
          for (let i = 0; i < 256 && Atomics.load(ctl, JOB) === seen; i++);
          if (background()) last = performance.now();
          const now = performance.now();
          if (now - last > init.pausedMs) {
            paused = true;
            break;
          }
          if (now - t0 > init.spinMs) break;
          last = now;
        }
        after(spin, paused, init);
      }
      // Asleep (not spinning): a job now costs the caller a wake-up (ThreadPool.awake).
      Atomics.store(ctl, init.asleep + me, 1);
      while (Atomics.load(ctl, JOB) === seen) Atomics.wait(ctl, JOB, seen);
      Atomics.store(ctl, init.asleep + me, 0);
      seen = Atomics.load(ctl, JOB);
      const { op, parts, args } = decode(init.args);
      if (!op) break; // the exit code
      const tag = (seen & 0x7fffff) << 8;
      // Claim parts until none is left. A claim only succeeds while the claim words still carry
      // this job's tag, so a worker that woke late can never run a newer job's part with these
      // (possibly stale) arguments: the caller may have done all of this job's parts already.
      for (;;) {
        const p = claim(ctl, init.home, tag, parts, init.threads, me);
        if (p < 0) break;
        runPart(op, args, p);
        Atomics.add(ctl, FINISHED, 1);
        Atomics.notify(ctl, FINISHED);
      }
    }
  });
}

/** Something we can post to and terminate: a Node worker_threads Worker or a Web Worker. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): unknown;
  /** Called once the worker says it is ready, or fails to start. */
  onReady(handler: (error?: Error) => void): void;
  /** Called if the worker dies after starting. */
  onExit(handler: (error: Error) => void): void;
}

interface NodeWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
  unref(): void;
  on(event: string, handler: (arg: unknown) => void): void;
  once(event: string, handler: (arg: unknown) => void): void;
}

// esbuild (under tsx) may wrap functions in a __name(...) helper; give the worker a no-op one.
const PRELUDE = 'var __name = (f) => f;';

/**
 * Start a kernel worker in this environment: a Web Worker from a Blob where `Worker` exists (a
 * browser page or worker), else a Node worker_threads Worker, found through
 * process.getBuiltinModule so that this file imports nothing from node:*. Returns undefined
 * where neither exists.
 */
export function spawnKernelWorker(): WorkerHandle | undefined {
  const body = kernelWorkerMain.toString();
  const ops = opsSource();
  const claim = claimPart.toString();
  const after = afterSpin.toString();
  const g = globalThis as unknown as {
    Worker?: new (url: string) => Worker;
    process?: { getBuiltinModule?: (name: string) => unknown };
  };
  if (typeof g.Worker === 'function' && typeof Blob === 'function' && typeof URL.createObjectURL === 'function') {
    const source = `${PRELUDE}(${body})({ once: (f) => { self.onmessage = (e) => { self.onmessage = null; f(e.data); }; }, post: (m) => self.postMessage(m) }, ${ops}, ${claim}, ${after});`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const w = new g.Worker(url);
    return {
      postMessage: (m) => w.postMessage(m),
      terminate: () => w.terminate(),
      onReady: (h) => {
        w.onmessage = () => h();
        w.onerror = (e) => h(new Error(e.message));
      },
      onExit: (h) => {
        w.onerror = (e) => h(new Error(e.message));
      },
    };
  }
  const threads = g.process?.getBuiltinModule?.('node:worker_threads') as
    | { Worker: new (code: string, options: { eval: boolean; execArgv: string[] }) => NodeWorker }
    | undefined;
  if (!threads) return undefined;
  // Not require(): it is missing where the eval'd source runs as an ES module (as it did when the
  // worker inherited --input-type=module); process.getBuiltinModule works either way.
  const source = `${PRELUDE}const { parentPort } = process.getBuiltinModule('node:worker_threads');
(${body})({ once: (f) => parentPort.once('message', f), post: (m) => parentPort.postMessage(m) }, ${ops}, ${claim}, ${after});`;
  // No execArgv: the body is self-contained, and inheriting e.g. `--import tsx` would make every
  // worker load that first (a lazily started pool then joins ~2× later).
  const w = new threads.Worker(source, { eval: true, execArgv: [] });
  // A pool of idle workers must not keep the process alive.
  w.unref();
  let started = false;
  return {
    postMessage: (m) => w.postMessage(m),
    terminate: () => w.terminate(),
    onReady: (h) => {
      w.once('message', () => {
        started = true;
        h();
      });
      w.once('error', (e) => {
        if (!started) h(e instanceof Error ? e : new Error(String(e)));
      });
    },
    onExit: (h) => {
      w.on('error', (e) => h(e instanceof Error ? e : new Error(String(e))));
      w.on('exit', (code) => h(new Error(`worker exited with code ${String(code)}`)));
    },
  };
}
