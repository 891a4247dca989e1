/**
 * The body of a kernel worker thread, and how to start one in Node or in a browser.
 *
 * A worker instantiates the same wasm module over the same shared memory as the main thread,
 * then loops: wait for the job counter to move, claim parts of the job (column ranges of a
 * GEMM) until none is left, count each finished part, repeat. Jobs and their arguments travel
 * through the shared memory itself (see threadPool.ts), so a dispatch costs a few atomic
 * operations and no message passing; a worker spins briefly before sleeping so that the
 * back-to-back kernels of a training step find it awake.
 *
 * NOTE: `kernelWorkerMain` is shipped to the worker as source text (Function.prototype.toString),
 * so it must not reference anything outside its own body: no imports, no module constants.
 * That is what lets one file start workers under tsx, from a bundle, or in a browser.
 */

/** What the worker needs to join the pool (sent once, as its first message). */
export interface WorkerInit {
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
  /** Busy-wait iterations before sleeping on the job counter. */
  spin: number;
}

/** The minimal messaging a worker body needs from its host. */
export interface WorkerPort {
  once(handler: (message: WorkerInit) => void): void;
  post(message: unknown): void;
}

export function kernelWorkerMain(port: WorkerPort): void {
  port.once((init) => {
    // Control words (Int32 indices), see threadPool.ts: JOB counter; CLAIM = job tag · 256 +
    // next unclaimed part; FINISHED parts of the current job; STATUS + i of thread i.
    const JOB = 0;
    const CLAIM = 1;
    const FINISHED = 2;
    const STATUS = 48;
    const OP_EXIT = -1;
    const OP_GEMM = 1;
    const OP_CONV_FORWARD = 2;
    const OP_CONV_BACKWARD = 3;
    const OP_RELU = 4;
    const OP_RELU_BACKWARD = 5;
    const OP_MAX_POOL = 6;
    const OP_MAX_POOL_BACKWARD = 7;
    const ARG_COUNT = 32;
    const OP_SGD = 10;
    const OP_ADAM = 11;
    const OP_SUM_SQUARES = 12;
    const OP_GATHER = 13;
    const OP_BN_STATS = 14;
    const OP_BN_NORMALIZE = 15;
    const OP_BN_BACKWARD = 16;

    const ctl = new Int32Array(init.memory.buffer, init.control, 64);
    const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory, abort() { throw new Error('wasm abort'); } } });
    const k = instance.exports as unknown as {
      gemm(c: number, a: number, b: number, m: number, n: number, k: number, tA: number, tB: number,
        alpha: number, beta: number, n0: number, n1: number, scratch: number): void;
      convForward(y: number, x: number, w: number, b: number, s0: number, s1: number, ...rest: number[]): void;
      convBackward(dwPart: number, dbPart: number, dx: number, x: number, dy: number, w: number, s0: number, s1: number,
        ...rest: number[]): void;
      relu(out: number, x: number, n: number): void;
      reluBackward(dx: number, dy: number, x: number, n: number): void;
      maxPool(y: number, x: number, ...geometry: number[]): void;
      maxPoolBackward(dx: number, dy: number, x: number, ...geometry: number[]): void;
      sgdUpdate(p: number, g: number, v: number, n: number, lr: number, mu: number, wd: number, nesterov: number): void;
      adamUpdate(p: number, g: number, m: number, v: number, n: number, lr: number, b1: number, b2: number, eps: number,
        wd: number, decoupled: number, bc1: number, bc2: number): void;
      sumSquares(x: number, n: number): number;
      gatherRows(out: number, src: number, order: number, count: number, rowBytes: number): void;
      batchNormStats(...args: number[]): void;
      batchNormNormalize(...args: number[]): void;
      batchNormBackward(...args: number[]): void;
    };
    const me = init.index;
    let seen = Atomics.load(ctl, JOB);
    port.post({ ready: me });
    for (;;) {
      for (let i = 0; i < init.spin && Atomics.load(ctl, JOB) === seen; i++);
      while (Atomics.load(ctl, JOB) === seen) Atomics.wait(ctl, JOB, seen);
      seen = Atomics.load(ctl, JOB);
      // Arguments are read fresh each job: the memory may have grown since the last one.
      const args = new Float64Array(init.memory.buffer, init.args, ARG_COUNT);
      if (args[0] === OP_EXIT) break;
      const op = args[0];
      const [, c, a, b, m, n, kk, tA, tB, alpha, beta] = args;
      // A GEMM's part count and size follow its 10 arguments; every other job leads with its part
      // count. Convolution jobs: [op, parts, first chunk, chunk size, …the kernel's pointers and
      // sizes, conv scratch base, per-thread scratch stride (bytes)]; this thread's scratch is
      // base + me·stride.
      const parts = op === OP_GEMM ? args[11] : args[1];
      const per = op === OP_GEMM ? args[12] : args[2];
      const tag = (seen & 0x7fffff) << 8;
      // Claim parts until none is left. A claim only succeeds while CLAIM still carries this
      // job's tag, so a worker that woke late can never run a newer job's part with these
      // (possibly stale) arguments: the caller may have done all of this job's parts already.
      for (;;) {
        const cur = Atomics.load(ctl, CLAIM);
        if ((cur & ~0xff) !== tag || (cur & 0xff) >= parts) break;
        if (Atomics.compareExchange(ctl, CLAIM, cur, cur + 1) !== cur) continue;
        const part = cur & 0xff;
        try {
          if (op === OP_GEMM) {
            k.gemm(c, a, b, m, n, kk, tA, tB, alpha, beta, Math.min(n, part * per), Math.min(n, (part + 1) * per), init.scratch);
          } else if (op === OP_CONV_FORWARD) {
            // [op, parts, first, chunk, y, x, w, b, n, c, h, wd, kh, kw, sh, sw, ph, pw, oc, scratch, stride]
            const s0 = (args[2] + part) * args[3];
            const s1 = Math.min(args[8], s0 + args[3]);
            k.convForward(args[4], args[5], args[6], args[7], s0, s1, ...args.subarray(9, 19), args[19] + me * args[20], init.scratch);
          } else if (op === OP_CONV_BACKWARD) {
            // [op, parts, first, chunk, partials, partStride, dbOffset (−1: none), dx, x, dy, w, n,
            //  c, h, wd, kh, kw, sh, sw, ph, pw, oc, scratch, stride]
            const chunk = args[2] + part;
            const s0 = chunk * args[3];
            const s1 = Math.min(args[11], s0 + args[3]);
            const dwPart = args[4] + chunk * args[5];
            k.convBackward(dwPart, args[6] < 0 ? 0 : dwPart + args[6], args[7], args[8], args[9], args[10], s0, s1,
              ...args.subarray(12, 22), args[22] + me * args[23], init.scratch);
          } else if (op >= OP_BN_STATS && op <= OP_BN_BACKWARD) {
            // [op, parts, per, count = C, ...the kernel's arguments]: channels [part·per, …) of C.
            const c0 = part * args[2];
            const c1 = Math.min(args[3], c0 + args[2]);
            if (c1 > c0) {
              if (op === OP_BN_STATS) k.batchNormStats(...args.subarray(4, 10), c0, c1);
              else if (op === OP_BN_NORMALIZE) k.batchNormNormalize(...args.subarray(4, 13), c0, c1);
              else k.batchNormBackward(...args.subarray(4, 16), c0, c1);
            }
          } else if (op >= OP_RELU && op <= OP_MAX_POOL_BACKWARD) {
            // [op, parts, per, count, out, a, b, (pooling:) in plane, out plane, h, w, kh, kw, sh, sw, ph, pw]:
            // values (ReLU) or planes (pooling) [part·per, …) of count.
            const s = part * args[2];
            const e = Math.min(args[3], s + args[2]);
            const [out, a, b2, inPlane, outPlane] = args.subarray(4, 9);
            if (e <= s) {
              // nothing left for this part
            } else if (op === OP_RELU) {
              k.relu(out + 4 * s, a + 4 * s, e - s);
            } else if (op === OP_RELU_BACKWARD) {
              k.reluBackward(out + 4 * s, a + 4 * s, b2 + 4 * s, e - s);
            } else if (op === OP_MAX_POOL) {
              k.maxPool(out + 4 * s * outPlane, a + 4 * s * inPlane, e - s, 1, ...args.subarray(9, 17));
            } else {
              k.maxPoolBackward(out + 4 * s * inPlane, a + 4 * s * outPlane, b2 + 4 * s * inPlane, e - s, 1, ...args.subarray(9, 17));
            }
          } else {
            // Elementwise: values [from, to) of every array argument (byte offset 4·from), or
            // rows [from, to) of a gather.
            const from = part * per;
            const off = 4 * from;
            if (op === OP_SGD) {
              const [, , , p, g, v, len, lr, mu, wd, nest] = args;
              k.sgdUpdate(p + off, g + off, v + off, Math.min(len, from + per) - from, lr, mu, wd, nest);
            } else if (op === OP_ADAM) {
              const [, , , p, g, m1, v, len, lr, b1, b2, eps, wd, dec, bc1, bc2] = args;
              k.adamUpdate(p + off, g + off, m1 + off, v + off, Math.min(len, from + per) - from, lr, b1, b2, eps, wd, dec, bc1, bc2);
            } else if (op === OP_GATHER) {
              // Rows [from, to) of the batch.
              const [, , , out, src, order, count, rowBytes] = args;
              k.gatherRows(out + from * rowBytes, src, order + off, Math.min(count, from + per) - from, rowBytes);
            } else if (op === OP_SUM_SQUARES) {
              const [, , , x, len, out] = args;
              new Float64Array(init.memory.buffer, out, parts)[part] = k.sumSquares(x + off, Math.min(len, from + per) - from);
            }
          }
        } catch (err) {
          const text = new TextEncoder().encode(String(err instanceof Error ? err.message : err).slice(0, 200));
          new Uint8Array(init.memory.buffer, init.error, 256).fill(0).set(text);
          Atomics.store(ctl, STATUS + me, 1);
        }
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
  const g = globalThis as unknown as {
    Worker?: new (url: string) => Worker;
    process?: { getBuiltinModule?: (name: string) => unknown };
  };
  if (typeof g.Worker === 'function' && typeof Blob === 'function' && typeof URL.createObjectURL === 'function') {
    const source = `${PRELUDE}(${body})({ once: (f) => { self.onmessage = (e) => { self.onmessage = null; f(e.data); }; }, post: (m) => self.postMessage(m) });`;
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
    | { Worker: new (code: string, options: { eval: boolean }) => NodeWorker }
    | undefined;
  if (!threads) return undefined;
  const source = `${PRELUDE}const { parentPort } = require('node:worker_threads');
(${body})({ once: (f) => parentPort.once('message', f), post: (m) => parentPort.postMessage(m) });`;
  const w = new threads.Worker(source, { eval: true });
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
