// The playground on the fast kernels, in the packaged headless Chromium (see playground.e2e.test.ts
// for how it is launched; fail, never skip, when it is missing):
// - the Worker trains on wasm SIMD with threads on the cross-origin isolated page, on one wasm
//   thread when the page is not isolated, and on JS in a browser without WebAssembly; the page
//   says which, with its thread count and samples/s;
// - a small CNN built from a layer spec trains in the page to ≥ 95% on 1,000 test digits within
//   a stated time (and ≥ 94% on all 10,000), on the first 5,000 training digits;
// - presets build the networks the CLI's --model builds (same parameter counts); a bad spec gets
//   an inline error; a model file loads by drop and by the file input, a bad one is refused;
// - the layout fits 360 and 390 px phones; chart ticks are round; every control has a label, Tab
//   follows the page order with a visible focus ring; no request leaves the server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { drawOne, launchChromium } from './browser.ts';
import { Dense, MODEL_PRESET_NAMES, ReLU, Sequential, buildModel, decodeModel, encodeModel } from 'nabla';
import { bundledMnistDir } from 'nabla/node';
import { startServer, type RunningServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';

const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
/** The small CNN of the accuracy test and of scripts/playground-speed.ts. */
const SMALL_CNN = 'conv:8x5,relu,maxpool:2,flatten,dense:10';
/** The CNN must reach this accuracy on the page's 1,000 quick-test digits within this time. */
const CNN_TARGET = 0.95;
const CNN_SECONDS = 30;

let server: RunningServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const foreign: string[] = [];

/** A new page; waits for MNIST unless `data` is false (a layout check needs only the backend). */
async function openPage(b: Browser, width: number, height: number, data = true, base = server.url): Promise<Page> {
  const p = await b.newPage({ viewport: { width, height } });
  p.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(base) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  await p.goto(`${base}/`);
  if (data) await p.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  await p.waitForSelector('body[data-backend]', { timeout: 30_000 });
  return p;
}

before(async () => {
  await ensureWebBuilt();
  server = await startServer({ staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0 });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  page = await openPage(browser, 1280, 1000);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('e2e page: the Worker trains on wasm SIMD with threads, and the page shows the backend, threads and samples/s', async () => {
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = Math.min(cores, 16);
  assert.equal(await page.getAttribute('body', 'data-backend'), threads > 1 ? 'wasm-threads' : 'wasm');
  assert.equal(Number(await page.getAttribute('body', 'data-threads')), threads);
  assert.match(await page.textContent('#backend-info') ?? '', new RegExp(`^backend: wasm SIMD.*, ${threads} threads?$`));
  await page.click('#train');
  await page.waitForFunction(() => Number((document.querySelector('#train-stats') as HTMLElement).dataset.samples ?? 0) > 20_000, null, { timeout: 30_000 });
  await page.click('#train');
  await page.waitForSelector('body[data-training="false"]');
  const stats = await page.textContent('#train-stats') ?? '';
  const shown = Number(/([\d,]+) samples\/s/.exec(stats)?.[1].replaceAll(',', ''));
  assert.ok(shown > 1000, `samples/s shown: ${stats}`);
  // The JS backend, picked in the page, is the slower one for the same network.
  await page.selectOption('#backend', 'js');
  await page.waitForSelector('body[data-backend="js"]');
  assert.equal(await page.textContent('#backend-info'), 'backend: JS');
  await page.selectOption('#backend', 'auto');
  await page.waitForSelector(`body[data-backend="${threads > 1 ? 'wasm-threads' : 'wasm'}"]`);
});

test('e2e page: not cross-origin isolated, the Worker falls back to one wasm thread; without WebAssembly, to JS', async () => {
  // The same page without COOP/COEP: no shared memory, so no threads.
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  await context.route(`${server.url}/**`, async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-opener-policy'];
    delete headers['cross-origin-embedder-policy'];
    await route.fulfill({ response, headers });
  });
  try {
    const p = await context.newPage();
    await p.goto(`${server.url}/`);
    await p.waitForSelector('body[data-backend]', { timeout: 30_000 });
    assert.equal(await p.evaluate(() => crossOriginIsolated), false);
    assert.equal(await p.getAttribute('body', 'data-backend'), 'wasm');
    assert.equal(await p.getAttribute('body', 'data-threads'), '1');
    assert.match(await p.textContent('#backend-info') ?? '', /^backend: wasm SIMD.*, 1 thread$/);
    assert.match(await p.getAttribute('#backend-info', 'title') ?? '', /not cross-origin isolated/);
  } finally {
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  }
  // An engine without WebAssembly (the Worker's global removed before its bundle runs): the JS
  // backend, still training.
  const bare = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  await bare.route(`${server.url}/worker.js`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: `delete globalThis.WebAssembly;\n${await response.text()}` });
  });
  try {
    const q = await bare.newPage();
    await q.goto(`${server.url}/`);
    await q.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    assert.equal(await q.getAttribute('body', 'data-backend'), 'js');
    assert.equal(await q.textContent('#backend-info'), 'backend: JS');
    assert.match(await q.getAttribute('#backend-info', 'title') ?? '', /wasm failed/);
    await q.click('#train');
    await q.waitForFunction(() => Number((document.querySelector('#loss-chart') as HTMLElement).dataset.points) >= 3, null, { timeout: 30_000 });
  } finally {
    await bare.unrouteAll({ behavior: 'ignoreErrors' });
    await bare.close();
  }
});

test(`e2e page: a small CNN (${SMALL_CNN}) trained in the page reaches ${100 * CNN_TARGET}% on 1,000 test digits within ${CNN_SECONDS} s`, async () => {
  await page.selectOption('#train-count', '5000');
  await page.fill('#lr', '0.003');
  await page.fill('#layers', SMALL_CNN);
  await page.click('#build');
  await page.waitForFunction(() => /^page: conv:8x5/.test(document.body.dataset.model ?? ''));
  assert.equal(await page.getAttribute('body', 'data-convolutional'), 'true');
  const expected = buildModel({ layers: SMALL_CNN, inputShape: [1, 28, 28], classes: 10 }).paramCount;
  assert.match(await page.textContent('#model-source') ?? '', new RegExp(`${expected.toLocaleString('en-US')} parameters`));
  // The previous network's test accuracy is gone with it (else the wait below could pass at once).
  assert.equal(await page.getAttribute('#train-stats', 'data-test-accuracy'), null);
  const start = Date.now();
  await page.click('#train');
  await page.waitForFunction(
    (target) => Number((document.querySelector('#train-stats') as HTMLElement).dataset.testAccuracy ?? 0) >= target,
    CNN_TARGET, { timeout: CNN_SECONDS * 1000, polling: 100 },
  );
  const seconds = (Date.now() - start) / 1000;
  await page.click('#train');
  await page.waitForSelector('body[data-training="false"]');
  const stats = await page.$eval('#train-stats', (el) => ({ accuracy: Number((el as HTMLElement).dataset.testAccuracy), text: el.textContent }));
  console.log(`# small CNN: ${(100 * stats.accuracy).toFixed(1)}% on 1,000 test digits after ${seconds.toFixed(1)} s (${stats.text})`);
  // The whole test set, evaluated by the page's Evaluate button.
  await page.click('#inspect');
  await page.waitForFunction(() => /^test accuracy/.test(document.querySelector('#status')!.textContent ?? ''), null, { timeout: 30_000 });
  const accuracy = Number(/([\d.]+)%/.exec(await page.textContent('#status') ?? '')?.[1]);
  assert.ok(accuracy >= 94, `test accuracy on 10,000 digits: ${accuracy}%`);
  assert.equal(await page.$$eval('#confusion td', (tds) => tds.filter((_, i) => i % 11 !== 10).reduce((s, td) => s + Number(td.textContent), 0)), 10000);
  // Drawing works with the CNN too.
  await drawOne(page);
  assert.match(await page.textContent('#predicted') ?? '', /^\d$/);
  await page.screenshot({ path: join(ARTIFACTS, 'playground-cnn.png') });
});

test('e2e page: the presets build the networks of nabla train --model; a bad layer spec gets an inline error', async () => {
  for (const preset of MODEL_PRESET_NAMES) {
    await page.selectOption('#arch', `preset:${preset}`);
    await page.waitForFunction((p) => document.body.dataset.model === `page: preset ${p}, seed 1`, preset);
    const params = buildModel({ preset, classes: 10 }).paramCount;
    assert.match(await page.textContent('#model-source') ?? '', new RegExp(`, ${params.toLocaleString('en-US')} parameters$`), preset);
    assert.equal(await page.isDisabled('#hidden'), true, 'hidden units only for the dense network');
  }
  await page.fill('#layers', 'conv:8x5,relu,bogus:3,flatten,dense:10');
  await page.press('#layers', 'Enter');
  await page.waitForFunction(() => document.querySelector('#layers-error')!.textContent !== '');
  const error = await page.textContent('#layers-error') ?? '';
  assert.match(error, /bogus/);
  assert.equal(await page.getAttribute('#layers', 'aria-invalid'), 'true');
  assert.equal(await page.getAttribute('body', 'data-model'), 'page: preset lenet5, seed 1', 'the model is kept');
  // A spec that parses but does not end in 10 outputs is refused too, with the library's hint.
  await page.fill('#layers', 'conv:8x5,relu,flatten,dense:7');
  await page.click('#build');
  await page.waitForFunction(() => /10 outputs/.test(document.querySelector('#layers-error')!.textContent ?? ''));
  await page.fill('#layers', 'conv:4x3,relu,maxpool:2,flatten,dense:10');
  await page.click('#build');
  await page.waitForFunction(() => document.querySelector('#layers-error')!.textContent === '');
  assert.equal(await page.getAttribute('#layers', 'aria-invalid'), null);
  assert.equal(await page.getAttribute('body', 'data-model'), 'page: conv:4x3,relu,maxpool:2,flatten,dense:10, seed 1');
});

test('e2e page: a nabla model file loads by drag and drop and by the file input; a bad file is refused clearly', async () => {
  const cnn = buildModel({ layers: 'conv:6x3,relu,maxpool:2,flatten,dense:10', inputShape: [1, 28, 28], classes: 10, seed: 3 });
  const cnnBytes = Array.from(encodeModel(cnn, { loss: 'ce' }));
  await page.evaluate(async (bytes) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(bytes)], 'dropped-cnn.safetensors'));
    document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  }, cnnBytes);
  await page.waitForFunction(() => document.body.dataset.model === 'file: dropped-cnn.safetensors');
  assert.match(await page.textContent('#model-source') ?? '', new RegExp(`${cnn.paramCount.toLocaleString('en-US')} parameters`));
  // The file input, for keyboards: a dense model.
  const mlp = new Sequential([new Dense(16), new ReLU(), new Dense(10)], { inputShape: [784], seed: 4 });
  await page.setInputFiles('#model-file', { name: 'picked.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeModel(mlp)) });
  await page.waitForFunction(() => document.body.dataset.model === 'file: picked.safetensors');
  // Not a model file at all.
  await page.setInputFiles('#model-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, not a model') });
  await page.waitForFunction(() => /^error: not a nabla model file/.test(document.querySelector('#status')!.textContent ?? ''));
  assert.match(await page.textContent('#status') ?? '', /notes\.txt/);
  // A model file, but not for digits.
  const table = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [4], seed: 5 });
  await page.setInputFiles('#model-file', { name: 'iris.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeModel(table)) });
  await page.waitForFunction(() => /iris\.safetensors" is a nabla model, but it takes input \[4\]/.test(document.querySelector('#status')!.textContent ?? ''));
  assert.equal(await page.getAttribute('body', 'data-model'), 'file: picked.safetensors', 'the refused files left the model alone');
});

test('e2e page: a served model trained on other data is left to the API; the page says so and trains its own MNIST network', async () => {
  const table = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [4], seed: 5 });
  const bytes = encodeModel(table, { loss: 'ce', task: 'classification', classNames: ['setosa', 'versicolor', 'virginica'] });
  const own = await startServer({ model: { loaded: decodeModel(bytes), bytes, name: 'iris.safetensors' }, staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0 });
  try {
    const p = await openPage(browser, 1280, 1000, true, own.url);
    await p.waitForFunction(() => /server's model "iris\.safetensors" stays with its API \(POST \/api\/predict\): it takes input \[4\]/.test(document.querySelector('#status')!.textContent ?? ''));
    assert.match(await p.getAttribute('body', 'data-model') ?? '', /^page: /);
    await p.close();
  } finally {
    await own.close();
  }
});

test('e2e page: chart ticks are round numbers (1, 2 or 5 × 10^k steps)', async () => {
  await page.selectOption('#arch', 'hidden');
  await page.click('#train');
  await page.waitForFunction(() => Number((document.querySelector('#loss-chart') as HTMLElement).dataset.points) >= 8, null, { timeout: 30_000 });
  await page.click('#train');
  await page.waitForSelector('body[data-training="false"]');
  for (const id of ['#loss-chart', '#acc-chart']) {
    const labels = (await page.getAttribute(id, 'data-y-ticks') ?? '').split(' ');
    assert.ok(labels.length >= 3, `${id}: ${labels}`);
    const values = labels.map(Number);
    const step = values[1] - values[0];
    const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `${id}: step ${step} from ${labels}`);
    values.forEach((v, i) => assert.ok(Math.abs(v - values[0] - i * step) < 1e-9, `${id}: evenly spaced ${labels}`));
    values.forEach((v) => assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-6, `${id}: ${v} is a multiple of ${step}`));
  }
});

for (const width of [360, 390]) {
  test(`e2e page: at ${width} px nothing is cut off or scrolls sideways`, async () => {
    const p = await openPage(browser, width, 800, false);
    try {
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
      const cut = await p.$$eval('#draw-panel, #train-panel, #inside-panel, #trace-panel, #bars, #pad, #predicted, #clear, #layers, #loss-chart, #acc-chart, #train, #model-file', (els) =>
        els.flatMap((e) => {
          const r = e.getBoundingClientRect();
          return r.left < 0 || r.right > window.innerWidth + 0.5 ? [`${e.id} ${Math.round(r.left)}–${Math.round(r.right)}`] : [];
        }));
      assert.deepEqual(cut, [], `outside the ${width} px viewport`);
      // The probabilities' percentages are on screen.
      const right = await p.$eval('#bars span[data-class="9"]', (e) => e.getBoundingClientRect().right);
      assert.ok(right <= width, `bar values end at ${right}`);
      await p.screenshot({ path: join(ARTIFACTS, `playground-${width}.png`), fullPage: true });
    } finally {
      await p.close();
    }
  });
}

test('e2e page: every control has a label; Tab follows the page order with a visible focus ring', async () => {
  const unlabelled = await page.$$eval('input, select, button, textarea, canvas[role]', (els) => els.flatMap((e) => {
    const labelled = (e as HTMLInputElement).labels?.length || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent?.trim());
    return labelled ? [] : [e.id || e.outerHTML.slice(0, 60)];
  }));
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.$$eval('[tabindex]', (els) => els.filter((e) => Number(e.getAttribute('tabindex')) > 0).length), 0, 'no positive tabindex');
  const expected = await page.$$eval('input:not([disabled]), select:not([disabled]), button:not([disabled])', (els) => els.map((e) => e.id));
  // Clicking the page's title moves the starting point of sequential focus navigation to the top.
  await page.click('h1');
  const seen: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      const s = getComputedStyle(e);
      return { id: e.id, outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    seen.push(focus.id);
    assert.ok(focus.outline !== 'none' && focus.width >= 2, `#${focus.id} shows its focus (${focus.outline} ${focus.width}px)`);
  }
  assert.deepEqual(seen, expected);
});

test('e2e page: no request leaves the server, no console errors', () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
});
