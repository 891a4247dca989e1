/**
 * Screenshots for docs/playground.md, taken in headless Chromium (the one @sparticuz/chromium ships):
 *
 *   node --import tsx scripts/screenshots.ts [model]   (default models/mnist-mlp.safetensors)
 *
 * Serves the playground with the model, draws a 7, trains a page network for a few seconds,
 * opens the inspection and trace views; writes the report of the model too; saves
 * docs/img/playground.png, docs/img/playground-inside.png, docs/img/playground-trace.png and
 * docs/img/report.png.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import packagedChromium from '@sparticuz/chromium';
import { chromium } from 'playwright-core';
import { decodeModel } from 'nabla';
import { bundledMnistDir } from 'nabla/node';
import { startServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';

const ROOT = join(import.meta.dirname, '..');
const IMG = join(ROOT, 'docs', 'img');
const modelPath = process.argv[2] ?? 'models/mnist-mlp.safetensors';
const bytes = new Uint8Array(readFileSync(modelPath));

await ensureWebBuilt();
const server = await startServer({
  model: { loaded: decodeModel(bytes), bytes, name: basename(modelPath) }, staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0,
});
const browser = await chromium.launch({ executablePath: process.env.NABLA_CHROMIUM ?? await packagedChromium.executablePath(), args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 640 }, deviceScaleFactor: 1 });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  const box = (await page.locator('#pad').boundingBox())!;
  const path: [number, number][] = [[70, 70], [210, 65], [170, 140], [135, 225]];
  await page.mouse.move(box.x + path[0][0], box.y + path[0][1]);
  await page.mouse.down();
  for (let s = 1; s < path.length; s++) {
    for (let t = 1; t <= 8; t++) {
      const x = path[s - 1][0] + ((path[s][0] - path[s - 1][0]) * t) / 8;
      const y = path[s - 1][1] + ((path[s][1] - path[s - 1][1]) * t) / 8;
      await page.mouse.move(box.x + x, box.y + y);
    }
  }
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector('#predicted')!.textContent !== '–');
  await page.click('#train');
  await page.waitForTimeout(6000);
  await page.click('#train');
  await page.waitForSelector('body[data-training="false"]');
  await page.screenshot({ path: join(IMG, 'playground.png') });
  await page.click('#inspect');
  await page.waitForFunction(() => document.querySelectorAll('#weights canvas').length > 0, null, { timeout: 60_000 });
  await page.locator('#inside-panel').screenshot({ path: join(IMG, 'playground-inside.png') });
  await page.fill('#trace-index', '0');
  await page.click('#trace-test');
  await page.waitForSelector('#trace .step');
  await page.locator('#trace-panel').screenshot({ path: join(IMG, 'playground-trace.png') });

  const reportPath = join(ROOT, 'models', 'screenshot.report.html');
  const r = spawnSync(process.execPath, [join(ROOT, 'packages', 'cli', 'bin', 'nabla.js'), 'report', modelPath, '--out', reportPath], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const report = await browser.newPage({ viewport: { width: 1100, height: 1500 } });
  await report.goto(`file://${reportPath}`);
  await report.screenshot({ path: join(IMG, 'report.png') });
  console.log(`screenshots written to ${IMG}`);
} finally {
  await browser.close();
  await server.close();
}
