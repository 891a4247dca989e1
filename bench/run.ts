/**
 * npm run bench: nabla side by side with TF.js on this machine, in one run.
 *
 * 0. The ceiling: GFLOP/s of wasm SIMD multiply-adds with no memory traffic (bench/peak.ts), on 1
 *    thread and on every core, which no wasm GEMM can pass on this CPU.
 * 1. GEMM GFLOP/s (median of several runs) for nabla-js, nabla-wasm on 1 and on 2 threads,
 *    TF.js wasm and TF.js cpu, with ratio columns against TF.js wasm.
 * 2. One MNIST epoch of the 784-128-10 MLP (batch 64, SGD lr 0.1): median epoch time, test
 *    accuracy after the first epoch, peak memory of the process, speed-up against TF.js wasm.
 * 3. One MNIST epoch of the small CNN (conv 5×5×8, pool, conv 5×5×16, pool, dense 10; batch 64):
 *    nabla wasm (mean of 2 epochs) and js (part of one), TF.js cpu (timed on its first batches and extrapolated: a full epoch takes
 *    over an hour), and TF.js wasm, which cannot train it (no convolution gradient kernels).
 *
 * Every measurement runs in its own child process, one after another, so that libraries do not
 * share a heap or a core. Results are printed as tables and written to bench/results/latest.json.
 *
 *   npm run bench              # full run (a few minutes)
 *   npm run bench -- --quick   # fewer repetitions, one epoch each
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const HERE = import.meta.dirname;
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, skip: { type: 'string' } } });
const quick = values.quick ?? false;
const skip = new Set((values.skip ?? '').split(',').filter(Boolean));
const cores = availableParallelism();

interface Lib {
  key: string;
  lib: string;
  threads: number;
  label: string;
}

const LIBS: Lib[] = [
  { key: 'nabla-js', lib: 'nabla-js', threads: 1, label: 'nabla js' },
  { key: 'nabla-wasm-1', lib: 'nabla-wasm', threads: 1, label: 'nabla wasm 1t' },
  ...(cores >= 2 ? [{ key: 'nabla-wasm-2', lib: 'nabla-wasm', threads: 2, label: 'nabla wasm 2t' }] : []),
  { key: 'tfjs-wasm', lib: 'tfjs-wasm', threads: 1, label: 'TF.js wasm' },
  { key: 'tfjs-cpu', lib: 'tfjs-cpu', threads: 1, label: 'TF.js cpu' },
].filter((l) => !skip.has(l.key));

function child(script: string, args: string[]): any {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 24,
  });
  const line = out.trim().split('\n').at(-1)!;
  return JSON.parse(line);
}

function pad(s: string, n: number, left = false): string {
  return left ? s.padStart(n) : s.padEnd(n);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], i > 0)).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const say = (s: string) => process.stdout.write(`${s}\n`);
say(`nabla bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, Node ${process.version}${quick ? ' (quick)' : ''}`);
say('Every figure is a median; the machine may be shared, so compare within this run.\n');

// 0. The ceiling: wasm SIMD multiply-adds without memory traffic, on 1 thread and on every core.
process.stderr.write('peak: wasm SIMD multiply-add...\n');
const peak: Record<string, number> = skip.has('peak') ? {} : child('peak.ts', []).peakGflops;
const peakText = Object.entries(peak).map(([k, v]) => `${v.toFixed(1)} GFLOP/s on ${k.replace('threads', '')} thread${k === 'threads1' ? '' : 's'}`).join(', ');
if (peakText) say(`Ceiling: wasm f32x4 fused multiply-adds with no loads or stores reach ${peakText}.\n`);

// 1. GEMM
const gemm: Record<string, { shape: string; gflops: number }[]> = {};
for (const l of LIBS) {
  process.stderr.write(`gemm: ${l.label}...\n`);
  gemm[l.key] = child('gemm.ts', ['--lib', l.lib, '--threads', String(l.threads), ...(quick ? ['--quick'] : [])]).results;
}
const shapes = gemm[LIBS[0].key].map((r) => r.shape);
const ratioLibs = LIBS.filter((l) => l.lib === 'nabla-wasm' && gemm['tfjs-wasm']);
say('GEMM, GFLOP/s (C = A·B, float32)');
say(table(
  ['shape', ...LIBS.map((l) => l.label), ...ratioLibs.map((l) => `${l.label.replace('nabla ', '')} / TF.js wasm`)],
  shapes.map((shape, i) => [
    shape,
    ...LIBS.map((l) => gemm[l.key][i].gflops.toFixed(1)),
    ...ratioLibs.map((l) => `${(gemm[l.key][i].gflops / gemm['tfjs-wasm'][i].gflops).toFixed(1)}×`),
  ]),
));

const i512 = shapes.indexOf('512³');
const share = LIBS.filter((l) => l.lib === 'nabla-wasm' && peak[`threads${l.threads}`] && i512 >= 0)
  .map((l) => `${l.label} ${((100 * gemm[l.key][i512].gflops) / peak[`threads${l.threads}`]).toFixed(0)}%`);
if (share.length) say(`512³ as a share of that ceiling on the same thread count: ${share.join(', ')}`);

// 2. MLP epoch
const epochs = quick ? 1 : 3;
const mlp: Record<string, { epochSeconds: number[]; testAccuracy: number; maxRssMB: number }> = {};
for (const l of LIBS) {
  process.stderr.write(`mlp epoch: ${l.label}...\n`);
  // TF.js cpu takes ~20 s an epoch: one epoch is enough to time it.
  const e = l.key === 'tfjs-cpu' ? 1 : epochs;
  mlp[l.key] = child('mlp.ts', ['--lib', l.lib, '--threads', String(l.threads), '--epochs', String(e)]);
}
const ref = mlp['tfjs-wasm'] ? median(mlp['tfjs-wasm'].epochSeconds) : NaN;
say('\nMNIST epoch: MLP 784-128-10, ReLU, softmax cross-entropy, SGD lr 0.1, batch 64, 60,000 images');
say(table(
  ['library', 'epoch (s)', 'epochs timed', 'test acc after 1 epoch', 'peak RSS (MB)', 'speed-up vs TF.js wasm'],
  LIBS.map((l) => {
    const r = mlp[l.key];
    const t = median(r.epochSeconds);
    return [l.label, t.toFixed(3), String(r.epochSeconds.length), `${(r.testAccuracy * 100).toFixed(2)}%`, r.maxRssMB.toFixed(0), Number.isNaN(ref) ? '-' : `${(ref / t).toFixed(1)}×`];
  }),
));

// 3. Small CNN epoch
process.stderr.write('cnn epoch: nabla...\n');
const cnnRows: string[][] = [];
const cnn: Record<string, unknown> = {};
const nablaCnn = [
  ...LIBS.filter((l) => l.lib === 'nabla-wasm').map((l) => ({ l, limit: 60000 })),
  ...LIBS.filter((l) => l.lib === 'nabla-js').map((l) => ({ l, limit: quick ? 3200 : 12800 })),
];
for (const { l, limit } of nablaCnn) {
  process.stderr.write(`cnn epoch: ${l.label}...\n`);
  const backend = l.lib === 'nabla-js' ? 'js' : 'wasm';
  // Two epochs on wasm (the median is then their mean: the first includes the warm-up), one on
  // the slow js backend, timed on part of the data.
  const cnnEpochs = backend === 'wasm' && !quick ? '2' : '1';
  const r = child('cnnEpoch.ts', ['--backend', backend, '--threads', String(l.threads), '--epochs', cnnEpochs, '--limit', String(limit)]);
  const epoch = r.median_epoch_seconds * (60000 / r.samples);
  cnn[l.key] = { ...r, epochSeconds: epoch };
  cnnRows.push([l.label, epoch.toFixed(2), r.samples === 60000 ? `${r.epochs} full epoch${r.epochs === 1 ? '' : 's'}` : `${r.samples} samples, scaled`,
    r.samples === 60000 ? `${(r.test_accuracy * 100).toFixed(2)}%` : '-', r.max_rss_mb.toFixed(0)]);
}
for (const l of LIBS.filter((x) => x.lib.startsWith('tfjs'))) {
  process.stderr.write(`cnn epoch: ${l.label}...\n`);
  const r = child('cnnTfjs.ts', ['--lib', l.lib, '--batches', quick ? '3' : '10']);
  cnn[l.key] = r;
  cnnRows.push(r.error
    ? [l.label, 'cannot train', r.error, '-', r.maxRssMB.toFixed(0)]
    : [l.label, r.epochSeconds.toFixed(0), `${r.batchesTimed} of ${r.batchesPerEpoch} batches, scaled`, '-', r.maxRssMB.toFixed(0)]);
}
const wasmCnn = cnn['nabla-wasm-2'] ?? cnn['nabla-wasm-1'];
say('\nMNIST epoch: small CNN (conv 5×5×8, ReLU, maxpool 2, conv 5×5×16, ReLU, maxpool 2, dense 10), SGD lr 0.05 momentum 0.9, batch 64');
say(table(['library', 'epoch (s)', 'timed on', 'test acc after them', 'peak RSS (MB)'], cnnRows));
if (wasmCnn && cnn['tfjs-cpu'] && !(cnn['tfjs-cpu'] as { error?: string }).error) {
  say(`nabla wasm is ${((cnn['tfjs-cpu'] as { epochSeconds: number }).epochSeconds / (wasmCnn as { epochSeconds: number }).epochSeconds).toFixed(0)}× faster than TF.js cpu on this CNN`);
}

const dir = join(HERE, 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'latest.json');
const json = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores, node: process.version, quick, peak, gemm, mlp, cnn };
writeFileSync(`${file}.tmp`, `${JSON.stringify(json, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
say(`\nresults written to ${file}`);
