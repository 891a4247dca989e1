// The wasm backend's batch convolution (its kernels pass test/kernelConformance.ts like every
// backend's), and what only this backend has: chunks of samples split over threads (bit-identical results on 1
// and 2 threads, for the kernels and for a whole CNN's training), jobs of more than 255 chunks,
// operands outside the wasm memory, and bad sizes caught before any wasm runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONV_CASES, convArgs, convLabel, convOut, type ConvCase } from '../../../../../test/kernelConformance.ts';
import { assertNablaError } from '../../../../../test/assertNablaError.ts';
import { barImages } from '../../../../../test/barImages.ts';
import { assertClose } from '../../testing/assertClose.ts';
import { Rng } from '../../random.ts';
import { wasmBackends } from '../../../../../test/wasmBackends.ts';
import { Conv2D } from '../../layers/conv2d.ts';
import { Dense } from '../../layers/dense.ts';
import { Flatten } from '../../layers/flatten.ts';
import { MaxPool2D } from '../../layers/maxPool2d.ts';
import { ReLU } from '../../layers/activations.ts';
import { Sequential } from '../../model/sequential.ts';
import { SGD } from '../../optim/sgd.ts';
import type { Backend } from '../backend.ts';
import { JsBackend } from '../js/jsBackend.ts';
import type { WasmBackend } from './wasmBackend.ts';

const { one, two } = await wasmBackends();

interface ConvResult { y: Float32Array; dW: Float32Array; db: Float32Array; dx: Float32Array }

/** Forward and backward of one case on `backend`, from operands drawn with `seed`. */
function runConv(backend: Backend, g: ConvCase, seed: number): ConvResult {
  const rng = new Rng(seed);
  const [OH, OW] = convOut(g);
  const make = (length: number, value: () => number) => {
    const a = backend.allocate(length);
    for (let i = 0; i < length; i++) a[i] = value();
    return a;
  };
  // MNIST-like input (mostly zeros) exercises the GEMM's zero-skipping paths too.
  const x = make(g.n * g.c * g.h * g.w, () => (rng.uniform() < 0.3 ? rng.normal() : 0));
  const weight = make(g.oc * g.c * g.kh * g.kw, () => rng.normal());
  const bias = make(g.oc, () => rng.normal());
  const dy = make(g.n * g.oc * OH * OW, () => rng.normal());
  const y = make(dy.length, () => NaN);
  backend.conv2dForward(y, x, weight, bias, ...convArgs(g));
  const dW = make(weight.length, () => 0.5);
  const db = make(g.oc, () => 0.5);
  const dx = make(x.length, () => NaN);
  backend.conv2dBackward(dW, db, dx, x, dy, weight, ...convArgs(g));
  return { y, dW, db, dx };
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

test('wasm conv kernels give bit-identical y, dW, db and dx on 1 and 2 threads, and the JS backend\'s values', { skip: !two && 'needs 2 cores' }, () => {
  const js = new JsBackend();
  const cases: ConvCase[] = [
    // The small CNN at batch 64, and batches that leave a partial chunk; all large enough to be threaded.
    { n: 64, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 8 },
    { n: 64, c: 8, h: 12, w: 12, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 16 },
    { n: 13, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oc: 8 },
    { n: 21, c: 3, h: 17, w: 15, kh: 3, kw: 4, sh: 2, sw: 1, ph: 1, pw: 2, oc: 32 },
  ];
  for (const g of cases) {
    const r1 = runConv(one, g, 7);
    // Three runs back to back: a worker that sleeps through the first job is awake for the next.
    const r2 = [runConv(two!, g, 7), runConv(two!, g, 7), runConv(two!, g, 7)];
    const rj = runConv(js, g, 7);
    for (const key of ['y', 'dW', 'db', 'dx'] as const) {
      for (const r of r2) assert.ok(bytes(r[key]).equals(bytes(r1[key])), `${convLabel(g)}: ${key} differs between 1 and 2 threads`);
      assertClose(r1[key], rj[key], { rtol: 1e-4, atol: 1e-4 * Math.sqrt(g.n * convOut(g)[0] * convOut(g)[1]), label: `${convLabel(g)} ${key} wasm vs js` });
    }
  }
});

test('a batch of more than 255 chunks runs as several jobs, with the same sums as one thread', () => {
  const g: ConvCase = { n: 8 * 255 + 9, c: 2, h: 4, w: 5, kh: 3, kw: 2, sh: 1, sw: 1, ph: 1, pw: 0, oc: 3 };
  const r1 = runConv(one, g, 8);
  const rj = runConv(new JsBackend(), g, 8);
  for (const key of ['y', 'dW', 'db', 'dx'] as const) {
    assertClose(r1[key], rj[key], { rtol: 1e-4, atol: 1e-3, label: `${convLabel(g)} ${key}` });
    if (two) assert.ok(bytes(runConv(two, g, 8)[key]).equals(bytes(r1[key])), `${key} differs between 1 and 2 threads`);
  }
});

test('operands outside the wasm memory fall back to the per-sample loop, with the same results', () => {
  const g = CONV_CASES[2];
  const foreign: Backend = Object.create(one, { allocate: { value: (length: number) => new Float32Array(length) } });
  const rf = runConv(foreign, g, 9);
  assert.equal(one.wasmMemory.pointerOf(rf.y), -1, 'the operands really are foreign');
  const r1 = runConv(one, g, 9);
  for (const key of ['y', 'dW', 'db', 'dx'] as const) assertClose(rf[key], r1[key], { rtol: 1e-5, atol: 1e-5, label: key });
});

test('conv sizes that do not match the buffers, or no convolution at all, are rejected before any wasm runs', () => {
  const g: ConvCase = { n: 2, c: 3, h: 6, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0, oc: 4 };
  const x = one.allocate(2 * 3 * 36);
  const weight = one.allocate(4 * 27);
  const y = one.allocate(2 * 4 * 16);
  assertNablaError(() => one.conv2dForward(y.subarray(1), x, weight, undefined, ...convArgs(g)), ['wasm conv2dForward', 'y to hold N·OC·OH·OW = 128 values', '127']);
  assertNablaError(() => one.conv2dForward(y, x, weight, one.allocate(3), ...convArgs(g)), ['wasm conv2dForward', 'bias to hold OC = 4']);
  assertNablaError(() => one.conv2dBackward(weight.subarray(0, 5), undefined, undefined, x, y, weight, ...convArgs(g)), ['wasm conv2dBackward', 'dW to hold OC·C·KH·KW = 108']);
  assertNablaError(() => one.conv2dBackward(weight, undefined, x.subarray(9), x, y, weight, ...convArgs(g)), ['wasm conv2dBackward', 'dx to hold N·C·H·W = 216']);
  // A 7×7 window on a 6×6 image without padding has no output.
  assertNablaError(() => one.conv2dForward(y, x, weight, undefined, ...convArgs({ ...g, kh: 7, kw: 7 })), ['wasm conv2dForward', 'a window that fits']);
  assertNablaError(() => one.conv2dForward(y, x, weight, undefined, ...convArgs({ ...g, sh: 0 })), ['wasm conv2dForward', 'sh 0']);
});

test('the same seeded small CNN trains to bit-identical weights on 1 and 2 threads, and learns', { skip: !two && 'needs 2 cores' }, () => {
  const data = barImages({ size: 28, count: 192, seed: 4, near: 3, far: 17, rows: 8, cols: 3 });
  const train = (backend: WasmBackend) => {
    const model = new Sequential([
      new Conv2D(8, 5), new ReLU(), new MaxPool2D(2), new Conv2D(16, 5), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(4),
    ], { inputShape: [1, 28, 28], seed: 3, backend });
    // Batches of 32: both convolutions are above the threading threshold (7 and 13 Mflop).
    model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, backend }), loss: 'ce', epochs: 2, batchSize: 32 });
    return { weights: model.parameters().map((p) => Array.from(p.value.data)), accuracy: model.evaluate(data, { loss: 'ce' }).accuracy };
  };
  const r1 = train(one);
  const r2 = train(two!);
  assert.deepEqual(r2.weights, r1.weights, 'weights after training differ between 1 and 2 threads');
  assert.ok(r1.accuracy > 0.9, `accuracy ${r1.accuracy}`);
});

test('ReLU and max pooling of large activations, split over 2 threads, give the one-thread bits and the JS values', { skip: !two && 'needs 2 cores' }, () => {
  const js = new JsBackend();
  const rng = new Rng(10);
  // Above the split threshold (65,536 values), with lengths and plane counts that leave remainders.
  const n = 100_003;
  const values = Float32Array.from({ length: n }, () => (rng.uniform() < 0.1 ? 0 : rng.normal()));
  const grads = Float32Array.from({ length: n }, () => rng.normal());
  // The 2-thread backend runs each kernel 10 times back to back, and every result is compared:
  // a worker that sleeps through one job (the caller then does every part) is awake for the next.
  const results = [one, two!, js].map((backend) => {
    const x = backend.allocate(n);
    x.set(values);
    const dy = backend.allocate(n);
    dy.set(grads);
    const out = backend.allocate(n).fill(NaN);
    const dx = backend.allocate(n).fill(NaN);
    const runs: Buffer[][] = [];
    for (let rep = 0; rep < (backend === two ? 10 : 1); rep++) {
      out.fill(NaN);
      dx.fill(NaN);
      backend.relu(out, x, n);
      backend.reluBackward(dx, dy, x, n);
      runs.push([Buffer.from(bytes(out)), Buffer.from(bytes(dx))]);
    }
    return runs;
  });
  for (let i = 0; i < 2; i++) {
    const what = i ? 'reluBackward' : 'relu';
    for (const run of results[1]) assert.ok(run[i].equals(results[0][0][i]), `${what}: 1 vs 2 threads`);
    assert.ok(results[2][0][i].equals(results[0][0][i]), `${what}: wasm vs js`);
  }
  // [n, c, h, w, kh, kw, sh, sw, ph, pw]: the small CNN's first pool, and an overlapping padded one.
  type Window = [number, number, number, number, number, number, number, number, number, number];
  const pools: Window[] = [[64, 8, 24, 24, 2, 2, 2, 2, 0, 0], [5, 7, 45, 43, 3, 3, 2, 2, 1, 1]];
  for (const g of pools) {
    const [pn, c, h, w, kh, kw, sh, sw, ph, pw] = g;
    const size = pn * c * h * w;
    const outSize = pn * c * (Math.floor((h + 2 * ph - kh) / sh) + 1) * (Math.floor((w + 2 * pw - kw) / sw) + 1);
    // Ties and zeros, as after a ReLU.
    const xs = Float32Array.from({ length: size }, () => Math.max(0, Math.round(rng.normal() * 4) / 4));
    const dys = Float32Array.from({ length: outSize }, () => rng.normal());
    const runs = [one, two!, js].map((backend) => {
      const x = backend.allocate(size);
      x.set(xs);
      const dy = backend.allocate(outSize);
      dy.set(dys);
      const y = backend.allocate(outSize);
      const dx = backend.allocate(size);
      const out: Float32Array[][] = [];
      for (let rep = 0; rep < (backend === two ? 10 : 1); rep++) {
        y.fill(NaN);
        dx.fill(NaN);
        backend.maxPool(y, x, ...g);
        backend.maxPoolBackward(dx, dy, x, ...g);
        out.push([y.slice(), dx.slice()]);
      }
      return out;
    });
    for (let i = 0; i < 2; i++) {
      const what = `${i ? 'maxPoolBackward' : 'maxPool'} ${g.join(',')}`;
      for (const run of runs[1]) assert.ok(bytes(run[i]).equals(bytes(runs[0][0][i])), `${what}: 1 vs 2 threads`);
      assertClose(runs[0][0][i], runs[2][0][i], { rtol: 0, atol: 0, label: `${what}: wasm vs js` });
    }
  }
});
