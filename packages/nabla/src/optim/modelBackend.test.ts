// A model's backend is the default for everything that touches its parameters: an optimiser
// built from model.parameters() without a backend updates with the model's kernels (wasm on a
// wasm model, never silently JS), and so does the gradient norm of the diagnostics.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend } from '../backend/wasm/wasmBackend.ts';
import { Dense } from '../layers/dense.ts';
import { ReLU } from '../layers/activations.ts';
import { gradSumOfSquares } from '../train/diagnostics.ts';
import { Sequential } from '../model/sequential.ts';
import { Adam, AdamW } from './adam.ts';
import { SGD } from './sgd.ts';

const wasm = await WasmBackend.create({ threads: 1 });
after(() => wasm.dispose());

const model = (backend: JsBackend | WasmBackend): Sequential =>
  new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [5], seed: 1, backend });

test('optimisers built from a wasm model\'s parameters use its wasm backend', () => {
  const m = model(wasm);
  for (const opt of [new Adam(m.parameters()), new AdamW(m.parameters()), new SGD(m.parameters(), { momentum: 0.9 })]) {
    assert.equal(opt.backend, m.backend);
  }
  assert.ok(m.parameters().every((p) => p.backend === wasm));
  // Named kernels still win, and after setBackend the parameters carry the new one.
  const js = new JsBackend();
  assert.equal(new SGD(m.parameters(), { backend: js }).backend, js);
  m.setBackend(js);
  assert.equal(new Adam(m.parameters()).backend, js);
});

test('the update and the gradient norm run on the model\'s kernels', () => {
  const backend = new JsBackend();
  const calls = { adamUpdate: 0, sumSquares: 0 };
  for (const name of ['adamUpdate', 'sumSquares'] as const) {
    const kernel = backend[name].bind(backend) as (...args: unknown[]) => unknown;
    (backend as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => (calls[name]++, kernel(...args));
  }
  const m = model(backend);
  const opt = new Adam(m.parameters());
  opt.step();
  gradSumOfSquares(m.parameters());
  assert.equal(calls.adamUpdate, 4, 'one adamUpdate per parameter');
  assert.equal(calls.sumSquares, 4, 'one sumSquares per gradient');
});
