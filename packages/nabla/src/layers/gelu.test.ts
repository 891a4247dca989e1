// GELU: erf against high-precision values, the gradient check (JS and wasm backends), PyTorch
// (test/pytorchCases.ts), the ONNX export run in ONNX Runtime, the spec token, the
// model-file round trip and summary().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend } from '../backend/wasm/wasmBackend.ts';
import { decodeModel, encodeModel } from '../io/modelFile.ts';
import { exportOnnx } from '../io/onnx.ts';
import { layersFromSpec, parseLayerSpec } from '../model/layerSpec.ts';
import { Sequential } from '../model/sequential.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { checkReferenceCase, referenceCases } from '../../../../test/pytorchCases.ts';
import { checkLayerGradients } from '../testing/gradCheck.ts';
import { Dense } from './dense.ts';
import { Flatten } from './flatten.ts';
import { GELU } from './gelu.ts';
import { NO_GRAD } from './layer.ts';

const erf = GELU.erf;

test('erf matches 17-digit values to 1e-10, is odd, and saturates to ±1', () => {
  // erf(z) from mpmath at 40 digits, rounded to 17 significant digits.
  const table: [number, number][] = [
    [0, 0], [1e-8, 1.1283791670955126e-8], [0.1, 0.11246291601828489], [0.5, 0.52049987781304654],
    [0.75, 0.71115563365351513], [1, 0.84270079294971487], [2, 0.99532226501895273],
    [3, 0.99997790950300141], [4, 0.99999998458274210], [6, 1],
  ];
  for (const [z, e] of table) {
    assert.ok(Math.abs(erf(z) - e) <= 1e-10, `erf(${z}) = ${erf(z)}, expected ${e}`);
    assert.equal(erf(-z), -erf(z), `erf(−${z})`);
  }
  assert.ok(Math.abs(erf(1e-8) / 1.1283791670955126e-8 - 1) < 1e-10, 'relative accuracy near 0');
  assert.equal(erf(40), 1);
  assert.equal(erf(-Infinity), -1);
  assert.ok(Number.isNaN(erf(NaN)));
});

test('GELU forward: x·Φ(x), including both tails', () => {
  const g = new GELU();
  g.build([6], { backend: new JsBackend(), rng: new Rng(1), index: 0 });
  const x = new Tensor([1, 6], Float32Array.from([-10, -3, -0.5, 0, 1, 8]));
  // x·Φ(x) from mpmath (40 digits).
  const expected = [-7.6198530241605260e-23, -0.0040496940948902836, -0.15426876936299347, 0, 0.84134474606854293, 8];
  assertClose(g.forward(x, false).data, expected, { rtol: 1e-6, atol: 0, label: 'GELU values' });
});

test('GELU passes the gradient check (input), on several shapes, on the JS and wasm backends', async () => {
  const wasm = await WasmBackend.create({ threads: 1 });
  try {
    for (const backend of [new JsBackend(), wasm]) {
      for (const [inputShape, batch] of [[[1], 1], [[7], 3], [[2, 3, 5], 2]] as [number[], number][]) {
        for (const seed of [1, 2]) {
          const layer = new GELU();
          const report = checkLayerGradients(layer, { inputShape, batch, seed, backend });
          assert.ok(report.ok, `GELU [${inputShape}], batch ${batch}, seed ${seed}, ${backend.constructor.name}\n${report.message}`);
          assert.equal(report.results.length, 1);
        }
      }
    }
  } finally {
    wasm.dispose();
  }
});

for (const c of referenceCases('pytorch-gelu-layernorm-reference.json', 'GELU')) {
  test(`PyTorch reference "${c.name}": output, loss, input gradient, parameter gradients and names`, () => checkReferenceCase(c));
}

test('GELU backward after an evaluation forward (as traceSample does) equals the training one', () => {
  const g = new GELU();
  g.build([40], { backend: new JsBackend(), rng: new Rng(1), index: 0 });
  const rng = new Rng(3);
  const x = new Tensor([2, 40], Float32Array.from({ length: 80 }, () => 4 * rng.normal()));
  const dy = new Tensor([2, 40], Float32Array.from({ length: 80 }, () => rng.normal()));
  const yTrain = g.forward(x, true).data.slice();
  const dxTrain = g.backward(dy).data.slice();
  assertClose(g.forward(x, false).data, yTrain, { rtol: 0, atol: 0, label: 'y' });
  // The training path rounds ∂y/∂x to float32 before the product: a rounding or two apart.
  assertClose(g.backward(dy).data, dxTrain, { rtol: 3e-7, atol: 0, label: 'dx' });
});

test('GELU as the first layer skips dx (needsInputGrad false)', () => {
  const model = new Sequential([new GELU(), new Dense(2)], { inputShape: [3], seed: 1 });
  const x = new Tensor([2, 3], Float32Array.from([0.1, -0.2, 0.3, 1, 2, -3]));
  model.forward(x, true);
  assert.equal(model.layers[0].backward(new Tensor([2, 3])), NO_GRAD);
});

test('GELU exported to ONNX (Div, Erf, Add, Mul, Mul) runs in ONNX Runtime and matches nabla', async () => {
  const cases: [string, Sequential, number[]][] = [
    ['dense-gelu-dense', new Sequential([new Dense(12), new GELU(), new Dense(4)], { inputShape: [9], seed: 2 }), [9]],
    ['image input, ends in GELU', new Sequential([new GELU(), new Flatten(), new Dense(5), new GELU()], { inputShape: [2, 3, 4], seed: 3 }), [2, 3, 4]],
  ];
  for (const [name, model, inputShape] of cases) {
    const n = 5;
    const rng = new Rng(4);
    const x = Float32Array.from({ length: n * inputShape.reduce((a, b) => a * b, 1) }, () => 3 * rng.normal());
    const session = await ort.InferenceSession.create(exportOnnx(model));
    const out = session.outputNames[0];
    const r = await session.run({ input: new ort.Tensor('float32', x, [n, ...inputShape]) });
    assertClose(r[out].data as Float32Array, model.predict(x, n), { rtol: 1e-5, atol: 1e-6, label: `ONNX ${name}` });
  }
});

test('the spec token "gelu" parses, and a model with GELU round-trips through a model file', () => {
  assert.deepEqual(parseLayerSpec('dense:8, GELU ,dense:3', 1), [
    { type: 'Dense', units: 8, bias: true, init: 'he' }, { type: 'GELU' }, { type: 'Dense', units: 3, bias: true, init: 'he' },
  ]);
  assert.throws(() => parseLayerSpec('dense:8,gelu:2', 1), /"gelu" alone/);
  const model = new Sequential(layersFromSpec('dense:8,gelu,dense:3', 1), { inputShape: [5], seed: 7 });
  const loaded = decodeModel(encodeModel(model), 'model file "gelu.safetensors"').model;
  assert.deepEqual(loaded.config(), model.config());
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 4 * 5 }, () => rng.normal());
  assert.deepEqual(loaded.predict(x, 4), model.predict(x, 4));
});

test('summary() lists GELU with its output shape and no parameters', () => {
  const s = new Sequential([new Dense(8), new GELU(), new Dense(3)], { inputShape: [5] }).summary();
  assert.match(s, /1 GELU\s+\[N, 8\]\s+0\n/);
});
