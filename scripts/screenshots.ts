/**
 * The report's screenshot in docs/playground.md (docs/img/report.png), taken in headless Chromium
 * (the one @sparticuz/chromium ships; NABLA_CHROMIUM picks another):
 *
 *   node --conditions=nabla-source --import tsx scripts/screenshots.ts [model]   (default models/mnist-mlp.safetensors)
 *
 * The playground's own pictures are made by scripts/playground-screens.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import packagedChromium from '@sparticuz/chromium';
import { chromium } from 'playwright-core';

const ROOT = join(import.meta.dirname, '..');
const IMG = join(ROOT, 'docs', 'img');
const modelPath = process.argv[2] ?? 'models/mnist-mlp.safetensors';

const reportPath = join(ROOT, 'models', 'screenshot.report.html');
const r = spawnSync(process.execPath, [join(ROOT, 'packages', 'cli', 'bin', 'nabla.js'), 'report', modelPath, '--out', reportPath], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(r.stderr);
const browser = await chromium.launch({ executablePath: process.env.NABLA_CHROMIUM ?? await packagedChromium.executablePath(), args: ['--no-sandbox'] });
try {
  const report = await browser.newPage({ viewport: { width: 1100, height: 1500 } });
  await report.goto(`file://${reportPath}`);
  await report.screenshot({ path: join(IMG, 'report.png') });
  console.log(`screenshot written to ${join(IMG, 'report.png')}`);
} finally {
  await browser.close();
}
