// The playground's step-through of a CNN in a real headless Chromium (launched as in
// playground.e2e.test.ts): a small CNN trained here for a moment is served; the page traces a test
// digit; clicking (and arrow-keying) a feature map works that output as its window sum, and the
// numbers on the page agree with the same trace computed here in Node; the ∂C/∂W and ∂C/∂a sums,
// the max-pooling routes and the batch-norm and dropout panels are there; the console stays clean.
// Screenshots go to test-artifacts/ (and to docs/img/ with NABLA_DOC_SCREENSHOTS=1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import {
  Adam, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, decodeModel, encodeModel,
  explainConvOutput, maxPoolRoutes, sliceDataset, stepInput, traceSample, type SampleTrace,
} from 'nabla';
import { bundledMnistDir, loadMnist } from 'nabla/node';
import { startServer, type RunningServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';

const ROOT = join(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const DIGIT = 0;
/** The cards of the two convolutions: #trace holds the input card, then one card per layer. */
const C1 = '#trace .step:nth-child(2)';
const C2 = '#trace .step:nth-child(6)';

let server: RunningServer;
let browser: Browser;
let page: Page;
/** The same trace the page shows, computed here from the same model file. */
let nodeTrace: SampleTrace;
const problems: string[] = [];

function watch(p: Page): void {
  p.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  p.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}

async function openAndTrace(p: Page): Promise<void> {
  await p.goto(`${server.url}/`);
  await p.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  await p.fill('#trace-index', String(DIGIT));
  await p.click('#trace-test');
  await p.waitForSelector(`${C1} .ct-forward .ct-sum`, { timeout: 30_000 });
}

before(async () => {
  await ensureWebBuilt();
  // conv 8×3×3 p1, batch norm, ReLU, 2×2 max-pool, conv 4×3×3 stride 2 p1, ReLU, dropout, dense 10: one epoch on 2,000 digits.
  const train = sliceDataset(loadMnist('train'), 0, 2000);
  const model = new Sequential([
    new Conv2D(8, 3, { padding: 1 }), new BatchNorm2D(), new ReLU(), new MaxPool2D(2),
    new Conv2D(4, 3, { stride: 2, padding: 1 }), new ReLU(), new Dropout(0.25), new Flatten(), new Dense(10),
  ], { inputShape: [1, 28, 28], seed: 3 });
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 3e-3 }), loss: 'ce', epochs: 1, batchSize: 64 });
  const bytes = encodeModel(model, { loss: 'ce', seed: 3, history });
  const loaded = decodeModel(bytes);
  const test = sliceDataset(loadMnist('test'), DIGIT, DIGIT + 1);
  nodeTrace = traceSample(loaded.model, test.x.subarray(0, 784), test.y.subarray(0, 10), 'ce');
  server = await startServer({ model: { loaded: decodeModel(bytes), bytes, name: 'cnn.safetensors' }, staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0 });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  watch(page);
  await openAndTrace(page);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The worked forward sum on the page: header, bias, per-channel products, sum and the traced value. */
async function shownForward(p: Page) {
  // NOTE: no named helpers inside the page callbacks: tsx would wrap them in a __name() the page lacks.
  const box = `${C1} .ct-forward`;
  const data = (sel: string) => p.$eval(`${box} ${sel}`, (e) => Number((e as HTMLElement).dataset.value));
  const text = (sel: string) => p.$eval(`${box} ${sel}`, (e) => parseFloat(e.textContent!));
  return {
    head: (await p.textContent(`${box} .ct-head`))!, bias: await data('.ct-bias'), sum: await data('.ct-sum'), traced: await data('.ct-traced'),
    sumText: await text('.ct-sum'), tracedText: await text('.ct-traced'),
    products: await p.$$eval(`${box} .ct-products td`, (tds) => tds.map((td) => Number((td as HTMLElement).dataset.value))),
    productsText: await p.$$eval(`${box} .ct-products td`, (tds) => tds.map((td) => parseFloat(td.textContent!))),
  };
}

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

test('e2e conv: the trace shows the CNN\'s layers with kernels and feature maps', async () => {
  const titles = await page.$$eval('#trace .step h3', (hs) => hs.map((h) => h.textContent!));
  assert.match(titles[1], /Layer 1: Conv2D 1 → 8 channels, 3×3 kernels, stride 1×1, padding 1×1: \(1×28×28\) → \(8×28×28\)/);
  for (const t of ['BatchNorm2D', 'MaxPool2D 2×2', 'Dropout, rate 0.25', 'Flatten', 'Layer 3: Dense']) {
    assert.ok(titles.some((h) => h.includes(t)), `a card for ${t}: ${titles.join(' | ')}`);
  }
  assert.equal(await page.$$eval(`${C1} .ct-kernel`, (k) => k.length), 8);
  // z(1): 8 maps of 28×28, focusable.
  const maps = await page.$$eval(`${C1} .ct-map[tabindex] canvas`, (cs) => cs.map((c) => `${(c as HTMLCanvasElement).width}×${(c as HTMLCanvasElement).height}`));
  assert.ok(maps.filter((m) => m === '28×28').length >= 16, `input, z and δ maps: ${maps.length}`);
});

test('e2e conv: clicking a feature map works that value as its window sum, equal to the traced z', async () => {
  const [c, i, j] = [3, 10, 12];
  const map = page.locator(`${C1} .ct-map[data-channel="${c}"]`).nth(1); // [0] the input a(0) (1 channel), [1] z(1)
  const box = (await map.boundingBox())!;
  await map.click({ position: { x: ((j + 0.5) * box.width) / 28, y: ((i + 0.5) * box.height) / 28 } });
  let shown = await shownForward(page);
  assert.match(shown.head, new RegExp(`^z\\[${c},${i},${j}\\]: window rows ${i - 1}…${i + 1}, columns ${j - 1}…${j + 1}`));
  const expected = nodeTrace.steps[0].output[(c * 28 + i) * 28 + j];
  close(shown.traced, expected, 1e-4, 'the traced value on the page = the trace in Node');
  close(shown.sum, expected, 1e-4, 'the worked window sum = the traced value');
  close(shown.tracedText, expected, 1e-4, 'the traced value as displayed');
  close(shown.sumText, expected, 1e-4, 'the worked sum as displayed');
  // The page's own arithmetic: bias + the 9 shown products = the shown sum (the products as printed, to 4 digits).
  assert.equal(shown.products.length, 9);
  close(shown.bias + shown.products.reduce((s, v) => s + v, 0), shown.sum, 1e-5, 'b + Σ products');
  close(shown.bias + shown.productsText.reduce((s, v) => s + v, 0), shown.sum, 5e-3, 'b + Σ printed products');
  // And the library's worked sum, here in Node, for the same position.
  close(explainConvOutput(nodeTrace.steps[0], nodeTrace.input, c, i, j).sum, shown.sum, 1e-4, 'Node explainConvOutput');

  // Keyboard: the focused map moves the position with the arrow keys.
  await map.focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  shown = await shownForward(page);
  assert.match(shown.head, new RegExp(`^z\\[${c},${i + 1},${j + 1}\\]`));
  close(shown.sum, nodeTrace.steps[0].output[(c * 28 + i + 1) * 28 + j + 1], 1e-4, 'after the arrow keys');
  // A corner: the window hangs over the padding, shown as padding cells.
  await map.click({ position: { x: 1, y: 1 } });
  shown = await shownForward(page);
  assert.match(shown.head, /^z\[3,0,0\]: window rows -1…1, columns -1…1/);
  assert.equal(await page.$$eval(`${C1} .ct-forward .ct-window td.pad`, (t) => t.length), 5);
  close(shown.sum, shown.traced, 1e-4, 'the corner sum');
});

test('e2e conv: ∂C/∂W and ∂C/∂a are worked as correlations, equal to the traced gradients', async () => {
  const wg = await page.$eval(`${C1} .ct-wgrad`, (box) => ({
    head: box.querySelector('.ct-head')!.textContent!,
    sum: Number((box.querySelector('.ct-sum') as HTMLElement).dataset.value),
    traced: Number((box.querySelector('.ct-traced') as HTMLElement).dataset.value),
  }));
  const m = /tap \(m, n\) = \((\d), (\d)\) of kernel W\[(\d),0\]/.exec(wg.head);
  assert.ok(m, wg.head);
  const [mm, nn, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dW = nodeTrace.steps[0].params[0].grad[((c * 1 + 0) * 3 + mm) * 3 + nn];
  close(wg.traced, dW, 1e-3, '∂C/∂W on the page = Node');
  close(wg.sum, wg.traced, 1e-4, 'worked ∂C/∂W = traced');
  assert.ok(Math.abs(dW) > 0, 'a non-zero gradient');
  // ∂C/∂a for the first layer: worked, and the page says the model computes none to compare.
  const agrad = await page.$eval(`${C1} .ct-agrad`, (box) => ({
    lines: box.querySelectorAll('.ct-line').length, rot: box.querySelectorAll('.ct-rot').length, text: box.textContent!,
  }));
  assert.equal(agrad.lines, 8);
  assert.equal(agrad.rot, 8);
  assert.match(agrad.text, /computes no ∂C\/∂a for its first layer/);

  // The second convolution (stride 2, padding 1) has a layer below it: its ∂C/∂a, worked as the full
  // correlation of δ̃ (δ with a zero between entries, padded by 1) with the rotated kernel, equals the traced one.
  assert.match((await page.textContent(`${C2} h3`))!, /Layer 2: Conv2D 8 → 4 channels, 3×3 kernels, stride 2×2, padding 1×1: \(8×14×14\) → \(4×7×7\)/);
  const input = page.locator(`${C2} .ct-map[data-channel="2"]`).first(); // a(1)[2], 14×14
  const ib = (await input.boundingBox())!;
  await input.click({ position: { x: (6.5 * ib.width) / 14, y: (5.5 * ib.height) / 14 } });
  const a2 = await page.$eval(`${C2} .ct-agrad`, (box) => ({
    head: box.querySelector('.ct-head')!.textContent!, lines: box.querySelectorAll('.ct-line').length,
    sum: Number((box.querySelector('.ct-total .ct-sum') as HTMLElement).dataset.value),
    traced: Number((box.querySelector('.ct-total .ct-traced') as HTMLElement).dataset.value),
    pads: box.querySelectorAll('.ct-dtilde td.pad').length,
  }));
  assert.match(a2.head, /^∂C\/∂a\[2,5,6\]: δ̃ rows 5…7, columns 6…8/);
  assert.equal(a2.lines, 4);
  const conv2 = nodeTrace.steps.findIndex((s, q) => s.type === 'Conv2D' && q > 0);
  const expected = stepInput(nodeTrace, conv2).gradInput![(2 * 14 + 5) * 14 + 6];
  close(a2.traced, expected, 1e-3, '∂C/∂a on the page = Node');
  close(a2.sum, a2.traced, 1e-4, 'worked ∂C/∂a = traced');
  // Stride 2: of each 3×3 window of δ̃ at least 5 cells are inserted zeros (grey), for each of the 4 channels.
  assert.ok(a2.pads >= 4 * 5, `${a2.pads} grey cells`);
  // And its forward window sum with stride 2: z[1,3,3] reads rows 5…7 of a(1).
  const z2 = page.locator(`${C2} .ct-map[data-channel="1"]`).nth(1);
  const zb = (await z2.boundingBox())!;
  await z2.click({ position: { x: (3.5 * zb.width) / 7, y: (3.5 * zb.height) / 7 } });
  const f2 = await page.$eval(`${C2} .ct-forward`, (box) => ({
    head: box.querySelector('.ct-head')!.textContent!, lines: box.querySelectorAll('.ct-line').length,
    sum: Number((box.querySelector('.ct-total .ct-sum') as HTMLElement).dataset.value),
  }));
  assert.match(f2.head, /^z\[1,3,3\]: window rows 5…7, columns 5…7/);
  assert.equal(f2.lines, 8);
  close(f2.sum, nodeTrace.steps[conv2].output[(1 * 7 + 3) * 7 + 3], 1e-4, 'stride-2 window sum = Node');
});

test('e2e conv: max-pooling shows where each output came from and where its gradient goes; BN and dropout in both modes', async () => {
  const out = page.locator('#trace .ct-MaxPool2D .ct-map[data-channel="5"]').first();
  const box = (await out.boundingBox())!;
  await out.click({ position: { x: (7.5 * box.width) / 14, y: (4.5 * box.height) / 14 } });
  // The argmax of every window of the selected channel is marked on its input and on the routed gradient: 14 × 14 windows.
  assert.equal(await page.$$eval('#trace .ct-MaxPool2D .ct-marks i', (m) => m.length), 2 * 14 * 14);
  const route = await page.textContent('#trace .ct-MaxPool2D .ct-route');
  const poolIndex = nodeTrace.steps.findIndex((s) => s.type === 'MaxPool2D');
  const r = maxPoolRoutes(nodeTrace.steps[poolIndex], stepInput(nodeTrace, poolIndex).input).routes.find((x) => x.c === 5 && x.i === 4 && x.j === 7)!;
  assert.equal(route, `[5,${r.row},${r.col}]`);
  const pool = await page.$eval('#trace .ct-MaxPool2D .ct-pool', (b) => ({
    sum: Number((b.querySelector('.ct-sum') as HTMLElement).dataset.value), traced: Number((b.querySelector('.ct-traced') as HTMLElement).dataset.value),
    hit: b.querySelectorAll('td.hit').length, text: b.textContent!,
  }));
  assert.equal(pool.sum, pool.traced);
  assert.equal(pool.hit, 1);
  assert.match(pool.text, /goes to a′\[5,\d+,\d+\] only; the other 3 inputs of the window get 0/);

  const bn = await page.$eval('#trace .ct-BatchNorm2D', (b) => ({
    text: b.textContent!, rows: b.querySelectorAll('.ct-stats tr').length,
    sum: Number((b.querySelector('.ct-bn .ct-sum') as HTMLElement).dataset.value),
    traced: Number((b.querySelector('.ct-bn .ct-traced') as HTMLElement).dataset.value),
    train: Number((b.querySelector('.ct-bn .ct-train') as HTMLElement).dataset.value),
  }));
  assert.equal(bn.rows, 9);
  for (const s of ['running μ', 'this sample μ', 'evaluation: μ, σ² = running statistics', 'training: μ, σ² = the batch\'s']) assert.ok(bn.text.includes(s), s);
  close(bn.sum, bn.traced, 1e-4, 'batch norm evaluation value = traced');
  assert.ok(Number.isFinite(bn.train) && bn.train !== bn.traced, `training-mode value ${bn.train}`);

  const drop = await page.$eval('#trace .ct-Dropout', (b) => ({
    text: b.textContent!, kept: Number((b.querySelector('.ct-kept') as HTMLElement).dataset.value),
    scale: Number((b.querySelector('.ct-scale') as HTMLElement).dataset.value),
    identity: Number((b.querySelector('.ct-identity') as HTMLElement).dataset.value),
  }));
  close(drop.scale, 1 / 0.75, 1e-9, '1/(1 − p)');
  assert.ok(drop.kept > 0.6 * 196 && drop.kept < 0.9 * 196, `kept ${drop.kept} of 196`);
  assert.equal(drop.identity, 1, 'evaluation: the traced output equals the input');
  assert.match(drop.text, /evaluation: y = x/);
});

test('e2e conv: screenshots at desktop and phone width', async () => {
  const shots: [string, Page][] = [['desktop', page]];
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  watch(phone);
  await openAndTrace(phone);
  shots.push(['phone', phone]);
  for (const [name, p] of shots) {
    // A value in the middle of the digit, and ∂C/∂a at a pixel of the stroke, rather than the corner.
    const z = p.locator(`${C1} .ct-map[data-channel="3"]`).nth(1);
    const zb = (await z.boundingBox())!;
    await z.click({ position: { x: (12.5 * zb.width) / 28, y: (10.5 * zb.height) / 28 } });
    const a = p.locator(`${C1} .ct-map[data-channel="0"]`).first();
    const ab = (await a.boundingBox())!;
    await a.click({ position: { x: (14.5 * ab.width) / 28, y: (12.5 * ab.height) / 28 } });
    assert.match((await p.textContent(`${C1} .ct-agrad .ct-head`))!, /^∂C\/∂a\[0,12,14\]/);
    const card = p.locator(`${C1}`);
    await card.scrollIntoViewIfNeeded();
    const files = [`playground-conv-${name}.png`, `playground-conv-pool-${name}.png`, `playground-conv-bn-${name}.png`, `playground-conv-dropout-${name}.png`];
    if (name === 'phone') {
      // The phone's card is long: from its top to the end of the worked forward sum.
      const top = (await card.boundingBox())!;
      const end = (await p.locator(`${C1} .ct-forward`).boundingBox())!;
      const scroll = await p.evaluate(() => window.scrollY);
      await p.screenshot({ path: join(ARTIFACTS, files[0]), fullPage: true, clip: { x: top.x, y: top.y + scroll, width: top.width, height: end.y + end.height - top.y + 6 } });
    } else {
      await card.screenshot({ path: join(ARTIFACTS, files[0]) });
    }
    // A pooling window on the stroke of the 7.
    const pool = p.locator('#trace .ct-MaxPool2D .ct-map[data-channel="3"]').first();
    const pb = (await pool.boundingBox())!;
    await pool.click({ position: { x: (8.5 * pb.width) / 14, y: (4.5 * pb.height) / 14 } });
    await p.locator('#trace .ct-MaxPool2D').screenshot({ path: join(ARTIFACTS, files[1]) });
    await p.locator('#trace .ct-BatchNorm2D').screenshot({ path: join(ARTIFACTS, files[2]) });
    await p.locator('#trace .ct-Dropout').screenshot({ path: join(ARTIFACTS, files[3]) });
    if (name === 'desktop') {
      // The second convolution's ∂C/∂a, stride 2, as the ∂C/∂a test left it: a(1)[2] at (6, 6), the centre of z[1,3,3]'s window.
      files.push('playground-conv-agrad-desktop.png');
      await p.locator(`${C2} .ct-agrad`).screenshot({ path: join(ARTIFACTS, files[4]) });
    }
    if (process.env.NABLA_DOC_SCREENSHOTS === '1') {
      for (const f of files) copyFileSync(join(ARTIFACTS, f), join(ROOT, 'docs', 'img', f));
    }
  }
  await phone.close();
});

test('e2e conv: no console errors, failed requests or HTTP errors', () => {
  assert.deepEqual(problems, []);
});
