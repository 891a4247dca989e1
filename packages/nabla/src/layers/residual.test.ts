// Residual: y = x + f(x). Gradient check (input and every inner parameter), PyTorch reference
// (test/fixtures/pytorch-residual-reference.json, made by scripts/make-pytorch-conv-reference.py),
// ONNX Runtime, the spec token, model files, summary, and the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { checkLayerGradients } from '../testing/gradCheck.ts';
import { compareClose } from '../testing/assertClose.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { checkReferenceCase, referenceCases } from '../../../../test/pytorchCases.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { layersFromSpec, parseLayerSpec, specWantsImages } from '../model/layerSpec.ts';
import { decodeModel, encodeModel } from '../io/modelFile.ts';
import { exportOnnx } from '../io/onnx.ts';
import { BatchNorm1D } from './batchNorm.ts';
import { Conv2D } from './conv2d.ts';
import { Dense } from './dense.ts';
import { ReLU, Tanh } from './activations.ts';
import { Residual } from './residual.ts';

test('Residual passes the gradient check: input and every inner parameter (dense body, conv body)', () => {
  const cases = [
    { make: () => new Residual([new Dense(5), new Tanh(), new Dense(5)]), inputShape: [5], params: 4 },
    { make: () => new Residual([new Dense(3, { bias: false })]), inputShape: [3], params: 1 },
    { make: () => new Residual([new Conv2D(2, 3, { padding: 1 }), new Tanh(), new Conv2D(2, [1, 3], { padding: [0, 1] })]), inputShape: [2, 4, 5], params: 4 },
  ];
  for (const c of cases) {
    for (const seed of [1, 2]) {
      const layer = c.make();
      const report = checkLayerGradients(layer, { inputShape: c.inputShape, batch: 3, seed });
      assert.ok(report.ok, report.message);
      assert.equal(report.results.length, 1 + c.params);
    }
  }
});

test('Residual names its inner tensors body.<j>.<name>, as a PyTorch module holding self.body = nn.Sequential', () => {
  const model = new Sequential([new Dense(4), new Residual([new Dense(4), new BatchNorm1D(), new ReLU(), new Dense(4)])], { inputShape: [3] });
  assert.deepEqual([...model.stateDict().keys()], [
    '0.weight', '0.bias', '1.body.0.weight', '1.body.0.bias', '1.body.1.weight', '1.body.1.bias',
    '1.body.3.weight', '1.body.3.bias', '1.body.1.running_mean', '1.body.1.running_var', '1.body.1.num_batches_tracked',
  ]);
});

for (const c of referenceCases('pytorch-residual-reference.json')) {
  test(`PyTorch reference "${c.name}": train output, loss, gradients, running statistics, eval output`, () => checkReferenceCase(c));
}

test('res(...) in a layer spec: nested tokens at the outer rank; image-ness from the inner layers', () => {
  const configs = parseLayerSpec('conv:4x3/same,res(conv:4x3/same,bn,relu),flatten,res(dense:8,relu,dense:64),dense:2');
  assert.deepEqual(configs[1], {
    type: 'Residual', layers: [
      { type: 'Conv2D', filters: 4, kernelSize: [3, 3], stride: [1, 1], padding: [1, 1], bias: true, init: 'he' },
      { type: 'BatchNorm2D', momentum: 0.1, eps: 1e-5 }, { type: 'ReLU' },
    ],
  });
  assert.equal(configs[3].type, 'Residual');
  assert.equal(specWantsImages(parseLayerSpec('res(conv:2x3/same),flatten,dense:2')), true);
  assert.equal(specWantsImages(parseLayerSpec('res(dense:4,relu),dense:2', 1)), false);
  // bn inside a residual after flatten is 1D
  assert.equal((parseLayerSpec('flatten,res(dense:4,bn)')[1].layers as { type: string }[])[1].type, 'BatchNorm1D');
});

test('Residual errors: a body that changes the shape, an empty body, bad spec tokens', () => {
  assertNablaError(() => new Sequential(layersFromSpec('res(dense:3)', 1), { inputShape: [4] }),
    ['layer 0 (Residual)', 'end on the input shape [N, 4]', 'output shape [N, 3]']);
  assertNablaError(() => parseLayerSpec('res()'), ['token 1 "res()"', 'res(LAYERS)']);
  assertNablaError(() => parseLayerSpec('res:2(dense:3)'), ['token 1', 'res(LAYERS)']);
  assertNablaError(() => parseLayerSpec('dense(relu)'), ['token 1', '"dense" without parentheses']);
  assertNablaError(() => parseLayerSpec('res(dense:3'), ['token 1', 'parentheses closed']);
  assertNablaError(() => Sequential.fromConfig({ inputShape: [3], layers: [{ type: 'Residual', layers: [] }] }),
    ['architecture, layer 0', 'non-empty list']);
  assertNablaError(() => Sequential.fromConfig({ inputShape: [3], layers: [{ type: 'Residual', layers: [{ type: 'Nope' }] }] }),
    ['architecture, layer 0, inner layer 0', '"Nope"']);
});

test('a residual model round-trips through a model file (bit-identical outputs) and shows its body in summary()', () => {
  const model = new Sequential(layersFromSpec('conv:3x3/same,relu,res(conv:3x3/same/nobias,bn,relu,conv:3x3/same),flatten,dense:2'), { inputShape: [1, 5, 5], seed: 3 });
  const x = new Float32Array(2 * 25).map((_, i) => Math.sin(i));
  const loaded = decodeModel(encodeModel(model)).model;
  assert.deepEqual([...loaded.predict(x, 2)], [...model.predict(x, 2)]);
  assert.match(model.summary(), /2 Residual \(Conv2D → BatchNorm2D → ReLU → Conv2D\) +\[N, 3, 5, 5\] +171/);
});

test('ONNX export: the residual blocks run in ONNX Runtime and give nabla\'s outputs', async () => {
  for (const [spec, inputShape] of [
    ['dense:6,relu,res(dense:6,tanh,dense:6),relu,res(dense:6,bn),dense:3', [4]],
    ['conv:3x3/same,relu,res(conv:3x3/same/nobias,bn,relu,conv:3x3/same),relu,maxpool:2,flatten,dense:2', [1, 6, 6]],
  ] as const) {
    const model = new Sequential(layersFromSpec(spec, inputShape.length), { inputShape: [...inputShape], seed: 7 });
    // a few training steps so the batch-norm statistics are not the defaults
    const rng = new Rng(1);
    const n = 5;
    const size = (inputShape as readonly number[]).reduce((a, b) => a * b, 1);
    const x = new Float32Array(n * size).map(() => rng.normal());
    model.forward(new Tensor([n, ...inputShape], x), true);
    const expected = model.predict(x, n);
    const session = await ort.InferenceSession.create(exportOnnx(model));
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, ...inputShape]) });
    const c = compareClose((out.logits.data as Float32Array), expected, { rtol: 1e-4, atol: 1e-5, label: spec });
    assert.ok(c.ok, c.message);
  }
});
