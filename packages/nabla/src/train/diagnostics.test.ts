// Diagnostics and regularisation inside fit: NaN/Infinity caught at the batch where it appears
// with the layer named, gradient-norm clipping across all parameters, exploding-gradient and
// dead-ReLU warnings, and early stopping with restore-best.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dense } from '../layers/dense.ts';
import { ReLU, Tanh } from '../layers/activations.ts';
import { Layer, type LayerConfig } from '../layers/layer.ts';
import { SGD } from '../optim/sgd.ts';
import { Adam } from '../optim/adam.ts';
import { Tensor, type Shape } from '../tensor.ts';
import type { Rng } from '../random.ts';
import { DivergenceError, type Callback } from './fit.ts';
import { Sequential } from '../model/sequential.ts';
import { EarlyStopping } from './earlyStopping.ts';
import { TrainingMonitor, clipGradNorm, deadUnitFraction, gradSumOfSquares, type TrainingWarning } from './diagnostics.ts';
import { firstNonFinite } from '../tensor.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { gaussianBlobs } from '../../../../test/blobs.ts';

const data = gaussianBlobs(64, 5);

function fitError(model: Sequential, optimizer: SGD | Adam, callbacks: Callback[] = []): DivergenceError {
  try {
    model.fit(data, { optimizer, loss: 'ce', epochs: 3, batchSize: 8, callbacks });
  } catch (e) {
    assert.ok(e instanceof DivergenceError, `expected a DivergenceError, got ${String(e)}`);
    return e;
  }
  assert.fail('fit should have thrown');
}

test('firstNonFinite finds NaN and ±Infinity, and only those', () => {
  assert.equal(firstNonFinite(new Float32Array([0, -3e38, 1e-45, 5])), -1);
  assert.equal(firstNonFinite(new Float32Array([0, 1, NaN, Infinity])), 2);
  assert.equal(firstNonFinite(new Float32Array([-Infinity])), 0);
});

test('a weight that turns NaN mid-run is caught at that batch, naming its layer; the update is skipped', () => {
  const model = new Sequential([new Dense(5), new Tanh(), new Dense(4), new ReLU(), new Dense(3)], { inputShape: [4], seed: 2 });
  const opt = new SGD(model.parameters(), { lr: 0.05 });
  // Poison layer 2's weights after batch 3 of epoch 2.
  const poison: Callback = { onBatchEnd: (l) => void (l.epoch === 2 && l.batch === 3 && (model.layers[2].params()[0].value.data[5] = NaN)) };
  const e = fitError(model, opt, [poison]);
  assert.equal(e.epoch, 2);
  assert.equal(e.batch, 4, 'the first batch that sees it');
  assert.equal(e.layer, 'layer 2 (Dense)');
  assert.match(e.message, /epoch 2 batch 4, layer 2 \(Dense\)/);
  assert.match(e.message, /NaN in the weight of layer 2 \(Dense\)/);
  assert.match(e.message, /lower --lr/);
  // Restored to the end of epoch 1: finite again.
  assert.ok(model.parameters().every((p) => firstNonFinite(p.value.data) < 0));
});

test('an activation that overflows names the layer whose output went non-finite', () => {
  const model = new Sequential([new Dense(5), new ReLU(), new Dense(3)], { inputShape: [4], seed: 2 });
  // Finite but huge weights: layer 0's output overflows float32 to Infinity.
  model.layers[0].params()[0].value.data.fill(3e38);
  const e = fitError(model, new SGD(model.parameters(), { lr: 0.01 }));
  assert.equal(e.batch, 1);
  assert.equal(e.layer, 'layer 0 (Dense)');
  assert.match(e.message, /Infinity at sample \d+, value \d+ in the output of layer 0 \(Dense\)/);
});

test('NaN in the input batch is blamed on the data, not a layer', () => {
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 2 });
  const bad = gaussianBlobs(16, 1);
  bad.x[13] = NaN;
  assert.throws(
    () => model.fit(bad, { optimizer: new SGD(model.parameters()), loss: 'ce', epochs: 1, batchSize: 16, shuffle: false }),
    (e: unknown) => e instanceof DivergenceError && e.layer === undefined && /NaN at sample 3, value 1 of the input batch/.test(e.message) && /training data/.test(e.message),
  );
});

/** Identity forward; backward sends NaN down: a broken layer for the gradient check. */
class NaNGrad extends Layer {
  readonly type = 'NaNGrad';
  protected init(shape: Shape, _rng: Rng): Shape { return shape; }
  forward(x: Tensor): Tensor { return x; }
  backward(dy: Tensor): Tensor {
    const dx = new Tensor(dy.shape);
    dx.data.fill(NaN);
    return dx;
  }
  config(): LayerConfig { return { type: this.type }; }
}

test('a NaN gradient with a finite loss is caught before the update, naming the first layer whose gradient it reached', () => {
  const model = new Sequential([new Dense(5), new NaNGrad(), new Dense(3)], { inputShape: [4], seed: 2 });
  const before = model.parameters().map((p) => p.value.data.slice());
  const e = fitError(model, new Adam(model.parameters()));
  assert.equal(e.batch, 1);
  assert.equal(e.layer, 'layer 0 (Dense)');
  assert.match(e.message, /expected finite gradients, found NaN in the weight gradient of layer 0 \(Dense\)/);
  model.parameters().forEach((p, i) => assert.deepEqual(p.value.data, before[i], 'no update was applied'));
});

test('clipGradNorm: global norm over all parameters, scaled to maxNorm keeping the direction; no-op below', () => {
  const model = new Sequential([new Dense(2), new Dense(1)], { inputShape: [2], seed: 1 });
  const params = model.parameters();
  // Gradients 3 and 4 in two different tensors: the global norm is 5.
  params.forEach((p) => p.grad.data.fill(0));
  params[0].grad.data[0] = 3;
  params[2].grad.data[1] = 4;
  assert.equal(gradSumOfSquares(params), 25);
  assert.equal(clipGradNorm(params, 10), 5);
  assert.equal(params[0].grad.data[0], 3, 'below the limit nothing changes');
  assert.equal(clipGradNorm(params, 1), 5);
  assert.ok(Math.abs(params[0].grad.data[0] - 0.6) < 1e-6 && Math.abs(params[2].grad.data[1] - 0.8) < 1e-6);
  assert.ok(Math.abs(Math.sqrt(gradSumOfSquares(params)) - 1) < 1e-5);
});

test('fit with clipNorm bounds every update: an SGD step moves the weights by at most lr·maxNorm', () => {
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 3 });
  // Huge inputs make huge gradients.
  const big = gaussianBlobs(8, 2);
  big.x.forEach((v, i) => (big.x[i] = v * 1000));
  const before = model.parameters().map((p) => p.value.data.slice());
  model.fit(big, {
    optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 1, batchSize: 8, clipNorm: 0.5, monitor: false, shuffle: false,
  });
  let moved = 0;
  model.parameters().forEach((p, i) => p.value.data.forEach((v, j) => (moved += (v - before[i][j]) ** 2)));
  assert.ok(Math.sqrt(moved) <= 0.1 * 0.5 * (1 + 1e-5), `step length ${Math.sqrt(moved)}`);
  assert.ok(Math.sqrt(moved) > 0.04, 'the clipped step still moves');
  assertNablaError(() => model.fit(big, { optimizer: new SGD(model.parameters()), loss: 'ce', epochs: 1, clipNorm: 0 }), ['clipNorm', '0']);
});

test('warnings: a gradient-norm spike and dead ReLUs, each with a concrete suggestion, at most once an epoch', () => {
  const monitor = new TrainingMonitor();
  const warnings = [];
  for (let b = 1; b <= 12; b++) warnings.push(monitor.onGradNorm(1, 1, b, undefined));
  assert.ok(warnings.every((w) => w === undefined));
  const w = monitor.onGradNorm(100, 1, 13, undefined);
  assert.equal(w?.kind, 'exploding-gradients');
  assert.match(w!.message, /epoch 1 batch 13: gradient norm 100/);
  assert.match(w!.message, /lower --lr, or add --clip-norm 1/);
  assert.equal(monitor.onGradNorm(1000, 1, 14, undefined), undefined, 'once per epoch');

  // A ReLU layer whose units all see a large negative bias: dead from the start.
  const model = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [4], seed: 1 });
  model.layers[0].params()[1].value.data.fill(-100);
  const seen: TrainingWarning[] = [];
  model.fit(gaussianBlobs(32, 1), { optimizer: new SGD(model.parameters()), loss: 'ce', epochs: 2, batchSize: 16, callbacks: [{ onWarning: (x) => seen.push(x) }] });
  const dead = seen.filter((x) => x.kind === 'dead-relu');
  assert.equal(dead.length, 2, 'one per epoch');
  assert.equal(dead[0].layer, 'layer 1 (ReLU)');
  assert.match(dead[0].message, /100% of the units of layer 1 \(ReLU\)/);
  assert.match(dead[0].message, /--activation leaky-relu/);
  const half = new Tensor([2, 4], new Float32Array([1, 0, 0, 0, 0, 2, 0, 0]));
  assert.equal(deadUnitFraction(half), 0.5);
});

test('early stopping: stops after `patience` epochs without improvement and restores the best epoch\'s weights', () => {
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  const stop = new EarlyStopping(model, { monitor: 'val_loss', patience: 2 });
  const snapshots: Float32Array[][] = [];
  // A scripted val_loss: best at epoch 2, then worse twice, so fit stops after epoch 4.
  const script = [0.9, 0.5, 0.6, 0.55, 0.1, 0.1];
  const fake: Callback = {
    onEpochEnd: (log) => {
      log.valLoss = script[log.epoch - 1];
      snapshots.push(model.parameters().map((p) => p.value.data.slice()));
    },
  };
  const h = model.fit(data, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 6, batchSize: 8, validationData: data, callbacks: [fake, stop] });
  assert.equal(h.epochs.length, 4);
  assert.equal(stop.bestEpoch, 2);
  assert.equal(stop.stopped, true);
  model.parameters().forEach((p, i) => assert.deepEqual(p.value.data, snapshots[1][i], 'weights of epoch 2'));
  assert.notDeepEqual(snapshots[3][0], snapshots[1][0]);

  // restoreBest: false keeps the last weights; no validation data is a clear error.
  const keep = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  const stop2 = new EarlyStopping(keep, { patience: 1, restoreBest: false });
  keep.fit(data, { optimizer: new SGD(keep.parameters(), { lr: 0.1 }), loss: 'ce', epochs: 30, batchSize: 8, validationData: data, callbacks: [stop2] });
  assert.ok(stop2.stopped);
  assertNablaError(() => keep.fit(data, { optimizer: new SGD(keep.parameters()), loss: 'ce', epochs: 1, callbacks: [new EarlyStopping(keep)] }), ['EarlyStopping', 'validation']);
  assertNablaError(() => new EarlyStopping(keep, { patience: 0 }), ['patience', '0']);
});
