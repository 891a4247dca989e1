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
import { Tensor } from '../tensor.ts';
import { gaussianBlobs } from '../../../../test/blobs.ts';

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

test('fit takes the gradient norm from plain SGD\'s update pass: the same weights as without it, no separate sum of squares', () => {
  const data = gaussianBlobs(96, 3, 2);
  const weights: Float32Array[][] = [];
  for (const monitor of [true, false]) {
    for (const backend of [new JsBackend(), wasm]) {
      const calls = { sumSquares: 0, sgdUpdateSumSquares: 0, sgdUpdate: 0 };
      const wrapped = Object.create(backend) as typeof backend;
      for (const name of Object.keys(calls) as (keyof typeof calls)[]) {
        const kernel = (backend[name] as (...args: unknown[]) => unknown).bind(backend);
        (wrapped as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => (calls[name]++, kernel(...args));
      }
      const m = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [2], seed: 1, backend: wrapped });
      m.fit(data, { optimizer: new SGD(m.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 2, batchSize: 16, monitor });
      const steps = 2 * 6 * 4;
      assert.deepEqual(calls, monitor ? { sumSquares: 0, sgdUpdateSumSquares: steps, sgdUpdate: 0 } : { sumSquares: 0, sgdUpdateSumSquares: 0, sgdUpdate: steps });
      weights.push(m.parameters().map((p) => p.value.data.slice()));
    }
  }
  // JS with and without the monitor, wasm with and without: the same bits within each backend.
  assert.deepEqual(weights[0], weights[2]);
  assert.deepEqual(weights[1], weights[3]);
});

test('trainStep leaves Dense weight gradients for backward to write, and clears those no backward wrote', () => {
  for (const backend of [new JsBackend(), wasm]) {
    const data = gaussianBlobs(16, 4, 2);
    const x = new Tensor([16, 2], data.x);
    const y = new Tensor([16, 3], data.y);
    const grads: Float32Array[][] = [];
    for (const stale of [0, 1e3]) {
      const m = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [2], seed: 1, backend });
      // A Dense outside the model, in the optimiser: its backward never runs in this step.
      const other = new Sequential([new Dense(4)], { inputShape: [2], seed: 2, backend });
      const params = [...m.parameters(), ...other.parameters()];
      for (const p of params) p.grad.data.fill(stale);
      const before = other.parameters().map((p) => p.value.data.slice());
      m.trainStep(x, y, 'ce', new SGD(params, { lr: 0.1 }));
      grads.push(m.parameters().map((p) => p.grad.data.slice()));
      assert.ok(other.parameters().every((p) => p.grad.data.every((v) => v === 0)), `${backend.name}: unwritten gradients cleared`);
      assert.deepEqual(other.parameters().map((p) => p.value.data), before, `${backend.name}: a zero gradient moves nothing`);
    }
    // Stale values never leak into the written gradients.
    assert.deepEqual(grads[0], grads[1], backend.name);
    // Outside trainStep, backward adds to the gradients as before.
    const m = new Sequential([new Dense(3)], { inputShape: [2], seed: 1, backend });
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    m.trainStep(x, y, 'ce', opt);
    const once = m.parameters()[0].grad.data.slice();
    m.backward(new Tensor([16, 3], new Float32Array(48)));
    assert.deepEqual(m.parameters()[0].grad.data, once, `${backend.name}: a zero dY adds nothing`);
  }
});
