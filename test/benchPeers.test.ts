// bench/peers.py (PyTorch and numpy as nabla's benchmark peers) builds the same networks as
// nabla's bench and trains them; bench/run.ts skips the Python peers with one line, never fails,
// when the interpreter has no torch. Tiny subsets of MNIST: a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, buildModel } from 'nabla';
import { bundledMnistDir } from 'nabla/node';

const python = process.env.NABLA_PYTHON || 'python3';
const hasTorch = spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
const skip = hasTorch ? false : `${python} cannot import torch and numpy`;
const peers = join(import.meta.dirname, '..', 'bench', 'peers.py');

function peer(lib: string, workload: string, limit: number): any {
  const out = execFileSync(python, [peers, '--lib', lib, '--workload', workload, '--threads', '1', '--mnist-dir', bundledMnistDir(),
    '--limit', String(limit), '--warmup-batches', '1', '--test-limit', '1000'], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

test('peers.py builds the networks of nabla\'s bench: the same parameter counts as nabla\'s models', { skip }, () => {
  const mlp = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
  const small = new Sequential([
    new Conv2D(8, 5), new ReLU(), new MaxPool2D(2), new Conv2D(16, 5), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(10),
  ], { inputShape: [1, 28, 28], seed: 1 });
  assert.equal(peer('numpy', 'mlp', 128).params, mlp.paramCount);
  assert.equal(peer('torch', 'small-cnn', 128).params, small.paramCount);
  assert.equal(peer('torch', 'cnn-preset', 256).params, buildModel({ preset: 'cnn', seed: 1 }).paramCount);
});

test('peers.py trains: the MLP (nabla\'s parameter count) learns from 1,280 samples and reports its epoch and peak memory', { skip }, () => {
  const mlp = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
  for (const lib of ['torch', 'numpy']) {
    const r = peer(lib, 'mlp', 1280);
    assert.equal(r.params, mlp.paramCount);
    assert.equal(r.samples, 1280);
    assert.equal(r.epochSeconds.length, 1);
    assert.ok(r.epochSeconds[0] > 0 && r.maxRssMB > 10, JSON.stringify(r));
    assert.ok(r.testAccuracy > 0.4, `${lib}: test accuracy ${r.testAccuracy} after 20 batches (chance is 0.1)`);
  }
});

test('npm run bench without torch: one line says the Python peers were skipped, and the run succeeds', () => {
  const out = mkdtempSync(join(tmpdir(), 'nabla-bench-'));
  try {
    const stdout = execFileSync(process.execPath, ['--conditions=nabla-source', '--import', 'tsx', join(import.meta.dirname, '..', 'bench', 'run.ts'),
      '--skip', 'peak,gemm,mlp,small-cnn,cnn-preset', '--out', out], { encoding: 'utf8', env: { ...process.env, NABLA_PYTHON: join(out, 'no-python') } });
    const lines = stdout.split('\n').filter((l) => l.includes('skipped'));
    assert.equal(lines.length, 1, stdout);
    assert.match(lines[0], /PyTorch and numpy peers skipped: .*no-python cannot import torch and numpy/);
    assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), /PyTorch and numpy peers skipped/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
