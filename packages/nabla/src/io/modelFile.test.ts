// Model file tests: encodeModel → decodeModel round trip, and every way a file can be wrong
// gives a NablaError that names the file's role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { LeakyReLU, ReLU, Sigmoid, Softmax, Tanh } from '../layers/activations.ts';
import { Flatten } from '../layers/flatten.ts';
import { Sequential } from '../model/sequential.ts';
import { SGD } from '../optim/sgd.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { decodeModel, encodeModel, MODEL_FORMAT_VERSION, type TrainingInfo } from './modelFile.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const ROLE = 'model file "models/mnist.safetensors"';


function inputs(count: number, features: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * features }, () => rng.normal());
}

/** A small trained model (so the weights are not just the initialisation) and its training info. */
function trainedModel(): { model: Sequential; training: TrainingInfo } {
  const model = new Sequential(
    [new Flatten(), new Dense(6, { init: 'xavier' }), new Tanh(), new Dense(4, { bias: false }), new LeakyReLU(0.1), new Dense(3)],
    { inputShape: [2, 2], seed: 9 },
  );
  const count = 30;
  const x = inputs(count, 4, 1);
  const y = new Float32Array(count * 3);
  for (let r = 0; r < count; r++) y[r * 3 + (r % 3)] = 1;
  const history = model.fit({ x, y, count }, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 2, batchSize: 8 });
  const training: TrainingInfo = {
    loss: 'ce', optimizer: { name: 'sgd', lr: 0.1 }, seed: 9, epochs: 2, batchSize: 8, history,
    preprocessing: { pixels: 'x / 255', layout: 'N x 784, row-major' }, dataset: 'synthetic',
    test: { loss: 0.5, accuracy: 0.75 },
  };
  return { model, training };
}

test('encodeModel → decodeModel round trip: same architecture, bit-identical predictions, same training info', () => {
  const { model, training } = trainedModel();
  const bytes = encodeModel(model, training);
  const loaded = decodeModel(bytes, ROLE);
  assert.deepEqual(loaded.model.config(), model.config());
  assert.deepEqual(loaded.training, JSON.parse(JSON.stringify(training)));
  assert.deepEqual(loaded.training.history, training.history);
  const x = inputs(17, 4, 2);
  assert.deepEqual(loaded.model.predict(x, 17), model.predict(x, 17));
  // Every tensor is identical, under its PyTorch name.
  const a = model.stateDict();
  const b = loaded.model.stateDict();
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [name, t] of a) {
    assert.deepEqual(b.get(name)!.shape, t.shape, name);
    assert.deepEqual(b.get(name)!.data, t.data, name);
  }
  // The loaded model trains on without sharing buffers with the original.
  loaded.model.parameters()[0].value.data[0] += 1;
  assert.notEqual(loaded.model.parameters()[0].value.data[0], model.parameters()[0].value.data[0]);
});

test('the file is plain safetensors with PyTorch names and the documented metadata', () => {
  const model = new Sequential([new Dense(3), new ReLU(), new Dense(2), new Softmax()], { inputShape: [4], seed: 1 });
  const { tensors, metadata } = decodeSafetensors(encodeModel(model, { loss: 'mse' }));
  assert.deepEqual([...tensors].map(([k, t]) => [k, [...t.shape]]), [['0.weight', [3, 4]], ['0.bias', [3]], ['2.weight', [2, 3]], ['2.bias', [2]]]);
  assert.equal(metadata.format, 'pt');
  assert.equal(metadata.nabla, MODEL_FORMAT_VERSION);
  assert.deepEqual(JSON.parse(metadata.architecture), model.config());
  assert.deepEqual(JSON.parse(metadata.training), { loss: 'mse' });
});

test('decodeModel without training info gives {} and still rebuilds the model', () => {
  const model = new Sequential([new Dense(2), new Sigmoid()], { inputShape: [3], seed: 2 });
  const bytes = encodeSafetensors([...model.stateDict()], { architecture: JSON.stringify(model.config()) });
  const loaded = decodeModel(bytes, ROLE);
  assert.deepEqual(loaded.training, {});
  const x = inputs(4, 3, 3);
  assert.deepEqual(loaded.model.predict(x, 4), model.predict(x, 4));
});

test('a file without "architecture" metadata: NablaError naming the role, with a hint', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [3] });
  const bytes = encodeSafetensors([...model.stateDict()], { format: 'pt' });
  const e = assertNablaError(() => decodeModel(bytes, ROLE), [ROLE, '"architecture"', 'metadata keys [format]', 'loadStateDict']);
  assert.equal(e.where, ROLE);
  // No metadata at all (e.g. a bare PyTorch state dict).
  assertNablaError(() => decodeModel(encodeSafetensors([...model.stateDict()]), ROLE), [ROLE, '"architecture"']);
});

test('broken architecture JSON: NablaError naming the role and the metadata key', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [3] });
  const bytes = encodeSafetensors([...model.stateDict()], { architecture: '{"inputShape": [3], "layers": [' });
  assertNablaError(() => decodeModel(bytes, ROLE), [ROLE, 'valid JSON in metadata "architecture"', 're-save']);
  const notModels = [
    'null', '[]', '{"layers": []}', '{"inputShape": [3]}', '{"inputShape": ["a"], "layers": [{"type": "ReLU"}]}',
    '{"inputShape": [0], "layers": [{"type": "ReLU"}]}', '{"inputShape": [3], "layers": [null]}',
  ];
  for (const notAModel of notModels) {
    const b = encodeSafetensors([...model.stateDict()], { architecture: notAModel });
    assertNablaError(() => decodeModel(b, ROLE), [ROLE, 'architecture JSON', '"inputShape"', '"layers"']);
  }
  for (const training of ['{oops', 'null', '5', '[1]']) {
    const badTraining = encodeSafetensors([...model.stateDict()], { architecture: JSON.stringify(model.config()), training });
    assertNablaError(() => decodeModel(badTraining, ROLE), [ROLE, 'metadata "training"']);
  }
});

test('an architecture whose layers cannot be built: NablaError naming the role and the layer', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [3] });
  const weights = [...model.stateDict()];
  const unknown = encodeSafetensors(weights, { architecture: JSON.stringify({ inputShape: [3], layers: [{ type: 'Conv9D' }] }) });
  assertNablaError(() => decodeModel(unknown, ROLE), [ROLE, 'layer 0', '"Conv9D"', 'Dense']);
  // Dense on a 2-D input: the Keras-style shape error, still naming the file.
  const unflat = encodeSafetensors(weights, { architecture: JSON.stringify({ inputShape: [3, 1], layers: [{ type: 'Dense', units: 2 }] }) });
  assertNablaError(() => decodeModel(unflat, ROLE), [ROLE, 'layer 0 (Dense)', 'Flatten']);
  const none = encodeSafetensors([], { architecture: JSON.stringify({ inputShape: [3], layers: [] }) });
  assertNablaError(() => decodeModel(none, ROLE), [ROLE, 'at least one layer']);
  const badInit = encodeSafetensors(weights, { architecture: JSON.stringify({ inputShape: [3], layers: [{ type: 'Dense', units: 2, init: 'zeros' }] }) });
  assertNablaError(() => decodeModel(badInit, ROLE), [ROLE, 'layer 0', 'zeros']);
});

test('weights whose shapes do not match the architecture: NablaError naming the role and the tensor', () => {
  const small = new Sequential([new Dense(2), new ReLU(), new Dense(3)], { inputShape: [4] });
  const big = new Sequential([new Dense(5), new ReLU(), new Dense(3)], { inputShape: [4] });
  const mismatched = encodeSafetensors([...big.stateDict()], { architecture: JSON.stringify(small.config()) });
  assertNablaError(() => decodeModel(mismatched, ROLE), [ROLE, '"0.weight"', '[2, 4]', '[5, 4]', 'architecture']);
  // A tensor missing, and a tensor too many.
  const missing = encodeSafetensors([...small.stateDict()].filter(([k]) => k !== '2.bias'), { architecture: JSON.stringify(small.config()) });
  assertNablaError(() => decodeModel(missing, ROLE), [ROLE, '"2.bias"']);
  const extra = encodeSafetensors([...small.stateDict(), ['4.weight', new Tensor([1])]], { architecture: JSON.stringify(small.config()) });
  assertNablaError(() => decodeModel(extra, ROLE), [ROLE, '4.weight']);
});

test('a truncated file: NablaError naming the role, whichever byte it stops at', () => {
  const { model, training } = trainedModel();
  const bytes = encodeModel(model, training);
  const headerEnd = 8 + new DataView(bytes.buffer).getUint32(0, true);
  for (const length of [0, 5, 8, 40, headerEnd - 1, headerEnd, headerEnd + 3, bytes.length - 4, bytes.length - 1]) {
    const e = assertNablaError(() => decodeModel(bytes.subarray(0, length), ROLE), [ROLE]);
    // With 8 bytes or fewer nothing says it was ever a model file; the message then states sizes.
    assert.ok(/truncated|empty|the file has/.test(e.message), `length ${length}: ${e.message}`);
  }
  // Junk that is not safetensors at all.
  assertNablaError(() => decodeModel(new TextEncoder().encode('PK\u0003\u0004 this is a zip file'), ROLE), [ROLE, 'safetensors']);
});

// ── Tasks, class and target names (issue 14) ────────────────────────────────────────────────

/** A model file with these architecture layers and this training record (weights as built). */
function fileWith(model: Sequential, training: Record<string, unknown>): Uint8Array {
  return encodeModel(model, training as TrainingInfo);
}

test('a regression model round-trips with its task, target names, regression history and test figures', () => {
  const model = new Sequential([new Dense(4), new Tanh(), new Dense(2)], { inputShape: [3], seed: 1 });
  const rng = new Rng(2);
  const count = 20;
  const x = Float32Array.from({ length: count * 3 }, () => rng.normal());
  const y = Float32Array.from({ length: count * 2 }, () => rng.normal());
  const history = model.fit({ x, y, count }, { optimizer: new SGD(model.parameters(), { lr: 0.05 }), loss: 'huber', epochs: 2, batchSize: 5, validationSplit: 0.25 });
  assert.equal(history.epochs[0].accuracy, undefined);
  const ev = model.evaluate({ x, y, count }, { loss: 'huber' });
  const training: TrainingInfo = {
    loss: 'huber', task: 'regression', targetNames: ['price', 'rent'], history,
    test: { loss: ev.loss, mae: ev.mae, rmse: ev.rmse, r2: ev.r2 },
  };
  const loaded = decodeModel(encodeModel(model, training), ROLE);
  assert.deepEqual(loaded.training, JSON.parse(JSON.stringify(training)));
  assert.equal(loaded.training.task, 'regression');
  assert.deepEqual(loaded.training.targetNames, ['price', 'rent']);
});

test('a binary classifier (1 output) records 2 class names; a 12-class one 12', () => {
  const binary = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  const loaded = decodeModel(fileWith(binary, { loss: 'bce', task: 'classification', classNames: ['benign', 'malignant'] }), ROLE);
  assert.deepEqual(loaded.training.classNames, ['benign', 'malignant']);
  const twelve = new Sequential([new Dense(12)], { inputShape: [2], seed: 1 });
  const names = Array.from({ length: 12 }, (_, i) => `class ${i}`);
  assert.deepEqual(decodeModel(fileWith(twelve, { loss: 'ce', classNames: names }), ROLE).training.classNames, names);
});

test('files from before tasks (accuracy in every epoch, no task) still load', () => {
  const { model, training } = trainedModel();
  const old = { ...training };
  delete (old as Record<string, unknown>).task;
  const loaded = decodeModel(fileWith(model, old), ROLE);
  assert.equal(loaded.training.task, undefined);
  assert.ok(loaded.training.history!.epochs.every((e) => typeof e.accuracy === 'number'));
});

test('task, class names and target names are checked: type, count against the outputs, and the task they belong to', () => {
  const model = new Sequential([new Dense(3)], { inputShape: [2], seed: 1 });
  const one = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  assertNablaError(() => decodeModel(fileWith(model, { task: 'clustering' }), ROLE), [ROLE, '"task"', '"classification", "regression"', '"clustering"']);
  assertNablaError(() => decodeModel(fileWith(model, { classNames: 'a,b,c' }), ROLE), [ROLE, '"classNames"', 'list of distinct non-empty strings', 'a string']);
  assertNablaError(() => decodeModel(fileWith(model, { classNames: ['a', 'a', 'b'] }), ROLE), ['"classNames"', 'distinct']);
  assertNablaError(() => decodeModel(fileWith(model, { classNames: ['a', 2, 'b'] }), ROLE), ['"classNames"']);
  assertNablaError(() => decodeModel(fileWith(model, { classNames: ['a', 'b'] }), ROLE), [ROLE, "model's 3 classes", '2 names']);
  assertNablaError(() => decodeModel(fileWith(one, { classNames: ['yes'] }), ROLE), ["model's 2 classes", 'single output', '1 names']);
  assertNablaError(() => decodeModel(fileWith(model, { targetNames: ['x'] }), ROLE), ["model's 3 outputs", '1 names']);
  assertNablaError(() => decodeModel(fileWith(model, { task: 'regression', classNames: ['a', 'b', 'c'] }), ROLE), ['"targetNames" for a regression model']);
  assertNablaError(() => decodeModel(fileWith(model, { task: 'classification', targetNames: ['a', 'b', 'c'] }), ROLE), ['"classNames" for a classifier']);
  assertNablaError(() => decodeModel(fileWith(model, { classNames: ['a', 'b', 'c'], targetNames: ['a', 'b', 'c'] }), ROLE), ['both']);
  assertNablaError(() => decodeModel(fileWith(model, { loss: 'hinge' }), ROLE), ['"loss"', '"mse", "ce", "huber", "bce"']);
  assertNablaError(() => decodeModel(fileWith(model, { test: { loss: 1, r2: 'high' } }), ROLE), ['"test.r2"', 'a number']);
  assertNablaError(
    () => decodeModel(fileWith(model, { history: { epochs: [{ epoch: 1, loss: 1, seconds: 1, lr: 0.1, valMae: null }] } }), ROLE),
    ['"history.epochs[0].valMae"', 'a number'],
  );
});
