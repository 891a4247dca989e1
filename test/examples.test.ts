// The examples run (on small data, as a user would run them), the browser example bundles for
// the browser and classifies digits drawn on a stand-in canvas, and every ```ts block of the
// README is a region of an example file, so the README's code is type-checked (npm test's tsc
// covers examples/) and run with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { Adam, Dense, ReLU, Sequential, argmax, encodeModel, sliceDataset, type Dataset } from 'nabla';
import { loadMnist } from 'nabla/node';

const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');

function runExample(file: string, cwd: string) {
  // tsx by its resolved URL: the example runs from a temp folder (it writes models/ there).
  const r = spawnSync(process.execPath, ['--conditions=nabla-source', '--import', import.meta.resolve('tsx'), join(EXAMPLES, file), '--quick'],
    { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `${file} failed: ${r.stderr}`);
  return r.stdout;
}

test('examples/train.ts trains on real MNIST, saves a model and an ONNX file', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-example-'));
  const out = runExample('train.ts', cwd);
  const acc = Number(/test accuracy ([\d.]+)/.exec(out)?.[1]);
  assert.ok(acc > 0.7, `500 digits × 8 epochs should reach well above chance: ${out}`);
  assert.match(out, /^backend wasm \(\d+ threads?, (relaxed|baseline) SIMD\)$/m, 'a model gets the fastest backend without asking');
  assert.ok(existsSync(join(cwd, 'models', 'example-mlp.safetensors')));
  assert.ok(existsSync(join(cwd, 'models', 'example-mlp.onnx')));
});

test('examples/regression.ts: a regression model reaches R² > 0.95 and a one-logit bce classifier > 90%', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-example-'));
  const out = runExample('regression.ts', cwd);
  const r2 = Number(/test MAE [\d.]+, RMSE [\d.]+, R² ([\d.]+)/.exec(out)?.[1]);
  assert.ok(r2 > 0.95, out);
  const acc = Number(/binary: test accuracy ([\d.]+)%/.exec(out)?.[1]);
  assert.ok(acc > 90, out);
  assert.match(out, /confusion \[\[\d+,\d+\],\[\d+,\d+\]\], p\(inside\)/);
});

test('examples/customLayer.ts: a registered Swish layer trains, reloads from its file and exports to ONNX (swish.ts is its layer)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-example-'));
  const out = runExample('customLayer.ts', cwd);
  assert.match(out, /1 Swish +\[N, 128\]/);
  const acc = Number(/test accuracy ([\d.]+)/.exec(out)?.[1]);
  assert.ok(acc > 0.8, `2,000 digits × 2 epochs: ${out}`);
  assert.ok(existsSync(join(cwd, 'models', 'swish-mlp.onnx')));
});

test('examples/customLoop.ts: the hand-written trainStep loop learns', () => {
  const out = runExample('customLoop.ts', mkdtempSync(join(tmpdir(), 'nabla-example-')));
  const best = Number(/best val accuracy ([\d.]+)/.exec(out)?.[1]);
  assert.ok(best > 0.8, `two epochs on 2,000 digits: ${out}`);
});

/** Test digit i drawn on a canvas stand-in: black ink on white, 3× larger, with a margin. */
function fakeCanvas(ds: Dataset, i: number) {
  const scale = 3;
  const side = 28 * scale + 20;
  const data = new Uint8ClampedArray(side * side * 4);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
    const sx = Math.floor((x - 10) / scale);
    const sy = Math.floor((y - 10) / scale);
    const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? ds.x[i * 784 + sy * 28 + sx] : 0;
    const grey = Math.round(255 * (1 - ink));
    data.set([grey, grey, grey, 255], (y * side + x) * 4);
  }
  return {
    width: side, height: side,
    getContext: (id: '2d') => (id === '2d' ? { getImageData: (_x: number, _y: number, w: number, h: number) => (assert.equal(w * h, side * side), { data }) } : null),
  };
}

test('examples/browserInference.ts bundles for the browser and reads digits off a canvas as the model reads MNIST', async () => {
  // platform 'browser': a node: import anywhere in the example or the library fails the bundle.
  const dir = mkdtempSync(join(tmpdir(), 'nabla-browser-'));
  const outfile = join(dir, 'app.mjs');
  await build({
    entryPoints: [join(EXAMPLES, 'browserInference.ts')], bundle: true, format: 'esm', platform: 'browser',
    conditions: ['nabla-source'], outfile, logLevel: 'silent',
  });
  const app = await import(pathToFileURL(outfile).href) as typeof import('../examples/browserInference.ts');

  const train = sliceDataset(loadMnist('train'), 0, 3000);
  const digits = sliceDataset(loadMnist('test'), 0, 30);
  const model = new Sequential([new Dense(64), new ReLU(), new Dense(10)], { inputShape: [784], seed: 5 });
  model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 2e-3 }), loss: 'ce', epochs: 2, batchSize: 64 });
  // The page would fetch the file over HTTP; a data: URL goes through the same fetch.
  const url = `data:application/octet-stream;base64,${Buffer.from(encodeModel(model)).toString('base64')}`;
  const loaded = await app.loadModel(url);

  let agree = 0;
  let correct = 0;
  for (let i = 0; i < digits.count; i++) {
    const { digit, probabilities } = app.classifyCanvas(loaded, fakeCanvas(digits, i));
    assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    if (digit === argmax(model.predict(digits.x.subarray(i * 784, (i + 1) * 784), 1), 0, 10)) agree++;
    if (digit === digits.labels[i]) correct++;
  }
  assert.ok(agree >= digits.count - 1, `canvas and direct predictions agree on ${agree}/${digits.count}`);
  assert.ok(correct >= 0.8 * digits.count, `canvas digits read correctly: ${correct}/${digits.count}`);
});

test('every ```ts block of README.md is a "#region readme" of an example file, verbatim', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1].trimEnd());
  assert.ok(blocks.length >= 2, `README has TypeScript examples (${blocks.length})`);
  const regions = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts')).flatMap((f) =>
    [...readFileSync(join(EXAMPLES, f), 'utf8').matchAll(/^\/\/ #region readme.*\n([\s\S]*?)^\/\/ #endregion/gm)].map((m) => m[1].trimEnd()));
  for (const block of blocks) {
    assert.ok(regions.includes(block), `README block not found verbatim in a "// #region readme" of examples/:\n${block}`);
  }
});

// A new example file must be wired into the tests above, not silently left unrun.
test('every example file is run by this test or imported by one that is', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts')).sort();
  assert.deepEqual(files, ['browserInference.ts', 'customLayer.ts', 'customLoop.ts', 'mnist.ts', 'regression.ts', 'swish.ts', 'train.ts']);
});
