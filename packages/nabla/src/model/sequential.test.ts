// Sequential tests: summary and names, determinism, learning small synthetic problems,
// validation, evaluation, divergence handling, state dicts, callbacks, trainStep, and a gradient
// check of a whole model end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NablaError } from '../errors.ts';
import { Dense } from '../layers/dense.ts';
import { ReLU, Sigmoid, Tanh, Softmax } from '../layers/activations.ts';
import { Flatten } from '../layers/flatten.ts';
import { lossByName } from '../losses/lossByName.ts';
import { SGD } from '../optim/sgd.ts';
import { Adam } from '../optim/adam.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { gradCheck } from '../testing/gradCheck.ts';
import { assertClose } from '../testing/assertClose.ts';
import type { Samples } from '../data/batches.ts';
import { DivergenceError, type Callback } from '../train/fit.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { Sequential } from './sequential.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

/** Two Gaussian blobs in 2-D, centred at (−1, −1) (class 0) and (1, 1) (class 1), σ = 0.5. */
function blobs(count: number, seed: number): Samples {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 2);
  const y = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const c = i % 2;
    const centre = c === 0 ? -1 : 1;
    x[2 * i] = centre + 0.5 * rng.normal();
    x[2 * i + 1] = centre + 0.5 * rng.normal();
    y[2 * i + c] = 1;
  }
  return { x, y, count };
}

/** XOR: points in [−1, 1]² away from the axes; class 1 when the signs of x and y differ. */
function xor(count: number, seed: number): Samples {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 2);
  const y = new Float32Array(count * 2);
  const coord = () => {
    const v = 0.15 + 0.85 * rng.uniform();
    return rng.uniform() < 0.5 ? -v : v;
  };
  for (let i = 0; i < count; i++) {
    const a = coord();
    const b = coord();
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[2 * i + (a > 0 !== b > 0 ? 1 : 0)] = 1;
  }
  return { x, y, count };
}

function weightsOf(model: Sequential): Float32Array[] {
  return model.parameters().map((p) => p.value.data.slice());
}


test('summary lists layers, output shapes and parameter counts: 784-128-10 has 101,770', () => {
  const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784] });
  assert.equal(model.paramCount, 101_770);
  const s = model.summary();
  const lines = s.split('\n');
  const row = (prefix: string) => lines.find((l) => l.startsWith(prefix)) ?? assert.fail(`no row ${prefix} in\n${s}`);
  assert.match(row('input'), /\[N, 784\]\s+0$/);
  assert.match(row('0 Dense (784 → 128)'), /\[N, 128\]\s+100,480$/);
  assert.match(row('1 ReLU'), /\[N, 128\]\s+0$/);
  assert.match(row('2 Dense (128 → 10)'), /\[N, 10\]\s+1,290$/);
  assert.ok(s.endsWith('Total params: 101,770'), s);
  assert.match(lines[0], /^Layer\s+Output shape\s+Params$/);
});

test('summary of a model with Flatten shows the flattened shape', () => {
  const model = new Sequential([new Flatten(), new Dense(10), new Softmax()], { inputShape: [28, 28] });
  const s = model.summary();
  assert.match(s, /0 Flatten\s+\[N, 784\]\s+0/);
  assert.match(s, /input\s+\[N, 28, 28\]/);
  assert.match(s, /Total params: 7,850$/);
});

test("parameters are named as PyTorch's nn.Sequential state dict: '0.weight' [out, in], '0.bias', '2.weight'", () => {
  const model = new Sequential([new Dense(5), new ReLU(), new Dense(3, { bias: false })], { inputShape: [4] });
  assert.deepEqual(
    model.parameters().map((p) => [p.name, [...p.value.shape]]),
    [['0.weight', [5, 4]], ['0.bias', [5]], ['2.weight', [3, 5]]],
  );
  const sd = model.stateDict();
  assert.deepEqual([...sd.keys()], ['0.weight', '0.bias', '2.weight']);
  // The state dict shares the live tensors.
  assert.equal(sd.get('0.weight'), (model.layers[0] as Dense).weight.value);
});

function trainedWeights(seed: number): Float32Array[] {
  const model = new Sequential([new Dense(6), new Tanh(), new Dense(2)], { inputShape: [2], seed });
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  model.fit(blobs(50, 11), { optimizer: opt, loss: 'ce', epochs: 3, batchSize: 8 });
  return weightsOf(model);
}

test('determinism: the same seed gives bit-identical weights after fit; another seed differs', () => {
  const a = trainedWeights(7);
  const b = trainedWeights(7);
  a.forEach((w, i) => assert.deepEqual(w, b[i], `parameter ${i}`));
  const c = trainedWeights(8);
  assert.ok(a.some((w, i) => w.some((v, j) => v !== c[i][j])), 'a different seed must give different weights');
  // Initialisation alone is seeded too.
  const init = (seed: number) => weightsOf(new Sequential([new Dense(4)], { inputShape: [3], seed }));
  assert.deepEqual(init(1), init(1));
  assert.notDeepEqual(init(1), init(2));
});

test('fit learns two separable blobs (linear model, SGD, CE) to ≥ 95% training accuracy', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [2], seed: 1 });
  const data = blobs(200, 1);
  const history = model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.5 }), loss: 'ce', epochs: 10, batchSize: 16 });
  assert.equal(history.epochs.length, 10);
  const last = history.epochs[9];
  assert.ok(last.accuracy! >= 0.95, `accuracy ${last.accuracy}`);
  assert.ok(last.loss < history.epochs[0].loss, 'the loss went down');
  assert.ok(model.evaluate(data, { loss: 'ce' }).accuracy >= 0.95);
});

test('fit learns XOR with a hidden layer (Tanh, Adam, CE) to ≥ 95% training accuracy', () => {
  const model = new Sequential([new Dense(16, { init: 'xavier' }), new Tanh(), new Dense(2)], { inputShape: [2], seed: 3 });
  const data = xor(200, 2);
  const history = model.fit(data, { optimizer: new Adam(model.parameters(), { lr: 0.02 }), loss: 'ce', epochs: 60, batchSize: 20 });
  const acc = model.evaluate(data, { loss: 'ce' }).accuracy;
  assert.ok(acc >= 0.95, `XOR training accuracy ${acc}; last epoch ${JSON.stringify(history.epochs.at(-1))}`);
  // A linear model cannot do it: XOR is the classic non-separable case.
  const linear = new Sequential([new Dense(2)], { inputShape: [2], seed: 3 });
  linear.fit(data, { optimizer: new Adam(linear.parameters(), { lr: 0.02 }), loss: 'ce', epochs: 60, batchSize: 20 });
  assert.ok(linear.evaluate(data, { loss: 'ce' }).accuracy < 0.8);
});

test('fit with the quadratic cost and sigmoid outputs (the notes\' network) learns the blobs', () => {
  const model = new Sequential([new Dense(4, { init: 'xavier' }), new Sigmoid(), new Dense(2, { init: 'xavier' }), new Sigmoid()], { inputShape: [2], seed: 2 });
  const data = blobs(200, 4);
  model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 2 }), loss: 'mse', epochs: 30, batchSize: 10 });
  const acc = model.evaluate(data, { loss: 'mse', task: 'classification' }).accuracy;
  assert.ok(acc >= 0.95, `accuracy ${acc}`);
});

test('validationSplit holds out the last samples and reports valLoss / valAccuracy', () => {
  const data = blobs(100, 5);
  const model = new Sequential([new Dense(2)], { inputShape: [2], seed: 1 });
  const seenCounts: number[] = [];
  const history = model.fit(data, {
    optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 2, batchSize: 10, validationSplit: 0.2,
    callbacks: [{ onTrainBegin: (info) => seenCounts.push(info.samples, info.batches) }],
  });
  assert.deepEqual(seenCounts, [80, 8], 'trains on the first 80 samples in 8 batches');
  for (const e of history.epochs) {
    assert.equal(typeof e.valLoss, 'number');
    assert.equal(typeof e.valAccuracy, 'number');
    assert.ok(Number.isFinite(e.valLoss!));
  }
  const held: Samples = { x: data.x.subarray(80 * 2), y: data.y.subarray(80 * 2), count: 20 };
  const ev = model.evaluate(held, { loss: 'ce' });
  assert.equal(history.epochs[1].valLoss, ev.loss);
  assert.equal(history.epochs[1].valAccuracy, ev.accuracy);
  assertNablaError(
    () => model.fit(data, { optimizer: new SGD(model.parameters()), loss: 'ce', epochs: 1, validationSplit: 1 }),
    ['validationSplit', '[0, 1)', '1'],
  );
});

test('validationData is evaluated at each epoch end; without it there is no valLoss', () => {
  const train = blobs(60, 6);
  const val = blobs(30, 7);
  const model = new Sequential([new Dense(2)], { inputShape: [2], seed: 1 });
  const opt = new SGD(model.parameters(), { lr: 0.1 });
  const history = model.fit(train, { optimizer: opt, loss: 'ce', epochs: 2, batchSize: 16, validationData: val });
  const ev = model.evaluate(val, { loss: 'ce' });
  assert.equal(history.epochs[1].valLoss, ev.loss);
  assert.equal(history.epochs[1].valAccuracy, ev.accuracy);
  const plain = model.fit(train, { optimizer: opt, loss: 'ce', epochs: 1 });
  assert.equal(plain.epochs[0].valLoss, undefined);
  assert.equal(plain.epochs[0].valAccuracy, undefined);
  assert.deepEqual(Object.keys(plain.epochs[0]).sort(), ['accuracy', 'epoch', 'loss', 'lr', 'seconds']);
  assert.equal(plain.epochs[0].lr, 0.1);
});

test('evaluate: confusion[true][predicted], accuracy, per-class accuracy, loss, across batches', () => {
  // A 4-in 4-out Dense with identity weights and no bias: outputs = inputs, so each row's
  // argmax is chosen by hand. Class 3 never occurs as a label.
  const model = new Sequential([new Dense(4, { bias: false })], { inputShape: [4] });
  const eye = new Tensor([4, 4]);
  for (let i = 0; i < 4; i++) eye.set(1, i, i);
  model.loadStateDict(new Map([['0.weight', eye]]));
  const scores = [
    [5, 1, 0, 0], // label 0 → predicted 0
    [0, 3, 1, 0], // label 1 → 1
    [2, 0, 1, 0], // label 2 → 0
    [0, 1, 4, 0], // label 2 → 2
    [1, 2, 0, 0], // label 0 → 1
    [0, 0, 9, 0], // label 2 → 2
    [0, 0, 0, 7], // label 1 → 3
  ];
  const labels = [0, 1, 2, 2, 0, 2, 1];
  const y = new Float32Array(7 * 4);
  labels.forEach((c, r) => (y[r * 4 + c] = 1));
  const data: Samples = { x: Float32Array.from(scores.flat()), y, count: 7 };
  const ev = model.evaluate(data, { loss: 'ce', batchSize: 3 });
  assert.deepEqual(ev.confusion, [
    [1, 1, 0, 0],
    [0, 1, 0, 1],
    [1, 0, 2, 0],
    [0, 0, 0, 0],
  ]);
  assert.equal(ev.count, 7);
  assert.equal(ev.accuracy, 4 / 7);
  assert.deepEqual(ev.perClass.slice(0, 3), [0.5, 0.5, 2 / 3]);
  assert.ok(Number.isNaN(ev.perClass[3]));
  // Mean over the 7 rows of −log softmax(scores)[label], in float64.
  let ref = 0;
  scores.forEach((row, r) => {
    const s = row.reduce((acc, v) => acc + Math.exp(v), 0);
    ref -= Math.log(Math.exp(row[labels[r]]) / s);
  });
  ref /= 7;
  assert.ok(Math.abs(ev.loss - ref) < 1e-6, `loss ${ev.loss} vs ${ref}`);
  // The batch size does not matter.
  assert.deepEqual(model.evaluate(data, { loss: 'ce', batchSize: 256 }).confusion, ev.confusion);
});

test('DivergenceError on a huge learning rate names epoch and batch, and restores the last good epoch', () => {
  const data = blobs(160, 8);
  const model = new Sequential([new Dense(8), new ReLU(), new Dense(2)], { inputShape: [2], seed: 4 });
  const opt = new SGD(model.parameters(), { lr: 0.05 });
  let snapshot: Float32Array[] = [];
  const explode: Callback = {
    onEpochEnd: (log) => {
      if (log.epoch === 1) {
        snapshot = weightsOf(model);
        opt.lr = 1e6;
      }
    },
  };
  let caught: unknown;
  try {
    model.fit(data, { optimizer: opt, loss: 'mse', epochs: 5, batchSize: 16, callbacks: [explode] });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DivergenceError, `expected a DivergenceError, got ${String(caught)}`);
  assert.ok(caught instanceof NablaError);
  assert.equal(caught.epoch, 2);
  assert.ok(caught.batch >= 2 && caught.batch <= 10, `batch ${caught.batch}`);
  assert.ok(caught.message.includes(`epoch 2 batch ${caught.batch}`), caught.message);
  assert.ok(caught.message.includes('a finite loss'), caught.message);
  assert.ok(caught.message.includes('learning rate'), caught.message);
  assert.equal(caught.history.epochs.length, 1, 'the history of the good epochs comes with the error');
  const now = weightsOf(model);
  now.forEach((w, i) => assert.deepEqual(w, snapshot[i], `parameter ${i} restored to the end of epoch 1`));
  assert.ok(now.every((w) => w.every(Number.isFinite)));
});

test('DivergenceError in the first epoch restores the initial weights', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [2], seed: 4 });
  const initial = weightsOf(model);
  assert.throws(
    () => model.fit(blobs(64, 9), { optimizer: new SGD(model.parameters(), { lr: 1e6 }), loss: 'mse', epochs: 3, batchSize: 4 }),
    (e: unknown) => e instanceof DivergenceError && e.epoch === 1 && e.message.includes('epoch 1 batch'),
  );
  weightsOf(model).forEach((w, i) => assert.deepEqual(w, initial[i]));
});

test('DivergenceError when the last update of an epoch overflows the weights: the good epoch is kept', () => {
  // One batch per epoch: each batch's loss is measured before its update, so the update that
  // overflows float32 happens with a finite loss; those weights must not become the snapshot.
  const x = Float32Array.from({ length: 16 }, (_, i) => (i % 3) - 1);
  const y = new Float32Array(16);
  for (let r = 0; r < 8; r++) y[r * 2 + (r % 2)] = 1;
  for (const seed of [0, 1, 2]) {
    const model = new Sequential([new Dense(2)], { inputShape: [2], seed });
    let snapshot = weightsOf(model);
    let caught: unknown;
    try {
      model.fit({ x, y, count: 8 }, {
        optimizer: new SGD(model.parameters(), { lr: 1000 }), loss: 'mse', epochs: 200, batchSize: 8,
        callbacks: [{ onEpochEnd: () => (snapshot = weightsOf(model)) }],
      });
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof DivergenceError, `seed ${seed}: expected a DivergenceError, got ${String(caught)}`);
    assert.equal(caught.batch, 1);
    assert.equal(caught.history.epochs.length, caught.epoch - 1);
    const now = weightsOf(model);
    assert.ok(now.every((w) => w.every(Number.isFinite)), `seed ${seed}: restored weights must be finite`);
    now.forEach((w, i) => assert.deepEqual(w, snapshot[i]));
  }
});

test('loadStateDict: copies values; errors on a wrong shape, a missing name, an extra name', () => {
  const make = () => new Sequential([new Dense(3), new ReLU(), new Dense(2)], { inputShape: [4], seed: 1 });
  const source = new Sequential([new Dense(3), new ReLU(), new Dense(2)], { inputShape: [4], seed: 2 });
  const target = make();
  target.loadStateDict(source.stateDict());
  assert.deepEqual(weightsOf(target), weightsOf(source));
  // Copied, not aliased.
  target.parameters()[0].value.data[0] += 1;
  assert.notEqual(target.parameters()[0].value.data[0], source.parameters()[0].value.data[0]);

  const full = () => new Map([...source.stateDict()].map(([k, v]) => [k, v.clone()]));

  const wrongShape = full();
  wrongShape.set('2.weight', new Tensor([3, 2]));
  assertNablaError(() => make().loadStateDict(wrongShape, 'model file "m.safetensors"'), [
    'model file "m.safetensors"', '"2.weight"', '[2, 3]', '[3, 2]', 'architecture',
  ]);

  const missing = full();
  missing.delete('0.bias');
  assertNablaError(() => make().loadStateDict(missing), ['weights', '"0.bias"', '[3]', 'none']);

  const extra = full();
  extra.set('4.weight', new Tensor([1]));
  assertNablaError(() => make().loadStateDict(extra), ['weights', '4.weight', 'architecture']);

  // A failed load changes nothing, even when the bad tensor comes after good ones.
  const untouched = make();
  const before = weightsOf(untouched);
  assert.throws(() => untouched.loadStateDict(wrongShape));
  assert.throws(() => untouched.loadStateDict(extra));
  assert.deepEqual(weightsOf(untouched), before);
});

test('a callback setting model.stopTraining ends fit after that epoch; the next fit starts afresh', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [2], seed: 1 });
  const opt = new SGD(model.parameters(), { lr: 0.1 });
  const events: string[] = [];
  let batchEnds = 0;
  const cb: Callback = {
    onTrainBegin: (info) => events.push(`begin ${info.epochs} ${info.batches} ${info.samples}`),
    onEpochBegin: (epoch) => events.push(`epoch ${epoch}`),
    onBatchEnd: (log) => {
      batchEnds++;
      assert.equal(log.batches, 3);
      assert.ok(Number.isFinite(log.loss));
    },
    onEpochEnd: (log) => {
      events.push(`end ${log.epoch}`);
      if (log.epoch === 2) model.stopTraining = true;
    },
  };
  const history = model.fit(blobs(40, 3), { optimizer: opt, loss: 'ce', epochs: 10, batchSize: 16, callbacks: [cb] });
  assert.equal(history.epochs.length, 2);
  assert.deepEqual(events, ['begin 10 3 40', 'epoch 1', 'end 1', 'epoch 2', 'end 2']);
  assert.equal(batchEnds, 6);
  const again = model.fit(blobs(40, 3), { optimizer: opt, loss: 'ce', epochs: 3, batchSize: 16 });
  assert.equal(again.epochs.length, 3, 'stopTraining is reset by fit');
});

test('trainStep returns the batch loss (before the update) and the correct count, and updates', () => {
  // The JS backend: the expected update below is its arithmetic (w − lr·g in float64, rounded once).
  const model = new Sequential([new Dense(5), new Tanh(), new Dense(3)], { inputShape: [4], seed: 2, backend: new JsBackend() });
  const rng = new Rng(10);
  const n = 6;
  const x = new Tensor([n, 4], Float32Array.from({ length: n * 4 }, () => rng.normal()));
  const y = new Tensor([n, 3]);
  for (let r = 0; r < n; r++) y.data[r * 3 + (r % 3)] = 1;
  // Expected, from a forward pass before the step.
  const out = model.forward(x).data.slice();
  const loss = lossByName('ce');
  const expectedLoss = loss.compute(model.backend, new Float32Array(n * 3), out, y.data, n, 3);
  let expectedCorrect = 0;
  for (let r = 0; r < n; r++) {
    const row = Array.from(out.subarray(r * 3, r * 3 + 3));
    if (row.indexOf(Math.max(...row)) === r % 3) expectedCorrect++;
  }
  const before = weightsOf(model);
  const opt = new SGD(model.parameters(), { lr: 0.1 });
  // Stale gradients must not leak in: trainStep zeroes them first.
  for (const p of model.parameters()) p.grad.data.fill(100);
  const step = model.trainStep(x, y, 'ce', opt);
  assert.equal(step.loss, expectedLoss);
  assert.equal(step.correct, expectedCorrect);
  // The update used exactly this batch's gradients: w − 0.1·grad.
  model.parameters().forEach((p, i) => {
    assert.deepEqual(Array.from(p.value.data), Array.from(before[i].map((w, j) => Math.fround(w - 0.1 * p.grad.data[j]))));
  });
  // A second step on the same batch lowers the loss.
  assert.ok(model.trainStep(x, y, loss, opt).loss < step.loss);
});

test('the whole model passes a gradient check end to end: every parameter, f = mean loss', () => {
  const cases: { layers: () => ConstructorParameters<typeof Sequential>[0]; loss: 'ce' | 'mse' }[] = [
    { layers: () => [new Dense(5, { init: 'xavier' }), new Tanh(), new Dense(3)], loss: 'ce' },
    { layers: () => [new Dense(4, { init: 'xavier' }), new Sigmoid(), new Dense(2), new Sigmoid()], loss: 'mse' },
    { layers: () => [new Flatten(), new Dense(3, { bias: false }), new Tanh(), new Dense(3), new Softmax()], loss: 'mse' },
  ];
  for (const [ci, c] of cases.entries()) {
    const model = new Sequential(c.layers(), { inputShape: ci === 2 ? [2, 3] : [6], seed: 5 });
    const rng = new Rng(20 + ci);
    const n = 4;
    const features = model.inputShape.reduce((a, b) => a * b, 1);
    const k = model.outputShape[0];
    const x = new Tensor([n, ...model.inputShape], Float32Array.from({ length: n * features }, () => rng.normal()));
    const y = new Tensor([n, k]);
    for (let r = 0; r < n; r++) y.data[r * k + ((r * 5) % k)] = 1;
    const loss = lossByName(c.loss);
    const dy = new Tensor([n, k]);
    model.zeroGrad();
    const out = model.forward(x, true);
    loss.compute(model.backend, dy.data, out.data, y.data, n, k);
    model.backward(dy);
    const scratch = new Float32Array(n * k);
    const f = () => loss.compute(model.backend, scratch, model.forward(x, true).data, y.data, n, k);
    for (const p of model.parameters()) {
      const r = gradCheck(f, p.value.data, p.grad.data.slice(), { h: 1e-2, rtol: 1e-2, atol: 1e-4 });
      assert.ok(r.ok, `case ${ci} (${c.loss}) ${p.name}: ${r.message}`);
    }
  }
});

test('predict returns (count × K) in batches; predictProbabilities gives rows summing to 1', () => {
  const model = new Sequential([new Dense(4), new ReLU(), new Dense(3)], { inputShape: [2], seed: 1 });
  const data = blobs(10, 1);
  const all = model.predict(data.x, 10);
  const batched = model.predict(data.x, 10, 3);
  assert.equal(all.length, 30);
  assert.deepEqual(batched, all);
  const probs = model.predictProbabilities(data.x, 10);
  for (let r = 0; r < 10; r++) {
    const row = Array.from(probs.subarray(r * 3, r * 3 + 3));
    assertClose([row.reduce((a, b) => a + b, 0)], [1], { rtol: 1e-6 });
    assert.equal(row.indexOf(Math.max(...row)), Array.from(all.subarray(r * 3, r * 3 + 3)).indexOf(Math.max(...all.subarray(r * 3, r * 3 + 3))));
  }
  assertNablaError(() => model.predict(data.x, 11), ['predict', '11 × 2', '20']);
});

test('outputKind names what the last layer outputs; a single-output model\'s probabilities are [1 − σ(z), σ(z)]', () => {
  assert.equal(new Sequential([new Dense(2)], { inputShape: [2] }).outputKind, 'logits');
  assert.equal(new Sequential([new Dense(2), new Softmax()], { inputShape: [2] }).outputKind, 'probabilities');
  assert.equal(new Sequential([new Dense(2), new Sigmoid()], { inputShape: [2] }).outputKind, 'scores');
  assert.equal(new Sequential([new Dense(2), new Tanh()], { inputShape: [2] }).outputKind, 'activations');
  const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 3 });
  const x = Float32Array.of(1, 2, -3, 0.5, 40, 40, -40, -40);
  const z = model.predict(x, 4);
  const p = model.predictProbabilities(x, 4);
  assert.equal(p.length, 8);
  for (let r = 0; r < 4; r++) {
    const s = 1 / (1 + Math.exp(-z[r]));
    assert.ok(Math.abs(p[2 * r + 1] - s) < 1e-6 && Math.abs(p[2 * r] - (1 - s)) < 1e-6, `row ${r}: z ${z[r]}`);
    assert.ok(Number.isFinite(p[2 * r]) && Number.isFinite(p[2 * r + 1]));
  }
});

test('predictProbabilities normalises a Sigmoid output (the notes\' MSE network) to rows summing to 1', () => {
  const model = new Sequential([new Dense(3), new Sigmoid()], { inputShape: [2], seed: 2 });
  const data = blobs(6, 1);
  const raw = model.predict(data.x, 6);
  const probs = model.predictProbabilities(data.x, 6);
  for (let r = 0; r < 6; r++) {
    const row = raw.subarray(r * 3, r * 3 + 3);
    const sum = row[0] + row[1] + row[2];
    assertClose(probs.subarray(r * 3, r * 3 + 3), Array.from(row, (v) => v / sum), { rtol: 1e-6 });
  }
});

test('fit and forward reject data that does not fit the model, with the role named', () => {
  const model = new Sequential([new Dense(2)], { inputShape: [3] });
  const opt = new SGD(model.parameters());
  assertNablaError(
    () => model.fit(blobs(10, 1), { optimizer: opt, loss: 'ce', epochs: 1 }),
    ['training data', '3 features', 'input/output shape'],
  );
  assertNablaError(() => model.fit(blobs(10, 1), { optimizer: opt, loss: 'ce', epochs: 1.5 }), ['epochs', '1.5']);
  assertNablaError(() => model.fit(blobs(10, 1), { optimizer: opt, loss: 'ce', epochs: 1, batchSize: 0 }), ['batchSize', '0']);
  assertNablaError(() => model.forward(new Tensor([2, 4])), ['model input', '[N, 3]', '[2, 4]']);
  assertNablaError(() => new Sequential([], { inputShape: [3] }), ['at least one layer']);
  assert.deepEqual(model.fit({ x: new Float32Array(6), y: new Float32Array(4), count: 2 }, { optimizer: opt, loss: 'ce', epochs: 0 }).epochs, []);
});

test('a missing or malformed inputShape is a NablaError with an example, not a TypeError', () => {
  // Dense(3) cannot know its number of inputs: the shape must be given.
  const noOptions = assertNablaError(() => new Sequential([new Dense(3)], undefined as never), ['Sequential', 'options.inputShape', 'none']);
  assert.match(noOptions.hint ?? '', /inputShape: \[784\]/);
  assertNablaError(() => new Sequential([new Dense(3)], {} as never), ['options.inputShape', 'none']);
  assertNablaError(() => new Sequential([new Dense(3)], { inputShape: 784 } as never), ['options.inputShape', '784']);
  assertNablaError(() => new Sequential([new Dense(3)], { inputShape: [0] }), ['options.inputShape', '[0]']);
  assertNablaError(() => new Sequential([new Dense(3)], { inputShape: [2.5] }), ['options.inputShape', '[2.5]']);
  assert.deepEqual(new Sequential([new Dense(3)], { inputShape: [4] }).outputShape, [3]);
});

test('config round trip: fromConfig(config()) rebuilds the same architecture', () => {
  const model = new Sequential([new Flatten(), new Dense(5, { init: 'xavier' }), new Sigmoid(), new Dense(3, { bias: false })], { inputShape: [2, 2] });
  const config = model.config();
  assert.deepEqual(config, {
    inputShape: [2, 2],
    layers: [
      { type: 'Flatten' },
      { type: 'Dense', units: 5, bias: true, init: 'xavier' },
      { type: 'Sigmoid' },
      { type: 'Dense', units: 3, bias: false, init: 'he' },
    ],
  });
  const rebuilt = Sequential.fromConfig(JSON.parse(JSON.stringify(config)));
  assert.deepEqual(rebuilt.config(), config);
  assert.equal(rebuilt.paramCount, model.paramCount);
});
