// Tasks (issue 14): regression, binary classification on one output, and many classes. How the
// task is decided, what evaluate and fit report for each, and small problems that must train.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { ReLU, Sigmoid, Tanh } from '../layers/activations.ts';
import { Adam } from '../optim/adam.ts';
import { SGD } from '../optim/sgd.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import type { Samples } from '../data/batches.ts';
import { Sequential } from '../model/sequential.ts';
import { HuberLoss } from '../losses/huber.ts';
import type { EpochLog, TrainBeginInfo } from './fit.ts';
import { EarlyStopping } from './earlyStopping.ts';
import { chanceAccuracy, type TrainingWarning } from './diagnostics.ts';
import { classCount, countCorrect, evaluate, inferTask, predictedClass, resolveTask, targetClass } from './metrics.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { gaussianBlobs } from '../../../../test/blobs.ts';

/** y = 3x₁ − 2x₂ + noise (σ = 0.1), x ~ N(0, 1)². */
function linearData(count: number, seed: number, noise = 0.1): Samples {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 2);
  const y = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const a = rng.normal();
    const b = rng.normal();
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[i] = 3 * a - 2 * b + noise * rng.normal();
  }
  return { x, y, count };
}

/** Inside (1) or outside (0) the circle of radius 1.2, x uniform in [−2, 2]²: not linearly separable. */
function circleData(count: number, seed: number): Samples {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 2);
  const y = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const a = 4 * rng.uniform() - 2;
    const b = 4 * rng.uniform() - 2;
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[i] = a * a + b * b < 1.44 ? 1 : 0;
  }
  return { x, y, count };
}

test('inferTask: ce and bce classify, huber regresses, mse regresses on one output or targets that are not one-hot', () => {
  assert.equal(inferTask('ce', 10), 'classification');
  assert.equal(inferTask('bce', 1), 'classification');
  assert.equal(inferTask('huber', 3), 'regression');
  assert.equal(inferTask(new HuberLoss({ delta: 2 }), 1), 'regression');
  assert.equal(inferTask('mse', 1), 'regression');
  assert.equal(inferTask('mse', 1, Float32Array.of(0, 1, 1)), 'regression', 'one output: regression even for 0/1 targets');
  assert.equal(inferTask('mse', 2, Float32Array.of(0, 1, 1, 0)), 'classification');
  assert.equal(inferTask('mse', 2, Float32Array.of(0, 1, 0.5, 0.5)), 'regression');
  assert.equal(inferTask('mse', 2, Float32Array.of(1, 1, 0, 1)), 'regression', 'two ones in a row');
  assert.equal(inferTask('mse', 2), 'classification', 'several outputs, no targets: the notes\' network');
  // Explicit wins; impossible combinations are refused with a hint.
  assert.equal(resolveTask('classification', 'mse', 1, undefined, 'fit'), 'classification');
  assertNablaError(() => resolveTask('regression', 'ce', 3, undefined, 'fit'), ['fit', "'mse' or 'huber'", "loss 'ce'"]);
  assertNablaError(() => resolveTask(undefined, 'ce', 1, undefined, 'fit'), ['fit', '1 output', "'bce'"]);
  assertNablaError(() => resolveTask('both' as never, 'mse', 1, undefined, 'fit'), ['task one of', '"both"']);
});

test('single-output classes: the output cut at the threshold, the target at 0.5; 2 classes', () => {
  const out = Float32Array.of(-0.1, 0.2, 0.7);
  assert.deepEqual([0, 1, 2].map((r) => predictedClass(out, r, 1, 0)), [0, 1, 1]);
  assert.deepEqual([0, 1, 2].map((r) => predictedClass(out, r, 1, 0.5)), [0, 0, 1]);
  assert.deepEqual([0, 1, 2].map((r) => targetClass(Float32Array.of(0, 1, 0.6), r, 1)), [0, 1, 1]);
  assert.equal(countCorrect(out, Float32Array.of(0, 1, 1), 3, 1, 0), 3);
  assert.equal(countCorrect(out, Float32Array.of(0, 1, 1), 3, 1, 0.5), 2);
  assert.equal(classCount(1), 2);
  assert.equal(classCount(12), 12);
  // Chance accuracy of binary targets: the larger class's share (it was 1 for every 1-column target).
  assert.equal(chanceAccuracy(Float32Array.of(1, 0, 0, 0), 4, 1), 0.75);
});

test('regression: y = 3x₁ − 2x₂ + noise trains to R² > 0.95; evaluate gives loss, MAE, RMSE, R² and no accuracy', () => {
  const train = linearData(512, 1);
  const testSet = linearData(256, 2);
  const model = new Sequential([new Dense(16), new Tanh(), new Dense(1)], { inputShape: [2], seed: 3 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'mse', epochs: 40, batchSize: 32, validationSplit: 0.25 });
  const last = history.epochs[history.epochs.length - 1];
  // The history logs regression figures, not accuracies.
  assert.equal(last.accuracy, undefined);
  assert.equal(last.valAccuracy, undefined);
  for (const key of ['mae', 'rmse', 'valMae', 'valRmse', 'valR2'] as const) assert.ok(Number.isFinite(last[key]), `${key} ${last[key]}`);
  assert.ok(last.valR2! > 0.95, `val R² ${last.valR2}`);
  const ev = model.evaluate(testSet, { loss: 'mse' });
  assert.equal(ev.task, 'regression');
  if (ev.task !== 'regression') return;
  assert.ok(!('accuracy' in ev) && !('confusion' in ev));
  assert.ok(ev.r2 > 0.95, `test R² ${ev.r2}`);
  console.log(`regression: test R² ${ev.r2.toFixed(4)}, MAE ${ev.mae.toFixed(4)}, RMSE ${ev.rmse.toFixed(4)} (noise σ 0.1)`);
  // The figures from their definitions, on predict's outputs.
  const pred = model.predict(testSet.x, testSet.count);
  let abs = 0;
  let sq = 0;
  let mean = 0;
  for (let i = 0; i < testSet.count; i++) mean += testSet.y[i] / testSet.count;
  let tot = 0;
  for (let i = 0; i < testSet.count; i++) {
    const e = pred[i] - testSet.y[i];
    abs += Math.abs(e);
    sq += e * e;
    tot += (testSet.y[i] - mean) ** 2;
  }
  assert.ok(Math.abs(ev.mae - abs / testSet.count) < 1e-9);
  assert.ok(Math.abs(ev.rmse - Math.sqrt(sq / testSet.count)) < 1e-9);
  assert.ok(Math.abs(ev.r2 - (1 - sq / tot)) < 1e-9);
  // MSE's loss is the mean squared error for one output.
  assert.ok(Math.abs(ev.loss - sq / testSet.count) < 1e-6 * ev.loss);
  assert.deepEqual(ev.perTarget, [{ mae: ev.mae, rmse: ev.rmse, r2: ev.r2 }]);
});

test('regression with Huber trains too, and is the robust one: outliers move its fit less than MSE\'s', () => {
  const train = linearData(400, 4, 0.05);
  // 5% of the targets are wild.
  for (let i = 0; i < train.count; i += 20) train.y[i] += 30;
  const clean = linearData(200, 5, 0);
  const r2 = (loss: 'mse' | 'huber'): number => {
    const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
    model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 0.05 }), loss, epochs: 60, batchSize: 40 });
    return model.evaluate(clean, { loss, task: 'regression' }).r2;
  };
  const [mse, huber] = [r2('mse'), r2('huber')];
  console.log(`outliers: R² on clean data, MSE ${mse.toFixed(4)}, Huber ${huber.toFixed(4)}`);
  assert.ok(huber > 0.99, `Huber R² ${huber}`);
  assert.ok(huber > mse, `Huber ${huber} vs MSE ${mse}`);
});

test('R² per target and on average (scikit-learn\'s uniform average); a constant target gives 1 or 0', () => {
  // Identity model on 2 targets: the predictions are the inputs.
  const model = new Sequential([new Dense(2, { bias: false })], { inputShape: [2], seed: 1 });
  model.parameters()[0].value.data.set([1, 0, 0, 1]);
  const x = Float32Array.of(1, 5, 2, 5, 3, 5, 4, 5);
  // Target 0: [1, 2, 3, 5] (ȳ = 2.75, SS_tot = 8.75, SS_res = 1): R² = 1 − 1/8.75. Target 1: constant 5, predicted exactly.
  const y = Float32Array.of(1, 5, 2, 5, 3, 5, 5, 5);
  const ev = model.evaluate({ x, y, count: 4 }, { loss: 'mse', task: 'regression' });
  assert.ok(Math.abs(ev.perTarget[0].r2 - (1 - 1 / 8.75)) < 1e-12);
  assert.equal(ev.perTarget[1].r2, 1);
  assert.ok(Math.abs(ev.r2 - (1 - 1 / 8.75 + 1) / 2) < 1e-12);
  assert.equal(ev.mae, 1 / 8);
  assert.equal(ev.rmse, Math.sqrt(1 / 8));
  assert.equal(ev.perTarget[0].mae, 1 / 4);
  // Constant target, not predicted exactly: 0, as scikit-learn.
  const off = model.evaluate({ x, y: Float32Array.of(1, 4, 2, 4, 3, 4, 5, 4), count: 4 }, { loss: 'mse', task: 'regression' });
  assert.equal(off.perTarget[1].r2, 0);
});

test('binary classification: one logit with bce trains to > 90% on a circle; 2 × 2 confusion; probabilities [1 − p, p]', () => {
  const train = circleData(600, 6);
  const testSet = circleData(300, 7);
  const model = new Sequential([new Dense(16), new Tanh(), new Dense(1)], { inputShape: [2], seed: 4 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 0.02 }), loss: 'bce', epochs: 60, batchSize: 32 });
  const last = history.epochs[history.epochs.length - 1];
  assert.ok(last.accuracy! > 0.9 && last.accuracy! < 1.0001, `training accuracy ${last.accuracy}`);
  const ev = model.evaluate(testSet, { loss: 'bce' });
  console.log(`binary (bce, 1 output): test accuracy ${(100 * ev.accuracy).toFixed(2)}%, confusion ${JSON.stringify(ev.confusion)}`);
  assert.ok(ev.accuracy > 0.9, `test accuracy ${ev.accuracy}`);
  assert.equal(ev.confusion.length, 2);
  assert.ok(ev.confusion.every((row) => row.length === 2));
  assert.equal(ev.confusion.flat().reduce((s, v) => s + v, 0), testSet.count);
  // The positives are the true row 1.
  const positives = Array.from(testSet.y).filter((v) => v === 1).length;
  assert.equal(ev.confusion[1][0] + ev.confusion[1][1], positives);
  // predictProbabilities: rows [1 − σ(z), σ(z)], and its argmax is evaluate's prediction (z > 0).
  const z = model.predict(testSet.x, testSet.count);
  const p = model.predictProbabilities(testSet.x, testSet.count);
  assert.equal(p.length, testSet.count * 2);
  let agree = 0;
  for (let r = 0; r < testSet.count; r++) {
    const sigma = 1 / (1 + Math.exp(-z[r]));
    assert.ok(Math.abs(p[2 * r + 1] - sigma) < 1e-6 && Math.abs(p[2 * r] + p[2 * r + 1] - 1) < 1e-6);
    if ((p[2 * r + 1] > 0.5 ? 1 : 0) === (testSet.y[r] > 0.5 ? 1 : 0)) agree++;
  }
  assert.equal(agree / testSet.count, ev.accuracy);
});

test('binary classification with a Sigmoid output and mse: threshold 0.5 (not 0), probabilities are the output', () => {
  const model = new Sequential([new Dense(1), new Sigmoid()], { inputShape: [2], seed: 1 });
  assert.equal(model.outputKind, 'scores');
  const w = model.parameters();
  w[0].value.data.set([1, 0]);
  w[1].value.data.set([0]);
  // Outputs σ(x₁): 0.27, 0.5, 0.73 → classes 0, 0, 1 (a logit threshold of 0 would say 1 for σ = 0.27).
  const x = Float32Array.of(-1, 0, 0, 0, 1, 0);
  const ev = model.evaluate({ x, y: Float32Array.of(0, 0, 1), count: 3 }, { loss: 'mse', task: 'classification' });
  assert.equal(ev.accuracy, 1);
  assert.deepEqual(ev.confusion, [[2, 0], [0, 1]]);
  const p = model.predictProbabilities(x, 3);
  assertCloseArray(Array.from(p), [1 - sig(-1), sig(-1), 0.5, 0.5, 1 - sig(1), sig(1)]);
  // trainStep counts the same way.
  const step = model.trainStep(new Tensor([3, 2], x), new Tensor([3, 1], Float32Array.of(0, 0, 1)), 'mse', new SGD(model.parameters(), { lr: 0 }), { task: 'classification' });
  assert.equal(step.correct, 3);
});

function sig(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

function assertCloseArray(a: number[], b: number[]): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `[${i}] ${v} vs ${b[i]}`));
}

test('a 12-class problem trains with ce; its confusion matrix is 12 × 12', () => {
  const train = gaussianBlobs(1200, 8, 24, 12); // 2 input dimensions lean towards each class
  const testSet = gaussianBlobs(600, 9, 24, 12);
  const model = new Sequential([new Dense(32), new ReLU(), new Dense(12)], { inputShape: [24], seed: 5 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'ce', epochs: 15, batchSize: 32, validationSplit: 0.1 });
  assert.ok(history.epochs.every((e) => e.accuracy !== undefined && e.valAccuracy !== undefined && e.valMae === undefined));
  const ev = model.evaluate(testSet, { loss: 'ce' });
  console.log(`12 classes: test accuracy ${(100 * ev.accuracy).toFixed(2)}%`);
  assert.ok(ev.accuracy > 0.9, `accuracy ${ev.accuracy}`);
  assert.equal(ev.confusion.length, 12);
  assert.ok(ev.confusion.every((row) => row.length === 12));
  assert.equal(ev.perClass.length, 12);
  // Each class holds 50 test samples (i mod 12 over 600).
  assert.ok(ev.confusion.every((row) => row.reduce((s, v) => s + v, 0) === 50));
});

test('nothing caps the classes at 10 or 256: a 300-class model evaluates into a 300 × 300 matrix', () => {
  const k = 300;
  const count = 600;
  const rng = new Rng(3);
  const x = Float32Array.from({ length: count * 4 }, () => rng.normal());
  const y = new Float32Array(count * k);
  for (let r = 0; r < count; r++) y[r * k + ((r * 7) % k)] = 1;
  const model = new Sequential([new Dense(k)], { inputShape: [4], seed: 1 });
  const ev = model.evaluate({ x, y, count }, { loss: 'ce' });
  assert.equal(ev.confusion.length, k);
  assert.equal(ev.confusion.flat().reduce((s, v) => s + v, 0), count);
  // Class 299's row holds its samples (labels past 255 are not truncated to a byte).
  assert.equal(ev.confusion[299].reduce((s, v) => s + v, 0), Array.from({ length: count }, (_, r) => (r * 7) % k).filter((c) => c === 299).length);
  // One step of training over all 300 classes works and counts correct rows.
  const step = model.trainStep(new Tensor([count, 4], x), new Tensor([count, k], y), 'ce', new SGD(model.parameters(), { lr: 0.1 }));
  assert.ok(Number.isFinite(step.loss) && step.correct >= 0 && step.correct <= count);
});

test('trainStep on a 1-output regression model reports errors, not a 100% "accuracy"', () => {
  const data = linearData(8, 3);
  const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  const out = model.forward(new Tensor([8, 2], data.x)).data.slice();
  const step = model.trainStep(new Tensor([8, 2], data.x), new Tensor([8, 1], data.y), 'mse', new SGD(model.parameters(), { lr: 0.01 }));
  assert.equal(step.correct, 0);
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < 8; i++) {
    abs += Math.abs(out[i] - data.y[i]);
    sq += (out[i] - data.y[i]) ** 2;
  }
  assert.ok(Math.abs(step.absError! - abs) < 1e-9 && Math.abs(step.squaredError! - sq) < 1e-9);
  assert.ok(Math.abs(step.loss - sq / 8) < 1e-6 * step.loss);
});

test('fit tells callbacks the task; a regression run gives no chance-accuracy warning', () => {
  const seen: TrainBeginInfo[] = [];
  const warnings: TrainingWarning[] = [];
  const logs: EpochLog[] = [];
  const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  // lr 0: nothing is learned, which a classifier's run would be warned about.
  model.fit(linearData(64, 1), {
    optimizer: new SGD(model.parameters(), { lr: 0 }), loss: 'huber', epochs: 2,
    callbacks: [{ onTrainBegin: (i) => seen.push(i), onWarning: (w) => warnings.push(w), onEpochEnd: (l) => logs.push(l) }],
  });
  assert.equal(seen[0].task, 'regression');
  assert.deepEqual(warnings.filter((w) => w.kind === 'chance-accuracy'), []);
  assert.ok(logs.every((l) => l.accuracy === undefined && l.mae! > 0 && l.rmse! >= l.mae!));
  // An mse model on one-hot targets is still the notes' classifier.
  const clf = new Sequential([new Dense(3), new Sigmoid()], { inputShape: [4], seed: 1 });
  const info: TrainBeginInfo[] = [];
  clf.fit(gaussianBlobs(30, 1), { optimizer: new SGD(clf.parameters(), { lr: 0.1 }), loss: 'mse', epochs: 1, callbacks: [{ onTrainBegin: (i) => info.push(i) }] });
  assert.equal(info[0].task, 'classification');
});

test('EarlyStopping watches val_r2 / val_mae / val_rmse, defaults to val_loss for regression, refuses val_accuracy there', () => {
  const data = linearData(256, 11);
  for (const monitor of ['val_r2', 'val_mae', 'val_rmse', undefined] as const) {
    const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
    const stop = new EarlyStopping(model, { monitor, patience: 2 });
    const history = model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.05 }), loss: 'mse', epochs: 60, validationSplit: 0.25, callbacks: [stop] });
    assert.equal(stop.monitor, monitor ?? 'val_loss');
    // Best epoch and its value as the history says.
    const field = { val_r2: 'valR2', val_mae: 'valMae', val_rmse: 'valRmse', val_loss: 'valLoss' } as const;
    const values = history.epochs.map((e) => e[field[stop.monitor as keyof typeof field]]!);
    const best = stop.monitor === 'val_r2' ? Math.max(...values) : Math.min(...values);
    assert.equal(stop.best, best, `${stop.monitor}`);
    assert.ok(stop.best !== null);
  }
  const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  assertNablaError(
    () => model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.05 }), loss: 'mse', epochs: 2, validationSplit: 0.25, callbacks: [new EarlyStopping(model, { monitor: 'val_accuracy' })] }),
    ['EarlyStopping', 'val_accuracy', 'val_mae', 'regression'],
  );
  const clf = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  assertNablaError(
    () => clf.fit(gaussianBlobs(40, 1), { optimizer: new SGD(clf.parameters(), { lr: 0.05 }), loss: 'ce', epochs: 2, validationSplit: 0.25, callbacks: [new EarlyStopping(clf, { monitor: 'val_r2' })] }),
    ['EarlyStopping', 'val_r2', 'classification'],
  );
});

test('fit refuses ce on one output and a regression task with a classification loss, before training', () => {
  const model = new Sequential([new Dense(1)], { inputShape: [2], seed: 1 });
  assertNablaError(() => model.fit(linearData(8, 1), { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 1 }), ['fit', "'bce'"]);
  assertNablaError(() => model.fit(linearData(8, 1), { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'bce', epochs: 1, task: 'regression' }), ['fit', "'mse' or 'huber'"]);
  assertNablaError(() => evaluate(model, linearData(8, 1), { loss: 'ce' }), ['evaluation data', "'bce'"]);
});
