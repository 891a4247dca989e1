// nabla train / eval / predict on your own data (issue 14): CSV (named classes, regression), a
// colour image folder, an .npz, and bad data refused with a clear message and no model file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { Adam, Sequential, Standardize, decodeCheckpoint, encodeCheckpoint, encodeNpy, restoreCheckpoint, Rng, type NpyArray } from 'nabla';
import { loadModel } from 'nabla/node';
import { makeExampleData } from '../../../scripts/make-example-data.ts';
import { assertUserError, nabla } from '../../../test/cliRunner.ts';

const dir = mkdtempSync(join(tmpdir(), 'nabla-own-data-'));
makeExampleData(dir, 1, 20); // shapes/ (3 × 20 colour PNGs), flowers.csv, spirals.csv, houses.csv
const quiet = ['--no-progress', '--no-checkpoint'];

test('a CSV with named classes: train, eval and predict speak the class names', () => {
  const out = join(dir, 'flowers.safetensors');
  const r = nabla('train', '--data', join(dir, 'flowers.csv'), '--hidden', '16', '--epochs', '30', '--batch-size', '16', '--lr', '0.01', '--out', out, ...quiet);
  assert.equal(r.code, 0, r.stderr);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)![1]);
  assert.ok(acc >= 70, `flowers test accuracy ${acc}%`);
  const { training, model } = loadModel(out);
  assert.equal(training.task, 'classification');
  assert.deepEqual(training.classNames, ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual(model.inputShape, [4]);
  assert.equal((training.data as { testSplit: number }).testSplit, 0.2);

  // The training file again: the same 30 held-out rows, the same accuracy.
  const ev = nabla('eval', out, '--data', join(dir, 'flowers.csv'));
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, new RegExp(`accuracy ${acc.toFixed(2)}% \\(\\d+/30\\)`));
  assert.match(ev.stdout, /versicolor:/);
  assert.match(ev.stdout, /\s+setosa\s+versicolor\s+virginica\n/);
  // Without --data a model trained on a CSV says what to pass.
  assertUserError(nabla('eval', out), 'pass --data', 'flowers.csv');

  const p = nabla('predict', out, join(dir, 'flowers.csv'));
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /row 1: (setosa|versicolor|virginica) .*true: setosa/);
  assert.match(p.stdout, /\/150 rows predicted as labelled/);
  const noLabel = join(dir, 'unlabelled.csv');
  writeFileSync(noLabel, 'sepal_length,sepal_width,petal_length,petal_width\n5.0,3.4,1.5,0.2\n6.7,3.0,5.6,2.1\n');
  const q = nabla('predict', out, noLabel, '--json');
  assert.equal(q.code, 0, q.stderr);
  const rows = q.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((o) => o.class_name), ['setosa', 'virginica']);
  // A quoted header name with a comma in it is one column, as the CSV reader counts it.
  const quoted = join(dir, 'quoted.csv');
  writeFileSync(quoted, '"sepal length, cm",sepal_width,petal_length,petal_width\n5.0,3.4,1.5,0.2\n');
  const fromQuoted = nabla('predict', out, quoted, '--json');
  assert.equal(fromQuoted.code, 0, fromQuoted.stderr);
  assert.equal(JSON.parse(fromQuoted.stdout.trim()).class_name, 'setosa');

  // The report names the classes in its tables and lists a table's mistakes as text.
  const rep = nabla('report', out, '--data', join(dir, 'flowers.csv'), '--out', join(dir, 'flowers.html'));
  assert.equal(rep.code, 0, rep.stderr);
  const html = readFileSync(join(dir, 'flowers.html'), 'utf8');
  const confusion = html.match(/<table id="confusion">(.*?)<\/table>/s)![1];
  assert.deepEqual([...confusion.matchAll(/<th>([a-z]+)<\/th>/g)].map((m) => m[1]), ['setosa', 'versicolor', 'virginica', 'setosa', 'versicolor', 'virginica']);
  assert.ok(html.includes(`<b>${acc.toFixed(2)}%</b>test accuracy`));
});

test('a table in dollars and years: the default Standardize layer makes it learn, on raw rows everywhere; --no-standardize does not', () => {
  const csv = join(dir, 'people.csv');
  const out = join(dir, 'people.safetensors');
  const args = ['--data', csv, '--hidden', '16', '--epochs', '20', '--batch-size', '16', '--optimizer', 'sgd', '--lr', '0.1', ...quiet];
  const r = nabla('train', ...args, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 Standardize \(2 features\)/);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)![1]);
  const { model, training } = loadModel(out);
  assert.equal(model.layers[0].type, 'Standardize');
  assert.match(String((training.preprocessing as Record<string, unknown>).standardize), /mean/);
  // The statistics are the training rows': near the whole file's (income uniform on 20,000–100,000, age on 18–78).
  const { mean, std } = (model.layers[0] as Standardize).statistics();
  assert.ok(Math.abs(mean[0] - 60000) < 4000 && Math.abs(std[0] - 80000 / Math.sqrt(12)) < 2500, `income mean ${mean[0]}, std ${std[0]}`);
  assert.ok(Math.abs(mean[1] - 48) < 4 && Math.abs(std[1] - 60 / Math.sqrt(12)) < 2, `age mean ${mean[1]}, std ${std[1]}`);
  // The model takes raw rows: eval of the same held-out rows gives the same accuracy, predict reads dollars and years.
  const ev = nabla('eval', out, '--data', csv);
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, new RegExp(`accuracy ${acc.toFixed(2)}% \\(\\d+/100\\)`));
  const rows = join(dir, 'people-rows.csv');
  writeFileSync(rows, 'income_usd,age_years\n95000,70\n25000,20\n');
  const p = nabla('predict', out, rows, '--json');
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(p.stdout.trim().split('\n').map((l) => JSON.parse(l).class_name), ['yes', 'no']);

  const plain = nabla('train', ...args, '--no-standardize', '--out', join(dir, 'people-plain.safetensors'));
  const plainAcc = plain.code === 0 ? Number(/test accuracy ([\d.]+)%/.exec(plain.stdout)![1]) : 0;
  console.log(`people.csv, SGD lr 0.1: test accuracy ${acc}% with Standardize, ${plain.code === 0 ? `${plainAcc}%` : `exit ${plain.code}`} with --no-standardize`);
  assert.ok(acc >= 90, `with Standardize: ${acc}%`);
  assert.ok(plainAcc < 80, `--no-standardize: ${plainAcc}%`);
  if (plain.code === 0) assert.doesNotMatch(plain.stdout, /Standardize/);
});

test('a regression CSV: MAE, RMSE and R² in train, eval and predict', () => {
  const out = join(dir, 'houses.safetensors');
  const r = nabla('train', '--data', join(dir, 'houses.csv'), '--label', 'price', '--task', 'regression', '--hidden', '32',
    '--epochs', '60', '--batch-size', '32', '--lr', '0.01', '--out', out, ...quiet);
  assert.equal(r.code, 0, r.stderr);
  const r2 = Number(/R² (-?[\d.]+)/.exec(r.stdout)![1]);
  assert.ok(r2 > 0.8, `houses R² ${r2}`);
  const { training } = loadModel(out);
  assert.equal(training.task, 'regression');
  assert.deepEqual(training.targetNames, ['price']);
  assert.equal(training.loss, 'mse');
  const ev = nabla('eval', out, '--data', join(dir, 'houses.csv'), '--json');
  assert.equal(ev.code, 0, ev.stderr);
  const j = JSON.parse(ev.stdout);
  assert.equal(j.task, 'regression');
  assert.ok(Math.abs(j.r2 - r2) < 1e-4);
  const p = nabla('predict', out, join(dir, 'houses.csv'));
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /row 1: price -?[\d.]+ {2}\(true: -?[\d.]+\)/);
  // --loss huber alone means regression too.
  const h = nabla('train', '--data', join(dir, 'houses.csv'), '--label', 'price', '--loss', 'huber', '--hidden', '8', '--epochs', '2', '--out', join(dir, 'h.safetensors'), ...quiet);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /MAE/);

  // The report of a regression model: the same MAE, RMSE and R² as eval, a point per test row,
  // and the largest errors first.
  const rep = nabla('report', out, '--data', join(dir, 'houses.csv'));
  assert.equal(rep.code, 0, rep.stderr);
  const html = readFileSync(join(dir, 'houses.report.html'), 'utf8');
  const card = (what: string): number => Number(new RegExp(`<b>(-?[\\d.e+-]+)</b>test ${what}<`).exec(html)![1]);
  assert.ok(Math.abs(card('MAE') - j.mae) <= 1e-3 * Math.abs(j.mae), `${card('MAE')} vs ${j.mae}`);
  assert.ok(Math.abs(card('RMSE') - j.rmse) <= 1e-3 * Math.abs(j.rmse));
  assert.ok(Math.abs(card('R²') - j.r2) < 1e-4);
  assert.match(html, /<th>price<\/th>/);
  assert.equal((html.match(/<circle [^>]*fill-opacity/g) ?? []).length, j.samples); // the scatter, one point per row
  const errors = [...html.match(/<table id="errors">(.*?)<\/table>/s)![1].matchAll(/<tr><td>\d+<\/td><td>[^<]*<\/td><td>[^<]*<\/td><td>([^<]*)<\/td><\/tr>/g)].map((m) => Math.abs(Number(m[1])));
  assert.equal(errors.length, 20);
  assert.deepEqual(errors, [...errors].sort((x, y) => y - x));
  assert.doesNotMatch(html, /confusion|accuracy/);
});

test('a colour image folder: the model takes [3, 32, 32], predict resizes images as recorded', () => {
  const out = join(dir, 'shapes.safetensors');
  const r = nabla('train', '--data', join(dir, 'shapes'), '--layers', 'conv:8x3/p1,relu,maxpool:2,conv:16x3/p1,relu,maxpool:2,flatten,dense:32,relu,dense:3',
    '--epochs', '4', '--batch-size', '16', '--lr', '0.003', '--out', out, ...quiet);
  assert.equal(r.code, 0, r.stderr);
  const { training, model } = loadModel(out);
  assert.deepEqual(model.inputShape, [3, 32, 32]);
  assert.deepEqual(training.classNames, ['circle', 'square', 'triangle']);
  assert.deepEqual((training.data as { size: number[]; channels: number }).size, [32, 32]);
  assert.equal((training.data as { channels: number }).channels, 3);
  const ev = nabla('eval', out, '--data', join(dir, 'shapes'));
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, /\(\d+\/12\)/); // 20 % of 60 images
  assert.match(ev.stdout, /triangle:/);
  // The report draws colour images at their own size and names their classes.
  const rep = nabla('report', out, '--data', join(dir, 'shapes'));
  assert.equal(rep.code, 0, rep.stderr);
  const html = readFileSync(join(dir, 'shapes.report.html'), 'utf8');
  assert.match(html, /<th>triangle<\/th>/);
  for (const m of html.matchAll(/alt="test \d+" src="data:image\/png;base64,([^"]*)"/g)) {
    const png = PNG.sync.read(Buffer.from(m[1], 'base64'));
    assert.deepEqual([png.width, png.height], [32, 32]);
    assert.ok(png.data.some((v, i) => i % 4 === 0 && v !== png.data[i + 1]), 'a colour picture');
  }
  // A 64×64 image is brought to 32×32.
  const big = new PNG({ width: 64, height: 64 });
  for (let i = 0; i < 64 * 64; i++) big.data.set([200, 30, 30, 255], 4 * i);
  writeFileSync(join(dir, 'big.png'), PNG.sync.write(big));
  const p = nabla('predict', out, join(dir, 'shapes', 'circle', '000.png'), join(dir, 'big.png'));
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /000\.png: (circle|square|triangle) /);
  assert.match(p.stdout, /big\.png: (circle|square|triangle) /);
  // A dense network flattens the images; presets need images, and a table is refused for them.
  assertUserError(nabla('train', '--data', join(dir, 'flowers.csv'), '--model', 'cnn', '--out', join(dir, 'x.safetensors'), ...quiet), '--model cnn', 'images');
  assert.ok(!existsSync(join(dir, 'x.safetensors')));
});

/** A stored (uncompressed) zip of .npy entries, as numpy.savez writes. */
function npz(path: string, arrays: Record<string, NpyArray>): void {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [key, arr] of Object.entries(arrays)) {
    const data = Buffer.from(encodeNpy(arr));
    const name = Buffer.from(`${key}.npy`);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(name.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  writeFileSync(path, Buffer.concat([...locals, cd, end]));
}

test('an .npz with x_train/y_train and x_test/y_test: its own test set', () => {
  const rng = new Rng(3);
  const make = (n: number) => {
    const x = new Float32Array(n * 2);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      x[2 * i] = (y[i] ? 1 : -1) + 0.3 * rng.normal();
      x[2 * i + 1] = rng.normal();
    }
    return { x: { dtype: 'float32', shape: [n, 2], data: x } as NpyArray, y: { dtype: 'int32', shape: [n], data: y } as NpyArray };
  };
  const tr = make(200);
  const te = make(50);
  const path = join(dir, 'blobs.npz');
  npz(path, { x_train: tr.x, y_train: tr.y, x_test: te.x, y_test: te.y });
  const out = join(dir, 'blobs.safetensors');
  const r = nabla('train', '--data', path, '--hidden', '8', '--epochs', '10', '--batch-size', '16', '--lr', '0.01', '--out', out, ...quiet);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /test accuracy [\d.]+% \(\d+\/50\)/);
  const ev = nabla('eval', out, '--data', path);
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, /\(\d+\/50\)/);
  // Its own test set: no --test-split.
  assertUserError(nabla('train', '--data', path, '--test-split', '0.1', '--out', join(dir, 'y.safetensors'), ...quiet), '--test-split', 'has one');
});

/** Train on `data` and check the error names every fragment and that no model file appears. */
function refused(args: string[], ...fragments: string[]): void {
  const out = join(dir, `refused-${Math.random().toString(36).slice(2)}.safetensors`);
  const r = nabla('train', ...args, '--epochs', '1', '--out', out, ...quiet);
  assertUserError(r, ...fragments);
  assert.ok(!existsSync(out), 'no model file written');
}

test('bad data is refused naming the file, line and value, and writes no model', () => {
  const csv = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const short = csv('short.csv', 'a,b,label\n1,2,x\n3,4,y\n5,y\n');
  refused(['--data', short], `${short}:4`, '3');
  const word = csv('word.csv', 'a,b,label\n1,2,x\n3,oops,y\n5,6,x\n');
  refused(['--data', word], `${word}:3`, 'oops');
  const noLabel = csv('nolabel.csv', 'a,b,label\n1,2,x\n3,4,\n5,6,y\n');
  refused(['--data', noLabel], `${noLabel}:3`);
  const nan = csv('nan.csv', 'a,b,label\n1,2,x\n3,NaN,y\n5,6,x\n');
  refused(['--data', nan], `${nan}:3`, 'NaN');
  // A label in the test file that training never saw.
  const train = csv('train.csv', 'a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n');
  const testFile = csv('test.csv', 'a,b,label\n1,2,cat\n3,4,bird\n');
  refused(['--data', train, '--test-data', testFile, '--val', '0'], `${testFile}:3`, '"bird"', '"cat", "dog"', 'training');

  // Image folders: an empty class folder; mixed sizes without --size.
  const empty = join(dir, 'empty-class');
  mkdirSync(join(empty, 'a'), { recursive: true });
  mkdirSync(join(empty, 'b'), { recursive: true });
  const png = (path: string, w: number, h: number): void => {
    const img = new PNG({ width: w, height: h });
    img.data.fill(128);
    writeFileSync(path, PNG.sync.write(img));
  };
  png(join(empty, 'a', '1.png'), 8, 8);
  refused(['--data', empty], join(empty, 'b'), 'image');
  const mixed = join(dir, 'mixed');
  mkdirSync(join(mixed, 'a'), { recursive: true });
  mkdirSync(join(mixed, 'b'), { recursive: true });
  png(join(mixed, 'a', '1.png'), 8, 8);
  png(join(mixed, 'b', '1.png'), 10, 6);
  refused(['--data', mixed], join(mixed, 'b', '1.png'), '10×6', '8×8');
  // ...which --size fixes.
  const fixed = nabla('train', '--data', mixed, '--size', '8x8', '--test-split', '0', '--val', '0', '--epochs', '1', '--out', join(dir, 'mixed.safetensors'), ...quiet);
  assert.equal(fixed.code, 0, fixed.stderr);

  // A numeric target read as classes says how to read it as a number.
  refused(['--data', join(dir, 'houses.csv'), '--label', 'price'], 'price', '--task regression');
  // An x.npy needs its labels; a path that is not there is named.
  const x = join(dir, 'x.npy');
  writeFileSync(x, encodeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(4) }));
  refused(['--data', x], '--labels y.npy');
  refused(['--data', join(dir, 'nowhere.csv')], 'nowhere.csv', 'an existing file or folder');
  // Image flags on a table.
  refused(['--data', join(dir, 'flowers.csv'), '--size', '8x8'], '--size', 'image folder');
});

test('--stream trains a CSV chunk by chunk and tests on --test-data', () => {
  const out = join(dir, 'spirals-stream.safetensors');
  const r = nabla('train', '--data', join(dir, 'flowers.csv'), '--stream', '--test-data', join(dir, 'flowers.csv'), '--hidden', '16',
    '--epochs', '20', '--batch-size', '16', '--lr', '0.01', '--out', out, '--no-progress');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /streaming 150 rows/);
  assert.match(r.stdout, /test accuracy [\d.]+% \(\d+\/150\)/);
  const { training } = loadModel(out);
  assert.deepEqual(training.classNames, ['setosa', 'versicolor', 'virginica']);
  const p = nabla('predict', out, join(dir, 'flowers.csv'));
  assert.equal(p.code, 0, p.stderr);
});

test('--stream standardizes a table with the whole file\'s statistics from its first pass', () => {
  const csv = join(dir, 'people.csv');
  const out = join(dir, 'people-stream.safetensors');
  const r = nabla('train', '--data', csv, '--stream', '--test-data', csv, '--hidden', '16', '--epochs', '20', '--batch-size', '16',
    '--optimizer', 'sgd', '--lr', '0.1', '--out', out, '--no-progress');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 Standardize \(2 features\)/);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)![1]);
  assert.ok(acc >= 90, `streamed with Standardize: ${acc}%`);
  const { model, training } = loadModel(out);
  assert.match(String((training.preprocessing as Record<string, unknown>).standardize), /whole file/);
  // The whole file's statistics: those Standardize.fit finds on all of its rows.
  const rows = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 2).map(Number));
  const check = new Standardize();
  check.build([2], { backend: model.backend, rng: new Rng(1), index: 0 });
  check.fit(Float32Array.from(rows.flat()), rows.length);
  assert.deepEqual((model.layers[0] as Standardize).statistics(), check.statistics());
});

test('--resume keeps the data flags (--label, --test-split) and asks for the data path again', () => {
  const out = join(dir, 'resumed.safetensors');
  const r = nabla('train', '--data', join(dir, 'flowers.csv'), '--label', 'species', '--test-split', '0.3', '--hidden', '8', '--epochs', '2', '--out', out, '--no-progress');
  assert.equal(r.code, 0, r.stderr);
  const ckpt = join(dir, 'resumed.ckpt.safetensors');
  assertUserError(nabla('train', '--resume', ckpt, '--no-progress'), '--data', 'flowers.csv');
  assertUserError(nabla('train', '--resume', ckpt, '--data', join(dir, 'flowers.csv'), '--test-split', '0.1', '--no-progress'), '--test-split', '0.3');
  const again = nabla('train', '--resume', ckpt, '--data', join(dir, 'flowers.csv'), '--out', join(dir, 'resumed2.safetensors'), '--no-progress');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\(\d+\/45\)/);
  // The Standardize statistics come back from the checkpoint.
  const stats = (file: string) => (loadModel(file).model.layers[0] as Standardize).statistics();
  assert.deepEqual(stats(join(dir, 'resumed2.safetensors')), stats(out));
});

test('a checkpoint from before --no-standardize existed resumes without a Standardize layer, as it was trained', () => {
  const out = join(dir, 'old.safetensors');
  const r = nabla('train', '--data', join(dir, 'flowers.csv'), '--no-standardize', '--hidden', '8', '--epochs', '2', '--out', out, '--no-progress');
  assert.equal(r.code, 0, r.stderr);
  // Such a checkpoint records no "standardize" option: write it again without (the library's own
  // checkpoint functions, so its CRC is right).
  const ckpt = join(dir, 'old.ckpt.safetensors');
  const saved = decodeCheckpoint(new Uint8Array(readFileSync(ckpt)));
  assert.equal(saved.options.standardize, false);
  const model = Sequential.fromConfig(saved.architecture);
  const optimizer = new Adam(model.parameters());
  const state = restoreCheckpoint(saved, { model, optimizer });
  const { standardize: _, ...older } = saved.options;
  writeFileSync(ckpt, encodeCheckpoint({ model, optimizer, state, options: older }));
  const again = nabla('train', '--resume', ckpt, '--data', join(dir, 'flowers.csv'), '--out', join(dir, 'old2.safetensors'), '--no-progress');
  assert.equal(again.code, 0, again.stderr);
  assert.equal(loadModel(join(dir, 'old2.safetensors')).model.layers[0].type, 'Dense');
});
