// The kernel conformance suite (kernelConformance.ts) on every backend: js, js with the naive
// GEMM (the oracle), wasm on 1 thread, wasm with baseline SIMD and wasm on 2 threads; and the
// check that the suite covers every method of the Backend interface.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../packages/nabla/src/backend/js/jsBackend.ts';
import { WasmBackend } from '../packages/nabla/src/backend/wasm/wasmBackend.ts';
import { KERNEL_CASES, kernelConformance } from './kernelConformance.ts';
import { wasmBackends } from './wasmBackends.ts';

// As the CLI does: relaxed SIMD (fused multiply-add) where Node 20 keeps it behind a flag
// (wasmBackends turns it on); the baseline build beside it.
const { one, two } = await wasmBackends();
const baseline = await WasmBackend.create({ threads: 1, relaxedSimd: false });
after(() => baseline.dispose());

kernelConformance('js', () => new JsBackend());
kernelConformance('js, naive gemm', () => new JsBackend({ naive: true }));
kernelConformance('wasm, 1 thread', () => one);
kernelConformance('wasm, baseline SIMD', () => baseline);
if (two) kernelConformance('wasm, 2 threads', () => two);

test('the suite has cases for every method of the Backend interface, and for nothing else', () => {
  // The methods a backend has: JsBackend implements exactly the interface (some as properties),
  // except the optional methods, which the wasm backend has.
  const optional = ['prefetchRows'];
  const js = new JsBackend();
  const methods = [...Object.keys(js), ...Object.getOwnPropertyNames(JsBackend.prototype)]
    .filter((key) => key !== 'constructor' && typeof (js as unknown as Record<string, unknown>)[key] === 'function');
  for (const name of optional) assert.equal(typeof (one as unknown as Record<string, unknown>)[name], 'function', name);
  assert.deepEqual(Object.keys(KERNEL_CASES).sort(), [...methods, ...optional].sort());
  for (const [kernel, cases] of Object.entries(KERNEL_CASES)) assert.ok(cases.length > 0, `${kernel} has no cases`);
});
