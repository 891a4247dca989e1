// LayerNorm: values against a plain float64 loop, the gradient check (input, weight, bias; flat
// and image inputs; JS and wasm backends), PyTorch (test/pytorchCases.ts), the ONNX
// export (LayerNormalization, opset 17) run in ONNX Runtime, the spec tokens, the model-file round
// trip and summary().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend } from '../backend/wasm/wasmBackend.ts';
import { decodeModel, encodeModel } from '../io/modelFile.ts';
import { exportOnnx } from '../io/onnx.ts';
import { layersFromSpec, parseLayerSpec } from '../model/layerSpec.ts';
import { Sequential } from '../model/sequential.ts';
import { Rng } from '../random.ts';
import { Tensor, shapeSize } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { checkReferenceCase, referenceCases } from '../../../../test/pytorchCases.ts';
import { checkLayerGradients } from '../testing/gradCheck.ts';
import { Conv2D } from './conv2d.ts';
import { Dense } from './dense.ts';
import { Flatten } from './flatten.ts';
import { GELU } from './gelu.ts';
import { NO_GRAD } from './layer.ts';
import { LayerNorm } from './layerNorm.ts';

function randomArray(size: number, seed: number, scale = 1, shift = 0): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => shift + scale * rng.normal());
}

test('LayerNorm forward: every sample normalised over all its values (biased variance), then γ, β; same in evaluation', () => {
  const shape = [2, 3, 2];
  const d = shapeSize(shape);
  const n = 3;
  const layer = new LayerNorm({ eps: 1e-3 });
  layer.build(shape, { backend: new JsBackend(), rng: new Rng(1), index: 0 });
  layer.weight.value.data.set(randomArray(d, 2, 0.5, 1));
  layer.bias.value.data.set(randomArray(d, 3));
  // Inputs far from 0 with a small spread: a one-pass E[x²] − E[x]² would lose its digits here.
  const x = new Tensor([n, ...shape], randomArray(n * d, 4, 0.1, 1000));
  const expected = new Float64Array(n * d);
  for (let s = 0; s < n; s++) {
    const v = Array.from(x.data.subarray(s * d, (s + 1) * d));
    const mean = v.reduce((a, b) => a + b, 0) / d;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
    for (let i = 0; i < d; i++) {
      expected[s * d + i] = layer.weight.value.data[i] * (v[i] - mean) / Math.sqrt(variance + 1e-3) + layer.bias.value.data[i];
    }
  }
  assertClose(layer.forward(x, true).data, expected, { rtol: 1e-5, atol: 1e-5, label: 'training' });
  assertClose(layer.forward(x, false).data, expected, { rtol: 1e-5, atol: 1e-5, label: 'evaluation' });
  // One sample alone gives the same output as in the batch.
  const alone = layer.forward(new Tensor([1, ...shape], x.data.slice(d, 2 * d)), true);
  assertClose(alone.data, expected.subarray(d, 2 * d), { rtol: 1e-5, atol: 1e-5, label: 'sample 1 alone' });
});

test('LayerNorm passes the gradient check (input, weight, bias), flat and image inputs, JS and wasm backends', async () => {
  const wasm = await WasmBackend.create({ threads: 1 });
  try {
    for (const backend of [new JsBackend(), wasm]) {
      for (const [inputShape, batch] of [[[2], 1], [[7], 3], [[5], 6], [[2, 3, 4], 2]] as [number[], number][]) {
        for (const seed of [1, 2]) {
          for (const eps of [1e-5, 0.1]) {
            const layer = new LayerNorm({ eps });
            const where = `LayerNorm(eps ${eps}) [${inputShape}], batch ${batch}, seed ${seed}, ${backend.constructor.name}`;
            const report = checkLayerGradients(layer, { inputShape, batch, seed, backend });
            assert.ok(report.ok, `${where}\n${report.message}`);
            assert.deepEqual(report.results.map((r) => r.name), ['input', 'weight', 'bias'], where);
          }
        }
      }
    }
  } finally {
    wasm.dispose();
  }
});

for (const c of referenceCases('pytorch-gelu-layernorm-reference.json', 'LayerNorm')) {
  test(`PyTorch reference "${c.name}": output, loss, input gradient, parameter gradients and names`, () => checkReferenceCase(c));
}

test('LayerNorm backward adds into weight and bias gradients, and skips dx as a first layer', () => {
  const model = new Sequential([new LayerNorm(), new Dense(2)], { inputShape: [4], seed: 1 });
  const ln = model.layers[0] as LayerNorm;
  const x = new Tensor([2, 4], randomArray(8, 5));
  const dy = new Tensor([2, 4], randomArray(8, 6));
  ln.forward(x, true);
  assert.equal(ln.backward(dy), NO_GRAD);
  const once = [ln.weight.grad.data.slice(), ln.bias.grad.data.slice()];
  ln.backward(dy);
  assertClose(ln.weight.grad.data, once[0].map((v) => 2 * v), { label: 'dγ accumulates' });
  assertClose(ln.bias.grad.data, once[1].map((v) => 2 * v), { label: 'dβ accumulates' });
});

test('LayerNorm exported to ONNX (LayerNormalization, axis 1) runs in ONNX Runtime and matches nabla', async () => {
  const trained = (model: Sequential): Sequential => {
    // γ and β away from 1 and 0, so that the export of both is checked.
    for (const p of model.parameters()) if (p.name.endsWith('weight') || p.name.endsWith('bias')) {
      const r = randomArray(p.value.size, p.value.size, 0.3);
      for (let i = 0; i < r.length; i++) p.value.data[i] += r[i];
    }
    return model;
  };
  const cases: [string, Sequential, number[]][] = [
    ['dense-ln-gelu-dense', trained(new Sequential([new Dense(12), new LayerNorm(), new GELU(), new Dense(4)], { inputShape: [9], seed: 2 })), [9]],
    ['conv-ln[C,H,W]-flatten-dense-ln(eps 0.01)', trained(new Sequential(
      [new Conv2D(3, 3, { padding: 1 }), new LayerNorm(), new Flatten(), new Dense(5), new LayerNorm({ eps: 0.01 })],
      { inputShape: [2, 5, 4], seed: 3 })), [2, 5, 4]],
  ];
  for (const [name, model, inputShape] of cases) {
    const n = 5;
    const x = randomArray(n * shapeSize(inputShape), 7, 2);
    const session = await ort.InferenceSession.create(exportOnnx(model));
    const out = session.outputNames[0];
    const r = await session.run({ input: new ort.Tensor('float32', x, [n, ...inputShape]) });
    assertClose(r[out].data as Float32Array, model.predict(x, n), { rtol: 1e-5, atol: 1e-5, label: `ONNX ${name}` });
  }
});

test('the spec tokens ln and layernorm[:EPS] parse, bad ones are refused, and a model round-trips through a model file', () => {
  assert.deepEqual(parseLayerSpec('dense:8,ln,layernorm:1e-6, LN:0.5', 1).slice(1), [
    { type: 'LayerNorm', eps: 1e-5 }, { type: 'LayerNorm', eps: 1e-6 }, { type: 'LayerNorm', eps: 0.5 },
  ]);
  for (const bad of ['ln:0', 'ln:-1', 'ln:abc', 'ln:', 'ln/x']) {
    assertNablaError(() => parseLayerSpec(`dense:8,${bad}`, 1), ['layer spec, token 2', 'EPS > 0']);
  }
  assertNablaError(() => new LayerNorm({ eps: 0 }), ['LayerNorm', 'eps > 0', '0']);
  // An image spec: LayerNorm over (C, H, W) keeps the image shape.
  const image = new Sequential(layersFromSpec('conv:4x3/same,ln,gelu,flatten,dense:3'), { inputShape: [1, 6, 6], seed: 1 });
  assert.deepEqual((image.layers[1] as LayerNorm).weight.value.shape, [4, 6, 6]);

  const model = new Sequential(layersFromSpec('dense:8,ln:1e-4,gelu,dense:3', 1), { inputShape: [5], seed: 7 });
  for (const p of model.parameters()) p.value.data[0] += 0.25; // γ, β not at their initial values
  const loaded = decodeModel(encodeModel(model), 'model file "ln.safetensors"').model;
  assert.deepEqual(loaded.config(), model.config());
  assert.deepEqual(loaded.config().layers[1], { type: 'LayerNorm', eps: 1e-4 });
  assert.deepEqual([...loaded.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
  const x = randomArray(4 * 5, 8);
  assert.deepEqual(loaded.predict(x, 4), model.predict(x, 4));
});

test('summary() lists LayerNorm with what it normalises over and its 2·D parameters', () => {
  const s = new Sequential([new Conv2D(4, 3), new LayerNorm(), new Flatten(), new Dense(3)], { inputShape: [1, 6, 6] }).summary();
  assert.match(s, /1 LayerNorm \(over \[4, 4, 4\], 64 values\)\s+\[N, 4, 4, 4\]\s+128\n/);
});
