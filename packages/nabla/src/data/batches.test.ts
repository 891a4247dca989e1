import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchCount, epochOrder, gatherBatch, BatchIterator } from './batches.ts';
import type { Dataset } from './mnist.ts';
import { Rng } from '../random.ts';
import { NablaError } from '../errors.ts';

/** N rows of 3 features whose values identify the row (x = 10·row + j), 2 classes. */
function dataset(n: number): Dataset {
  const x = new Float32Array(n * 3);
  const y = new Float32Array(n * 2);
  const labels = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < 3; j++) x[r * 3 + j] = 10 * r + j;
    labels[r] = r % 2;
    y[r * 2 + labels[r]] = 1;
  }
  return { x, y, labels, count: n, features: 3, classes: 2, imageShape: [1, 3] };
}

test('batchCount is ceil(count / batchSize)', () => {
  assert.equal(batchCount(60000, 64), 938);
  assert.equal(batchCount(64, 64), 1);
  assert.equal(batchCount(0, 64), 0);
  assert.throws(() => batchCount(10, 0), NablaError);
  assert.throws(() => batchCount(10, 2.5), /positive integer/);
});

test('epochOrder: identity without shuffle, and the rng is untouched', () => {
  const rng = new Rng(7);
  const before = rng.getState();
  assert.deepEqual([...epochOrder(5, false, rng)], [0, 1, 2, 3, 4]);
  assert.deepEqual(rng.getState(), before);
});

test('epochOrder: a seeded permutation with shuffle', () => {
  const a = epochOrder(100, true, new Rng(3));
  const b = epochOrder(100, true, new Rng(3));
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual([...a], Array.from({ length: 100 }, (_, i) => i));
  // It starts from the identity every time, so reusing a buffer gives the same as a fresh one.
  const rng1 = new Rng(9);
  const rng2 = new Rng(9);
  const buf = new Uint32Array(100).fill(77);
  assert.deepEqual(epochOrder(100, true, rng1, buf), epochOrder(100, true, rng2));
  assert.throws(() => epochOrder(5, true, rng1, new Uint32Array(4)), /length 5/);
});

test('gatherBatch copies the ordered rows into preallocated buffers', () => {
  const ds = dataset(5);
  const order = new Uint32Array([4, 2, 0, 3, 1]);
  const bx = new Float32Array(2 * 3).fill(-1);
  const by = new Float32Array(2 * 2).fill(-1);
  gatherBatch(bx, by, ds, order, 1, 2); // rows 2 and 0
  assert.deepEqual([...bx], [20, 21, 22, 0, 1, 2]);
  assert.deepEqual([...by], [1, 0, 1, 0]);
  // A short batch fills only its leading rows.
  bx.fill(-1);
  gatherBatch(bx, by, ds, order, 4, 1); // row 1
  assert.deepEqual([...bx], [10, 11, 12, -1, -1, -1]);
});

test('gatherBatch rejects ranges and buffers that do not fit', () => {
  const ds = dataset(5);
  const order = new Uint32Array([0, 1, 2, 3, 4]);
  assert.throws(() => gatherBatch(new Float32Array(6), new Float32Array(4), ds, order, 4, 2), /start 4, count 2/);
  assert.throws(() => gatherBatch(new Float32Array(5), new Float32Array(4), ds, order, 0, 2), /x 5/);
});

test('BatchIterator yields every row exactly once per epoch, last batch smaller', () => {
  const ds = dataset(10);
  const it = new BatchIterator(ds, { batchSize: 4, shuffle: true, rng: new Rng(1) });
  assert.equal(it.batches, 3);
  const seen: number[] = [];
  const sizes: number[] = [];
  for (const batch of it.epoch()) {
    sizes.push(batch.size);
    assert.equal(batch.x.length, batch.size * 3);
    assert.equal(batch.y.length, batch.size * 2);
    for (let r = 0; r < batch.size; r++) {
      const row = batch.x[r * 3] / 10;
      assert.equal(row, batch.order[batch.start + r]);
      assert.equal(batch.y[r * 2 + (row % 2)], 1);
      seen.push(row);
    }
  }
  assert.deepEqual(sizes, [4, 4, 2]);
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('BatchIterator: epochs differ when shuffling, identical runs for the same seed', () => {
  const ds = dataset(20);
  const orderOf = (it: BatchIterator): number[] => {
    const rows: number[] = [];
    for (const b of it.epoch()) for (let r = 0; r < b.size; r++) rows.push(b.x[r * 3] / 10);
    return rows;
  };
  const a = new BatchIterator(ds, { batchSize: 8, shuffle: true, rng: new Rng(5) });
  const b = new BatchIterator(ds, { batchSize: 8, shuffle: true, rng: new Rng(5) });
  const a1 = orderOf(a);
  const a2 = orderOf(a);
  assert.notDeepEqual(a1, a2);
  assert.deepEqual(orderOf(b), a1);
  assert.deepEqual(orderOf(b), a2);

  const plain = new BatchIterator(ds, { batchSize: 8, shuffle: false, rng: new Rng(5) });
  assert.deepEqual(orderOf(plain), Array.from({ length: 20 }, (_, i) => i));
});

test('BatchIterator reuses its buffers and handles tiny and empty datasets', () => {
  const ds = dataset(3);
  const it = new BatchIterator(ds, { batchSize: 64, shuffle: false, rng: new Rng(0) });
  const batches = [...it.epoch()];
  assert.equal(batches.length, 1);
  assert.equal(batches[0].size, 3);
  assert.equal(batches[0].x.length, 9);

  const big = new BatchIterator(dataset(9), { batchSize: 4, shuffle: false, rng: new Rng(0) });
  const buffers = new Set<Float32Array>();
  for (const b of big.epoch()) buffers.add(b.x);
  for (const b of big.epoch()) buffers.add(b.x);
  assert.equal(buffers.size, 2); // the full buffer and the one view for the short last batch

  const empty = new BatchIterator(dataset(0), { batchSize: 4, shuffle: true, rng: new Rng(0) });
  assert.equal([...empty.epoch()].length, 0);
});
