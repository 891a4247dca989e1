/**
 * The wasm backends a kernel test file compares: one on 1 thread and, where the machine has two
 * cores, one on 2 (undefined otherwise), made after turning on V8's relaxed SIMD; both disposed
 * once the file's tests are done.
 */
import { setFlagsFromString } from 'node:v8';
import { after } from 'node:test';
import { WasmBackend, availableCores } from '../packages/nabla/src/backend/wasm/wasmBackend.ts';

export async function wasmBackends(): Promise<{ one: WasmBackend; two: WasmBackend | undefined }> {
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const one = await WasmBackend.create({ threads: 1 });
  const two = availableCores() >= 2 ? await WasmBackend.create({ threads: 2 }) : undefined;
  after(() => {
    one.dispose();
    two?.dispose();
  });
  return { one, two };
}
