// nabla against PyTorch: outputs, losses, gradients and three optimiser steps for small networks,
// from test/fixtures/pytorch-reference.json (made by scripts/make-pytorch-reference.py; CI never
// needs Python). Tolerances are float32-vs-float64: see docs/numerics.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Adam, AdamW, Dense, ReLU, SGD, Sequential, Sigmoid, Tanh, Tensor, compareClose, lossByName,
  type Layer, type LossName, type Optimizer,
} from 'nabla';

interface Case {
  name: string;
  activation: 'relu' | 'sigmoid' | 'tanh';
  outputActivation: 'none' | 'sigmoid';
  loss: LossName;
  optimizer: 'sgd' | 'adam' | 'adamw';
  optimizerArgs: { lr: number; momentum?: number; nesterov?: boolean; weight_decay?: number };
  inputShape: number[];
  hidden: number;
  classes: number;
  weights: Record<string, number[] | number[][]>;
  x: number[][];
  y: number[][];
  networkOutput: number[][];
  lossValue: number;
  grads: Record<string, number[] | number[][]>;
  afterSteps: Record<string, number[] | number[][]>;
}

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch-reference.json'), 'utf8')) as { torch: string; cases: Case[] };
const flat = (v: number[] | number[][]) => Float32Array.from((v as number[]).flat());

function build(c: Case): Sequential {
  const act = (): Layer => (c.activation === 'relu' ? new ReLU() : c.activation === 'sigmoid' ? new Sigmoid() : new Tanh());
  const layers: Layer[] = [new Dense(c.hidden), act(), new Dense(c.classes)];
  if (c.outputActivation === 'sigmoid') layers.push(new Sigmoid());
  const model = new Sequential(layers, { inputShape: c.inputShape });
  const weights = new Map(Object.entries(c.weights).map(([k, v]) => {
    const shape = Array.isArray(v[0]) ? [v.length, (v[0] as number[]).length] : [v.length];
    return [k, new Tensor(shape, flat(v))] as const;
  }));
  model.loadStateDict(weights);
  return model;
}

function optimizerFor(c: Case, model: Sequential): Optimizer {
  const a = c.optimizerArgs;
  const params = model.parameters();
  if (c.optimizer === 'sgd') return new SGD(params, { lr: a.lr, momentum: a.momentum ?? 0, nesterov: a.nesterov ?? false, weightDecay: a.weight_decay ?? 0 });
  if (c.optimizer === 'adam') return new Adam(params, { lr: a.lr, weightDecay: a.weight_decay ?? 0 });
  return new AdamW(params, { lr: a.lr, weightDecay: a.weight_decay ?? 0.01 });
}

function check(actual: Float32Array, expected: Float32Array, label: string, rtol = 1e-4, atol = 1e-5) {
  const r = compareClose(actual, expected, { rtol, atol, label });
  assert.ok(r.ok, r.message);
}

test(`the reference was made by PyTorch (${fixture.torch}) and has every case`, () => {
  assert.ok(fixture.cases.length >= 5);
});

for (const c of fixture.cases) {
  test(`matches PyTorch: ${c.name} (output, loss, gradients, 3 ${c.optimizer} steps)`, () => {
    const model = build(c);
    const x = new Tensor([c.x.length, ...c.inputShape], flat(c.x));
    const y = new Tensor([c.y.length, c.classes], flat(c.y));
    const n = c.x.length;

    const out = model.forward(x, true);
    check(out.data, flat(c.networkOutput), `${c.name} output`);
    const dy = new Float32Array(out.size);
    const loss = lossByName(c.loss).compute(model.backend, dy, out.data, y.data, n, c.classes);
    assert.ok(Math.abs(loss - c.lossValue) <= 1e-5 * Math.max(1, Math.abs(c.lossValue)), `${c.name} loss ${loss} vs PyTorch ${c.lossValue}`);
    model.zeroGrad();
    model.backward(new Tensor(out.shape, dy));
    for (const p of model.parameters()) check(p.grad.data, flat(c.grads[p.name]), `${c.name} grad ${p.name}`);

    const optimizer = optimizerFor(c, model);
    for (let step = 0; step < 3; step++) model.trainStep(x, y, c.loss, optimizer);
    for (const p of model.parameters()) check(p.value.data, flat(c.afterSteps[p.name]), `${c.name} after 3 steps ${p.name}`);
  });
}
