// Checkpoints in the library: a run stopped at an epoch end or mid-epoch and resumed from a
// decoded checkpoint ends bit-identical to an uninterrupted run (Adam and SGD with momentum, with
// early stopping state); damaged and mismatched checkpoints are refused, changing nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { ReLU, Tanh } from '../layers/activations.ts';
import { Dropout } from '../layers/dropout.ts';
import { BatchNorm1D } from '../layers/batchNorm.ts';
import { Adam } from '../optim/adam.ts';
import { SGD } from '../optim/sgd.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Sequential } from '../model/sequential.ts';
import { Rng } from '../random.ts';
import type { Callback } from './fit.ts';
import { EarlyStopping } from './earlyStopping.ts';
import { decodeCheckpoint, encodeCheckpoint, restoreCheckpoint } from './checkpoint.ts';
import { cosineDecay } from './schedules.ts';
import { encodeModel } from '../io/modelFile.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { gaussianBlobs } from '../../../../test/blobs.ts';

const train = gaussianBlobs(90, 3);
const val = gaussianBlobs(30, 4);
type Kind = 'adam' | 'sgd';

function setup(kind: Kind, hidden = 6) {
  const model = new Sequential([new Dense(hidden), new ReLU(), new Dense(3)], { inputShape: [4], seed: 7 });
  const optimizer: Optimizer = kind === 'adam' ? new Adam(model.parameters(), { lr: 0.01 }) : new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const earlyStopping = new EarlyStopping(model, { patience: 50 });
  return { model, optimizer, earlyStopping };
}

/** fit with a cosine schedule and early stopping; `extra` may stop it. */
function run(s: ReturnType<typeof setup>, resume?: ReturnType<typeof restoreCheckpoint>, extra: Callback[] = []) {
  return s.model.fit(train, {
    optimizer: s.optimizer, loss: 'ce', epochs: 5, batchSize: 8, validationData: val, resume,
    callbacks: [cosineDecay(s.optimizer), s.earlyStopping, ...extra],
  });
}

const weights = (m: Sequential) => m.parameters().map((p) => Array.from(p.value.data));

for (const kind of ['adam', 'sgd'] as const) {
  for (const where of ['epoch end', 'mid-epoch'] as const) {
    test(`${kind}: stopped at ${where}, checkpointed, decoded and resumed = uninterrupted, bit for bit`, () => {
      const straight = setup(kind);
      const hStraight = run(straight);

      const first = setup(kind);
      // Stop after epoch 2, or at batch 5 of epoch 3.
      const stop: Callback = where === 'epoch end'
        ? { onEpochEnd: (log) => void (log.epoch === 2 && (first.model.stopAfterBatch = true)) }
        : { onBatchEnd: (log) => void (log.epoch === 3 && log.batch === 5 && (first.model.stopAfterBatch = true)) };
      run(first, undefined, [stop]);
      const state = first.model.trainingState();
      assert.deepEqual([state.epoch, state.batch], where === 'epoch end' ? [2, 0] : [2, 5]);
      const bytes = encodeCheckpoint({ model: first.model, optimizer: first.optimizer, state, earlyStopping: first.earlyStopping, options: { note: 'x' } });

      const ckpt = decodeCheckpoint(bytes, 'checkpoint "c"');
      assert.deepEqual(ckpt.options, { note: 'x' });
      const second = setup(kind);
      const resume = restoreCheckpoint(ckpt, second);
      const hResumed = run(second, resume);
      assert.deepEqual(weights(second.model), weights(straight.model));
      assert.deepEqual(hResumed.epochs.map((e) => [e.epoch, e.loss, e.accuracy, e.valLoss, e.lr]), hStraight.epochs.map((e) => [e.epoch, e.loss, e.accuracy, e.valLoss, e.lr]));
      assert.deepEqual(second.earlyStopping.getState(), straight.earlyStopping.getState());
    });
  }
}

test('with Dropout (masks drawn from the model Rng every batch) and BatchNorm (running statistics): a mid-epoch resume is still bit-identical', () => {
  const make = () => {
    const model = new Sequential([new Dense(8), new BatchNorm1D(), new ReLU(), new Dropout(0.3), new Dense(3)], { inputShape: [4], seed: 9 });
    const optimizer = new Adam(model.parameters(), { lr: 0.01 });
    return { model, optimizer, earlyStopping: new EarlyStopping(model, { patience: 50 }) };
  };
  const state = (m: Sequential) => [...m.stateDict()].map(([k, t]) => [k, Array.from(t.data)]);
  const straight = make();
  run(straight);
  const first = make();
  run(first, undefined, [{ onBatchEnd: (log) => void (log.epoch === 2 && log.batch === 7 && (first.model.stopAfterBatch = true)) }]);
  const bytes = encodeCheckpoint({ model: first.model, optimizer: first.optimizer, state: first.model.trainingState(), earlyStopping: first.earlyStopping });
  const ckpt = decodeCheckpoint(bytes);
  assert.ok([...ckpt.tensors.keys()].some((k) => k.endsWith('running_mean')), 'batch-norm buffers are in the checkpoint');
  const second = make();
  run(second, restoreCheckpoint(ckpt, second));
  assert.deepEqual(state(second.model), state(straight.model));
});

test('a damaged, foreign or mismatched checkpoint is refused before anything changes', () => {
  const s = setup('adam');
  run(s);
  const bytes = encodeCheckpoint({ model: s.model, optimizer: s.optimizer, state: s.model.trainingState(), earlyStopping: s.earlyStopping });
  const flipped = bytes.slice();
  flipped[flipped.length - 7] ^= 1;
  assertNablaError(() => decodeCheckpoint(flipped, 'checkpoint "c.ckpt"'), ['checkpoint "c.ckpt"', 'CRC-32', 'damaged', 'hint']);
  assertNablaError(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 10), 'checkpoint "c.ckpt"'), ['checkpoint "c.ckpt"']);
  assertNablaError(() => decodeCheckpoint(bytes.subarray(0, 5), 'checkpoint "c.ckpt"'), ['checkpoint "c.ckpt"']);
  assertNablaError(() => decodeCheckpoint(encodeModel(s.model), 'checkpoint "m.safetensors"'), ['a nabla checkpoint', 'this is a model file', '--init']);

  const ckpt = decodeCheckpoint(bytes, 'checkpoint "c.ckpt"');
  const wider = setup('adam', 8);
  const before = weights(wider.model);
  assertNablaError(() => restoreCheckpoint(ckpt, wider, 'checkpoint "c.ckpt"'), ['checkpoint "c.ckpt"', 'Dense 8', 'Dense 6', 'another network']);
  const sgd = setup('sgd');
  assertNablaError(() => restoreCheckpoint(ckpt, sgd, 'checkpoint "c.ckpt"'), ['optimiser SGD', 'found Adam']);
  const tanh = new Sequential([new Dense(6), new Tanh(), new Dense(3)], { inputShape: [4], seed: 7 });
  assertNablaError(() => restoreCheckpoint(ckpt, { model: tanh, optimizer: new Adam(tanh.parameters()) }), ['Tanh', 'ReLU']);
  const same = setup('adam');
  assertNablaError(() => restoreCheckpoint(ckpt, { model: same.model, optimizer: same.optimizer }), ['a run without early stopping', 'found early-stopping state']);
  assert.deepEqual(weights(wider.model), before, 'a refused checkpoint changes nothing');
});

test('a regression run (huber, early stopping on val_r2) stopped mid-epoch and resumed = uninterrupted, metrics included', () => {
  const rng = new Rng(5);
  const count = 96;
  const x = Float32Array.from({ length: count * 2 }, () => rng.normal());
  const y = Float32Array.from({ length: count }, (_, i) => 3 * x[2 * i] - 2 * x[2 * i + 1] + 0.1 * rng.normal());
  const data = { x, y, count };
  const make = () => {
    const model = new Sequential([new Dense(6), new Tanh(), new Dense(1)], { inputShape: [2], seed: 3 });
    const optimizer = new Adam(model.parameters(), { lr: 0.01 });
    return { model, optimizer, earlyStopping: new EarlyStopping(model, { monitor: 'val_r2', patience: 50 }) };
  };
  const go = (s: ReturnType<typeof make>, resume?: ReturnType<typeof restoreCheckpoint>, extra: Callback[] = []) =>
    s.model.fit(data, { optimizer: s.optimizer, loss: 'huber', epochs: 4, batchSize: 8, validationSplit: 0.25, resume, callbacks: [s.earlyStopping, ...extra] });
  const straight = make();
  const hStraight = go(straight);
  const first = make();
  go(first, undefined, [{ onBatchEnd: (log) => void (log.epoch === 2 && log.batch === 4 && (first.model.stopAfterBatch = true)) }]);
  const ckpt = decodeCheckpoint(encodeCheckpoint({ model: first.model, optimizer: first.optimizer, state: first.model.trainingState(), earlyStopping: first.earlyStopping }));
  const second = make();
  const hResumed = go(second, restoreCheckpoint(ckpt, second));
  const figures = (h: typeof hStraight) => h.epochs.map((e) => [e.epoch, e.loss, e.mae, e.rmse, e.valMae, e.valRmse, e.valR2, e.accuracy]);
  assert.deepEqual(figures(hResumed), figures(hStraight));
  assert.ok(hStraight.epochs.every((e) => e.mae !== undefined && e.valR2 !== undefined && e.accuracy === undefined));
  assert.deepEqual(weights(second.model), weights(straight.model));
  assert.deepEqual(second.earlyStopping.getState(), straight.earlyStopping.getState());
});
