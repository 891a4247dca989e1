import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDataset, samplesChunks } from './chunked.ts';
import { Rng } from '../random.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const N = 103;
const data = { x: Float32Array.from({ length: N * 2 }, (_, i) => Math.floor(i / 2)), y: Float32Array.from({ length: N }, (_, i) => -i), count: N };

test('ChunkedDataset: every row exactly once per epoch, x and y kept together, the last batch short', () => {
  const ds = new ChunkedDataset(samplesChunks(data, 10), { bufferRows: 25 });
  assert.equal(ds.reader.chunks, 11);
  const rng = new Rng(7);
  const orders: number[][] = [];
  for (let e = 0; e < 3; e++) {
    const rows: number[] = [];
    const sizes: number[] = [];
    for (const b of ds.epoch(16, rng)) {
      sizes.push(b.size);
      for (let i = 0; i < b.size; i++) {
        assert.equal(b.x[2 * i], b.x[2 * i + 1]);
        assert.equal(b.y[i], -b.x[2 * i]);
        rows.push(b.x[2 * i]);
      }
    }
    assert.deepEqual(sizes, [16, 16, 16, 16, 16, 16, 7]);
    assert.deepEqual([...rows].sort((a, b) => a - b), [...Array(N).keys()]);
    orders.push(rows);
  }
  assert.notDeepEqual(orders[0], orders[1]);
  // Rows of the last chunk in file order can come out early: the chunk order is permuted too.
  assert.ok(orders.some((o) => o.slice(0, 30).some((r) => r >= 90)));
});

test('ChunkedDataset without shuffling gives file order and draws nothing from the Rng', () => {
  const ds = new ChunkedDataset(samplesChunks(data, 10), { shuffle: false });
  const rng = new Rng(1);
  const before = rng.getState();
  const rows: number[] = [];
  for (const b of ds.epoch(50, rng)) rows.push(...[...b.y].map((v) => -v)); // batches share buffers: read each in turn
  assert.deepEqual(rows, [...Array(N).keys()]);
  assert.deepEqual(rng.getState(), before);
  assertNablaError(() => [...ds.epoch(0, rng)], ['positive integer']);
  assertNablaError(() => new ChunkedDataset(samplesChunks(data, 10), { bufferRows: 0 }), ['bufferRows']);
});
