// Adversarial cases of issue 18 around training and the model file's training record:
//   class 1: a diverging run with batch norm must restore the running statistics with the weights;
//   class 8: an empty test set, non-finite weights, and runs that explode or end at chance must not
//            finish silently;
//   class 5: nothing from a model file's training record may become markup in `nabla report`;
//   class 6: a wrong-typed training record is refused with one line naming the file and the field.
// Every hostile file is built here, in a temp dir, from a few-hundred-sample synthetic data set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Adam, BatchNorm1D, Dense, DivergenceError, decodeCheckpoint, encodeCheckpoint, restoreCheckpoint, ReLU, SGD, Sequential, Sigmoid, Tanh, TrainingMonitor, decodeModel, decodeSafetensors, encodeModel, encodeSafetensors,
  type TrainingWarning,
} from 'nabla';
import { buildReport } from '../../packages/cli/src/report.ts';
import { loadMnist } from 'nabla/node';
import { assertNablaError } from '../assertNablaError.ts';
import { gaussianBlobs } from '../blobs.ts';
import { writeMnistFixture } from '../cliFixtures.ts';
import { assertUserError, nabla } from '../cliRunner.ts';

const BN_LAYERS = 'dense:32,bn,relu,dense:10';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-adv-train-'));
}

/** A small MNIST-shaped model with batch norm, trained a little by the library, saved as a model file. */
function savedModel(dir: string, data: string, training: Record<string, unknown> = {}): string {
  // As BN_LAYERS builds it (the same state-dict names), with the constructors every version has.
  const model = new Sequential([new Dense(32), new BatchNorm1D(), new ReLU(), new Dense(10)], { inputShape: [784], seed: 3 });
  const train = loadMnist('train', data);
  const history = model.fit(train, { optimizer: new SGD(model.parameters(), { lr: 0.05 }), loss: 'ce', epochs: 1, batchSize: 32 });
  const path = join(dir, 'm.safetensors');
  writeFileSync(path, encodeModel(model, { loss: 'ce', seed: 3, history, ...training }));
  return path;
}

/** Rewrite a model file with `patch` merged into its training record (no validation on the way). */
function withTraining(path: string, out: string, patch: (t: Record<string, unknown>) => void): string {
  const { tensors, metadata } = decodeSafetensors(readFileSync(path));
  const training = JSON.parse(metadata.training) as Record<string, unknown>;
  patch(training);
  writeFileSync(out, encodeSafetensors([...tensors], { ...metadata, training: JSON.stringify(training) }));
  return out;
}

/** Rewrite a model file with one value of one tensor replaced (metadata kept, or dropped for a bare state dict). */
function withValue(path: string, out: string, name: string, index: number, value: number, keepMetadata = true): string {
  const { tensors, metadata } = decodeSafetensors(readFileSync(path));
  const t = tensors.get(name)!;
  t.data[index] = value;
  writeFileSync(out, encodeSafetensors([...tensors], keepMetadata ? metadata : {}));
  return out;
}

// ───────────────────────────── class 1 ─────────────────────────────

test('[class 1] fit: a batch-norm model that diverges (SGD lr 1e8) keeps its finite, pre-divergence running statistics', () => {
  const data = gaussianBlobs(256, 1);
  const model = new Sequential([new Dense(16), new BatchNorm1D(), new ReLU(), new Dense(3)], { inputShape: [4], seed: 1 });
  model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 2, batchSize: 32 });
  const before = new Map([...model.stateDict()].map(([name, t]) => [name, t.data.slice()]));
  const accuracy = model.evaluate(data, { loss: 'ce' }).accuracy;
  assert.throws(
    () => model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 1e8 }), loss: 'ce', epochs: 3, batchSize: 32 }),
    DivergenceError,
  );
  for (const [name, t] of model.stateDict()) {
    assert.ok(t.data.every(Number.isFinite), `${name} finite`);
    assert.deepEqual(t.data, before.get(name), `${name} restored to the last good epoch`);
  }
  assert.equal(model.evaluate(data, { loss: 'ce' }).accuracy, accuracy);
});

test('[class 1] train --init good --optimizer sgd --lr 1e8 on a bn model: the saved "last good" model scores as the good one', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 600, test: 200, classes: 3 });
  const good = join(dir, 'good.safetensors');
  const trained = nabla('train', '--data', data, '--layers', BN_LAYERS, '--epochs', '2', '--out', good, '--no-progress', '--no-checkpoint');
  assert.equal(trained.code, 0, trained.stderr);
  const bad = join(dir, 'bad.safetensors');
  const r = nabla('train', '--data', data, '--init', good, '--optimizer', 'sgd', '--lr', '1e8', '--epochs', '2', '--out', bad, '--no-progress', '--no-checkpoint');
  assertUserError(r, 'expected a finite loss');
  assert.match(r.stderr, /saved the last good weights \(as initialised\)/);
  const goodState = decodeModel(readFileSync(good)).model.stateDict();
  for (const [name, t] of decodeModel(readFileSync(bad)).model.stateDict()) {
    if (!name.includes('running_') && !name.includes('num_batches')) continue;
    assert.ok(t.data.every(Number.isFinite), `${name} finite`);
    assert.deepEqual(t.data, goodState.get(name)!.data, `${name} as in the good model`);
  }
  const test = loadMnist('test', data);
  const score = (file: string) => decodeModel(readFileSync(file)).model.evaluate(test, { loss: 'ce' }).accuracy;
  assert.ok(score(good) > 0.5, 'the good model learned');
  assert.equal(score(bad), score(good));
});

// ───────────────────────────── class 8 ─────────────────────────────

test('[class 8] a test set of 0 samples is refused before training (train) and before evaluating (eval, report), not scored NaN%', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 300, test: 0, classes: 3 });
  const out = join(dir, 'm.safetensors');
  const r = nabla('train', '--data', data, '--epochs', '1', '--out', out, '--no-progress', '--no-checkpoint');
  assertUserError(r, 'test set', 'at least 1 sample', 'found 0 samples');
  assert.doesNotMatch(r.stdout, /NaN/);
  assert.doesNotMatch(r.stdout, /^epoch 1/m, 'refused before training');
  assert.ok(!existsSync(out), 'no model written');

  const model = savedModel(dir, writeMnistFixture({ train: 200, test: 30, classes: 3 }));
  for (const args of [['eval', model], ['report', model, '--out', join(dir, 'r.html')]]) {
    const e = nabla(...args, '--data', data);
    assertUserError(e, 'test set', 'found 0 samples');
    assert.doesNotMatch(e.stdout, /NaN/);
  }
  assert.ok(!existsSync(join(dir, 'r.html')));
});

test('[class 8] fit and evaluate refuse an empty data set (library)', () => {
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  const empty = { x: new Float32Array(0), y: new Float32Array(0), count: 0 };
  assertNablaError(() => model.evaluate(empty, { loss: 'ce' }), ['evaluation data', 'at least 1 sample', '0 samples']);
  assertNablaError(() => model.evaluate(empty, { loss: 'ce', role: 'test set "t10k"' }), ['test set "t10k"']);
  assertNablaError(() => model.fit(empty, { optimizer: new SGD(model.parameters()), loss: 'ce', epochs: 1 }), ['training data', '0 samples']);
});

test('[class 8] a model file with a NaN or Infinity weight is refused by eval, summary and predict, naming the tensor', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 200, test: 30, classes: 3 });
  const good = savedModel(dir, data);
  const nan = withValue(good, join(dir, 'nan.safetensors'), '0.weight', 17, NaN);
  const inf = withValue(good, join(dir, 'inf.safetensors'), '3.bias', 2, -Infinity);
  const png = join(dir, 'digit.png');
  writeFileSync(png, Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAG7buVgAAAABJRU5ErkJggg==', 'base64'));
  const cases: [string[], string, string][] = [
    [['eval', nan, '--data', data], '"0.weight"', 'NaN'], [['predict', nan, png, '--json'], '"0.weight"', 'NaN'],
    [['summary', inf], '"3.bias"', '-Infinity'],
  ];
  for (const [args, tensor, value] of cases) {
    const r = nabla(...args);
    assertUserError(r, 'finite weights', tensor, value);
    assert.doesNotMatch(r.stdout, /null/);
  }
  // The library says the same (serve loads through decodeModel too).
  assertNablaError(() => decodeModel(readFileSync(nan), 'model file "nan"'), ['model file "nan"', 'finite weights', '"0.weight"', 'index 17']);
});

test('[class 8] nabla import refuses a state dict holding NaN, naming the tensor, and writes nothing', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 200, test: 30, classes: 3 });
  const good = savedModel(dir, data);
  const weights = withValue(good, join(dir, 'w.safetensors'), '1.running_var', 5, NaN, false);
  const out = join(dir, 'imported.safetensors');
  // The architecture as JSON (what every version's --layers takes).
  const arch = decodeSafetensors(readFileSync(good)).metadata.architecture;
  const r = nabla('import', weights, '--layers', arch, '--out', out);
  assertUserError(r, 'finite weights', '"1.running_var"', 'NaN');
  assert.ok(!existsSync(out));
  // The same weights without the NaN import fine.
  const clean = withValue(good, join(dir, 'w2.safetensors'), '1.running_var', 5, 1, false);
  const ok = nabla('import', clean, '--layers', arch, '--out', out);
  assert.equal(ok.code, 0, ok.stderr);
});

test('[class 8] a checkpoint holding an Infinity in its running statistics is refused on resume, naming the tensor, and changes nothing (library)', () => {
  const make = () => {
    const model = new Sequential([new Dense(8), new BatchNorm1D(), new ReLU(), new Dense(3)], { inputShape: [4], seed: 5 });
    return { model, optimizer: new Adam(model.parameters(), { lr: 0.01 }) };
  };
  const first = make();
  first.model.fit(gaussianBlobs(64, 1), { optimizer: first.optimizer, loss: 'ce', epochs: 1, batchSize: 16 });
  first.model.stateDict().get('1.running_var')!.data[3] = Infinity;
  // A well-formed file (its CRC is computed over the Infinity): only the values are wrong.
  const ckpt = decodeCheckpoint(encodeCheckpoint({ model: first.model, optimizer: first.optimizer, state: first.model.trainingState() }), 'checkpoint "c"');
  const second = make();
  const before = [...second.model.stateDict().values()].map((t) => t.data.slice());
  assertNablaError(() => restoreCheckpoint(ckpt, second, 'checkpoint "c"'), ['checkpoint "c"', 'finite weights', '"1.running_var"', 'Infinity']);
  [...second.model.stateDict().values()].forEach((t, i) => assert.deepEqual(t.data, before[i]));
});

test('[class 8] TrainingMonitor: a loss far above where the run started, and an accuracy at chance, each warn once', () => {
  const m = new TrainingMonitor();
  m.onLoss(2.3);
  m.onLoss(5);
  assert.equal(m.onEpochLoss(1, 10, 2.0), undefined, 'a falling loss');
  assert.equal(m.onEpochLoss(2, 10, 22.9), undefined, 'under 10× the start');
  const w = m.onEpochLoss(3, 10, 8e30);
  assert.equal(w?.kind, 'loss-explosion');
  assert.match(w!.message, /exploded in epoch 3: 8\.00e\+30, against 2\.300/);
  assert.match(w!.message, /lower --lr/);
  assert.equal(m.onEpochLoss(4, 10, 9e30), undefined, 'once per run');
  // A validation loss that explodes alone counts too; a start near 0 is floored at 1.
  const v = new TrainingMonitor();
  v.onLoss(1e-3);
  assert.equal(v.onEpochLoss(1, 5, 0.5, 0.9), undefined, 'from 0.001 to 0.5 is not an explosion');
  assert.match(v.onEpochLoss(2, 5, 0.5, 1e6)?.message ?? '', /validation loss exploded/);

  const c = new TrainingMonitor();
  assert.equal(c.onTrainEnd({ epoch: 3, accuracy: 0.9, chance: 0.1135 }, 7), undefined);
  assert.equal(c.onTrainEnd({ epoch: 3, accuracy: 0.1, valAccuracy: 0.95, chance: 0.1135, valChance: 0.11 }, 7), undefined, 'validation judged');
  const at = c.onTrainEnd({ epoch: 3, accuracy: 0.9, valAccuracy: 0.1017, chance: 0.1, valChance: 0.1183 }, 7);
  assert.equal(at?.kind, 'chance-accuracy');
  assert.match(at!.message, /validation accuracy 10\.17% after epoch 3, against 11\.83%/);
});

test('[class 8] fit warns through onWarning when the loss explodes (Adam lr 1e9) or the run ends at chance; a sane run gets neither', () => {
  const data = gaussianBlobs(256, 2);
  const run = (lr: number, hidden: 'relu' | 'tanh' = 'relu'): TrainingWarning[] => {
    const model = new Sequential([new Dense(16), hidden === 'tanh' ? new Tanh() : new ReLU(), new Dense(3)], { inputShape: [4], seed: 1 });
    const seen: TrainingWarning[] = [];
    model.fit(data, {
      optimizer: new Adam(model.parameters(), { lr }), loss: 'ce', epochs: 3, batchSize: 32, validationSplit: 0.25,
      callbacks: [{ onWarning: (w) => seen.push(w) }],
    });
    return seen;
  };
  const kinds = (ws: TrainingWarning[]) => ws.map((w) => w.kind).filter((k) => k === 'loss-explosion' || k === 'chance-accuracy');
  assert.deepEqual(kinds(run(0.01)), []);
  assert.ok(kinds(run(1e9)).includes('loss-explosion'), 'Adam at lr 1e9');
  // MSE through saturated sigmoids (SGD lr 1e6): a steady, finite loss, at chance.
  const model = new Sequential([new Dense(16), new ReLU(), new Dense(3), new Sigmoid()], { inputShape: [4], seed: 1 });
  const seen: TrainingWarning[] = [];
  model.fit(data, {
    optimizer: new SGD(model.parameters(), { lr: 1e6 }), loss: 'mse', epochs: 3, batchSize: 32, validationSplit: 0.25,
    callbacks: [{ onWarning: (w) => seen.push(w) }],
  });
  assert.ok(kinds(seen).includes('chance-accuracy'), JSON.stringify(seen));
});

const WARNING_CASES: [string, string[], RegExp][] = [
  ['--loss mse --optimizer sgd --lr 1e6 ends at chance', ['--loss', 'mse', '--optimizer', 'sgd', '--lr', '1e6'], /warning: training ended at about chance: validation accuracy/],
  ['Adam at lr 1e9: the loss explodes', ['--lr', '1e9'], /warning: the (validation )?loss exploded in epoch 1/],
  ['--activation tanh --lr 1e4: the loss explodes', ['--activation', 'tanh', '--lr', '1e4'], /warning: the (validation )?loss exploded in epoch 1/],
];
for (const [label, flags, warning] of WARNING_CASES) {
  test(`[class 8] train: ${label}, and says so on stderr (exit 0)`, () => {
    const data = writeMnistFixture({ train: 600, test: 60, classes: 3 });
    const r = nabla('train', '--data', data, ...flags, '--epochs', '2', '--out', join(tempDir(), 'm.safetensors'), '--no-progress', '--no-checkpoint');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, warning, r.stderr);
  });
}

test('[class 8] train: a run that learns is not warned about (no false alarm)', () => {
  const data = writeMnistFixture({ train: 600, test: 60, classes: 3 });
  const ok = nabla('train', '--data', data, '--epochs', '2', '--out', join(tempDir(), 'ok.safetensors'), '--no-progress', '--no-checkpoint');
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /exploded|about chance/);
});

// ───────────────────────────── class 5 ─────────────────────────────

test('[class 5] report: values of the training record reach the page escaped, whatever their type (one escaping point)', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 200, test: 30, classes: 3 });
  const loaded = decodeModel(readFileSync(savedModel(dir, data)));
  // Bypass decodeModel's checks: buildReport must not trust what it is handed either.
  const hostile = '<script>alert(1)</script>';
  loaded.training.seed = hostile as unknown as number;
  loaded.training.history!.epochs[0].epoch = '<img src=x onerror=alert(2)>' as unknown as number;
  loaded.training.optimizer = { name: '</p><iframe src=//evil>' };
  const html = buildReport({ name: 'm<b>.safetensors', loaded, test: loadMnist('test', data), dataSource: 'x"><svg onload=alert(3)>' });
  assert.doesNotMatch(html, /<script|<img src=x|<iframe|<svg onload|<b>\./i);
  assert.ok(html.includes('seed &#60;script&#62;alert(1)&#60;/script&#62;'));
  assert.ok(html.includes('<td>&#60;img src=x onerror=alert(2)&#62;</td>'));
});

test('[class 5] nabla report on a model file whose record carries markup writes no markup of it (refused, one line)', () => {
  const dir = tempDir();
  const data = writeMnistFixture({ train: 200, test: 30, classes: 3 });
  const good = savedModel(dir, data);
  const files = [
    withTraining(good, join(dir, 'seed.safetensors'), (t) => { t.seed = '<script>alert(1)</script>'; }),
    withTraining(good, join(dir, 'epoch.safetensors'), (t) => {
      (t.history as { epochs: Record<string, unknown>[] }).epochs[0].epoch = '<img src=x onerror=alert(2)>';
    }),
  ];
  for (const file of files) {
    const out = join(dir, 'r.html');
    const r = nabla('report', file, '--data', data, '--out', out);
    if (existsSync(out)) assert.doesNotMatch(readFileSync(out, 'utf8'), /<script>alert|<img src=x/);
    assertUserError(r, 'metadata "training"');
  }
});

// ───────────────────────────── class 6 ─────────────────────────────

const RECORD_CASES: [string, (t: Record<string, unknown>) => void, string, string][] = [
  ['an epoch\'s loss a string', (t) => { (t.history as { epochs: Record<string, unknown>[] }).epochs[0].loss = 'high'; }, '"history.epochs[0].loss" to be a number', 'summary'],
  ['history.epochs a number', (t) => { t.history = { epochs: 5 }; }, '"history.epochs" to be an array', 'report'],
  ['test.loss a string', (t) => { t.test = { loss: '0.1', accuracy: 0.9 }; }, '"test.loss" to be a number', 'summary'],
  ['loss a number', (t) => { t.loss = 7; }, '"loss" to be one of "mse", "ce"', 'eval'],
  ['an epoch without seconds', (t) => { delete (t.history as { epochs: Record<string, unknown>[] }).epochs[0].seconds; }, '"history.epochs[0].seconds" to be a number', 'report'],
];
for (const [label, patch, field, command] of RECORD_CASES) {
  test(`[class 6] ${command}: a training record with ${label} is one line naming the file and the field`, () => {
    const dir = tempDir();
    const data = writeMnistFixture({ train: 100, test: 20, classes: 3 });
    const file = withTraining(savedModel(dir, data), join(dir, 'bad.safetensors'), patch);
    const args = command === 'summary' ? [file] : [file, '--data', data, ...(command === 'report' ? ['--out', join(dir, 'r.html')] : [])];
    const r = nabla(command, ...args);
    assertUserError(r, `model file "${file}"`, 'metadata "training"', field);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  });
}

test('[class 6] summary: unknown extra keys in the training record are not an error (a newer nabla may write more)', () => {
  const dir = tempDir();
  const good = savedModel(dir, writeMnistFixture({ train: 100, test: 20, classes: 3 }));
  const extra = withTraining(good, join(dir, 'extra.safetensors'), (t) => { t.futureField = { anything: [1, 'two'] }; });
  const r = nabla('summary', extra);
  assert.equal(r.code, 0, r.stderr);
});

test('[class 6] decodeModel validates the training record like a flag (library)', () => {
  const dir = tempDir();
  const good = savedModel(dir, writeMnistFixture({ train: 100, test: 10, classes: 3 }));
  const bad = withTraining(good, join(dir, 'b.safetensors'), (t) => { t.seed = 'one'; });
  assertNablaError(() => decodeModel(readFileSync(bad), 'model file "b"'), ['model file "b"', '"seed" to be an integer', '"one" (a string)']);
  const arr = withTraining(good, join(dir, 'c.safetensors'), (t) => { (t.history as { epochs: unknown[] }).epochs = [null]; });
  assertNablaError(() => decodeModel(readFileSync(arr)), ['"history.epochs[0]" to be a JSON object', 'null']);
});
