/**
 * createBackend: pick the kernels by name, or the fastest this engine can run.
 *
 * 'auto' tries the wasm backend (SIMD, threads over shared memory) and falls back to the JS
 * backend, saying why through `log`, when this engine cannot run it; 'wasm' insists and throws
 * instead; 'js' is the reference backend.
 *
 * @example
 * const backend = await createBackend({ name: 'auto' }); // wasm on every core where possible
 * const model = new Sequential(layers, { inputShape: [784], backend });
 */
import type { Backend } from './backend.ts';
import { JsBackend } from './js/jsBackend.ts';
import { WasmBackend, checkThreadCount } from './wasm/wasmBackend.ts';

/**
 * The names `createBackend` and the CLI's `--backend` accept.
 * @example BACKEND_NAMES.includes('wasm'); // true
 */
export const BACKEND_NAMES = ['auto', 'wasm', 'js'] as const;
/**
 * 'auto' (wasm where it runs, else js), 'wasm' or 'js'.
 * @example const name: BackendName = 'auto';
 */
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * What `createBackend` should make.
 * @example const options: CreateBackendOptions = { name: 'wasm', threads: 1 };
 */
export interface CreateBackendOptions {
  /** Default 'auto'. */
  name?: BackendName;
  /** wasm only: threads including the caller's (default: the available cores). */
  threads?: number;
  /** Where fallbacks and scaled-down requests are reported (default console.warn). */
  log?: (message: string) => void;
}

/**
 * The backend by name, or the fastest this engine can run ('auto', the default): see the file
 * header. Rejects with a NablaError for a thread count this machine cannot give.
 * @example
 * const backend = await createBackend({ name: 'wasm', threads: 2 });
 */
export async function createBackend(options: CreateBackendOptions = {}): Promise<Backend> {
  const name = options.name ?? 'auto';
  if (name === 'js') return new JsBackend();
  if (name === 'wasm') return WasmBackend.create({ threads: options.threads, log: options.log });
  // A bad thread count is the caller's mistake, not a missing feature: report it, no fallback.
  checkThreadCount(options.threads);
  try {
    return await WasmBackend.create({ threads: options.threads, log: options.log });
  } catch (err) {
    (options.log ?? ((m: string) => console.warn(m)))(
      `nabla: the wasm backend is not available here (${(err as Error).message}); using the js backend`,
    );
    return new JsBackend();
  }
}

/**
 * A one-line description: "wasm (2 threads, relaxed SIMD)" or "js".
 * @example describeBackend(new JsBackend()); // 'js'
 */
export function describeBackend(backend: Backend): string {
  if (backend instanceof WasmBackend) {
    return `wasm (${backend.threads} thread${backend.threads === 1 ? '' : 's'}, ${backend.simd} SIMD)`;
  }
  return backend.name;
}
