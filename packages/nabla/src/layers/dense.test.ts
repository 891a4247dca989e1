// Dense: the gradient check (input, weight, bias; with and without bias, he and xavier init), the
// init scales, the shape errors (a 2-D input without a Flatten, bad unit counts), and the ReLU after
// it done inside it in a model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend, availableCores } from '../backend/wasm/wasmBackend.ts';
import type { Backend } from '../backend/backend.ts';
import { Tensor } from '../tensor.ts';
import { NablaError } from '../errors.ts';
import { Rng } from '../random.ts';
import { Sequential } from '../model/sequential.ts';
import { FLAT_CASES, assertGradients } from '../../../../test/layerCases.ts';
import { Dense } from './dense.ts';
import { ReLU } from './activations.ts';
import { Flatten } from './flatten.ts';

test('Dense (bias, he init) passes the gradient check: input, weight, bias', () => {
  for (const units of [1, 3, 8]) {
    assertGradients(() => new Dense(units), `Dense(${units})`, FLAT_CASES);
  }
});

test('Dense without bias passes the gradient check and has only a weight', () => {
  const layer = new Dense(4, { bias: false });
  layer.build([3], { backend: new JsBackend(), rng: new Rng(0), index: 0 });
  assert.deepEqual(layer.params().map((p) => p.name), ['weight']);
  assertGradients(() => new Dense(4, { bias: false }), 'Dense(4, no bias)', FLAT_CASES);
});

test('Dense with xavier init passes the gradient check', () => {
  assertGradients(() => new Dense(5, { init: 'xavier' }), 'Dense(5, xavier)', FLAT_CASES);
});

test('Dense init scales: he ~ N(0, 2/fanIn), xavier ~ U(±sqrt(6/(fanIn+fanOut)))', () => {
  const fanIn = 200;
  const units = 300;
  const he = new Dense(units, { init: 'he' });
  he.build([fanIn], { backend: new JsBackend(), rng: new Rng(3), index: 0 });
  const w = he.weight.value.data;
  let sum = 0;
  let sq = 0;
  for (const v of w) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / w.length;
  const variance = sq / w.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `he mean ${mean}`);
  assert.ok(Math.abs(variance / (2 / fanIn) - 1) < 0.03, `he variance ${variance}, expected ${2 / fanIn}`);
  assert.deepEqual(he.weight.value.shape, [units, fanIn]);
  assert.ok(he.bias!.value.data.every((v) => v === 0), 'biases start at zero');

  const xa = new Dense(units, { init: 'xavier' });
  xa.build([fanIn], { backend: new JsBackend(), rng: new Rng(3), index: 0 });
  const limit = Math.sqrt(6 / (fanIn + units));
  const wx = xa.weight.value.data;
  let max = 0;
  let sqx = 0;
  for (const v of wx) {
    max = Math.max(max, Math.abs(v));
    sqx += v * v;
  }
  assert.ok(max <= limit, `xavier max |w| ${max} beyond limit ${limit}`);
  assert.ok(max > 0.99 * limit, `xavier max |w| ${max} should come close to ${limit}`);
  // Variance of U(−l, l) is l²/3.
  assert.ok(Math.abs(sqx / wx.length / (limit * limit / 3) - 1) < 0.03);
});

test('shape error: Dense after a 2-D input says "add a Flatten layer" and names the layer index', () => {
  let caught: unknown;
  try {
    new Sequential([new ReLU(), new Dense(10)], { inputShape: [28, 28] });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof NablaError, `expected a NablaError, got ${String(caught)}`);
  const m = caught.message;
  for (const fact of ['layer 1 (Dense)', 'add a Flatten layer', '[28, 28]']) {
    assert.ok(m.includes(fact), `message ${JSON.stringify(m)} lacks ${JSON.stringify(fact)}`);
  }
  // The fix works.
  const model = new Sequential([new Flatten(), new Dense(10)], { inputShape: [28, 28] });
  assert.deepEqual(model.outputShape, [10]);
});

test('shape error: Dense rejects bad unit counts', () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => new Dense(bad), (e: unknown) => e instanceof NablaError && e.message.includes('units'));
  }
});

test('in a model, Dense does the forward and the backward of the ReLU after it: the same outputs and gradients as each layer\'s own, on every backend', async () => {
  const wasm = await WasmBackend.create({ threads: availableCores() >= 2 ? 2 : 1 });
  for (const backend of [new JsBackend(), wasm] as Backend[]) {
    // The MNIST MLP's first layer (64 × 128 × 784 on mostly-zero rows: split over threads on wasm), a
    // layer without bias, and a ReLU whose input holds NaN and −0.
    const build = () => new Sequential([new Dense(128), new ReLU(), new Dense(9, { bias: false }), new ReLU(), new Dense(4)],
      { inputShape: [784], seed: 3, backend });
    const fused = build();
    const plain = build();
    const rng = new Rng(10);
    const xData = backend.allocate(64 * 784);
    xData.forEach((_, i, a) => (a[i] = rng.uniform() < 0.8 ? 0 : rng.uniform()));
    const x = new Tensor([64, 784], xData);
    const dyData = Float32Array.from({ length: 64 * 4 }, () => rng.normal());
    for (const m of [fused, plain]) m.parameters().forEach((p, i) => p.value.data.forEach((v, j, a) => (a[j] = v + 0.01 * Math.sin(i + j))));
    for (const m of [fused, plain]) (m.layers[2] as Dense).weight.value.data[5] = Number.NaN;
    let reluCalls = 0;
    for (const i of [1, 3]) {
      const layer = fused.layers[i];
      const forward = layer.forward.bind(layer);
      const backward = layer.backward.bind(layer);
      layer.forward = (...a) => (reluCalls++, forward(...a));
      layer.backward = (...a) => (reluCalls++, backward(...a));
    }
    const out = fused.forward(x, true);
    fused.backward(new Tensor([64, 4], dyData));
    assert.equal(reluCalls, 0, 'the ReLU layers did nothing themselves');
    let a = x;
    const acts: Float32Array[] = [];
    for (const layer of plain.layers) acts.push((a = layer.forward(a, true)).data.slice());
    assert.deepEqual(Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength));
    assert.ok(acts[1].some((v) => v === 0) && acts[1].some((v) => v > 0));
    assert.ok(acts[2].some((v) => Number.isNaN(v)), 'a NaN reached the second ReLU');
    let d = new Tensor([64, 4], dyData);
    for (let i = plain.layers.length - 1; i >= 0; i--) d = plain.layers[i].backward(d);
    const grads = (m: Sequential) => m.parameters().map((p) => Buffer.from(p.grad.data.buffer, p.grad.data.byteOffset, p.grad.data.byteLength));
    assert.deepEqual(grads(fused), grads(plain));
    // Asked about any other layer, it declines.
    assert.equal(fused.layers[0].forwardThrough(fused.layers[2]), false);
    assert.equal(fused.layers[0].backwardThrough(fused.layers[2]), false);
  }
  wasm.dispose();
});
