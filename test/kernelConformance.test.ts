// The kernel conformance suite (kernelConformance.ts) on every backend: js, js with the naive
// GEMM (the oracle), wasm on 1 thread, wasm with baseline SIMD and wasm on 2 threads; and the
// check that the suite covers every method of the Backend interface.
import { setFlagsFromString } from 'node:v8';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../packages/nabla/src/backend/js/jsBackend.ts';
import { WasmBackend, availableCores } from '../packages/nabla/src/backend/wasm/wasmBackend.ts';
import { KERNEL_CASES, kernelConformance } from './kernelConformance.ts';

// As the CLI does: relaxed SIMD (fused multiply-add) where Node 20 keeps it behind a flag.
setFlagsFromString('--experimental-wasm-relaxed-simd');

const one = await WasmBackend.create({ threads: 1 });
const baseline = await WasmBackend.create({ threads: 1, relaxedSimd: false });
const two = availableCores() >= 2 ? await WasmBackend.create({ threads: 2 }) : undefined;
after(() => {
  one.dispose();
  baseline.dispose();
  two?.dispose();
});

kernelConformance('js', () => new JsBackend());
kernelConformance('js, naive gemm', () => new JsBackend({ naive: true }));
kernelConformance('wasm, 1 thread', () => one);
kernelConformance('wasm, baseline SIMD', () => baseline);
if (two) kernelConformance('wasm, 2 threads', () => two);

test('the suite has cases for every method of the Backend interface, and for nothing else', () => {
  // The methods a backend has: JsBackend implements exactly the interface (some as properties).
  const js = new JsBackend();
  const methods = [...Object.keys(js), ...Object.getOwnPropertyNames(JsBackend.prototype)]
    .filter((key) => key !== 'constructor' && typeof (js as unknown as Record<string, unknown>)[key] === 'function');
  assert.deepEqual(Object.keys(KERNEL_CASES).sort(), methods.sort());
  for (const [kernel, cases] of Object.entries(KERNEL_CASES)) assert.ok(cases.length > 0, `${kernel} has no cases`);
});
