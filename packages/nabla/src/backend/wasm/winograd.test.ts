// The wasm backend's Winograd convolutions (assembly/winograd.ts: every 3×3 stride-1 window with
// at least 2 input channels): forward, dx, dW and db against a float64 direct convolution, on the
// `cnn` preset's shapes and padded ones; the same bits on 1 and 2 threads; and a 3×3 CNN that
// trains to the same weights on 1 and 2 threads and learns.
//
// Tolerance. A direct float32 sum of K products errs by about K·ε·Σ|terms| at worst; Winograd
// adds the rounding of its transforms, whose entries are larger for F(4×4, 3×3) (Bᵀ up to 5, Aᵀ
// up to 8, G's 1/6 and 1/24 not exact in float32), and a transform mixes all the values of a
// tile, so a small output next to large ones inherits their rounding. So every value is compared
// with its float64 reference relative to the largest scale S = Σ|terms| in its plane (Σ|W|·|x|
// over an output plane for y, Σ|W|·|dy| over an input plane for dx, Σ|dy|·|x| over a 3×3
// filter for dW): |got − ref| ≤ TOL·S. Measured worst ratios on these cases: 1.4e-7 where
// F(2×2, 3×3) runs, 2.9e-6 where F(4×4, 3×3) runs (y of the 24×24 output). TOL = 1e-5 (~84 ε32)
// is ~3× that, while a wrong transform entry, tap or tile gives errors of order S.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../random.ts';
import { wasmBackends } from '../../../../../test/wasmBackends.ts';
import { Conv2D } from '../../layers/conv2d.ts';
import { Dense } from '../../layers/dense.ts';
import { Flatten } from '../../layers/flatten.ts';
import { MaxPool2D } from '../../layers/maxPool2d.ts';
import { ReLU } from '../../layers/activations.ts';
import { Sequential } from '../../model/sequential.ts';
import { SGD } from '../../optim/sgd.ts';
import type { WasmBackend } from './wasmBackend.ts';
import { barImages } from '../../../../../test/barImages.ts';
import { countingCalls, label, outOf, reference, run, type Conv3x3Case, type Conv3x3Operands } from '../../../../../test/conv3x3.ts';

const { one, two } = await wasmBackends();

const TOL = 1e-5;

type Case = Omit<Conv3x3Case, 'bias'>;
const withBias = (g: Case): Conv3x3Case => ({ ...g, bias: true });
const WINOGRAD = ['winoForward', 'winoBackward'] as const;
/** Runs body, counting the Winograd kernels the calling thread ran. */
const winogradCalls = <T>(body: () => T): [T, number] => {
  const [result, calls] = countingCalls(one, WINOGRAD, body);
  return [result, calls.winoForward + calls.winoBackward];
};

// The `cnn` preset's four convolutions (but the first, which has one channel and stays on im2col)
// at a batch with a partial chunk and a partial group of 4 samples, then padded cases: 1 (the
// common "same" padding), 2 (corners see only padding), and outputs that 2×2 and 4×4 tiles
// overhang (odd and not multiples of 4); then a batch of more than 255 chunks.
const CASES: Case[] = [
  { n: 13, c: 16, h: 26, w: 26, p: 0, oc: 16 },
  { n: 13, c: 16, h: 12, w: 12, p: 0, oc: 32 },
  { n: 13, c: 32, h: 10, w: 10, p: 0, oc: 32 },
  { n: 5, c: 3, h: 14, w: 13, p: 1, oc: 5 },
  { n: 3, c: 2, h: 3, w: 3, p: 2, oc: 2 },
  { n: 9, c: 5, h: 11, w: 9, p: 0, oc: 7 },
  // More than 255 chunks (of 16 for so small an output): several jobs, their dW partials still
  // added in chunk order.
  { n: 4100, c: 2, h: 4, w: 5, p: 1, oc: 3 },
];

function operands(g: Case, seed: number): Conv3x3Operands {
  const rng = new Rng(seed);
  const [oh, ow] = outOf(withBias(g));
  const f32 = (len: number, draw: () => number) => Float64Array.from({ length: len }, () => Math.fround(draw()));
  return {
    // Post-ReLU-like inputs: a third exactly zero.
    x: f32(g.n * g.c * g.h * g.w, () => (rng.uniform() < 0.33 ? 0 : rng.normal())),
    weight: f32(g.oc * g.c * 9, () => rng.normal() * 0.3),
    bias: f32(g.oc, () => rng.normal()),
    dy: f32(g.n * g.oc * oh * ow, () => rng.normal()),
  };
}

test('Winograd forward, dx, dW and db match a float64 direct convolution within 1e-5 of Σ|terms|', () => {
  const [, calls] = winogradCalls(() => {
    for (const [i, c] of CASES.entries()) {
      const g = withBias(c);
      const o = operands(c, 100 + i);
      const ref = reference(g, o);
      const got = run(one, g, o, true);
      const [oh, ow] = outOf(g);
      const planes = { y: oh * ow, dx: g.h * g.w, dW: 9, db: 1 };
      for (const key of ['y', 'dx', 'dW', 'db'] as const) {
        const [exact, scale] = ref[key];
        let worst = -1, ratio = 0, planeScale = 0;
        for (let j = 0; j < exact.length; j++) {
          if (j % planes[key] === 0) planeScale = Math.max(...scale.subarray(j, j + planes[key]));
          const r = Math.abs(got[key][j] - exact[j]) / Math.max(planeScale, 1e-30);
          if (!(r <= ratio)) { ratio = r; worst = j; }
        }
        assert.ok(ratio <= TOL, `${label(g)} ${key}: |diff| / Σ|terms| = ${ratio.toExponential(2)} > ${TOL} at ${worst}: ${got[key][worst]} vs ${exact[worst]}`);
      }
    }
  });
  // Forward and backward of each case ran through the Winograd kernels (not im2col).
  assert.ok(calls >= 2 * CASES.length, `Winograd kernels called ${calls} times`);
});

test('one input channel (direct3x3.test.ts), a 5×5 window or stride 2 do not run Winograd', () => {
  const [, calls] = winogradCalls(() => {
    const shapes: [Case, number, number][] = [[{ n: 4, c: 1, h: 28, w: 28, p: 0, oc: 16 }, 3, 1], [{ n: 4, c: 4, h: 12, w: 12, p: 0, oc: 8 }, 5, 1],
      [{ n: 4, c: 4, h: 12, w: 12, p: 1, oc: 8 }, 3, 2]];
    for (const [g, k, s] of shapes) {
      const oh = Math.floor((g.h + 2 * g.p - k) / s) + 1;
      one.conv2dForward(one.allocate(g.n * g.oc * oh * oh), one.allocate(g.n * g.c * g.h * g.w), one.allocate(g.oc * g.c * k * k), undefined,
        g.n, g.c, g.h, g.w, k, k, s, s, g.p, g.p, g.oc);
    }
  });
  assert.equal(calls, 0);
});

// The 36 planes of transformed filters (and of dW's sums) are an odd number of 64-byte lines
// apart: at 2 or 4 KiB apart (32 × 16 or 32 × 32 channels) a filter's 36 values fell in one or
// two L1 sets, and transforming the preset's 32 × 32 filters took 583 µs instead of ~17 µs.
test('transformed filter planes lie an odd number of cache lines apart', () => {
  const k = (one as unknown as { k: { winoFilterBytes(oc: number, c: number): number } }).k;
  for (const [oc, c] of [[16, 16], [32, 16], [32, 32], [64, 64], [3, 5], [1, 16]]) {
    const bytes = k.winoFilterBytes(oc, c);
    assert.equal(bytes % 36, 0, `${oc}×${c}: 36 planes`);
    const plane = bytes / 36;
    assert.ok(plane >= 4 * oc * c, `${oc}×${c}: a plane holds OC × C floats`);
    assert.equal(plane % 64, 0, `${oc}×${c}: whole lines`);
    assert.equal((plane / 64) % 2, 1, `${oc}×${c}: ${plane / 64} lines apart`);
  }
});

test('Winograd convolutions give bit-identical y, dx, dW and db on 1 and 2 threads', { skip: !two && 'needs 2 cores' }, () => {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  // The preset's three Winograd layers at batch 40 (10 chunks of 4 or 3 of 16: threaded), and a padded case.
  const cases: Case[] = [
    { n: 40, c: 16, h: 26, w: 26, p: 0, oc: 16 }, { n: 40, c: 16, h: 12, w: 12, p: 0, oc: 32 },
    { n: 40, c: 32, h: 10, w: 10, p: 0, oc: 32 }, { n: 37, c: 8, h: 14, w: 14, p: 1, oc: 8 },
  ];
  for (const [i, c] of cases.entries()) {
    const g = withBias(c);
    const o = operands(c, 200 + i);
    const r1 = run(one, g, o, true);
    // Three runs: a worker that sleeps through one job (the caller then does every part) is awake for the next.
    for (let rep = 0; rep < 3; rep++) {
      const r2 = run(two!, g, o, true);
      for (const key of ['y', 'dx', 'dW', 'db'] as const) assert.ok(bytes(r2[key]).equals(bytes(r1[key])), `${label(g)} ${key}: 1 vs 2 threads`);
    }
  }
});

test('a seeded CNN of 3×3 convolutions trains to bit-identical weights on 1 and 2 threads, and learns', { skip: !two && 'needs 2 cores' }, () => {
  const data = barImages({ size: 16, count: 160, seed: 5, near: 2, far: 9, rows: 5, cols: 2 });
  const train = (backend: WasmBackend) => {
    // The second and third convolutions (8 and 12 input channels, 14×14 and 5×5 padded) run by Winograd.
    const model = new Sequential([
      new Conv2D(8, 3), new ReLU(), new Conv2D(12, 3, { padding: 1 }), new ReLU(), new MaxPool2D(2), new Conv2D(12, 3, { padding: 1 }), new ReLU(),
      new Flatten(), new Dense(4),
    ], { inputShape: [1, 16, 16], seed: 3, backend });
    model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, backend }), loss: 'ce', epochs: 3, batchSize: 32 });
    return { weights: model.parameters().map((p) => Array.from(p.value.data)), accuracy: model.evaluate(data, { loss: 'ce' }).accuracy };
  };
  const [r1, calls] = winogradCalls(() => train(one));
  assert.ok(calls > 0, 'the model ran Winograd convolutions');
  const r2 = train(two!);
  assert.deepEqual(r2.weights, r1.weights, 'weights after training differ between 1 and 2 threads');
  assert.ok(r1.accuracy > 0.9, `accuracy ${r1.accuracy}`);
});
