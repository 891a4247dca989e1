/**
 * The multiply-add ceiling of wasm SIMD on this CPU, as JSON on stdout (run by bench/run.ts):
 * GFLOP/s of a loop of independent f32x4 fused multiply-adds with no loads or stores, on 1
 * thread and on every core at once (worker threads). No GEMM written in wasm can beat it, so the
 * GEMM table is read against it.
 *
 *   node --import tsx bench/peak.ts
 */
import { setFlagsFromString } from 'node:v8';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import asc from 'assemblyscript/asc';
import { median } from './stats.ts';

setFlagsFromString('--experimental-wasm-relaxed-simd');

const ITERS = 20_000_000;
const FLOPS = ITERS * 12 * 8;

async function compile(): Promise<WebAssembly.Module> {
  let binary: Uint8Array<ArrayBuffer> | undefined;
  const { error, stderr } = await asc.main(
    [new URL('./assembly/peak.ts', import.meta.url).pathname, '--enable', 'simd', '--enable', 'relaxed-simd', '-O3', '--runtime', 'stub', '--outFile', 'peak.wasm'],
    { writeFile: (name, contents) => { if (name.endsWith('.wasm') && typeof contents !== 'string') binary = new Uint8Array(contents); } },
  );
  if (error || !binary) throw new Error(`peak.ts did not build: ${error?.message} ${stderr.toString()}`);
  return WebAssembly.compile(binary);
}

/** Seconds of one peak() call on each of `threads` threads started together (the slowest). */
async function run(module: WebAssembly.Module, threads: number): Promise<number> {
  const src = `const { parentPort, workerData } = require('node:worker_threads');
require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
const inst = new WebAssembly.Instance(workerData.module, {});
inst.exports.peak(1000);
parentPort.postMessage('ready');
parentPort.once('message', () => { const t0 = performance.now(); inst.exports.peak(workerData.iters); parentPort.postMessage(performance.now() - t0); });`;
  const workers = Array.from({ length: threads }, () => new Worker(src, { eval: true, workerData: { module, iters: ITERS } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const times = await Promise.all(workers.map((w) => {
    const done = new Promise<number>((resolve) => w.once('message', resolve));
    w.postMessage('go');
    return done;
  }));
  await Promise.all(workers.map((w) => w.terminate()));
  return Math.max(...times) / 1000;
}

const module = await compile();
const cores = availableParallelism();
const result: Record<string, number> = {};
for (const threads of cores >= 2 ? [1, cores] : [1]) {
  const secs: number[] = [];
  for (let r = 0; r < 5; r++) secs.push(await run(module, threads));
  result[`threads${threads}`] = (threads * FLOPS) / median(secs) / 1e9;
}
console.log(JSON.stringify({ peakGflops: result }));
