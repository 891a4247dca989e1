// Layer specs: the one-line grammar of --layers, its errors (naming the token), and the presets,
// which must build into models of the documented shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { Sequential } from './sequential.ts';
import { layerTypes, layerFromConfig } from '../layers/registry.ts';
import { MODEL_PRESETS } from './buildModel.ts';
import { layersFromSpec, parseLayerSpec, specWantsImages } from './layerSpec.ts';

test('parseLayerSpec: every token kind, with options, into the model-file layer configs', () => {
  const configs = parseLayerSpec(
    'Conv:8x5x5, relu, maxpool:2, conv:16x3x2/s2x1/p1/nobias, bn, avgpool:3/s1/p1, conv:4x3/same, flatten, bn, ' +
    'dense:10/nobias, dropout:0.25, leakyrelu:0.2, leakyrelu, sigmoid, tanh, softmax, bn1d, bn2d, gelu, ln',
  );
  assert.deepEqual(configs, [
    { type: 'Conv2D', filters: 8, kernelSize: [5, 5], stride: [1, 1], padding: [0, 0], bias: true, init: 'he' },
    { type: 'ReLU' },
    { type: 'MaxPool2D', poolSize: [2, 2], stride: [2, 2], padding: [0, 0] },
    { type: 'Conv2D', filters: 16, kernelSize: [3, 2], stride: [2, 1], padding: [1, 1], bias: false, init: 'he' },
    { type: 'BatchNorm2D', momentum: 0.1, eps: 1e-5 },
    { type: 'AvgPool2D', poolSize: [3, 3], stride: [1, 1], padding: [1, 1] },
    { type: 'Conv2D', filters: 4, kernelSize: [3, 3], stride: [1, 1], padding: [1, 1], bias: true, init: 'he' },
    { type: 'Flatten' },
    { type: 'BatchNorm1D', momentum: 0.1, eps: 1e-5 },
    { type: 'Dense', units: 10, bias: false, init: 'he' },
    { type: 'Dropout', rate: 0.25 },
    { type: 'LeakyReLU', slope: 0.2 },
    { type: 'LeakyReLU', slope: 0.01 },
    { type: 'Sigmoid' }, { type: 'Tanh' }, { type: 'Softmax' },
    { type: 'BatchNorm1D', momentum: 0.1, eps: 1e-5 }, { type: 'BatchNorm2D', momentum: 0.1, eps: 1e-5 },
    { type: 'GELU' }, { type: 'LayerNorm', eps: 1e-5 },
  ]);
  // A bare bn on a flat input is 1D.
  assert.equal(parseLayerSpec('bn,dense:3', 1)[0].type, 'BatchNorm1D');
  // Every layer type can be spelled.
  const spelled = new Set([...configs, ...parseLayerSpec('res(relu)'), ...parseLayerSpec('standardize', 1)].map((c) => c.type));
  assert.deepEqual(layerTypes().filter((t) => !spelled.has(t)), []);
});

test('parseLayerSpec errors name the token, what was expected, and list the grammar', () => {
  const cases: [string, string[]][] = [
    ['conv:8x5x5,relu,pool:2', ['token 3 "pool:2"', 'a layer name among', '"pool"', 'hint: tokens: ', 'conv:FxK']],
    ['conv:8', ['token 1 "conv:8"', 'conv:FILTERSxK']],
    ['conv:0x3', ['token 1 "conv:0x3"']],
    ['conv:8x3/s0', ['token 1', 'stride as an integer ≥ 1', '"0"']],
    ['conv:8x4/same', ['an odd kernel with /same', 'kernel 4x4']],
    ['conv:8x3/q2', ['"/q2"', '/sN, /pN, /same, /nobias']],
    ['maxpool', ['token 1 "maxpool"', 'maxpool:K']],
    ['maxpool:2/nobias', ['"/nobias"']],
    ['dense:-3', ['dense:UNITS']],
    ['dropout:1', ['dropout:RATE', '[0, 1)']],
    ['relu:2', ['"relu" alone']],
    ['dense:10,,relu', ['none empty']],
    ['', ['layer spec', 'none empty']],
  ];
  for (const [spec, facts] of cases) assertNablaError(() => parseLayerSpec(spec), facts);
});

test('specWantsImages: image layers before any flatten/dense ask for a [C, H, W] input', () => {
  assert.equal(specWantsImages(parseLayerSpec('conv:4x3,flatten,dense:2')), true);
  assert.equal(specWantsImages(parseLayerSpec('relu,maxpool:2,flatten,dense:2')), true);
  assert.equal(specWantsImages(parseLayerSpec('dense:4,relu,dense:2', 1)), false);
  assert.equal(specWantsImages(parseLayerSpec('flatten,dense:2')), false);
});

test('presets build into models with the documented shapes and PyTorch-style parameter names', () => {
  const build = (name: keyof typeof MODEL_PRESETS) => {
    const p = MODEL_PRESETS[name];
    return new Sequential(layersFromSpec(p.spec, p.inputShape.length), { inputShape: p.inputShape, seed: 1 });
  };
  const lenet = build('lenet5');
  assert.deepEqual(lenet.layers.map((l) => l.outputShape), [
    [6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400], [120], [120], [84], [84], [10],
  ]);
  assert.equal(lenet.paramCount, 156 + 2416 + 48120 + 10164 + 850);
  const cnn = build('cnn');
  assert.deepEqual(cnn.outputShape, [10]);
  assert.deepEqual(cnn.stateDict().get('0.weight')!.shape, [16, 1, 3, 3]);
  assert.ok(cnn.stateDict().has('1.running_var'));
  assert.deepEqual(build('mlp').layers.map((l) => l.outputShape), [[256], [256], [128], [128], [10]]);
  assert.match(cnn.summary(), /Conv2D \(16, 3×3\)/);
  assert.match(lenet.summary(), /0 Conv2D \(6, 5×5 p2\)\s+\[N, 6, 28, 28\]\s+156/);
});

test('layerFromConfig names the architecture layer when a constructor refuses a config', () => {
  assertNablaError(() => layerFromConfig({ type: 'Conv2D', filters: 4, kernelSize: [3, 3], stride: [0, 1], padding: [0, 0] }, 2),
    ['architecture, layer 2 (Conv2D)', 'stride', '[0,1]']);
  assertNablaError(() => layerFromConfig({ type: 'Dropout', rate: 2 }, 5), ['architecture, layer 5 (Dropout)', 'rate in [0, 1)']);
});
