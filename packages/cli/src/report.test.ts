// nabla report: the HTML file is written, self-contained (nothing to fetch), and its numbers are
// the library's: confusion matrix, accuracy, the history's curves, the worst mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Adam, Dense, ReLU, Sequential, misclassified } from 'nabla';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { loadMnist, loadModel, saveModel } from 'nabla/node';
import { nabla } from '../../../test/cliRunner.ts';


test('report: a self-contained HTML file whose figures are the model\'s own', () => {
  const data = writeMnistFixture({ train: 300, test: 90, classes: 3 });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-report-'));
  const modelPath = join(dir, 'm.safetensors');
  // Barely trained, so it still makes mistakes to show.
  const train = loadMnist('train', data);
  const model = new Sequential([new Dense(8), new ReLU(), new Dense(10)], { inputShape: [784], seed: 4 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 1e-4 }), loss: 'ce', epochs: 3, batchSize: 32, validationSplit: 0.1 });
  saveModel(modelPath, model, { loss: 'ce', seed: 4, history });

  const r = nabla('report', modelPath, '--data', data);
  assert.equal(r.code, 0, r.stderr);
  const out = join(dir, 'm.report.html');
  assert.match(r.stdout, /report written to .*m\.report\.html/);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /^<!doctype html>/);
  // Self-contained: nothing loaded from anywhere.
  assert.doesNotMatch(html, /https?:\/\//i);
  assert.doesNotMatch(html, /<link|<script|@import|url\(/i);
  const sources = [...html.matchAll(/src="([^"]*)"/g)].map((m) => m[1]);
  assert.ok(sources.length >= 2);
  for (const s of sources) {
    assert.match(s, /^data:image\/png;base64,/);
    const png = PNG.sync.read(Buffer.from(s.slice('data:image/png;base64,'.length), 'base64'));
    assert.ok(png.width >= 28 && png.height >= 28);
  }
  // The numbers: the same as evaluating the saved model here.
  const { model: saved } = loadModel(modelPath);
  const test = loadMnist('test', data);
  const ev = saved.evaluate(test, { loss: 'ce' });
  assert.ok(html.includes(`<b>${(100 * ev.accuracy).toFixed(2)}%</b>test accuracy`));
  const confusion = html.match(/<table id="confusion">(.*?)<\/table>/s)![1];
  const cells = [...confusion.matchAll(/<td[^>]*>(\d+)<\/td>/g)].map((m) => Number(m[1]));
  assert.deepEqual(cells, ev.confusion.flat());
  // Curves: training and validation, loss and accuracy; one table row per epoch.
  assert.equal((html.match(/<svg /g) ?? []).length, 2);
  assert.equal((html.match(/<path /g) ?? []).length, 4);
  assert.equal((html.match(/<circle /g) ?? []).length, 4 * 3);
  // Worst mistakes: as many as the model makes (up to 32), most confident first.
  const wrong = misclassified(saved.predictProbabilities(test.x, test.count), test.y, 10, 32);
  assert.ok(wrong.length > 0, 'the barely trained model makes mistakes');
  const shown = [...html.matchAll(/alt="test (\d+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(shown, wrong.map((e) => e.index));
  // W(1): one sprite of 8 units.
  assert.match(html, /the first 8 of 8 units/);
});

test('report: bad model or unwritable output is one error line and leaves no file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-report-'));
  const missing = nabla('report', join(dir, 'none.safetensors'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nabla: error: model file .*none\.safetensors/);
  const modelPath = join(dir, 'm.safetensors');
  saveModel(modelPath, new Sequential([new Dense(10)], { inputShape: [784] }), {});
  writeFileSync(join(dir, 'file'), 'x');
  const data = writeMnistFixture({ train: 30, test: 30, classes: 3 });
  const r = nabla('report', modelPath, '--data', data, '--out', join(dir, 'file', 'r.html'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nabla: error: report .*r\.html/);
  assert.deepEqual(readdirSync(dir).sort(), ['file', 'm.safetensors']);
  assert.ok(!existsSync(join(dir, 'm.report.html')));
  // A model that is not a 784 → K classifier for this data is refused.
  saveModel(modelPath, new Sequential([new Dense(5)], { inputShape: [784] }), {});
  const wrong = nabla('report', modelPath, '--data', data);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /784 inputs and 10 outputs.*found input shape \[784\] and 5 outputs/);
});
