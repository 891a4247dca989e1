// nabla search: space parsing (grid expansion, seeded random draws, bad spaces), and end to end
// on tiny synthetic data: parallel trials, the results table/CSV/JSON, the chosen model tested
// once and saved, and a rerun that skips the trials already finished.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { makeProgram } from './main.ts';
import { expandGrid, parseSpace, sampleRandom, trialArgs, trialKey } from './searchSpace.ts';
import { assertNablaError } from '../../../test/assertNablaError.ts';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { makeExampleData } from '../../../scripts/make-example-data.ts';
import { nabla } from '../../../test/cliRunner.ts';

const train = makeProgram().commands.find((c) => c.name() === 'train') as Command;


test('grid: every combination in spec order; "|" separates hidden-layer lists; aliases resolve', () => {
  const dims = parseSpace('lr=1e-3,2e-3 hidden=256,128|512 batch=64,128', train, false);
  const trials = expandGrid(dims);
  assert.equal(trials.length, 8);
  assert.deepEqual(trials.map(trialKey).slice(0, 3), [
    'lr=1e-3 hidden=256,128 batch-size=64', 'lr=1e-3 hidden=256,128 batch-size=128', 'lr=1e-3 hidden=512 batch-size=64',
  ]);
  assert.deepEqual(trialArgs(trials[7], train), ['--lr', '2e-3', '--hidden', '512', '--batch-size', '128']);
  // Switches: nesterov=true adds the flag; shuffle=false its --no- form.
  const sw = expandGrid(parseSpace('nesterov=true,false shuffle=false', train, false));
  assert.deepEqual(sw.map((t) => trialArgs(t, train)), [['--nesterov', '--no-shuffle'], ['--no-shuffle']]);
});

test('random: seeded, within range, log-uniform for lr, integers for integer flags, lists picked uniformly', () => {
  const dims = parseSpace('lr=1e-4..1e-1 momentum=0.5..0.9 batch-size=16..256 activation=relu|tanh', train, true);
  const a = sampleRandom(dims, 200, 7);
  assert.deepEqual(sampleRandom(dims, 200, 7), a, 'same seed, same draws');
  assert.notDeepEqual(sampleRandom(dims, 200, 8), a);
  const col = (k: string) => a.map((t) => t.find(([f]) => f === k)![1]);
  const lrs = col('lr').map(Number);
  assert.ok(lrs.every((v) => v >= 1e-4 && v <= 1e-1));
  // Log-uniform: about a third of the draws per decade, so many below 1e-3 (uniform would give ~1%).
  const low = lrs.filter((v) => v < 1e-3).length;
  assert.ok(low > 40 && low < 95, `draws below 1e-3: ${low}/200`);
  const m = col('momentum').map(Number);
  assert.ok(m.every((v) => v >= 0.5 && v <= 0.9) && m.filter((v) => v < 0.7).length > 60, 'uniform momentum');
  assert.ok(col('batch-size').every((v) => /^\d+$/.test(v) && Number(v) >= 16 && Number(v) <= 256));
  assert.deepEqual(new Set(col('activation')), new Set(['relu', 'tanh']));
});

test('bad spaces are refused with the entry named: unknown flag, empty list or range, bad value, output flags', () => {
  assertNablaError(() => parseSpace('lrr=1e-3', train, false), ['"lrr=1e-3"', 'a flag of nabla train', '"lrr"']);
  assertNablaError(() => parseSpace('lr=', train, false), ['"lr="', 'one or more values', 'an empty list']);
  assertNablaError(() => parseSpace('lr=1e-3,,2e-3', train, false), ['an empty value']);
  assertNablaError(() => parseSpace('lr=1e-2..1e-3', train, true), ['non-empty range', '1e-2..1e-3']);
  assertNablaError(() => parseSpace('batch-size=5.2..5.8', train, true), ['holding an integer']);
  assertNablaError(() => parseSpace('lr=0..1e-3', train, true), ['lo > 0 (log scale)']);
  assertNablaError(() => parseSpace('lr=1e-4..1e-2', train, false), ['ranges need --random']);
  assertNablaError(() => parseSpace('activation=relu,swish', train, false), ['"activation=relu,swish"', 'expected one of', 'swish']);
  assertNablaError(() => parseSpace('out=a.safetensors', train, false), ['"out"', 'pass it after "--"']);
  assertNablaError(() => parseSpace('lr=1e-3 lr=2e-3', train, false), ['--lr once']);
  assertNablaError(() => parseSpace('  ', train, false), ['search space', 'nothing']);
});

test('nabla search end to end: parallel trials, sorted table with the chosen row, CSV/JSON, best model; a rerun skips finished trials', () => {
  const data = writeMnistFixture({ train: 300, test: 60 });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-search-'));
  const base = ['--', '--data', data, '--epochs', '1', '--batch-size', '32'];
  const r = nabla('search', '--grid', 'hidden=8|16', '--jobs', '2', '--dir', dir, ...base);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^\s+trial\s+hidden\s+val_acc\s+val_loss\s+epochs\s+seconds$/);
  const rows = lines.slice(1, 3);
  assert.equal(rows.filter((l) => l.startsWith('*')).length, 1, 'one chosen row, marked');
  assert.ok(rows[0].startsWith('*'), 'the chosen row is the best, first');
  assert.match(r.stdout, /test accuracy of the chosen model: \d+\.\d\d%/);
  assert.match(r.stderr, /2\/2 done, 0 running, best so far/);
  const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  assert.equal(json.trials.length, 2);
  assert.ok(json.trials[0].val_accuracy >= json.trials[1].val_accuracy);
  assert.equal(typeof json.chosen.test_accuracy, 'number');
  assert.equal(json.trials.filter((t: { test_accuracy?: number }) => t.test_accuracy !== undefined).length, 0, 'only the chosen model has a test figure');
  const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'trial,hidden,status,val_accuracy,val_loss,epochs_run,train_seconds,test_accuracy,chosen');
  assert.equal(csv.filter((l) => l.endsWith(',yes')).length, 1);
  assert.ok(existsSync(join(dir, 'best.safetensors')));

  // A crash may leave a torn last line in the log: skipped. The grid grows by one: only it runs.
  appendFileSync(join(dir, 'trials.jsonl'), '{"key":"hidden=4","ba');
  const again = nabla('search', '--grid', 'hidden=8|16|4', '--jobs', '2', '--dir', dir, ...base);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /2 of 3 trials already finished/);
  assert.equal((again.stderr.match(/started/g) ?? []).length, 1, again.stderr);
  assert.match(again.stderr, /trial 3 started \(hidden=4\)/);
  assert.equal(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).trials.length, 3);
});

test('nabla search passes on its trials\' warnings (e.g. --limit over the data size), each text once', () => {
  const data = writeMnistFixture({ train: 300, test: 60 });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-search-'));
  const r = nabla('search', '--grid', 'hidden=4|8', '--jobs', '2', '--no-progress', '--dir', dir, '--', '--data', data, '--epochs', '1', '--batch-size', '32', '--limit', '100000');
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('nabla: warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /^nabla: warning: trial [12] \(hidden=\d\): --limit 100000 is more than the 300 training samples in .*; using all 300$/);
});

test('a regression search ranks on validation loss (lowest first) and tests the chosen model with RMSE', () => {
  const data = mkdtempSync(join(tmpdir(), 'nabla-search-data-'));
  makeExampleData(data, 1, 20); // houses.csv: a numeric price column
  const dir = mkdtempSync(join(tmpdir(), 'nabla-search-'));
  const r = nabla('search', '--grid', 'lr=1e-3,3e-2,1e-2', '--jobs', '2', '--no-progress', '--dir', dir, '--',
    '--data', join(data, 'houses.csv'), '--label', 'price', '--task', 'regression', '--hidden', '16', '--epochs', '10', '--batch-size', '32');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^\s+trial\s+lr\s+val_loss\s+epochs\s+seconds$/, 'no accuracy column');
  const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  assert.equal(json.ranked_by, 'val_loss');
  const losses: number[] = json.trials.map((t: { val_loss: number }) => t.val_loss);
  assert.deepEqual([...losses].sort((a, b) => a - b), losses, 'lowest validation loss first');
  assert.ok(losses[0] < losses[2], 'the trials differ');
  assert.ok(lines[1].startsWith('*') && lines[1].includes(losses[0].toFixed(4)), lines[1]);
  assert.match(r.stdout, /\nchosen: lr=\S+ \(validation loss \d+\.\d{4}\)\n/);
  assert.match(r.stdout, /test RMSE of the chosen model: [\d.]+ \(MAE [\d.]+, R² -?[\d.]+, test loss [\d.]+; the test set was evaluated for this model only\)/);
  assert.ok(Math.abs(json.chosen.test_rmse - Math.sqrt(json.chosen.test_loss)) < 1e-6 * json.chosen.test_rmse, 'mse loss: the RMSE is its root');
});

test('nabla search refuses bad input with one line and exit 1', () => {
  const one = (r: ReturnType<typeof nabla>, ...parts: string[]) => {
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    for (const p of parts) assert.ok(r.stderr.includes(p), `${p} in ${r.stderr}`);
  };
  // (Each launch costs a second of start-up: the space errors are covered in-process above.)
  one(nabla('search', '--grid', 'lrr=1,2'), 'search space entry "lrr=1,2"');
  one(nabla('search', '--grid', 'lr=1e-3', '--', '--out', 'x'), 'train flag "--out"');
  one(nabla('search', '--grid', 'lr=1e-3', '--', '--lr', '0.1'), '--lr in both');
});
