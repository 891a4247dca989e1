// ONNX round trip on real MNIST: train each model briefly here (self-contained, a few seconds),
// export it, run the file in ONNX Runtime on real test digits, and require the same predicted
// class for every digit and logits within 1e-4 of nabla's.
//
// MODELS is the list to round-trip. The convolutional ones join it by themselves once the
// image layers are in the build (layerTypes()), the "cnn" preset once MODEL_PRESETS is; until
// then they are reported as skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import * as nabla from 'nabla';
import {
  Adam, layerTypes, Sequential, argmax, exportOnnx, sliceDataset, type Dataset, type LayerConfig, type LossName, type ModelConfig,
} from 'nabla';
import { loadMnist } from 'nabla/node';

interface RoundTrip {
  name: string;
  /** undefined: not expressible in this build yet (the test is skipped). */
  config: ModelConfig | undefined;
  loss: LossName;
  /** Training samples and epochs: enough to be far from chance, small enough for CI. */
  samples: number;
  epochs: number;
  /** Test digits to compare on. */
  digits: number;
  output: string;
  minAccuracy: number;
}

/** The library's "cnn" preset (conv/batch norm/pool/dropout), when this build has presets. */
function cnnPreset(): ModelConfig | undefined {
  const lib = nabla as unknown as {
    MODEL_PRESETS?: Record<string, { inputShape: number[]; spec: string }>;
    parseLayerSpec?: (spec: string, inputRank: number) => LayerConfig[];
  };
  const preset = lib.MODEL_PRESETS?.cnn;
  if (!preset || !lib.parseLayerSpec) return undefined;
  return { inputShape: preset.inputShape, layers: lib.parseLayerSpec(preset.spec, preset.inputShape.length) };
}

const MODELS: RoundTrip[] = [
  {
    name: 'default MLP 784-256-128-10 (ReLU, logits)',
    config: { inputShape: [784], layers: [
      { type: 'Dense', units: 256 }, { type: 'ReLU' }, { type: 'Dense', units: 128 }, { type: 'ReLU' }, { type: 'Dense', units: 10 },
    ] },
    loss: 'ce', samples: 3000, epochs: 1, digits: 1000, output: 'logits', minAccuracy: 0.8,
  },
  {
    name: '28×28 input, Flatten, Tanh and LeakyReLU, ending in Softmax (probabilities)',
    config: { inputShape: [28, 28], layers: [
      { type: 'Flatten' }, { type: 'Dense', units: 32 }, { type: 'Tanh' }, { type: 'Dense', units: 16 }, { type: 'LeakyReLU', slope: 0.1 },
      { type: 'Dense', units: 10 }, { type: 'Softmax' },
    ] },
    loss: 'mse', samples: 3000, epochs: 2, digits: 1000, output: 'probabilities', minAccuracy: 0.6,
  },
  {
    name: 'small CNN (conv 5×5×8, pool, conv 5×5×16, pool, dense 10)',
    config: { inputShape: [1, 28, 28], layers: [
      { type: 'Conv2D', filters: 8, kernelSize: [5, 5], stride: [1, 1], padding: [0, 0], bias: true }, { type: 'ReLU' },
      { type: 'MaxPool2D', poolSize: [2, 2], stride: [2, 2], padding: [0, 0] },
      { type: 'Conv2D', filters: 16, kernelSize: [5, 5], stride: [1, 1], padding: [0, 0], bias: true }, { type: 'ReLU' },
      { type: 'MaxPool2D', poolSize: [2, 2], stride: [2, 2], padding: [0, 0] },
      { type: 'Flatten' }, { type: 'Dense', units: 10 },
    ] },
    loss: 'ce', samples: 1000, epochs: 1, digits: 1000, output: 'logits', minAccuracy: 0.3,
  },
  {
    name: 'the "cnn" preset (3×3 convs with batch norm, max pool, dense 128, dropout)',
    config: cnnPreset(),
    loss: 'ce', samples: 500, epochs: 1, digits: 300, output: 'logits', minAccuracy: 0.3,
  },
];

let data: { train: Dataset; test: Dataset } | undefined;
function mnist() {
  data ??= { train: loadMnist('train'), test: loadMnist('test') };
  return data;
}

for (const m of MODELS) {
  const missing = (m.config?.layers ?? []).map((l) => l.type).filter((t) => !layerTypes().includes(t));
  const skip = !m.config ? 'no model presets in this build yet'
    : missing.length > 0 ? `layers ${[...new Set(missing)].join(', ')} are not in this build yet` : false;
  test(`ONNX round trip on real MNIST: ${m.name}`, { skip }, async (t) => {
    const config = m.config!;
    const { train } = mnist();
    const digits = sliceDataset(mnist().test, 0, m.digits);
    const model = Sequential.fromConfig(config, { seed: 1 });
    model.fit(sliceDataset(train, 0, m.samples), {
      optimizer: new Adam(model.parameters(), { lr: 2e-3 }), loss: m.loss, epochs: m.epochs, batchSize: 64,
    });
    const ours = model.predict(digits.x, digits.count);

    const session = await ort.InferenceSession.create(exportOnnx(model));
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, [m.output]);
    const input = new ort.Tensor('float32', digits.x, [digits.count, ...config.inputShape]);
    const theirs = (await session.run({ input }))[m.output].data as Float32Array;
    assert.equal(theirs.length, ours.length);

    let maxDiff = 0;
    let sameClass = 0;
    let correct = 0;
    for (let i = 0; i < digits.count; i++) {
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(theirs[i * 10 + k] - ours[i * 10 + k]));
      const cls = argmax(ours, i * 10, 10);
      if (argmax(theirs, i * 10, 10) === cls) sameClass++;
      if (cls === argmax(digits.y, i * 10, 10)) correct++;
    }
    t.diagnostic(`max |nabla − ONNX Runtime| = ${maxDiff.toExponential(2)} over ${digits.count} digits; ` +
      `test accuracy ${(correct / digits.count).toFixed(3)}; layers ${config.layers.map((l) => l.type).join(',')}`);
    assert.ok(correct / digits.count >= m.minAccuracy, `the model learned something: accuracy ${correct / digits.count}`);
    assert.equal(sameClass, digits.count, 'same predicted class for every digit');
    assert.ok(maxDiff <= 1e-4, `max output difference ${maxDiff} > 1e-4`);
  });
}
