// nabla train with --layers and --model presets on tiny synthetic IDX data: a CNN trains, saves,
// summarises and evaluates; bad specs and clashing flags give one-line errors and no file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { assertUserError, nabla } from '../../../test/cliRunner.ts';




const quick = ['--epochs', '2', '--batch-size', '16', '--val', '30', '--no-progress'];

test('train --layers: a small CNN with batch norm and dropout learns the synthetic bars; summary and eval read it back', () => {
  const data = writeMnistFixture();
  const out = join(mkdtempSync(join(tmpdir(), 'nabla-conv-')), 'cnn.safetensors');
  const r = nabla('train', '--data', data, ...quick, '--epochs', '4', '--layers', 'conv:4x5x5/s2,bn,relu,maxpool:2,flatten,dropout:0.2,dense:10', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(result.test_accuracy > 0.9, `learns the bars: ${result.test_accuracy}`);
  const s = nabla('summary', out);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /input\s+\[N, 1, 28, 28\]/);
  assert.match(s.stdout, /0 Conv2D \(4, 5×5 s2\)\s+\[N, 4, 12, 12\]\s+104/);
  assert.match(s.stdout, /1 BatchNorm2D\s+\[N, 4, 12, 12\]\s+8/);
  const e = nabla('eval', out, '--data', data, '--json');
  assert.equal(e.code, 0, e.stderr);
  assert.equal(JSON.parse(e.stdout).accuracy, result.test_accuracy);
});

test('train --model lenet5 --augment builds LeNet-5 and trains one epoch on shifted, rotated images', () => {
  const data = writeMnistFixture({ train: 120, test: 30 });
  const out = join(mkdtempSync(join(tmpdir(), 'nabla-conv-')), 'lenet.safetensors');
  const r = nabla('train', '--data', data, '--model', 'lenet5', '--augment', '--epochs', '1', '--batch-size', '16', '--val', '0', '--no-progress', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Dense \(400 → 120\)/);
  assert.match(r.stdout, /Total params: 61,706/);
  assert.ok(existsSync(out));
});

test('bad --layers specs and clashing flags: one line naming the token or flag, exit 1, no file', () => {
  const data = writeMnistFixture({ train: 60, test: 20 });
  const out = join(mkdtempSync(join(tmpdir(), 'nabla-conv-')), 'bad.safetensors');
  const run = (...args: string[]) => nabla('train', '--data', data, ...quick, '--out', out, ...args);
  assertUserError(run('--layers', 'conv:8x5x5,relu,pool:2,flatten,dense:10'), 'token 3 "pool:2"', 'maxpool');
  // A build-time shape error reaches the CLI as one line; the other shape errors are tested in each layer's own test file (src/layers/conv2d.test.ts, ...).
  assertUserError(run('--layers', 'flatten,conv:8x3,dense:10'), 'layer 1 (Conv2D)', '[N, 784]', 'cannot follow a Flatten');
  assertUserError(run('--layers', 'conv:8x5x5,flatten,dense:7'), 'flag --layers', 'ending in 10 outputs', 'dense:10');
  assertUserError(run('--model', 'cnn', '--hidden', '32'), 'flag --hidden', '--model');
  assertUserError(run('--model', 'resnet'), '--model', 'mlp, cnn, lenet5');
  assert.ok(!existsSync(out), 'no model file written');
});
