// --backend and --threads on the CLI: both backends train the same seeded model to the same
// result, and requests this machine cannot serve are refused with one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { nabla } from '../../../test/cliRunner.ts';

const small = ['--hidden', '16', '--epochs', '2', '--batch-size', '16', '--val', '30', '--no-progress', '--json'];

test('train --backend js and --backend wasm reach the same accuracy from the same seed; the summary names the backend', () => {
  const data = writeMnistFixture();
  const dir = mkdtempSync(join(tmpdir(), 'nabla-backend-'));
  const results = ['js', 'wasm'].map((backend) => {
    const out = join(dir, `${backend}.safetensors`);
    const r = nabla('train', '--data', data, ...small, '--backend', backend, '--threads', '1', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    return { acc: last.test_accuracy as number, bytes: readFileSync(out) };
  });
  assert.ok(results[0].acc > 0.9, `js learns: ${results[0].acc}`);
  assert.equal(results[1].acc, results[0].acc);
  const text = nabla('train', '--data', data, '--hidden', '8', '--epochs', '1', '--val', '0', '--no-progress', '--backend', 'wasm', '--out', join(dir, 'x.safetensors'));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /backend wasm \(\d+ threads?, (relaxed|baseline) SIMD\)/);
  // A network spelled with --layers runs on the chosen backend too (the line reports the model's).
  const conv = nabla('train', '--data', data, '--layers', 'conv:2x5,relu,maxpool:2,flatten,dense:10', '--epochs', '1', '--val', '0',
    '--no-progress', '--backend', 'wasm', '--threads', '1', '--out', join(dir, 'c.safetensors'));
  assert.equal(conv.code, 0, conv.stderr);
  assert.match(conv.stdout, /backend wasm \(1 thread, (relaxed|baseline) SIMD\)/);
});

test('--threads beyond the cores, --threads 0 and an unknown --backend are refused with one line, exit 1', () => {
  const cores = availableParallelism();
  const tooMany = nabla('train', '--threads', String(cores + 1), '--epochs', '0', '--no-progress');
  assert.equal(tooMany.code, 1, tooMany.stderr);
  assert.match(tooMany.stderr, new RegExp(`a thread count from 1 to ${Math.min(cores, 16)}`));
  assert.doesNotMatch(tooMany.stderr, /\n\s+at /);
  const zero = nabla('eval', 'whatever.safetensors', '--threads', '0');
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /--threads.*expected an integer ≥ 1/);
  const unknown = nabla('train', '--backend', 'gpu');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /--backend.*expected one of auto, wasm, js/);
});
