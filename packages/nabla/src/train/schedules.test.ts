// Learning-rate schedules: the formulas at chosen steps, warm-up composed with each decay, and the
// callback following the global step, including a run resumed mid-way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { SGD } from '../optim/sgd.ts';
import { Sequential } from '../model/sequential.ts';
import { checkSchedule, cosineDecay, lrSchedule, scheduledLr } from './schedules.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { gaussianBlobs } from '../../../../test/blobs.ts';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${msg ?? ''} ${a} vs ${b}`);

test('step decay: γ every s epochs, counted in batches', () => {
  const s = { type: 'step' as const, stepSize: 2, gamma: 0.5 };
  // 100 batches per epoch, 8 epochs.
  close(scheduledLr(0.1, s, 0, 100, 800), 0.1);
  close(scheduledLr(0.1, s, 199, 100, 800), 0.1, 'last batch of epoch 2');
  close(scheduledLr(0.1, s, 200, 100, 800), 0.05, 'first batch of epoch 3');
  close(scheduledLr(0.1, s, 450, 100, 800), 0.025);
  close(scheduledLr(0.1, s, 799, 100, 800), 0.0125);
});

test('exponential decay: γ per epoch, applied smoothly per batch', () => {
  const s = { type: 'exponential' as const, gamma: 0.9 };
  close(scheduledLr(1, s, 0, 10, 100), 1);
  close(scheduledLr(1, s, 10, 10, 100), 0.9);
  close(scheduledLr(1, s, 25, 10, 100), 0.9 ** 2.5);
});

test('cosine: η_0 at the start, the midpoint average, η_min at the end', () => {
  const s = { type: 'cosine' as const, minLr: 0.01 };
  close(scheduledLr(0.1, s, 0, 10, 100), 0.1);
  close(scheduledLr(0.1, s, 50, 10, 100), 0.055);
  close(scheduledLr(0.1, s, 100, 10, 100), 0.01);
  close(scheduledLr(0.1, { type: 'cosine' }, 25, 10, 100), 0.05 * (1 + Math.cos(Math.PI / 4)));
});

test('linear warm-up ramps to η_0 over W steps, then the decay starts from η_0 over the remaining steps', () => {
  // Warm-up of 0.5 epoch = 5 steps of 10.
  for (const type of ['constant', 'cosine', 'step', 'exponential'] as const) {
    const s = { type, warmup: 0.5, gamma: 0.5, stepSize: 1 };
    close(scheduledLr(0.2, s, 0, 10, 100), 0.04, `${type} step 0`);
    close(scheduledLr(0.2, s, 4, 10, 100), 0.2, `${type} step 4`);
    close(scheduledLr(0.2, s, 5, 10, 100), 0.2, `${type} first step after warm-up`);
  }
  close(scheduledLr(0.2, { type: 'cosine', warmup: 0.5 }, 5 + 95 / 2, 10, 100), 0.1, 'cosine midpoint of the remaining 95 steps');
  close(scheduledLr(0.2, { type: 'step', warmup: 0.5, gamma: 0.5, stepSize: 1 }, 15, 10, 100), 0.1, 'step counts epochs after the warm-up');
});

test('the callback sets lr before every batch; a resumed run (info.step) continues the same sequence', () => {
  const data = gaussianBlobs(40, 1);
  const run = (resumeAt?: number) => {
    const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
    const opt = new SGD(model.parameters(), { lr: 0.1 });
    const lrs: number[] = [];
    const cb = lrSchedule(opt, { type: 'step', stepSize: 1, gamma: 0.5, warmup: 1 });
    cb.onTrainBegin!({ epochs: 4, batches: 5, samples: 40, initialEpoch: 0, step: resumeAt ?? 0, history: { epochs: [] }, task: 'classification' });
    for (let i = resumeAt ?? 0; i < 20; i++) {
      lrs.push(opt.lr);
      cb.onBatchEnd!({ epoch: 1, batch: 1, batches: 5, loss: 0 });
    }
    return lrs;
  };
  const full = run();
  // Warm-up over epoch 1 (5 steps), then halving every epoch.
  [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05].forEach((v, i) => close(full[i], v, `step ${i}`));
  assert.deepEqual(run(7), full.slice(7));
  // Through fit: the epoch logs record the lr at each epoch's start.
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  const opt = new SGD(model.parameters(), { lr: 0.1 });
  const h = model.fit(data, { optimizer: opt, loss: 'ce', epochs: 3, batchSize: 8, callbacks: [lrSchedule(opt, { type: 'step', gamma: 0.5 })] });
  assert.deepEqual(h.epochs.map((e) => e.lr), [0.1, 0.05, 0.025]);
  // cosineDecay keeps its old meaning.
  const opt2 = new SGD(model.parameters(), { lr: 0.1 });
  const h2 = model.fit(data, { optimizer: opt2, loss: 'ce', epochs: 2, batchSize: 8, callbacks: [cosineDecay(opt2)] });
  close(h2.epochs[1].lr, 0.05);
});

test('bad schedule options are refused with the option named', () => {
  assertNablaError(() => checkSchedule({ type: 'step', gamma: 1.5 }, 0.1), ['gamma', '(0, 1]', '1.5']);
  assertNablaError(() => checkSchedule({ type: 'step', stepSize: 0 }, 0.1), ['stepSize', '0']);
  assertNablaError(() => checkSchedule({ type: 'cosine', minLr: 0.2 }, 0.1), ['minLr', '0.2']);
  assertNablaError(() => checkSchedule({ warmup: -1 }, 0.1), ['warmup', '-1']);
  assertNablaError(() => checkSchedule({ type: 'cyclic' as never }, 0.1), ['type', 'cyclic']);
});
