import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CSV_IN_MEMORY_BYTES, loadCsv, openCsvChunks } from './csv.ts';
import { Rng } from '../random.ts';
import { Sequential } from '../model/sequential.ts';
import { Dense } from '../layers/dense.ts';
import { ReLU } from '../layers/activations.ts';
import { Standardize } from '../layers/standardize.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { Adam } from '../optim/adam.ts';
import { fitSource } from '../train/fitSource.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const dir = mkdtempSync(join(tmpdir(), 'nabla-csv-'));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** 1000 rows: two features, label "a" when f0 + f1 > 1, with a quoted field now and then. */
function table(n: number): string {
  const rng = new Rng(3);
  const lines = ['f0,f1,label'];
  for (let i = 0; i < n; i++) {
    const a = rng.uniform();
    const b = rng.uniform();
    lines.push(`${a.toFixed(4)},"${b.toFixed(4)}",${a + b > 1 ? 'a' : i % 7 === 0 ? '"b, quoted"' : 'b'}`);
  }
  return lines.join('\n') + '\n';
}

test('loadCsv names the file and line in errors', () => {
  const p = write('bad.csv', 'a,b,label\n1,2,x\n1,2,x\n1,oops,y\n');
  assertNablaError(() => loadCsv(p), [`${p}:4`, 'column "b"', '"oops"']);
  assertNablaError(() => loadCsv(join(dir, 'missing.csv')), ['missing.csv']);
});

test('loadCsv refuses a file larger than one JavaScript string, from its size, and points to the chunked reader', () => {
  // A sparse file: its size is checked before a byte is read, so it costs no disk and no memory.
  const big = join(mkdtempSync(join(tmpdir(), 'nabla-bigcsv-')), 'big.csv');
  writeFileSync(big, 'label,x\n');
  truncateSync(big, MAX_CSV_IN_MEMORY_BYTES + 1);
  assertNablaError(() => loadCsv(big), [`CSV file "${big}"`, `at most ${MAX_CSV_IN_MEMORY_BYTES} bytes`, 'openCsvChunks', '--stream']);
});

test('openCsvChunks: every row once per epoch, shuffled across chunks, the same rows as loadCsv', () => {
  const p = write('table.csv', table(1000));
  const whole = loadCsv(p);
  const src = openCsvChunks(p, { chunkRows: 64, bufferRows: 256, blockBytes: 1000 });
  assert.equal(src.count, 1000);
  assert.equal(src.reader.chunks, 16);
  assert.deepEqual(src.classNames, ['a', 'b', 'b, quoted']);
  assert.deepEqual(whole.classNames, src.classNames);
  const key = (x: Float32Array, i: number) => `${x[2 * i]},${x[2 * i + 1]}`;
  const expected = new Map<string, number>();
  for (let i = 0; i < whole.count; i++) expected.set(key(whole.x, i), whole.labels[i]);
  const rng = new Rng(1);
  const seenFirst: string[] = [];
  for (let epoch = 0; epoch < 2; epoch++) {
    const seen = new Set<string>();
    let positionOfRow0 = -1;
    let pos = 0;
    for (const b of src.epoch(50, rng)) {
      for (let i = 0; i < b.size; i++, pos++) {
        const k = key(b.x, i);
        assert.ok(expected.has(k), 'a row of the file');
        assert.equal(b.y[i * src.targets + expected.get(k)!], 1, 'its one-hot label');
        seen.add(k);
        if (k === key(whole.x, 0)) positionOfRow0 = pos;
      }
      if (seenFirst.length === epoch) seenFirst.push(key(b.x, 0));
    }
    assert.equal(seen.size, 1000);
    assert.notEqual(positionOfRow0, 0);
  }
  assert.notEqual(seenFirst[0], seenFirst[1], 'each epoch draws a new order');
  src.close();
  const plain = openCsvChunks(p, { chunkRows: 100, shuffle: false });
  const firstBatch = plain.epoch(10, new Rng(1)).next().value!;
  assert.deepEqual([...firstBatch.x], [...whole.x.subarray(0, 20)]);
  plain.close();
});

test('openCsvChunks\' column statistics (one pass, Welford) are Standardize.fit\'s on the whole file (two passes), as float32', () => {
  // Columns far from 0 with a small spread: where a one-pass Σx² − (Σx)²/n would lose the digits.
  const rng = new Rng(9);
  const lines = ['income,age,label'];
  for (let i = 0; i < 3000; i++) lines.push(`${(1e6 + 500 * rng.normal()).toFixed(2)},${(40 + 12 * rng.uniform()).toFixed(1)},${i % 3}`);
  const p = write('wide.csv', lines.join('\n') + '\n');
  const whole = loadCsv(p);
  const layer = new Standardize();
  layer.build([2], { backend: new JsBackend(), rng: new Rng(1), index: 0 });
  layer.fit(whole.x, whole.count);
  const fitted = layer.statistics();
  const src = openCsvChunks(p, { chunkRows: 256, blockBytes: 4096 });
  const { mean, std } = src.columnStatistics;
  src.close();
  // Stored as float32, the two agree exactly.
  assert.deepEqual(Float32Array.from(mean), fitted.mean);
  assert.deepEqual(Float32Array.from(std), fitted.std);
  assert.ok(Math.abs(std[0] - 500) < 25 && Math.abs(std[1] - 12 / Math.sqrt(12)) < 0.2, `std ${std[0]}, ${std[1]}`);
  layer.setStatistics(mean, std);
  assert.deepEqual(layer.statistics().mean, fitted.mean);
});

test('openCsvChunks checks every row in its first pass (path:line)', () => {
  const p = write('bad-late.csv', table(300) + '0.5,0.5\n');
  assertNablaError(() => openCsvChunks(p, { chunkRows: 32 }), [`${p}:302`, '3 columns']);
});

test('fitSource trains an MLP from a chunked CSV', async () => {
  const p = write('train.csv', table(2000));
  const src = openCsvChunks(p, { chunkRows: 128, bufferRows: 512 });
  const model = new Sequential([new Dense(16), new ReLU(), new Dense(src.classes)], { inputShape: src.inputShape, seed: 1 });
  const history = await fitSource(model, src, { optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'ce', epochs: 8, batchSize: 32 });
  src.close();
  assert.equal(history.epochs.length, 8);
  assert.ok(history.epochs[7].accuracy! > 0.9, `accuracy ${history.epochs[7].accuracy}`);
});
