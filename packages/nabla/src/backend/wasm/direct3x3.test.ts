// The wasm backend's direct kernels for one-input-channel 3×3 stride-1 convolutions
// (assembly/conv.ts direct3x3Forward / direct3x3Backward: a first layer on grey images): forward,
// dW and db against a float64 direct convolution, the same bits on 1 and 2 threads, and which
// shapes take them.
//
// Tolerance, relative to S = Σ|terms| of the value (y: |b| + Σ|w·x| over its 9 taps; dW and db:
// the largest Σ|dy·x| or Σ|dy| of the layer's 9·OC filter taps, as in winograd.test.ts). y is
// b + 9 fused products, so its error is a few ε32 (6e-8) of S; dW and db sum a chunk's
// N·OH·OW/4 products per vector lane one after another (up to 1,352 for the preset's 8 × 26×26
// chunks), then the chunks' sums. Measured worst ratios on these cases: 2.0e-7 (y), 3.8e-8 (dW),
// 2.4e-8 (db); tested at 1e-6, while a wrong tap, a missing or doubled column group or a wrong
// mask gives errors of order S / OW or more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../random.ts';
import { wasmBackends } from '../../../../../test/wasmBackends.ts';
import type { WasmBackend } from './wasmBackend.ts';
import { countingCalls, label, outOf, reference, run, type Conv3x3Case, type Conv3x3Operands } from '../../../../../test/conv3x3.ts';

const { one, two } = await wasmBackends();

const TOL_Y = 1e-6;
const TOL_SUM = 1e-6;

type Case = Omit<Conv3x3Case, 'c'>;
/** One input channel: the cases are written without it. */
const gray = (g: Case): Conv3x3Case => ({ ...g, c: 1 });

// The `cnn` preset's first layer (26 = 6·4 + 2 outputs a row: the last group overlaps) at a batch
// with a partial chunk; padding 1 and 2 with rows of 4 (one group), 5, 7 and 8 outputs, odd
// numbers of rows (5, 9: an unpaired last row) and 2 rows; no bias.
const CASES: Case[] = [
  { n: 13, h: 28, w: 28, p: 0, oc: 16, bias: true },
  { n: 3, h: 6, w: 5, p: 1, oc: 3, bias: true },
  { n: 9, h: 7, w: 9, p: 0, oc: 5, bias: false },
  { n: 2, h: 4, w: 4, p: 2, oc: 2, bias: true },
  { n: 17, h: 10, w: 6, p: 0, oc: 7, bias: true },
  { n: 5, h: 9, w: 8, p: 1, oc: 4, bias: false },
  { n: 6, h: 4, w: 7, p: 0, oc: 3, bias: true },
];

function operands(g: Case, seed: number): Conv3x3Operands {
  const rng = new Rng(seed);
  const [oh, ow] = outOf(gray(g));
  const f32 = (len: number, draw: () => number) => Float64Array.from({ length: len }, () => Math.fround(draw()));
  return {
    // MNIST-like: most pixels exactly zero, the rest in [0, 1].
    x: f32(g.n * g.h * g.w, () => (rng.uniform() < 0.6 ? 0 : rng.uniform())),
    weight: f32(g.oc * 9, () => rng.normal() * 0.3),
    bias: f32(g.oc, () => (g.bias ? rng.normal() : 0)),
    dy: f32(g.n * g.oc * oh * ow, () => rng.normal()),
  };
}

const KERNELS = ['direct3x3Forward', 'direct3x3Backward', 'convForward', 'convBackward'] as const;

const counting = <T>(backend: WasmBackend, body: () => T) => countingCalls(backend, KERNELS, body);

test('direct 3×3 one-channel forward, dW and db match a float64 direct convolution (within 1e-6 of Σ|terms|)', () => {
  for (const [i, c] of CASES.entries()) {
    const g = gray(c);
    const o = operands(c, 300 + i);
    const ref = reference(g, o);
    const [got, calls] = counting(one, () => run(one, g, o, false));
    assert.ok(calls.direct3x3Forward > 0 && calls.direct3x3Backward > 0 && calls.convForward + calls.convBackward === 0,
      `${label(g)}: ran ${JSON.stringify(calls)}`);
    for (const key of ['y', 'dW', 'db'] as const) {
      if (key === 'db' && !g.bias) continue;
      const [exact, scale] = ref[key];
      // y: each value's own scale; dW and db: the layer's largest.
      const layerScale = scale.reduce((m, v) => Math.max(m, v), 0);
      let worst = -1, ratio = 0;
      for (let j = 0; j < exact.length; j++) {
        const r = Math.abs(got[key][j] - exact[j]) / Math.max(key === 'y' ? scale[j] : layerScale, 1e-30);
        if (!(r <= ratio)) { ratio = r; worst = j; }
      }
      const tol = key === 'y' ? TOL_Y : TOL_SUM;
      assert.ok(ratio <= tol, `${label(g)} ${key}: |diff| / Σ|terms| = ${ratio.toExponential(2)} > ${tol} at ${worst}: ${got[key][worst]} vs ${exact[worst]}`);
    }
  }
});

test('which one-channel shapes take the direct kernels: 3×3 stride 1 with ≥ 2 rows of ≥ 4 outputs; dx asked for: im2col', () => {
  const conv = (c: number, h: number, w: number, k: number, s: number, p: number, withDx: boolean) => counting(one, () => {
    const oc = 4, n = 3;
    const oh = Math.floor((h + 2 * p - k) / s) + 1, ow = Math.floor((w + 2 * p - k) / s) + 1;
    const x = one.allocate(n * c * h * w), wt = one.allocate(oc * c * k * k), dy = one.allocate(n * oc * oh * ow);
    one.conv2dForward(one.allocate(n * oc * oh * ow), x, wt, undefined, n, c, h, w, k, k, s, s, p, p, oc);
    one.conv2dBackward(one.allocate(oc * c * k * k), one.allocate(oc), withDx ? one.allocate(x.length) : undefined, x, dy, wt, n, c, h, w, k, k, s, s, p, p, oc);
  })[1];
  assert.deepEqual(conv(1, 28, 28, 3, 1, 0, false), { direct3x3Forward: 1, direct3x3Backward: 1, convForward: 0, convBackward: 0 });
  assert.deepEqual(conv(1, 4, 4, 3, 1, 1, false), { direct3x3Forward: 1, direct3x3Backward: 1, convForward: 0, convBackward: 0 });
  // dx wanted: the forward is direct, the backward im2col's.
  assert.deepEqual(conv(1, 12, 12, 3, 1, 0, true), { direct3x3Forward: 1, direct3x3Backward: 0, convForward: 0, convBackward: 1 });
  // Rows of 3 outputs, one row of 4, a 5×5 window, stride 2: im2col.
  assert.deepEqual(conv(1, 3, 6, 3, 1, 0, false), { direct3x3Forward: 0, direct3x3Backward: 0, convForward: 1, convBackward: 1 });
  assert.deepEqual(conv(1, 5, 5, 3, 1, 0, false), { direct3x3Forward: 0, direct3x3Backward: 0, convForward: 1, convBackward: 1 });
  assert.deepEqual(conv(1, 12, 12, 5, 1, 0, false), { direct3x3Forward: 0, direct3x3Backward: 0, convForward: 1, convBackward: 1 });
  assert.deepEqual(conv(1, 12, 12, 3, 2, 1, false), { direct3x3Forward: 0, direct3x3Backward: 0, convForward: 1, convBackward: 1 });
  // Two channels: Winograd (none of these).
  assert.deepEqual(conv(2, 12, 12, 3, 1, 0, false), { direct3x3Forward: 0, direct3x3Backward: 0, convForward: 0, convBackward: 0 });
});

test('direct 3×3 one-channel kernels give bit-identical y, dW and db on 1 and 2 threads', { skip: !two && 'needs 2 cores' }, () => {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  // The preset's first layer at batch 128 (16 chunks: threaded), and a padded one with a partial chunk.
  const cases: Case[] = [{ n: 128, h: 28, w: 28, p: 0, oc: 16, bias: true }, { n: 61, h: 20, w: 15, p: 1, oc: 8, bias: true }];
  for (const [i, c] of cases.entries()) {
    const g = gray(c);
    const o = operands(c, 400 + i);
    const r1 = run(one, g, o, false);
    // Three runs: a worker that sleeps through one job (the caller then does every part) is awake for the next.
    const pool = two!.pool!;
    const jobs: string[] = [];
    const runJob = pool.run.bind(pool);
    pool.run = (name, ...rest) => (jobs.push(name), runJob(name, ...rest));
    for (let rep = 0; rep < 3; rep++) {
      jobs.length = 0;
      let r2;
      try {
        r2 = run(two!, g, o, false);
      } finally {
        pool.run = runJob;
      }
      assert.deepEqual(jobs, ['direct3x3Forward', 'direct3x3Backward'], `${label(g)}: jobs`);
      pool.run = (name, ...rest) => (jobs.push(name), runJob(name, ...rest));
      for (const key of ['y', 'dW', 'db'] as const) assert.ok(bytes(r2[key]).equals(bytes(r1[key])), `${label(g)} ${key}: 1 vs 2 threads`);
    }
    pool.run = runJob;
  }
});
