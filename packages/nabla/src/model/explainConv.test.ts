// explainConv: every worked sum equals what the layer itself computed, for every position of
// several channels, with stride 2, padding 1 and non-square kernels and strides (a wrong index,
// stride, padding or rotation would make some position disagree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AvgPool2D } from '../layers/avgPool2d.ts';
import { BatchNorm1D, BatchNorm2D } from '../layers/batchNorm.ts';
import { Conv2D } from '../layers/conv2d.ts';
import { Dense } from '../layers/dense.ts';
import { Dropout } from '../layers/dropout.ts';
import { Flatten } from '../layers/flatten.ts';
import { MaxPool2D } from '../layers/maxPool2d.ts';
import { ReLU, Tanh } from '../layers/activations.ts';
import { Tensor } from '../tensor.ts';
import { assertClose } from '../testing/assertClose.ts';
import { Rng } from '../random.ts';
import { Sequential } from './sequential.ts';
import { stepInput, traceSample, type SampleTrace } from './traceSample.ts';
import {
  avgPoolSplit, convGeometry, explainBatchNorm, explainConvBiasGrad, explainConvInputGrad, explainConvOutput,
  explainConvWeightGrad, explainDropout, explainPoolOutput, maxPoolRoutes, rotate180,
} from './explainConv.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const TOL = { rtol: 1e-4, atol: 1e-5 };

/** Sine-ish inputs, a one-hot target, and some training-mode batches first so BN's running statistics are not 0 and 1. */
function traced(model: Sequential, seed = 1): SampleTrace {
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  for (let b = 0; b < 3; b++) {
    model.forward(new Tensor([4, ...model.inputShape], Float32Array.from({ length: 4 * features }, () => rng.normal())), true);
  }
  const x = Float32Array.from({ length: features }, (_, q) => Math.sin(q * 0.7 + seed) + 0.3 * Math.cos(q * 1.9));
  const k = model.outputShape[0];
  const y = new Float32Array(k);
  y[seed % k] = 1;
  return traceSample(model, x, y, 'ce');
}

/** Two convolutions (the second not first, so ∂C/∂a is computed): stride 2 + padding 1, then a non-square kernel with per-axis stride and padding. */
function convModel(): Sequential {
  return new Sequential([
    new Conv2D(3, 3, { padding: 1 }),
    new Tanh(),
    new Conv2D(4, 3, { stride: 2, padding: 1 }),
    new Tanh(),
    new Conv2D(2, [3, 2], { stride: [2, 1], padding: [1, 0] }),
    new Flatten(),
    new Dense(5),
  ], { inputShape: [2, 7, 8], seed: 4 });
}

test('explainConv: z[c,i,j] worked as its window sum equals every traced output of every conv', () => {
  const trace = traced(convModel());
  for (const index of [0, 2, 4]) {
    const step = trace.steps[index];
    const g = convGeometry(step);
    const { input } = stepInput(trace, index);
    let padded = 0;
    for (let c = 0; c < g.outChannels; c++) {
      for (let i = 0; i < g.outHeight; i++) {
        for (let j = 0; j < g.outWidth; j++) {
          const s = explainConvOutput(step, input, c, i, j);
          assert.equal(s.terms.length, g.channels * g.kernel[0] * g.kernel[1]);
          assertClose([s.sum], [s.traced], TOL);
          assertClose([s.sum], [step.output[(c * g.outHeight + i) * g.outWidth + j]], TOL);
          padded += s.terms.filter((t) => !t.inside).length;
          for (const t of s.terms) assert.equal(t.inside ? t.a : 0, t.inside ? input[(t.k * g.height + t.row) * g.width + t.col] : t.a);
        }
      }
    }
    assert.ok(padded > 0, `step ${index} has windows over the padding`);
  }
  const g2 = convGeometry(trace.steps[2]);
  assert.deepEqual([g2.outChannels, g2.outHeight, g2.outWidth, ...g2.stride, ...g2.padding], [4, 4, 4, 2, 2, 1, 1]);
  const g4 = convGeometry(trace.steps[4]);
  assert.deepEqual([g4.kernel, g4.stride, g4.padding, g4.outHeight, g4.outWidth], [[3, 2], [2, 1], [1, 0], 2, 3]);
  // The window of z[c,1,1] for stride 2, padding 1 starts at (1·2 − 1, 1·2 − 1).
  assert.deepEqual(explainConvOutput(trace.steps[2], stepInput(trace, 2).input, 0, 1, 1).origin, [1, 1]);
});

test('explainConv: ∂C/∂W worked as the input correlated with δ, and ∂C/∂b, equal the traced gradients', () => {
  const trace = traced(convModel(), 2);
  for (const index of [0, 2, 4]) {
    const step = trace.steps[index];
    const g = convGeometry(step);
    const { input } = stepInput(trace, index);
    const dW = step.params.find((p) => p.name === 'weight')!.grad;
    const worked: number[] = [];
    for (let c = 0; c < g.outChannels; c++) {
      for (let k = 0; k < g.channels; k++) {
        for (let m = 0; m < g.kernel[0]; m++) {
          for (let n = 0; n < g.kernel[1]; n++) {
            const s = explainConvWeightGrad(step, input, c, k, m, n);
            assert.equal(s.terms.length, g.outHeight * g.outWidth);
            worked.push(s.sum);
          }
        }
      }
    }
    assertClose(worked, dW, TOL);
    const db = step.params.find((p) => p.name === 'bias')!.grad;
    assertClose(Array.from({ length: g.outChannels }, (_, c) => explainConvBiasGrad(step, c).sum), db, TOL);
    assert.ok(dW.some((v) => Math.abs(v) > 1e-4), 'non-trivial gradients');
  }
});

test('explainConv: ∂C/∂a worked as the full correlation of δ̃ with the 180°-rotated kernel equals the traced ∂C/∂a', () => {
  const trace = traced(convModel(), 3);
  for (const index of [2, 4]) {
    const step = trace.steps[index];
    const g = convGeometry(step);
    const { gradInput } = stepInput(trace, index);
    const worked: number[] = [];
    for (let k = 0; k < g.channels; k++) {
      for (let y = 0; y < g.height; y++) {
        for (let x = 0; x < g.width; x++) {
          const s = explainConvInputGrad(step, k, y, x, gradInput);
          assert.equal(s.traced, gradInput![(k * g.height + y) * g.width + x]);
          // Every entry of δ̃ it names holds δ at ((row − pad)/s, (col − pad)/s).
          for (const t of s.terms.filter((u) => u.i !== undefined)) {
            assert.equal(t.row, s.pad[0] + t.i! * g.stride[0]);
            assert.equal(t.col, s.pad[1] + t.j! * g.stride[1]);
          }
          worked.push(s.sum);
        }
      }
    }
    assertClose(worked, gradInput!, TOL);
    assert.ok(gradInput!.some((v) => Math.abs(v) > 1e-4));
  }
  // For the first conv the model computes no ∂C/∂a: the sum is still worked, nothing to compare.
  assert.equal(explainConvInputGrad(trace.steps[0], 0, 0, 0, stepInput(trace, 0).gradInput).traced, undefined);
  assert.deepEqual(Array.from(rotate180(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)), [6, 5, 4, 3, 2, 1]);
});

test('explainConv: max-pooling routes δ to each window\'s argmax only; avg-pooling splits it evenly', () => {
  // Overlapping, padded pooling windows (3×3, stride 2, padding 1): routes add up where windows share an argmax.
  const model = new Sequential([
    new Conv2D(3, 3, { padding: 1 }), new ReLU(), new MaxPool2D(3, { stride: 2, padding: 1 }),
    new Conv2D(2, 3, { padding: 1 }), new AvgPool2D(2, { stride: 2, padding: 1 }), new Flatten(), new Dense(4),
  ], { inputShape: [1, 8, 8], seed: 5 });
  const trace = traced(model, 1);
  const maxStep = trace.steps[2];
  const { input, gradInput } = stepInput(trace, 2);
  const { routes, gradInput: routed } = maxPoolRoutes(maxStep, input);
  assertClose(routed, gradInput!, { rtol: 1e-6, atol: 1e-9 });
  const g = convGeometry(maxStep);
  assert.equal(routes.length, g.outChannels * g.outHeight * g.outWidth);
  for (const r of routes) {
    assert.equal(r.value, maxStep.output[(r.c * g.outHeight + r.i) * g.outWidth + r.j]);
    const p = explainPoolOutput(maxStep, input, r.c, r.i, r.j);
    assert.deepEqual(p.argmax, [r.row, r.col]);
    assert.equal(p.value, p.traced);
  }
  // Only argmax positions receive gradient.
  const targets = new Set(routes.map((r) => (r.c * g.height + r.row) * g.width + r.col));
  gradInput!.forEach((v, q) => { if (!targets.has(q)) assert.equal(v, 0); });

  const avgStep = trace.steps[4];
  const avg = stepInput(trace, 4);
  assertClose(avgPoolSplit(avgStep), avg.gradInput!, { rtol: 1e-5, atol: 1e-8 });
  const ga = convGeometry(avgStep);
  for (let c = 0; c < ga.outChannels; c++) {
    for (let i = 0; i < ga.outHeight; i++) {
      for (let j = 0; j < ga.outWidth; j++) {
        const p = explainPoolOutput(avgStep, avg.input, c, i, j);
        assertClose([p.value], [p.traced], TOL);
        assert.equal(p.divisor, 4);
        assertClose([p.share * 4], [p.delta], { rtol: 1e-12, atol: 0 });
      }
    }
  }
  // The corner window (0, 0) with padding 1 holds one real pixel, still divided by 4.
  assert.equal(explainPoolOutput(avgStep, avg.input, 0, 0, 0).window.length, 1);
});

test('explainConv: batch norm in evaluation equals the trace; in training it equals the layer on a batch of this sample', () => {
  const model = new Sequential([new Conv2D(3, 3, { padding: 1 }), new BatchNorm2D(), new ReLU(), new Flatten(), new Dense(3)], { inputShape: [2, 5, 5], seed: 6 });
  const trace = traced(model, 2);
  const step = trace.steps[1];
  const { input } = stepInput(trace, 1);
  const bn = explainBatchNorm(step, input);
  assert.equal(bn.channels, 3);
  assert.equal(bn.perChannel, 25);
  const rm = step.buffers.find((b) => b.name === 'running_mean')!.value;
  assert.ok(rm.some((v) => Math.abs(v) > 1e-3), 'running statistics moved during the training batches');
  assertClose(bn.evaluation.mean, rm, { rtol: 0, atol: 0 });
  assertClose(bn.evaluation.output, step.output, TOL);
  // Training mode: the layer itself on a batch of this one sample (its running statistics restored after).
  const layer = model.layers[1] as BatchNorm2D;
  const saved = [layer.runningMean.data.slice(), layer.runningVar.data.slice(), layer.numBatchesTracked.data.slice()];
  const y = layer.forward(new Tensor([1, 3, 5, 5], Float32Array.from(input)), true).data.slice();
  layer.runningMean.data.set(saved[0]);
  layer.runningVar.data.set(saved[1]);
  layer.numBatchesTracked.data.set(saved[2]);
  assertClose(bn.training!.output, y, TOL);
  // x̂ has zero mean and unit (biased) variance per channel in training.
  for (let c = 0; c < 3; c++) {
    const xs = Array.from(bn.training!.normalised.subarray(c * 25, c * 25 + 25));
    const mean = xs.reduce((s, v) => s + v, 0) / 25;
    assertClose([mean, xs.reduce((s, v) => s + (v - mean) ** 2, 0) / 25], [0, 1], { rtol: 1e-3, atol: 1e-4 });
  }
  assert.notDeepEqual(Array.from(bn.training!.output), Array.from(bn.evaluation.output));
});

test('explainConv: dropout\'s mask is the layer\'s own (same seed, same values) and evaluation is the identity', () => {
  const model = new Sequential([new Dropout(0.3)], { inputShape: [2, 4, 4], seed: 11 });
  const x = Float32Array.from({ length: 32 }, (_, q) => q / 7 - 2);
  // The model's Rng is new Rng(11), untouched by building a Dropout: its first training forward draws the mask from it.
  const layerTraining = model.forward(new Tensor([1, 2, 4, 4], x.slice()), true).data.slice();
  const trace = traceSample(model, x, new Float32Array(32), 'mse');
  const d = explainDropout(trace.steps[0], stepInput(trace, 0).input, 11);
  assert.deepEqual(Array.from(d.training), Array.from(layerTraining));
  assert.deepEqual(Array.from(d.evaluation), Array.from(trace.steps[0].output));
  assert.deepEqual(Array.from(trace.steps[0].output), Array.from(x));
  assertClose([d.scale], [1 / 0.7], { rtol: 1e-12, atol: 0 });
  assert.ok(d.kept > 10 && d.kept < 32, `kept ${d.kept} of 32`);
  assert.ok(Array.from(d.mask).every((v) => v === 0 || v === Math.fround(1 / 0.7)));
});

test('explainConv: wrong steps and out-of-range positions are NablaErrors', () => {
  const trace = traced(convModel());
  const { input } = stepInput(trace, 0);
  assertNablaError(() => explainConvOutput(trace.steps[1], input, 0, 0, 0), ['a Conv2D step', 'Tanh']);
  assertNablaError(() => explainConvOutput(trace.steps[0], input, 3, 0, 0), ['c an integer in [0, 2]']);
  assertNablaError(() => explainConvOutput(trace.steps[0], input.subarray(1), 0, 0, 0), ['2×7×8 = 112 values']);
  assertNablaError(() => stepInput(trace, 7), ['a step index in [0, 6]']);
  assertNablaError(() => convGeometry(trace.steps[6]), ['Dense']);
});

test('explainConv: a conv without bias sums from 0; BatchNorm1D after Dense has no one-sample training statistics', () => {
  const model = new Sequential([
    new Conv2D(2, 2, { stride: 2, bias: false }), new Flatten(), new Dense(6), new BatchNorm1D(), new Dense(3),
  ], { inputShape: [3, 4, 4], seed: 8 });
  const trace = traced(model, 1);
  const conv = trace.steps[0];
  const { input } = stepInput(trace, 0);
  const s = explainConvOutput(conv, input, 1, 1, 0);
  assert.equal(s.bias, 0);
  assertClose([s.sum], [s.traced], TOL);
  assert.equal(explainConvBiasGrad(conv, 1).traced, undefined);
  const bn = explainBatchNorm(trace.steps[3], stepInput(trace, 3).input);
  assert.equal(bn.perChannel, 1);
  assert.equal(bn.training, undefined);
  assertClose(bn.evaluation.output, trace.steps[3].output, TOL);
});
