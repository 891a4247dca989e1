// End-to-end tests of the nabla command on tiny synthetic IDX data: the happy paths, and every
// kind of bad input getting a one-line error, a non-zero exit and no partial file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { Dense, ReLU, Sequential, decodeSafetensors, encodeIdx, encodeModel, encodeSafetensors, Tensor } from 'nabla';
import { syntheticImages, writeMnistFixture } from '../../../test/cliFixtures.ts';
import { BIN, assertUserError, nabla } from '../../../test/cliRunner.ts';




function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-cli-'));
}

const small = ['--hidden', '16', '--epochs', '2', '--batch-size', '16', '--val', '30', '--no-progress'];

test('train → summary → eval → predict on synthetic data, with --json output', () => {
  const data = writeMnistFixture();
  const out = join(tmp(), 'm.safetensors');
  const r = nabla('train', '--data', data, ...small, '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ['epoch', 'epoch', 'result']);
  for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'seconds']) assert.equal(typeof lines[0][key], 'number', key);
  assert.ok(lines[2].test_accuracy > 0.9, `learns the synthetic bars: ${lines[2].test_accuracy}`);

  const s = nabla('summary', out);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /0 Dense \(784 → 16\)/);
  assert.match(s.stdout, /Total params: 12,730/);
  // A reader that quits before reading (`| head`, here `| true`) is not an error: exit 0, no EPIPE trace.
  const piped = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" summary "${out}" | true`], { encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.doesNotMatch(piped.stderr, /EPIPE/);

  const e = nabla('eval', out, '--data', data, '--json');
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.equal(ev.samples, 90);
  assert.equal(ev.confusion.length, 10);
  assert.equal(ev.accuracy, lines[2].test_accuracy);

  // A PNG of class 1's bar, drawn black on white at 5× size: predict must undo both.
  const { images } = syntheticImages(3, 3, 7);
  const png = new PNG({ width: 140, height: 140 });
  for (let y = 0; y < 140; y++) for (let x = 0; x < 140; x++) {
    const v = 255 - images[784 + Math.floor(y / 5) * 28 + Math.floor(x / 5)];
    png.data.set([v, v, v, 255], (y * 140 + x) * 4);
  }
  const pngPath = join(tmp(), 'one.png');
  writeFileSync(pngPath, PNG.sync.write(png));
  const p = nabla('predict', out, pngPath, '--json');
  assert.equal(p.code, 0, p.stderr);
  const pred = JSON.parse(p.stdout);
  assert.equal(pred.probabilities.length, 10);
  assert.ok(Math.abs(pred.probabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-4);
});

test('summary prints only what a model file records: no "{}" or "undefined" for a missing optimiser or seed', () => {
  const dir = tmp();
  const model = new Sequential([new Dense(4), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
  const summaryOf = (name: string, training: Parameters<typeof encodeModel>[1]): string => {
    const path = join(dir, name);
    writeFileSync(path, encodeModel(model, training));
    const r = nabla('summary', path);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /\{\}|undefined|NaN|null/, r.stdout);
    return r.stdout;
  };
  // What the playground wrote before it recorded its optimiser and seed.
  const page = summaryOf('page.safetensors', { loss: 'ce', dataset: 'MNIST (trained in the nabla playground)', steps: 120 });
  assert.match(page, /^loss ce$/m);
  assert.match(page, /^trained on MNIST \(trained in the nabla playground\): 120 steps$/m);
  assert.doesNotMatch(page, /optimiser|seed/);
  // Nothing recorded at all: the table and nothing else.
  const bare = summaryOf('bare.safetensors', {});
  assert.equal(summaryOf('empty.safetensors', { optimizer: {} }), bare);
  assert.match(bare, /Total params: 3,190\n$/);
  // An optimiser without a loss, and a seed: each said once, readably.
  const some = summaryOf('some.safetensors', { optimizer: { name: 'adam', lr: 0.002, weightDecay: undefined }, seed: 7, batchSize: 64 });
  assert.match(some, /^optimiser adam \(lr 0\.002\); batch 64; seed 7$/m);
  // train records momentum and nesterov for every optimiser: said only for SGD, which has them.
  const settings = { lr: 0.01, momentum: 0, nesterov: false, schedule: 'cosine' };
  assert.match(summaryOf('adam.safetensors', { optimizer: { name: 'adam', ...settings } }), /^optimiser adam \(lr 0\.01, schedule cosine\)$/m);
  assert.match(summaryOf('sgd.safetensors', { optimizer: { name: 'sgd', ...settings } }), /^optimiser sgd \(lr 0\.01, momentum 0, nesterov false, schedule cosine\)$/m);
  // History without a dataset: no "unknown data"; one epoch is "1 epoch".
  const hist = summaryOf('hist.safetensors', { history: { epochs: [{ epoch: 1, loss: 0.5, accuracy: 0.8, seconds: 1.5, lr: 0.01 }] } });
  assert.match(hist, /^trained 1 epoch:$/m);
});

test('eval, predict and serve refuse a model whose output is not one score per class (a 1-output regression model), instead of "accuracy 100%"', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const regression = join(dir, 'reg.safetensors');
  writeFileSync(regression, encodeModel(new Sequential([new Dense(4), new ReLU(), new Dense(1)], { inputShape: [784], seed: 1 }), { loss: 'mse' }));
  assertUserError(nabla('eval', regression, '--data', data), 'model file "' + regression + '"', 'one output per class', '1 output per sample', 'regression');
  assertUserError(nabla('eval', regression, '--data', data, '--json'), '1 output per sample');
  const png = new PNG({ width: 28, height: 28 });
  const pngPath = join(dir, 'blank.png');
  writeFileSync(pngPath, PNG.sync.write(png));
  assertUserError(nabla('predict', regression, pngPath), 'model file "' + regression + '"', '1 output per sample');
  assertUserError(nabla('serve', regression, '--port', '0'), 'model file "' + regression + '"', '1 output per sample');
  // Class scores, but not as many as the data has classes (the fixture's labels go up to 10 classes).
  const three = join(dir, 'three.safetensors');
  writeFileSync(three, encodeModel(new Sequential([new Dense(3)], { inputShape: [784] }), { loss: 'ce' }));
  assertUserError(nabla('eval', three, '--data', data), 'model file "' + three + '"', '10 outputs', '3 outputs');
});

test('gzipped IDX files are read when named .gz; the same seed gives the same weights', () => {
  const data = writeMnistFixture({ gzip: true });
  const dir = tmp();
  const a = nabla('train', '--data', data, ...small, '--out', join(dir, 'a.safetensors'));
  const b = nabla('train', '--data', data, ...small, '--out', join(dir, 'b.safetensors'));
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stdout, /test accuracy/);
  const ta = decodeSafetensors(readFileSync(join(dir, 'a.safetensors'))).tensors;
  const tb = decodeSafetensors(readFileSync(join(dir, 'b.safetensors'))).tensors;
  for (const [name, t] of ta) assert.deepEqual(tb.get(name)!.data, t.data, name);
});

test('--epochs 0 saves the initialised model untouched; --init continues from it', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const init = join(dir, 'init.safetensors');
  assert.equal(nabla('train', '--data', data, '--hidden', '16', '--epochs', '0', '--out', init).code, 0);
  const w0 = decodeSafetensors(readFileSync(init)).tensors;
  assert.deepEqual([...w0.keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
  assert.deepEqual(w0.get('0.weight')!.shape, [16, 784]);
  assert.ok(w0.get('0.bias')!.data.every((v) => v === 0));

  const cont = join(dir, 'cont.safetensors');
  const r = nabla('train', '--data', data, '--init', init, '--epochs', '1', '--batch-size', '16', '--val', '0', '--out', cont, '--json');
  assert.equal(r.code, 0, r.stderr);
  const w1 = decodeSafetensors(readFileSync(cont)).tensors;
  assert.notDeepEqual(w1.get('0.weight')!.data, w0.get('0.weight')!.data);

  assertUserError(nabla('train', '--data', data, '--init', init, '--hidden', '32'), '--hidden', '--init');
});

test('--limit and --no-shuffle are honoured; progress goes to stderr as plain lines', () => {
  const data = writeMnistFixture();
  const r = nabla('train', '--data', data, '--hidden', '8', '--epochs', '1', '--batch-size', '8', '--limit', '100', '--val', '20', '--no-shuffle', '--out', join(tmp(), 'm.safetensors'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /training on 80 samples, validating on 20/);
  // Not a terminal: progress is plain lines on stderr, never on stdout.
  assert.match(r.stderr, /^epoch 1\/1: \d+% \(batch \d+\/\d+, loss [\d.]+\)$/m);
  assert.doesNotMatch(r.stdout, /% \(batch/);
});

test('--limit over the data size warns (naming --limit, the request and the size) and uses all the samples', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const out = join(dir, 'm.safetensors');
  const r = nabla('train', '--data', data, '--hidden', '8', '--epochs', '1', '--batch-size', '32', '--limit', '100000', '--no-progress', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^nabla: warning: --limit 100000 is more than the 300 training samples in MNIST-format IDX files in .*; using all 300$/m);
  assert.match(r.stdout, /training on 270 samples, validating on 30/);
  const e = nabla('eval', out, '--data', data, '--limit', '5000', '--json');
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /^nabla: warning: --limit 5000 is more than the 90 test samples in .*; using all 90$/m);
  assert.equal(JSON.parse(e.stdout).samples, 90);
  // Within the data: no warning.
  const within = nabla('eval', out, '--data', data, '--limit', '90', '--json');
  assert.equal(within.code, 0, within.stderr);
  assert.equal(within.stderr, '');
});

test('bad flags: unknown, out of range, inconsistent', () => {
  assertUserError(nabla('train', '--bogus'), "unknown option '--bogus'");
  assertUserError(nabla('train', '--batch-size', '0'), '--batch-size', 'expected an integer');
  assertUserError(nabla('train', '--lr', '-1'), '--lr');
  assertUserError(nabla('train', '--activation', 'swish'), '--activation', 'relu');
  assertUserError(nabla('train', '--hidden', '12,x'), '--hidden');
  const data = writeMnistFixture();
  assertUserError(nabla('train', '--data', data, '--val', '300'), '--val', '300');
  assertUserError(nabla('train', '--data', data, '--nesterov'), '--nesterov', '--momentum');
  assertUserError(nabla('train', '--data', data, '--loss', 'ce', '--output', 'sigmoid'), '--output');
  assert.equal(nabla('train', '--help').code, 0);
  for (const cmd of ['eval', 'predict', 'summary']) assert.match(nabla(cmd, '--help').stdout, /Usage: nabla/);
});

/** Copy a good fixture, then damage one file. */
function damaged(file: string, mutate: (bytes: Uint8Array) => Uint8Array | Buffer, rename?: string): { dir: string; path: string } {
  const src = writeMnistFixture();
  const dir = tmp();
  for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f));
  const path = join(dir, file);
  const bytes = mutate(new Uint8Array(readFileSync(path)));
  writeFileSync(rename ? join(dir, rename) : path, bytes);
  if (rename) writeFileSync(path, ''), spawnSync('rm', [path]);
  return { dir, path: rename ? join(dir, rename) : path };
}

test('bad IDX data: truncated, wrong magic, gzip mix-ups, count mismatch, labels out of range', () => {
  const out = () => join(tmp(), 'm.safetensors');
  const cases: [ReturnType<typeof damaged>, string[]][] = [
    [damaged('train-images-idx3-ubyte', (b) => b.subarray(0, 5000)), ['train-images-idx3-ubyte', 'truncated']],
    [damaged('t10k-labels-idx1-ubyte', (b) => Uint8Array.from([0x12, 0x34, ...b.subarray(2)])), ['t10k-labels-idx1-ubyte']],
    [damaged('train-labels-idx1-ubyte', (b) => gzipSync(b)), ['train-labels-idx1-ubyte', 'gzip']],
    [damaged('train-labels-idx1-ubyte', (b) => b, 'train-labels-idx1-ubyte.gz'), ['train-labels-idx1-ubyte.gz', '.gz']],
    [damaged('train-labels-idx1-ubyte', () => encodeIdx({ dtype: 'uint8', shape: [299], data: new Uint8Array(299) })), ['299', '300']],
    [damaged('train-labels-idx1-ubyte', () => encodeIdx({ dtype: 'uint8', shape: [300], data: new Uint8Array(300).fill(12) })), ['train-labels-idx1-ubyte', '12']],
  ];
  for (const [{ dir }, fragments] of cases) {
    const o = out();
    assertUserError(nabla('train', '--data', dir, ...small, '--out', o), ...fragments);
    assert.equal(existsSync(o), false, 'no model written');
  }
});

test('bad model files: truncated, header lying about sizes, weights not matching the architecture', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const good = join(dir, 'good.safetensors');
  assert.equal(nabla('train', '--data', data, '--hidden', '8', '--epochs', '0', '--out', good).code, 0);
  const bytes = readFileSync(good);

  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  assertUserError(nabla('summary', truncated), 'truncated.safetensors');

  const lying = join(dir, 'lying.safetensors');
  const copy = new Uint8Array(bytes);
  new DataView(copy.buffer).setBigUint64(0, BigInt(copy.length * 10), true);
  writeFileSync(lying, copy);
  assertUserError(nabla('eval', lying, '--data', data), 'lying.safetensors', 'header');

  const { metadata } = decodeSafetensors(bytes);
  const wrong = join(dir, 'wrong.safetensors');
  writeFileSync(wrong, encodeSafetensors([
    ['0.weight', new Tensor([8, 700])], ['0.bias', new Tensor([8])], ['2.weight', new Tensor([10, 8])], ['2.bias', new Tensor([10])],
  ], metadata));
  assertUserError(nabla('summary', wrong), 'wrong.safetensors', '0.weight', '[8, 784]', '[8, 700]');
});

test('bad images: not a PNG, empty file, missing file', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const model = join(dir, 'm.safetensors');
  assert.equal(nabla('train', '--data', data, '--hidden', '8', '--epochs', '0', '--out', model).code, 0);
  const jpeg = join(dir, 'photo.png');
  writeFileSync(jpeg, Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1]));
  assertUserError(nabla('predict', model, jpeg), 'photo.png', 'JPEG');
  const empty = join(dir, 'empty.png');
  writeFileSync(empty, '');
  assertUserError(nabla('predict', model, empty), 'empty.png', 'empty');
  assertUserError(nabla('predict', model, join(dir, 'nothere.png')), 'nothere.png');
});

test('divergence stops training, names epoch and batch, and keeps the last good model', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const out = join(dir, 'm.safetensors');
  const r = nabla('train', '--data', data, '--hidden', '8', '--optimizer', 'sgd', '--lr', '1e30', '--schedule', 'constant', '--epochs', '2', '--val', '0', '--no-progress', '--out', out);
  assertUserError(r, 'epoch 1 batch', 'finite loss', 'learning rate');
  assert.match(r.stderr, /saved the last good weights \(as initialised\)/);
  const saved = decodeSafetensors(readFileSync(out));
  for (const t of saved.tensors.values()) assert.ok(t.data.every(Number.isFinite));
  assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temp files left behind');
});

test('an unwritable output folder is a clear error and leaves nothing behind', { skip: process.getuid?.() === 0 ? 'root can write anywhere' : false }, () => {
  const data = writeMnistFixture();
  const dir = tmp();
  chmodSync(dir, 0o500);
  assertUserError(nabla('train', '--data', data, '--hidden', '8', '--epochs', '0', '--out', join(dir, 'm.safetensors')), 'm.safetensors');
});

test('an output path inside a regular file is a clear error', () => {
  const data = writeMnistFixture();
  const dir = tmp();
  const file = join(dir, 'afile');
  writeFileSync(file, 'x');
  assertUserError(nabla('train', '--data', data, '--hidden', '8', '--epochs', '0', '--out', join(file, 'm.safetensors')), 'm.safetensors', 'writable');
  assert.deepEqual(readdirSync(dir), ['afile']);
});
