/**
 * The default backend: what a model gets when nobody passes `backend` (new Sequential,
 * Sequential.fromConfig, buildModel, decodeModel).
 *
 * It is one backend per process (or Worker), made on first use: the wasm backend on every core
 * where the engine allows it, else the JS reference backend. Node and browser Workers can compile
 * WebAssembly synchronously, so a model built without awaiting anything already runs in wasm; its
 * worker threads start in the background and join as soon as they have loaded the module (a few
 * tens of milliseconds), the calling thread doing all the work until then. `await ready()` waits
 * for that. In a browser, threads need cross-origin isolation (else wasm runs on one thread), and
 * a page's main thread gets one-thread wasm (it may not wait for workers: train in a Worker). An
 * engine that will not compile the module synchronously (browsers before Chrome 114 on a page's
 * main thread) gives the JS backend, with a warning, until `await ready()` has made wasm.
 * Results do not depend on the number of threads that happened to have joined: a model trained on
 * the default backend gets the same weights as one on `await createBackend({ name: 'wasm' })`.
 *
 * Worker threads never keep a Node process alive (they are unref'd), so a script that trains on
 * the default backend exits when it is done.
 *
 * @example
 * import { ready, Sequential, Dense, ReLU } from 'nabla';
 * await ready(); // optional: waits until the worker threads take part
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784] });
 */
import type { Backend } from './backend.ts';
import { JsBackend } from './js/jsBackend.ts';
import { WasmBackend } from './wasm/wasmBackend.ts';

/** Set by setDefaultBackend: wins over the automatic choice. */
let chosen: Backend | undefined;
/** The fastest backend, made once on first use (or by ready()). */
let automatic: Backend | undefined;
/** The asynchronous creation ready() started where synchronous creation failed. */
let pending: Promise<Backend> | undefined;
/** Where synchronous creation failed: the JS backend models get until ready() has resolved. */
let fallback: JsBackend | undefined;

const warn = (message: string): void => console.warn(message);

/**
 * The default's options: every core, except on a page's main thread, which may not wait for
 * workers: there one thread, asked for outright so that nobody is warned about a thread count
 * they never requested.
 */
function options(): { threads?: number; log: (message: string) => void } {
  const pageMainThread = typeof (globalThis as { document?: unknown }).document !== 'undefined';
  return pageMainThread ? { threads: 1, log: warn } : { log: warn };
}

/** The wasm backend, built synchronously, or undefined (with the reason) where that fails. */
function tryWasmSync(): { backend?: WasmBackend; reason?: string } {
  if (fallback) return { reason: 'it failed before' };
  try {
    return { backend: WasmBackend.createSync(options()) };
  } catch (err) {
    return { reason: (err as Error).message };
  }
}

/**
 * The backend models use when none is given: the one set by `setDefaultBackend` or made by
 * `ready()`, else made now (see the file header): wasm on every core where this engine can build
 * it synchronously, else the JS backend with a warning that says why.
 *
 * @example
 * const backend = defaultBackend();
 * console.log(describeBackend(backend)); // "wasm (2 threads, baseline SIMD)" in Node
 */
export function defaultBackend(): Backend {
  if (chosen) return chosen;
  if (automatic) return automatic;
  if (fallback) return fallback;
  const { backend, reason } = tryWasmSync();
  if (backend) return (automatic = backend);
  warn(`nabla: the wasm backend cannot be built synchronously here (${reason}); models use the js backend until ready() has resolved`);
  // Not the default for good: a later ready() may still make wasm the default.
  return (fallback = new JsBackend());
}

/**
 * Make the fastest backend this engine can run the default for every model built afterwards, and
 * wait until it runs at full speed (its worker threads have started). Resolves to the default
 * backend (the one setDefaultBackend chose, if any).
 * Optional where the engine compiles WebAssembly synchronously (Node, Workers, current browsers):
 * the default is wasm there anyway, and awaiting only makes the first steps use every thread.
 * Where it does not (older browsers' main thread) it is what gives wasm instead of JS. Falls back
 * to the JS backend, with a warning, where wasm does not run. Calling it again is cheap.
 *
 * @example
 * import { ready, describeBackend } from 'nabla';
 * const backend = await ready();
 * console.log(describeBackend(backend)); // "wasm (2 threads, baseline SIMD)"
 */
export async function ready(): Promise<Backend> {
  if (chosen) return chosen;
  if (automatic) {
    if (automatic instanceof WasmBackend) await automatic.whenReady();
    return automatic;
  }
  const { backend } = tryWasmSync();
  if (backend) {
    automatic = backend;
    await backend.whenReady();
    return chosen ?? backend;
  }
  pending ??= WasmBackend.create(options()).catch((err: Error) => {
    warn(`nabla: the wasm backend is not available here (${err.message}); using the js backend`);
    return new JsBackend();
  });
  automatic ??= await pending;
  pending = undefined;
  fallback = undefined;
  // setDefaultBackend may have been called meanwhile: that choice wins.
  return chosen ?? automatic;
}

/**
 * Choose the backend later models get when none is given; undefined goes back to the automatic
 * choice (the same wasm backend as before, if one was made). Models already built keep theirs.
 * Handy to make the JS reference backend the default, or a wasm backend with a chosen thread
 * count. `ready()` then resolves to this backend at once.
 *
 * @example
 * setDefaultBackend(new JsBackend());                                   // the reference kernels
 * setDefaultBackend(await createBackend({ name: 'wasm', threads: 1 })); // wasm on one thread
 */
export function setDefaultBackend(backend: Backend | undefined): void {
  chosen = backend;
}
