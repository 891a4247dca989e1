// The playground in a real headless Chromium (the one @sparticuz/chromium ships in its npm package,
// driven by playwright-core; NABLA_CHROMIUM picks another binary):
// drawing a stroke gives the same prediction as the server's API, training moves the curves
// down, pause stops it, the inspection and trace views fill in, and the console stays clean.
// Screenshots go to test-artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { drawOne, launchChromium } from './browser.ts';
import { Adam, Dense, ReLU, Sequential, decodeModel, encodeModel, sliceDataset } from 'nabla';
import { bundledMnistDir, loadMnist } from 'nabla/node';
import { startServer, type RunningServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';
import { nabla } from './cliRunner.ts';

const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');

let server: RunningServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

before(async () => {
  await ensureWebBuilt();
  // A small model trained for a moment, so the page's first prediction comes from the server's file.
  const train = sliceDataset(loadMnist('train'), 0, 6000);
  const model = new Sequential([new Dense(32), new ReLU(), new Dense(10)], { inputShape: [784], seed: 2 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 3e-3 }), loss: 'ce', epochs: 2, batchSize: 64 });
  const bytes = encodeModel(model, { loss: 'ce', seed: 2, history });
  server = await startServer({
    model: { loaded: decodeModel(bytes), bytes, name: 'e2e.safetensors' }, staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0,
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('e2e: the page is cross-origin isolated and shows the server\'s model', async () => {
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  assert.match(await page.textContent('#model-source') ?? '', /server: e2e\.safetensors, 25,450 parameters/);
});

test('e2e: drawing a stroke gives a prediction that matches POST /api/predict', async () => {
  await drawOne(page);
  const predicted = Number(await page.textContent('#predicted'));
  assert.ok(Number.isInteger(predicted) && predicted >= 0 && predicted <= 9);
  const shown = await page.$$eval('#bars span[data-class]', (els) => els.map((e) => parseFloat(e.textContent!)));
  assert.equal(shown.length, 10);
  assert.ok(Math.abs(shown.reduce((s, v) => s + v, 0) - 100) < 0.6, `probabilities sum to 100%: ${shown}`);
  // The 28×28 the Worker made, read back from the page, sent to the server's API: same answer.
  const pixels = await page.$eval('#input28', (c) => {
    const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
    return Array.from({ length: 784 }, (_, i) => d[4 * i] / 255);
  });
  assert.ok(pixels.some((v) => v > 0.9), 'the stroke reached the network input');
  const res = await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pixels }) });
  const api = (await res.json()) as { predicted: number; probabilities: number[] };
  assert.equal(api.predicted, predicted);
  api.probabilities.forEach((p, c) => assert.ok(Math.abs(100 * p - shown[c]) < 1.5, `class ${c}: page ${shown[c]}%, API ${100 * p}%`));
  assert.equal(predicted, 1, 'a vertical stroke is a 1');
  await page.screenshot({ path: join(ARTIFACTS, 'playground-draw.png') });
});

test('e2e: training in the page moves the loss curve down; pause stops it', async () => {
  await page.fill('#hidden', '64');
  await page.click('#train');
  await page.waitForSelector('body[data-training="true"]');
  await page.waitForFunction(() => Number((document.querySelector('#loss-chart') as HTMLElement).dataset.points) >= 2);
  const early = await page.$eval('#loss-chart', (c) => (c as HTMLCanvasElement).toDataURL());
  await page.waitForFunction(() => Number((document.querySelector('#acc-chart') as HTMLElement).dataset.points) >= 3, null, { timeout: 20_000 });
  await page.waitForFunction(() => Number((document.querySelector('#loss-chart') as HTMLElement).dataset.points) >= 12, null, { timeout: 20_000 });
  const later = await page.$eval('#loss-chart', (c) => (c as HTMLCanvasElement).toDataURL());
  assert.notEqual(later, early, 'the loss chart was redrawn');
  const { first, last } = await page.$eval('#loss-chart', (c) => ({ first: Number((c as HTMLElement).dataset.first), last: Number((c as HTMLElement).dataset.last) }));
  // The first point averages the first ~60 ms of batches: near ln 10 ≈ 2.3 on a slow backend, lower on a
  // fast one; either way the loss must fall well below it and below a guess's.
  assert.ok(last < first * 0.7 && last < 0.5, `the loss fell: first ${first}, last ${last}`);
  assert.match(await page.textContent('#model-source') ?? '', /page: 784-64-10/);
  await page.click('#train'); // pause
  await page.waitForSelector('body[data-training="false"]');
  const steps = await page.$eval('#loss-chart', (c) => (c as HTMLElement).dataset.points);
  await page.waitForTimeout(300);
  assert.equal(await page.$eval('#loss-chart', (c) => (c as HTMLElement).dataset.points), steps, 'paused: no new points');
  assert.equal(await page.textContent('#train'), 'Train');
  await page.screenshot({ path: join(ARTIFACTS, 'playground-train.png') });

  // The downloaded model records how the page trained it, and nabla summary prints it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const file = join(mkdtempSync(join(tmpdir(), 'nabla-e2e-')), download.suggestedFilename());
  await download.saveAs(file);
  const { training } = decodeModel(readFileSync(file));
  assert.equal(training.seed, 1);
  assert.deepEqual(training.optimizer, { name: 'adam', lr: Number(await page.inputValue('#lr')) });
  assert.equal(training.batchSize, Number(await page.inputValue('#batch')));
  assert.ok(Number(training.steps) > 0, `steps ${training.steps}`);
  const s = nabla('summary', file);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^loss ce; optimiser adam \(lr [\d.e-]+\); batch \d+; seed 1$/m);
  assert.doesNotMatch(s.stdout, /\{\}|undefined/);
});

test('e2e: W(1) images, confusion matrix, mistakes and the one-sample trace', async () => {
  await page.click('#inspect');
  await page.waitForFunction(() => document.querySelectorAll('#weights canvas').length === 64, null, { timeout: 20_000 });
  assert.equal(await page.$$eval('#confusion tr', (r) => r.length), 11);
  const total = await page.$$eval('#confusion td', (tds) => tds.filter((_, i) => i % 11 !== 10).reduce((s, td) => s + Number(td.textContent), 0));
  assert.equal(total, 10000);
  assert.ok(await page.$$eval('#mistakes canvas', (c) => c.length) > 0);
  await page.fill('#trace-index', '3');
  await page.click('#trace-test');
  await page.waitForSelector('#trace .step');
  const titles = await page.$$eval('#trace .step h3', (hs) => hs.map((h) => h.textContent));
  assert.equal(titles.length, 5);
  assert.match(titles[0]!, /test digit #3 \(label 0\)/);
  assert.match(titles[1]!, /Layer 1: Dense 784 → 64/);
  const text = await page.textContent('#trace') ?? '';
  for (const eq of ['z(1) = W(1) a(0) + b(1)', 'a(1) = σ(z(1))', 'δ(2) = ∂C/∂z(2) = softmax(z(2)) − y', '∂C/∂W(1) = δ(1) a(0)ᵀ', '(64×784)']) {
    assert.ok(text.includes(eq), `trace shows ${eq}`);
  }
  await page.screenshot({ path: join(ARTIFACTS, 'playground-full.png'), fullPage: true });
});

test('e2e: no console errors, failed requests or HTTP errors', () => {
  assert.deepEqual(problems, []);
});
