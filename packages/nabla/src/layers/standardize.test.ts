// Standardize: fit's statistics, the float32 forward and backward bit for bit, what training does to
// it (nothing), why it is there (a table of dollars and years), the model-file round trip, the ONNX
// export run in ONNX Runtime, the spec token and summary(). Its PyTorch form is run in PyTorch by
// test/pytorchExport.test.ts (the every-layer model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import type { Backend } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend } from '../backend/wasm/wasmBackend.ts';
import { datasetFromArrays } from '../data/dataset.ts';
import { decodeModel, encodeModel } from '../io/modelFile.ts';
import { exportOnnx } from '../io/onnx.ts';
import { layersFromSpec, parseLayerSpec } from '../model/layerSpec.ts';
import { Sequential } from '../model/sequential.ts';
import { SGD } from '../optim/sgd.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { Dense } from './dense.ts';
import { ReLU } from './activations.ts';
import { NO_GRAD } from './layer.ts';
import { Standardize } from './standardize.ts';

function built(features: number, backend: Backend = new JsBackend()): Standardize {
  const s = new Standardize();
  s.build([features], { backend, rng: new Rng(1), index: 0 });
  return s;
}

test('fit: each column\'s mean and population standard deviation (float64 sums); a constant column gets std 1', () => {
  const s = built(3);
  // Columns: 1, 2, 3, 4 (mean 2.5, std √1.25); 1000 × that; 7 always.
  const x = Float32Array.from([1, 1000, 7, 2, 2000, 7, 3, 3000, 7, 4, 4000, 7]);
  s.fit(x, 4);
  const { mean, std } = s.statistics();
  assert.deepEqual(Array.from(mean), [2.5, 2500, 7]);
  assert.deepEqual(Array.from(std), [Math.fround(Math.sqrt(1.25)), Math.fround(1000 * Math.sqrt(1.25)), 1]);
  // Only the first `count` rows count.
  s.fit(x, 2);
  assert.deepEqual(Array.from(s.statistics().mean), [1.5, 1500, 7]);
});

test('fit refuses NaN and ±Infinity, naming the column, and too few rows', () => {
  const s = built(2);
  assert.throws(() => s.fit(Float32Array.from([1, 2, 3, NaN]), 2), /column 1: mean NaN/);
  assert.throws(() => s.fit(Float32Array.from([Infinity, 2, 3, 4]), 2), /column 0/);
  assert.throws(() => s.fit(Float32Array.from([1, 2]), 2), /at least one row of 2 values/);
  assert.throws(() => s.fit(new Float32Array(0), 0), /found 0 rows/);
});

test('forward is f32(f32(x − mean) / std) bit for bit, backward dy / std; as a first layer it skips dx', async () => {
  const wasm = await WasmBackend.create({ threads: 1 });
  try {
    for (const backend of [new JsBackend(), wasm]) {
      const rng = new Rng(2);
      const s = built(5, backend);
      const rows = 7;
      const train = Float32Array.from({ length: 40 * 5 }, (_, i) => (i % 5 + 1) * 300 * rng.normal() + 1e4 * (i % 5));
      s.fit(train, 40);
      const { mean, std } = s.statistics();
      const x = new Tensor([rows, 5], backend.allocate(rows * 5).map(() => 1e4 * rng.normal()));
      const y = s.forward(x, true).data;
      const dy = new Tensor([rows, 5], backend.allocate(rows * 5).map(() => rng.normal()));
      const dx = s.backward(dy).data;
      for (let i = 0; i < rows * 5; i++) {
        const j = i % 5;
        const d = new Float32Array([x.data[i] - mean[j]]);
        assert.equal(y[i], Math.fround(d[0] / std[j]), `y[${i}] on ${backend.constructor.name}`);
        assert.equal(dx[i], Math.fround(dy.data[i] / std[j]), `dx[${i}]`);
      }
    }
  } finally {
    wasm.dispose();
  }
  const model = new Sequential([new Standardize(), new Dense(2)], { inputShape: [3], seed: 1 });
  model.forward(new Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])), true);
  assert.equal(model.layers[0].backward(new Tensor([2, 3])), NO_GRAD);
});

/** A table whose two columns are in dollars (20,000–100,000) and years (18–78); class: income/1000 + age > 95. */
function peopleTable(count: number, seed: number) {
  const rng = new Rng(seed);
  const x: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const income = 20000 + 80000 * rng.uniform();
    const age = 18 + 60 * rng.uniform();
    x.push([income, age]);
    labels.push(income / 1000 + age > 95 ? 1 : 0);
  }
  return datasetFromArrays({ x, labels });
}

test('why: on a table of dollars and years, SGD at lr 0.1 learns with Standardize (fitted, > 95%) and not without (< 80%)', () => {
  const train = peopleTable(800, 1);
  const testSet = peopleTable(400, 2);
  const run = (standardize: boolean) => {
    const layers = [...(standardize ? [new Standardize()] : []), new Dense(16), new ReLU(), new Dense(2)];
    const model = new Sequential(layers, { inputShape: [2], seed: 3 });
    if (standardize) (model.layers[0] as Standardize).fit(train.x, train.count);
    const before = standardize ? (model.layers[0] as Standardize).statistics() : undefined;
    try {
      model.fit(train, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 30, batchSize: 32 });
    } catch {
      return { accuracy: 0, before, model };
    }
    return { accuracy: model.evaluate(testSet, { loss: 'ce' }).accuracy, before, model };
  };
  const withIt = run(true);
  const without = run(false);
  console.log(`dollars and years: test accuracy ${(100 * withIt.accuracy).toFixed(1)}% with Standardize, ${(100 * without.accuracy).toFixed(1)}% without`);
  assert.ok(withIt.accuracy > 0.95, `with Standardize: ${withIt.accuracy}`);
  assert.ok(without.accuracy < 0.8, `without: ${without.accuracy}`);
  // Training never moves the statistics: they are buffers, not parameters.
  const after = (withIt.model.layers[0] as Standardize).statistics();
  assert.deepEqual(after, withIt.before);
  assert.equal(withIt.model.parameters().length, 4);
  assert.deepEqual(withIt.model.buffers().map((b) => b.name), ['0.mean', '0.std']);
});

test('a model file keeps the statistics: the loaded model gives the same predictions on raw rows', () => {
  const model = new Sequential(layersFromSpec('standardize,dense:8,relu,dense:3', 1), { inputShape: [4], seed: 7 });
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 6 * 4 }, (_, i) => 100 * (i % 4) + 10 * rng.normal());
  (model.layers[0] as Standardize).fit(x, 6);
  const loaded = decodeModel(encodeModel(model), 'model file "std.safetensors"').model;
  assert.deepEqual((loaded.layers[0] as Standardize).statistics(), (model.layers[0] as Standardize).statistics());
  assert.deepEqual(loaded.predict(x, 6), model.predict(x, 6));
});

test('exported to ONNX (Sub, Div) it runs in ONNX Runtime and matches nabla', async () => {
  const model = new Sequential([new Standardize(), new Dense(6), new ReLU(), new Dense(3)], { inputShape: [4], seed: 2 });
  const rng = new Rng(4);
  const n = 9;
  const x = Float32Array.from({ length: n * 4 }, (_, i) => 1000 * (i % 4) + 50 * rng.normal());
  (model.layers[0] as Standardize).fit(x, n);
  const session = await ort.InferenceSession.create(exportOnnx(model));
  const r = await session.run({ input: new ort.Tensor('float32', x, [n, 4]) });
  assertClose(r[session.outputNames[0]].data as Float32Array, model.predict(x, n), { rtol: 1e-5, atol: 1e-6, label: 'ONNX standardize' });
});

test('the spec token "standardize"; images are refused with a hint; summary() shows the features', () => {
  assert.deepEqual(parseLayerSpec('standardize,dense:3', 1), [{ type: 'Standardize' }, { type: 'Dense', units: 3, bias: true, init: 'he' }]);
  assert.throws(() => parseLayerSpec('standardize:2,dense:3', 1), /"standardize" alone/);
  assert.throws(() => new Sequential([new Standardize()], { inputShape: [1, 4, 4] }), /add Flatten before it/);
  const s = new Sequential([new Standardize(), new Dense(3)], { inputShape: [5] }).summary();
  assert.match(s, /0 Standardize \(5 features\)\s+\[N, 5\]\s+0\n/);
});
