// The default backend: what models get without `backend`. One process-wide default, so these
// tests run in order and share it: the first builds a model before anyone awaited ready().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng } from '../random.ts';
import { Dense } from '../layers/dense.ts';
import { ReLU } from '../layers/activations.ts';
import { Sequential } from '../model/sequential.ts';
import { buildModel } from '../model/buildModel.ts';
import { SGD } from '../optim/sgd.ts';
import { encodeModel, decodeModel } from '../io/modelFile.ts';
import { JsBackend } from './js/jsBackend.ts';
import { WasmBackend, availableCores } from './wasm/wasmBackend.ts';
import { MAX_THREADS } from './wasm/threadPool.ts';
import { createBackend, describeBackend } from './createBackend.ts';
import { defaultBackend, ready, setDefaultBackend } from './defaultBackend.ts';
import type { Backend } from './backend.ts';

const cores = Math.min(availableCores(), MAX_THREADS);

/** 512 random MNIST-sized samples of 10 classes: 8 batches of 64, large enough to split GEMMs over threads. */
function data() {
  const rng = new Rng(4);
  const count = 512;
  const x = new Float32Array(count * 784).map(() => rng.uniform());
  const y = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) y[i * 10 + (i % 10)] = 1;
  return { x, y, count };
}
const samples = data();

/** A 784-128-10 MLP (seed 3) trained one epoch with SGD on `backend` (undefined: the default); its weights. */
function trainedWeights(backend: Backend | undefined): { model: Sequential; weights: number[][] } {
  const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 3, backend });
  const optimizer = new SGD(model.parameters(), { lr: 0.1 });
  model.fit(samples, { optimizer, loss: 'ce', epochs: 1, batchSize: 64 });
  return { model, weights: model.parameters().map((p) => Array.from(p.value.data)) };
}

let first: Sequential;
let firstWeights: number[][];

test('a model built without a backend runs on wasm at once, before anyone awaits ready() (its threads still joining)', () => {
  const t = trainedWeights(undefined);
  first = t.model;
  firstWeights = t.weights;
  assert.ok(first.backend instanceof WasmBackend, describeBackend(first.backend));
  assert.equal(first.backend.threads, cores);
  assert.equal(defaultBackend(), first.backend, 'one default per process');
});

test('ready() resolves to that same backend once every worker has joined; later models get it too', async () => {
  const backend = await ready();
  assert.equal(backend, first.backend);
  assert.equal(await ready(), backend, 'calling it again changes nothing');
  const later = new Sequential([new Dense(4)], { inputShape: [3] });
  assert.equal(later.backend, backend);
});

test('the default gives the same weights as an explicit wasm backend, before and after its threads joined', async () => {
  const explicit = await createBackend({ name: 'wasm' });
  try {
    const reference = trainedWeights(explicit).weights;
    assert.deepEqual(firstWeights, reference, 'trained while the workers were joining');
    assert.deepEqual(trainedWeights(undefined).weights, reference, 'trained after ready()');
    // A fresh synchronous backend, used while its workers are certainly still starting.
    const lazy = WasmBackend.createSync();
    try {
      assert.deepEqual(trainedWeights(lazy).weights, reference, 'a fresh createSync backend');
      await lazy.whenReady();
      assert.deepEqual(trainedWeights(lazy).weights, reference, 'the same backend once joined');
    } finally {
      lazy.dispose();
    }
  } finally {
    (explicit as WasmBackend).dispose();
  }
});

test('Sequential.fromConfig, buildModel and decodeModel without a backend use the default', () => {
  const backend = defaultBackend();
  assert.equal(Sequential.fromConfig(first.config()).backend, backend);
  assert.equal(buildModel({ preset: 'mlp', seed: 1 }).backend, backend);
  const { model } = decodeModel(encodeModel(first));
  assert.equal(model.backend, backend);
  assert.deepEqual(model.parameters().map((p) => Array.from(p.value.data)), firstWeights);
  // An explicit backend still wins.
  const js = new JsBackend();
  assert.equal(decodeModel(encodeModel(first), 'model', { backend: js }).model.backend, js);
});

test('setDefaultBackend chooses the default for later models (models built before keep theirs); undefined goes back', async () => {
  const wasm = defaultBackend();
  const js = new JsBackend();
  setDefaultBackend(js);
  try {
    assert.equal(defaultBackend(), js);
    assert.equal(await ready(), js);
    assert.equal(new Sequential([new Dense(2)], { inputShape: [2] }).backend, js);
    assert.equal(first.backend, wasm);
  } finally {
    setDefaultBackend(undefined);
  }
  assert.equal(defaultBackend(), wasm, 'the same automatic backend as before');
});

test('a script that trains on the default backend exits by itself when done (its worker threads do not keep it alive)', () => {
  const index = fileURLToPath(new URL('../index.ts', import.meta.url));
  const script = `
    const { Sequential, Dense, ReLU, SGD, describeBackend } = await import(${JSON.stringify(index)});
    const x = new Float32Array(256 * 784).fill(0.5), y = new Float32Array(256 * 10).fill(0.1);
    const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
    model.fit({ x, y, count: 256 }, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 2, batchSize: 64 });
    console.log('trained on ' + describeBackend(model.backend));
  `;
  const start = performance.now();
  const r = spawnSync(process.execPath, ['--conditions=nabla-source', '--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 30_000,
  });
  const seconds = (performance.now() - start) / 1000;
  assert.equal(r.error, undefined, `the child did not exit within 30 s (${r.error?.message})`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`trained on wasm \\(${cores} thread`));
  assert.equal(r.stderr, '', 'no warnings');
  // Starting node with tsx takes about a second here; a hanging pool would hit the timeout.
  assert.ok(seconds < 15, `the child took ${seconds.toFixed(1)} s`);
});
