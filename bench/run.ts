/**
 * npm run bench: nabla side by side with its peers on this machine, in one run, each peer timed
 * with its fastest documented idiom (named in the output) and at its best thread count.
 *
 * 0. The ceiling: GFLOP/s of wasm SIMD multiply-adds with no memory traffic (bench/peak.ts), on 1
 *    thread and on every core, which no wasm GEMM can pass on this CPU.
 * 1. GEMM GFLOP/s (median of several runs) for nabla js, nabla wasm on 1 and 2 threads, TF.js
 *    wasm and cpu. TF.js is timed as `c = tf.matMul(a, b); c.dataSync(); c.dispose()` with its
 *    operands in the layout it takes without transposing; on 512³ the `tf.tidy(() => ...dataSync())`
 *    form this bench used before is timed too, alternating, and printed beside it.
 * 2. One MNIST epoch of the 784-128-10 MLP (SGD lr 0.1, batch 64): nabla wasm, PyTorch and a
 *    hand-written numpy MLP on 1 and on 2 threads, alternating (nabla, torch, numpy, ...) round
 *    after round (5 rounds); then nabla js, TF.js wasm and TF.js cpu (each TF.js backend with the fastest of
 *    three training idioms, chosen in the same process: bench/mlp.ts).
 * 3. One epoch of the small CNN (bench/cnnEpoch.ts's network): nabla wasm and PyTorch on 1 and 2
 *    threads, alternating; nabla js on part of the data; TF.js cpu on a few batches (both scaled),
 *    TF.js wasm cannot train it (no convolution gradient kernels).
 * 4. One epoch of the `cnn` preset (Adam lr 2e-3, batch 128): nabla wasm and PyTorch on 1 and 2
 *    threads, alternating.
 *
 * PyTorch and numpy run from bench/peers.py in the Python that NABLA_PYTHON names (default
 * python3) when it imports torch and numpy; otherwise one line says they were skipped.
 *
 * Warm-up: every epoch is timed after untimed batches in the same process (a whole epoch for the
 * MLP, 100 batches for the small CNN, 10 for the cnn preset). The MLP's per-batch times (printed
 * once per run as "tier-up curve", in 50-batch stretches) settle after the first 100 batches,
 * where V8 has optimised the JS around the kernels; the warm-ups are at least that long.
 *
 * Every measurement runs in its own child process, so that libraries do not share a heap or a
 * core and peak memory (ru_maxrss) is each one's own. The machine may be shared: the load average
 * at the start and the end is printed, and ratios are given per round (each round's runs are
 * back to back) as well as from the medians. Results: bench/results/latest.json and latest.md
 * (the same tables, markdown ready for the README).
 *
 *   npm run bench              # full run (10–12 minutes on 2 cores)
 *   npm run bench -- --quick   # one round, epochs on part of the data (scaled), a few minutes
 *   npm run bench -- --quick --rounds 2   # the quick run's sizes, two alternating rounds of each
 *   npm run bench -- --skip tfjs-cpu,cnn-preset --out /tmp/b   # leave parts out (peak, gemm, mlp,
 *     small-cnn, cnn-preset, nabla-js, tfjs-wasm, tfjs-cpu, python); write the results elsewhere
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundledMnistDir } from 'nabla/node';
import { median } from './stats.ts';

const HERE = import.meta.dirname;
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, rounds: { type: 'string' }, skip: { type: 'string' }, out: { type: 'string' } } });
const quick = values.quick ?? false;
const skip = new Set((values.skip ?? '').split(',').filter(Boolean));
const cores = availableParallelism();
const THREADS = cores >= 2 ? [1, 2] : [1];
const load = () => loadavg().map((x) => x.toFixed(2)).join(', ');
const loadStart = load();
const started = new Date();

const md: string[] = [];
const say = (s = '') => {
  process.stdout.write(`${s}\n`);
  md.push(s);
};
const progress = (s: string) => process.stderr.write(`${s}\n`);

function run(cmd: string, args: string[]): any {
  const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}
const node = (script: string, args: string[]) => run(process.execPath, ['--conditions=nabla-source', '--import', 'tsx', join(HERE, script), ...args]);

// ---- Python peers ----
const python = process.env.NABLA_PYTHON || 'python3';
let py: { torch: string; numpy: string; python: string } | undefined;
let pySkip = '';
try {
  py = run(python, ['-c', 'import json, sys, torch, numpy; print(json.dumps({"torch": torch.__version__, "numpy": numpy.__version__, "python": sys.version.split()[0]}))']);
} catch (err) {
  const msg = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').at(-1);
  pySkip = `PyTorch and numpy peers skipped: ${python} cannot import torch and numpy (${msg}); set NABLA_PYTHON to a Python that has them.`;
}
if (skip.has('python')) {
  py = undefined;
  pySkip = 'PyTorch and numpy peers skipped: --skip python.';
}
const mnistDir = bundledMnistDir();
const peer = (lib: string, workload: string, threads: number, args: string[]) =>
  run(python, [join(HERE, 'peers.py'), '--lib', lib, '--workload', workload, '--threads', String(threads), '--mnist-dir', mnistDir, ...args]);

let tfjsVersion = 'not installed';
const tfPkg = join(HERE, 'node_modules', '@tensorflow', 'tfjs', 'package.json');
if (existsSync(tfPkg)) tfjsVersion = JSON.parse(readFileSync(tfPkg, 'utf8')).version;

// ---- tables ----
function table(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const range = (xs: number[], d = 2) => (xs.length > 1 ? `${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)}` : f(xs[0], d));

/** One timed configuration of one workload: every epoch's seconds (scaled when on part of the data). */
interface Entry {
  peer: string;
  threads: number;
  idiom: string;
  seconds: number[];
  rss: number[];
  accuracy?: number;
  note?: string;
}
const entries: Record<string, Entry[]> = { mlp: [], 'small-cnn': [], 'cnn-preset': [] };
function add(workload: string, peer: string, threads: number, r: any, note?: string) {
  const scale = 60000 / r.samples;
  let e = entries[workload].find((x) => x.peer === peer && x.threads === threads);
  if (!e) entries[workload].push((e = { peer, threads, idiom: r.idiom, seconds: [], rss: [], note }));
  e.seconds.push(...r.epochSeconds.map((s: number) => s * scale));
  e.rss.push(r.maxRssMB);
  e.accuracy = r.testAccuracy;
}
/** Per peer, the thread count with the lowest median epoch. */
function best(workload: string, peer: string): Entry | undefined {
  const es = entries[workload].filter((e) => e.peer === peer);
  return es.sort((a, b) => median(a.seconds) - median(b.seconds))[0];
}
function epochTable(workload: string) {
  const rows = entries[workload].map((e) => {
    const b = best(workload, e.peer);
    return [
      `${e.peer}${b === e && entries[workload].filter((x) => x.peer === e.peer).length > 1 ? ' (best)' : ''}`, String(e.threads),
      f(median(e.seconds)), range(e.seconds), String(e.seconds.length), e.accuracy === undefined ? '-' : `${(100 * e.accuracy).toFixed(2)}%`,
      f(Math.max(...e.rss), 0), e.idiom + (e.note ? `; ${e.note}` : ''),
    ];
  });
  say(table(['peer', 'threads', 'epoch s (median)', 'range', 'epochs', 'test acc', 'peak RSS MB', 'idiom'], rows));
}
/**
 * Per-round ratios a/b of two peers' best thread counts, or of both on `threads` when given (runs
 * of one round are back to back).
 */
function ratio(workload: string, a: string, b: string, perRound = true, threads?: number): string {
  const at = (peer: string) => (threads === undefined ? best(workload, peer) : entries[workload].find((e) => e.peer === peer && e.threads === threads));
  const ea = at(a);
  const eb = at(b);
  if (!ea || !eb) return '';
  const n = Math.min(ea.seconds.length, eb.seconds.length);
  const per = Array.from({ length: n }, (_, i) => ea.seconds[i] / eb.seconds[i]);
  return `${a} (${ea.threads}t) / ${b} (${eb.threads}t): ${f(median(ea.seconds) / median(eb.seconds))}× from the medians` +
    (perRound && n > 1 ? `, ${range(per)}× round by round` : '');
}

say(`# nabla bench${quick ? ' (quick)' : ''}`);
say();
say(`${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores; Node ${process.version}; TF.js ${tfjsVersion}` +
  (py ? `; Python ${py.python}, torch ${py.torch}, numpy ${py.numpy}` : ''));
say(`Started ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${loadStart} (1, 5, 15 min).`);
if (pySkip) say(pySkip);
say('Figures are medians with their range; the machine may be shared, so compare within this run.');
say();

// 0. The ceiling.
const peak: Record<string, number> = skip.has('peak') ? {} : (progress('peak: wasm SIMD multiply-add...'), node('peak.ts', []).peakGflops);
const peakText = Object.entries(peak).map(([k, v]) => `${v.toFixed(1)} GFLOP/s on ${k.replace('threads', '')} thread${k === 'threads1' ? '' : 's'}`).join(', ');
if (peakText) say(`Ceiling: wasm f32x4 fused multiply-adds with no loads or stores reach ${peakText}.\n`);

// 1. GEMM.
const GEMM_LIBS = [
  { key: 'nabla-js', lib: 'nabla-js', threads: 1, label: 'nabla js' },
  { key: 'nabla-wasm-1', lib: 'nabla-wasm', threads: 1, label: 'nabla wasm 1t' },
  ...(cores >= 2 ? [{ key: 'nabla-wasm-2', lib: 'nabla-wasm', threads: 2, label: 'nabla wasm 2t' }] : []),
  { key: 'tfjs-wasm', lib: 'tfjs-wasm', threads: 1, label: 'TF.js wasm' },
  { key: 'tfjs-cpu', lib: 'tfjs-cpu', threads: 1, label: 'TF.js cpu' },
].filter((l) => !skip.has(l.key) && !skip.has('gemm'));
const gemm: Record<string, any> = {};
for (const l of GEMM_LIBS) {
  progress(`gemm: ${l.label}...`);
  gemm[l.key] = node('gemm.ts', ['--lib', l.lib, '--threads', String(l.threads), ...(quick ? ['--quick'] : [])]);
}
if (GEMM_LIBS.length) {
  const shapes: string[] = gemm[GEMM_LIBS[0].key].results.map((r: { shape: string }) => r.shape);
  say('## GEMM, GFLOP/s (C = A·B, float32)');
  say();
  say(table(['shape', ...GEMM_LIBS.map((l) => l.label), ...(gemm['tfjs-wasm'] && gemm['nabla-wasm-2'] ? ['nabla wasm 2t / TF.js wasm'] : [])],
    shapes.map((shape, i) => [
      shape,
      ...GEMM_LIBS.map((l) => f(gemm[l.key].results[i].gflops, 1) + (gemm[l.key].results[i].layout === 'operands stored untransposed' ? '*' : '')),
      ...(gemm['tfjs-wasm'] && gemm['nabla-wasm-2'] ? [`${f(gemm['nabla-wasm-2'].results[i].gflops / gemm['tfjs-wasm'].results[i].gflops, 1)}×`] : []),
    ])));
  say();
  say('TF.js timed as `const c = tf.matMul(a, b); c.dataSync(); c.dispose()`; * = with its operands stored untransposed (faster than its transpose flags).');
  const i512 = shapes.indexOf('512³');
  const share = GEMM_LIBS.filter((l) => l.lib === 'nabla-wasm' && peak[`threads${l.threads}`] && i512 >= 0)
    .map((l) => `${l.label} ${((100 * gemm[l.key].results[i512].gflops) / peak[`threads${l.threads}`]).toFixed(0)}%`);
  if (share.length) say(`512³ as a share of the ceiling on the same thread count: ${share.join(', ')}.`);
  for (const k of ['tfjs-wasm', 'tfjs-cpu']) {
    const id = gemm[k]?.idioms;
    if (id) say(`${k} 512³, alternating: \`${id.fast.idiom}\` ${range(id.fast.gflops, 1)} GFLOP/s; \`${id.tidy.idiom}\` (this bench before issue 17) ${range(id.tidy.gflops, 1)} GFLOP/s.`);
  }
  say();
}

// 2. MLP epoch: nabla wasm, torch, numpy alternating; then nabla js and TF.js.
// Five rounds: an MLP epoch is short, and on a shared machine one process can land on a core
// that runs memory-bound code ~1.4× slower for minutes (README, Speed): more rounds let each peer
// meet both cores, so one unlucky placement does not decide the medians.
const rounds = values.rounds ? Number(values.rounds) : quick ? 1 : 5;
let curve: number[] | undefined;
let curveThreads = 0;
if (!skip.has('mlp')) {
  const mlpArgs = quick ? ['--warmup-batches', '938', '--epochs', '1'] : ['--warmup-batches', '938', '--epochs', '1'];
  for (let r = 0; r < rounds; r++) {
    for (const t of THREADS) {
      progress(`mlp epoch, round ${r + 1}/${rounds}, ${t} thread(s): nabla...`);
      const wantCurve = r === 0 && t === THREADS.at(-1);
      const n = node('nablaEpoch.ts', ['--workload', 'mlp', '--threads', String(t), ...mlpArgs, ...(wantCurve ? ['--curve'] : [])]);
      if (wantCurve) {
        curve = n.curveMsPerBatch;
        curveThreads = t;
      }
      add('mlp', 'nabla wasm', t, n);
      if (py) {
        progress('  torch...');
        add('mlp', 'PyTorch', t, peer('torch', 'mlp', t, ['--warmup-batches', '938']));
        progress('  numpy...');
        add('mlp', 'numpy MLP', t, peer('numpy', 'mlp', t, ['--warmup-batches', '938']));
      }
    }
  }
  if (!skip.has('nabla-js')) {
    progress('mlp epoch: nabla js...');
    add('mlp', 'nabla js', 1, node('nablaEpoch.ts', ['--workload', 'mlp', '--backend', 'js', '--warmup-batches', '100', '--epochs', '1']));
  }
  for (const lib of ['tfjs-wasm', 'tfjs-cpu'].filter((l) => !skip.has(l))) {
    progress(`mlp epoch: ${lib}...`);
    const cpu = lib === 'tfjs-cpu';
    const r = node('mlp.ts', ['--lib', lib, '--epochs', cpu || quick ? '1' : '2', '--probe', cpu ? (quick ? '5' : '20') : (quick ? '30' : '100')]);
    const others = Object.entries(r.idiomMsPerBatch as Record<string, number[]>).map(([k, v]) => `${k} ${range(v, 1)}`).join(', ');
    add('mlp', lib === 'tfjs-wasm' ? 'TF.js wasm' : 'TF.js cpu', 1, { ...r, samples: 60000, idiom: `${r.idiom} (fastest; ms/batch: ${others})` });
  }
  say('## MNIST epoch: MLP 784-128-10, ReLU, softmax cross-entropy, SGD lr 0.1, batch 64');
  say();
  epochTable('mlp');
  say();
  for (const [a, b] of [['nabla wasm', 'numpy MLP'], ['nabla wasm', 'PyTorch'], ['nabla wasm', 'TF.js wasm']]) {
    const text = ratio('mlp', a, b, !b.startsWith('TF.js'));
    if (text) say(`- ${text}`);
  }
  // Both on one thread: the kernels against OpenBLAS's, whatever a second thread adds to either.
  const oneThread = ratio('mlp', 'nabla wasm', 'numpy MLP', true, 1);
  if (oneThread && (best('mlp', 'nabla wasm')?.threads !== 1 || best('mlp', 'numpy MLP')?.threads !== 1)) say(`- on one thread each: ${oneThread}`);
  if (curve) {
    say();
    say(`Tier-up curve (nabla wasm ${curveThreads}t, round 1, from the first warm-up batch): ms per batch, 50-batch stretches: ${curve.slice(0, 12).map((x) => x.toFixed(1)).join(', ')}, ...`);
  }
  say();
}

/**
 * Epochs of `workload` for nabla wasm and PyTorch on every thread count, alternating round after
 * round (quick: on 12,800 samples, scaled); each peer's row is then its best thread count.
 */
function alternateEpochs(workload: 'small-cnn' | 'cnn-preset', label: string, rounds: number, warmup: string): void {
  const limit = quick ? ['--limit', '12800'] : [];
  const note = quick ? 'scaled from 12,800 samples' : undefined;
  for (let r = 0; r < rounds; r++) {
    for (const t of THREADS) {
      progress(`${label} epoch, round ${r + 1}/${rounds}, ${t} thread(s): nabla...`);
      add(workload, 'nabla wasm', t, node('nablaEpoch.ts', ['--workload', workload, '--threads', String(t), '--warmup-batches', warmup, ...limit]), note);
      if (py) {
        progress('  torch...');
        add(workload, 'PyTorch', t, peer('torch', workload, t, ['--warmup-batches', warmup, ...limit]), note);
      }
    }
  }
}

// 3. Small CNN epoch.
const cnnRounds = values.rounds ? Number(values.rounds) : quick ? 1 : 2;
if (!skip.has('small-cnn')) {
  alternateEpochs('small-cnn', 'small cnn', cnnRounds, '100');
  if (!skip.has('nabla-js')) {
    progress('small cnn epoch: nabla js...');
    const n = quick ? 3200 : 12800;
    add('small-cnn', 'nabla js', 1, node('nablaEpoch.ts', ['--workload', 'small-cnn', '--backend', 'js', '--warmup-batches', '20', '--limit', String(n)]), `scaled from ${n.toLocaleString('en')} samples`);
  }
  const tfNotes: string[] = [];
  for (const lib of ['tfjs-cpu', 'tfjs-wasm'].filter((l) => !skip.has(l))) {
    progress(`small cnn epoch: ${lib}...`);
    const r = node('cnnTfjs.ts', ['--lib', lib, '--batches', quick ? '1' : '3']);
    if (r.error) tfNotes.push(`${lib === 'tfjs-wasm' ? 'TF.js wasm' : 'TF.js cpu'} cannot train it: ${r.error}.`);
    else {
      const per = Object.entries(r.idiomSecondsPerBatch as Record<string, number[]>).map(([k, v]) => `${k} ${range(v)}`).join(', ');
      add('small-cnn', 'TF.js cpu', 1, { epochSeconds: [r.epochSeconds], samples: 60000, maxRssMB: r.maxRssMB, idiom: `${r.idiom} (fastest; s/batch: ${per})` },
        `scaled from ${r.batchesTimed} batches`);
    }
  }
  say('## MNIST epoch: small CNN (conv 5×5×8, ReLU, maxpool 2, conv 5×5×16, ReLU, maxpool 2, dense 10), SGD lr 0.05 momentum 0.9, batch 64');
  say();
  epochTable('small-cnn');
  say();
  for (const n of tfNotes) say(n);
  const text = ratio('small-cnn', 'nabla wasm', 'PyTorch');
  if (text) say(`- ${text}`);
  say();
}

// 4. The cnn preset: full epochs on every thread count, alternating. (Until 2026-12-06 19:08 the thread
// count was chosen by two 20-batch probes at each: on this shared machine the probes picked
// PyTorch's 1 thread in 4 of 15 runs, a 2-thread probe having met a core slowed from outside the
// VM, and those runs then compared nothing. With full epochs at both counts a whole run still takes 10-12 minutes.)
if (!skip.has('cnn-preset')) {
  alternateEpochs('cnn-preset', 'cnn preset', cnnRounds, '10');
  say('## MNIST epoch: the `cnn` preset (2× (conv 3×3, batch norm, ReLU) ×2 at 16 and 32 channels, maxpool after each pair, dense 128, dropout 0.3, dense 10), Adam lr 2e-3, batch 128');
  say();
  epochTable('cnn-preset');
  say();
  const text = ratio('cnn-preset', 'nabla wasm', 'PyTorch');
  if (text) say(`- ${text}`);
  say();
}

// Summary: the ratios the issue asks for.
say('## Summary');
say();
const sumRows: string[][] = [];
for (const [w, name] of [['mlp', 'MLP epoch'], ['small-cnn', 'small CNN epoch'], ['cnn-preset', '`cnn` preset epoch']] as const) {
  const peers = [...new Set(entries[w].map((e) => e.peer))];
  for (const p of peers) {
    const e = best(w, p)!;
    sumRows.push([name, p, String(e.threads), f(median(e.seconds)), range(e.seconds), String(e.seconds.length), f(Math.max(...entries[w].filter((x) => x.peer === p).flatMap((x) => x.rss)), 0)]);
  }
}
say(table(['workload', 'peer (best thread count)', 'threads', 'epoch s (median)', 'range', 'epochs', 'peak RSS MB'], sumRows));
say();
for (const [w, a, b] of [['mlp', 'nabla wasm', 'numpy MLP'], ['mlp', 'nabla wasm', 'PyTorch'], ['small-cnn', 'nabla wasm', 'PyTorch'], ['cnn-preset', 'nabla wasm', 'PyTorch']]) {
  const text = ratio(w, a, b);
  if (text) say(`- ${w}: ${text}`);
}
say();
say(`Finished ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${load()} (started at ${loadStart}).`);

const dir = values.out ?? join(HERE, 'results');
mkdirSync(dir, { recursive: true });
const write = (name: string, text: string) => {
  writeFileSync(join(dir, `${name}.tmp`), text);
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
};
write('latest.json', `${JSON.stringify({
  date: started.toISOString(), cpu: cpus()[0]?.model, cores, node: process.version, tfjs: tfjsVersion, python: py, pythonSkipped: pySkip || undefined,
  loadStart, loadEnd: load(), quick, peak, gemm, epochs: entries, tierUpCurve: curve,
}, null, 2)}\n`);
write('latest.md', `${md.join('\n')}\n`);
process.stdout.write(`\nresults written to ${join(dir, 'latest.json')} and latest.md\n`);
