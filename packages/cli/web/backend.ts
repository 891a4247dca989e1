/**
 * The backend the Worker computes with: the library's wasm SIMD backend on every core the browser
 * allows, falling back to one wasm thread, then to the JS reference backend.
 *
 * Threads need shared WebAssembly memory, which a browser grants only to a cross-origin isolated
 * page (`nabla serve` sends COOP/COEP), and a thread that may block in Atomics.wait: the Worker
 * is one, so the pool's caller is this Worker and the kernel workers are started by the library
 * itself (from blob: URLs, which the page's CSP allows). The kernels travel inside the bundle as
 * base64 (kernels.generated.ts), so no .wasm file is fetched.
 */
import { JsBackend, WasmBackend, availableCores, sharedMemoryAvailable, type Backend } from 'nabla';
import type { BackendChoice, BackendInfo } from './protocol.ts';

/** The backend and how to describe it in the page. */
export interface CreatedBackend {
  backend: Backend;
  info: BackendInfo;
}

/**
 * Create the backend `choice` asks for ('auto': the fastest that runs here). Each step down is
 * explained in `info.note`; never throws (the JS backend always runs).
 */
export async function createBackend(choice: BackendChoice): Promise<CreatedBackend> {
  const notes: string[] = [];
  const shared = sharedMemoryAvailable();
  const cores = Math.max(1, Math.min(availableCores(), 16));
  if (choice === 'auto' || choice === 'wasm-threads') {
    if (!shared) {
      notes.push('no shared memory (the page is not cross-origin isolated): one wasm thread');
    } else if (cores < 2) {
      notes.push('one core: one wasm thread');
    } else {
      try {
        const backend = await WasmBackend.create({ threads: cores, log: (m) => notes.push(m) });
        return { backend, info: wasmInfo(backend, notes) };
      } catch (e) {
        notes.push(`wasm threads failed: ${(e as Error).message}`);
      }
    }
  }
  if (choice !== 'js') {
    try {
      const backend = await WasmBackend.create({ threads: 1, log: (m) => notes.push(m) });
      return { backend, info: wasmInfo(backend, notes) };
    } catch (e) {
      notes.push(`wasm failed: ${(e as Error).message}`);
    }
  }
  return { backend: new JsBackend(), info: { name: 'js', threads: 1, label: 'JS', note: notes.join('; ') } };
}

function wasmInfo(backend: WasmBackend, notes: string[]): BackendInfo {
  const t = backend.threads;
  return {
    name: t > 1 ? 'wasm-threads' : 'wasm',
    threads: t,
    label: `wasm SIMD${backend.simd === 'relaxed' ? ' (relaxed)' : ''}, ${t} thread${t === 1 ? '' : 's'}`,
    note: notes.join('; '),
  };
}

/** Stop the kernel workers of a backend the Worker no longer uses. */
export function disposeBackend(backend: Backend): void {
  if (backend instanceof WasmBackend) backend.dispose();
}
