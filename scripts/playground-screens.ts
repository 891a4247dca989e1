/**
 * The playground's screenshots in docs/playground.md, at desktop (1280 px) and phone (390 px)
 * width, taken in the packaged headless Chromium (@sparticuz/chromium; NABLA_CHROMIUM picks another):
 *
 *   node --conditions=nabla-source --import tsx scripts/playground-screens.ts [model]
 *
 * Serves the page with `model` (default models/mnist-mlp.safetensors, if it exists), then at each
 * width: draws a 7, trains a small CNN from the layer-spec box on 5,000 digits for a few seconds,
 * evaluates it, traces a test digit with the server's model; writes docs/img/playground.png,
 * playground-inside.png and playground-trace.png (desktop) and playground-phone*.png (phone),
 * reduced to 256 colours with ImageMagick's `convert` when it is installed (keeps them small).
 * The trace panel is cut at 1,400 px of height (its first layers).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type Page } from 'playwright-core';
import { decodeModel } from 'nabla';
import { bundledMnistDir } from 'nabla/node';
import { startServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';

const ROOT = join(import.meta.dirname, '..');
const IMG = join(ROOT, 'docs', 'img');
const modelPath = process.argv[2] ?? join(ROOT, 'models', 'mnist-mlp.safetensors');
const bytes = existsSync(modelPath) ? new Uint8Array(readFileSync(modelPath)) : undefined;

/** Reduce to 256 colours when ImageMagick is installed (a real one: `convert -version` names it). */
function shrink(path: string): void {
  const probe = spawnSync('convert', ['-version'], { encoding: 'utf8' });
  if (probe.error || !/ImageMagick \d/.test(probe.stdout ?? '')) return;
  spawnSync('convert', [path, '-colors', '256', `PNG8:${path}`]);
}

async function drawSeven(page: Page): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = (await page.locator('#pad').boundingBox())!;
  const s = box.width / 280;
  const path: [number, number][] = [[70, 70], [210, 65], [170, 140], [135, 225]];
  await page.mouse.move(box.x + path[0][0] * s, box.y + path[0][1] * s);
  await page.mouse.down();
  for (let i = 1; i < path.length; i++) {
    for (let t = 1; t <= 8; t++) {
      await page.mouse.move(box.x + s * (path[i - 1][0] + ((path[i][0] - path[i - 1][0]) * t) / 8), box.y + s * (path[i - 1][1] + ((path[i][1] - path[i - 1][1]) * t) / 8));
    }
  }
  await page.mouse.up();
  await page.waitForSelector('#predicted[data-fresh="true"]');
}

await ensureWebBuilt();
const server = await startServer({
  ...(bytes ? { model: { loaded: decodeModel(bytes), bytes, name: basename(modelPath) } } : {}),
  staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0,
});
const browser = await chromium.launch({ executablePath: process.env.NABLA_CHROMIUM ?? await packagedChromium.executablePath(), args: ['--no-sandbox'] });
try {
  for (const [width, suffix] of [[1280, ''], [390, '-phone']] as const) {
    const shot = async (name: string, target: Page | ReturnType<Page['locator']>, fullPage = false): Promise<void> => {
      const path = join(IMG, `${name}.png`);
      await target.screenshot({ path, ...(fullPage ? { fullPage } : {}) });
      shrink(path);
    };
    const page = await browser.newPage({ viewport: { width, height: width > 600 ? 820 : 844 }, deviceScaleFactor: 1 });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    // The server's model, traced and drawn on, before the page trains its own.
    await page.fill('#trace-index', '0');
    await page.click('#trace-test');
    await page.waitForSelector('#trace .step');
    const trace = (await page.locator('#trace-panel').boundingBox())!;
    await page.screenshot({ path: join(IMG, `playground-trace${suffix}.png`), fullPage: true, clip: { ...trace, height: Math.min(trace.height, 1400) } });
    shrink(join(IMG, `playground-trace${suffix}.png`));
    await drawSeven(page);
    await page.selectOption('#train-count', '5000');
    await page.fill('#lr', '0.003');
    await page.fill('#layers', 'conv:8x5,relu,maxpool:2,flatten,dense:10');
    await page.click('#build');
    await page.waitForFunction(() => (document.body.dataset.model ?? '').startsWith('page: conv'));
    await page.click('#train');
    await page.waitForTimeout(6000);
    await page.click('#train');
    await page.waitForSelector('body[data-training="false"]');
    await page.evaluate(() => window.scrollTo(0, 0));
    if (width > 600) {
      await shot('playground', page);
    } else {
      await shot('playground-phone', page);
      await shot('playground-phone-train', page.locator('#train-panel'));
    }
    await page.click('#inspect');
    await page.waitForFunction(() => /^test accuracy/.test(document.querySelector('#status')!.textContent ?? ''), null, { timeout: 60_000 });
    await shot(`playground-inside${suffix}`, page.locator('#inside-panel'));
    // A layer spec the parser refuses, as the page shows it.
    await page.fill('#layers', 'conv:8x5,relu,pool:2,flatten,dense:10');
    await page.click('#build');
    await page.waitForFunction(() => document.querySelector('#layers-error')!.textContent !== '');
    await shot(`playground-spec${suffix}`, page.locator('#train-panel .controls.spec'));
    await page.close();
  }
  console.log(`screenshots written to ${IMG}`);
} finally {
  await browser.close();
  await server.close();
}
