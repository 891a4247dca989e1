/**
 * Training speed in the playground page, by backend, in ONE browser session:
 *
 *   node --conditions=nabla-source --import tsx scripts/playground-speed.ts [rounds] [seconds]
 *
 * Launches the packaged headless Chromium (@sparticuz/chromium; NABLA_CHROMIUM picks another),
 * serves the playground with the bundled MNIST subset, opens ONE page and, for each round, trains
 * the default MLP (784-64-10) and a small CNN on each backend the page offers (wasm threads,
 * wasm on one thread, JS), switching with the page's own backend select. The order of the
 * backends alternates between rounds (A B C, C B A, ...). Each measurement: Reset, Train, a
 * warm-up second, then the samples the page trained over `seconds` of training time (from the
 * page's data-samples/data-seconds, which leave out the test-accuracy evaluations). Prints each
 * run, then the median and range per row, with the load average before and after.
 */
import { loadavg } from 'node:os';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type Page } from 'playwright-core';
import { bundledMnistDir } from 'nabla/node';
import { startServer } from '../packages/cli/src/server.ts';
import { WEB_DIST, ensureWebBuilt } from '../packages/cli/src/webBuild.ts';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 4);
const SMALL_CNN = 'conv:8x5,relu,maxpool:2,flatten,dense:10';
const NETWORKS = [
  { name: 'MLP 784-64-10', arch: 'hidden', spec: '' },
  { name: `CNN ${SMALL_CNN}`, arch: 'layers', spec: SMALL_CNN },
];
const BACKENDS = [
  { choice: 'auto', expect: 'wasm-threads' },
  { choice: 'wasm', expect: 'wasm' },
  { choice: 'js', expect: 'js' },
];

async function useBackend(page: Page, choice: string, expect: string): Promise<string> {
  await page.selectOption('#backend', choice);
  await page.waitForSelector(`body[data-backend="${expect}"]`, { timeout: 30_000 });
  return (await page.textContent('#backend-info')) ?? '';
}

async function measure(page: Page, net: (typeof NETWORKS)[number]): Promise<number> {
  if (net.arch === 'layers') {
    await page.fill('#layers', net.spec);
    await page.click('#build');
  } else {
    await page.selectOption('#arch', net.arch);
    await page.click('#reset');
  }
  await page.waitForFunction(() => document.body.dataset.training === 'false');
  const totals = (): Promise<{ samples: number; seconds: number }> => page.$eval('#train-stats', (el) => ({
    samples: Number((el as HTMLElement).dataset.samples ?? 0), seconds: Number((el as HTMLElement).dataset.seconds ?? 0),
  }));
  await page.click('#train');
  await page.waitForSelector('body[data-training="true"]');
  const start = await totals();
  await page.waitForFunction((s) => Number((document.querySelector('#train-stats') as HTMLElement).dataset.seconds ?? 0) > s + 1, start.seconds, { timeout: 60_000 });
  const a = await totals();
  await page.waitForFunction((s) => Number((document.querySelector('#train-stats') as HTMLElement).dataset.seconds ?? 0) > s, a.seconds + seconds, { timeout: 120_000 });
  const b = await totals();
  await page.click('#train');
  await page.waitForSelector('body[data-training="false"]');
  return (b.samples - a.samples) / (b.seconds - a.seconds);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

await ensureWebBuilt();
const server = await startServer({ staticDir: WEB_DIST, dataDir: bundledMnistDir(), port: 0 });
const browser = await chromium.launch({ executablePath: process.env.NABLA_CHROMIUM ?? await packagedChromium.executablePath(), args: ['--no-sandbox'] });
const loadBefore = loadavg();
const results = new Map<string, number[]>();
const labels = new Map<string, string>();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  console.log(`Chromium ${browser.version()}, cross-origin isolated: ${await page.evaluate(() => crossOriginIsolated)}, ` +
    `hardwareConcurrency ${await page.evaluate(() => navigator.hardwareConcurrency)}; ${rounds} rounds, ${seconds} s each`);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? BACKENDS : [...BACKENDS].reverse();
    for (const b of order) {
      const label = await useBackend(page, b.choice, b.expect);
      labels.set(b.expect, label.replace(/^backend: /, ''));
      for (const net of NETWORKS) {
        const rate = await measure(page, net);
        const key = `${net.name} | ${b.expect}`;
        results.set(key, [...(results.get(key) ?? []), rate]);
        console.log(`round ${r + 1}  ${key}: ${fmt(rate)} samples/s`);
      }
    }
  }
} finally {
  await browser.close();
  await server.close();
}
const loadAfter = loadavg();
console.log(`\nload average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}\n`);
console.log('| network | backend | samples/s, median | range | runs |');
console.log('|---|---|---:|---|---:|');
for (const net of NETWORKS) {
  for (const b of BACKENDS) {
    const xs = results.get(`${net.name} | ${b.expect}`) ?? [];
    if (xs.length === 0) continue;
    console.log(`| ${net.name} | ${labels.get(b.expect)} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))} | ${xs.length} |`);
  }
}
