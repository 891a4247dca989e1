// What only the wasm backend has (its kernels pass test/kernelConformance.ts like every
// backend's): threads (determinism, crashes), memory and bad requests.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNablaError } from '../../../../../test/assertNablaError.ts';
import { wasmBackends } from '../../../../../test/wasmBackends.ts';
import { assertClose } from '../../testing/assertClose.ts';
import { NablaError } from '../../errors.ts';
import { Rng } from '../../random.ts';
import { Dense } from '../../layers/dense.ts';
import { ReLU } from '../../layers/activations.ts';
import { Conv2D } from '../../layers/conv2d.ts';
import { BatchNorm2D } from '../../layers/batchNorm.ts';
import { MaxPool2D } from '../../layers/maxPool2d.ts';
import { Flatten } from '../../layers/flatten.ts';
import { Sequential } from '../../model/sequential.ts';
import { SGD } from '../../optim/sgd.ts';
import { BatchIterator } from '../../data/batches.ts';
import { JsBackend } from '../js/jsBackend.ts';
import { createBackend } from '../createBackend.ts';
import { WasmBackend, availableCores } from './wasmBackend.ts';
import type { ThreadPool } from './threadPool.ts';
import { OPS, type Kernels } from './ops.ts';
import type { Backend } from '../backend.ts';

// As the CLI does: relaxed SIMD (fused multiply-add) where Node 20 keeps it behind a flag
// (wasmBackends turns it on); the baseline build beside it.
const { one, two } = await wasmBackends();
const twoThreads = two !== undefined;
const baseline = await WasmBackend.create({ threads: 1, relaxedSimd: false });
after(() => baseline.dispose());

test('the wasm backends report what they run: relaxed SIMD where the engine has it, baseline on request', () => {
  assert.equal(one.threads, 1);
  assert.equal(baseline.simd, 'baseline');
  assert.ok(['relaxed', 'baseline'].includes(one.simd));
  if (two) assert.equal(two.threads, 2);
});

test('allocate returns zeroed views into the wasm memory that kernels use in place; freed blocks come back zeroed', () => {
  const a = one.allocate(1000);
  assert.ok(a.every((v) => v === 0), 'zeroed');
  assert.ok(one.wasmMemory.pointerOf(a) >= 0, 'resident');
  assert.equal(one.wasmMemory.pointerOf(new Float32Array(4)), -1);
  a.fill(5);
  const before = one.wasmMemory.reserve(64);
  one.wasmMemory.release({ ptr: before, bytes: 64 });
  assert.equal(one.wasmMemory.reserve(64), before, 'a released block is reused');
  one.wasmMemory.release({ ptr: before, bytes: 64 });
  // Growing the memory keeps earlier views valid (shared memory never detaches).
  const big = one.allocate(8 * 1024 * 1024);
  big[big.length - 1] = 1;
  assert.equal(a[999], 5);
});

test('threads give bit-identical GEMM results to one thread (each element is summed in the same order)', { skip: !two && 'needs 2 cores' }, () => {
  const rng = new Rng(3);
  // Products long enough to be split (shorter ones stay on one thread): a first layer's three at
  // batch 128 and 256 units, the MNIST MLP's forward and weight gradient at batch 64 (split to
  // keep each thread on its rows of W: columns of the forward, rows of the gradient), and odd
  // shapes (the last with a ragged 45-column part).
  for (const [m, n, k, tA, tB] of [[128, 256, 784, false, true], [256, 784, 128, true, false], [128, 784, 256, false, false],
    [64, 128, 784, false, true], [128, 784, 64, true, false], [97, 333, 300, true, true], [131, 101, 1500, false, true]] as const) {
    // Dense operands, then mostly-zero ones (the zero-skipping and sparse paths).
    for (const density of [1, 0.15]) {
      const a = one.allocate(m * k);
      const b = one.allocate(k * n);
      a.forEach((_, i) => (a[i] = rng.uniform() < density ? rng.uniform() - 0.5 : 0));
      b.forEach((_, i) => (b[i] = rng.uniform() < density ? rng.uniform() - 0.5 : 0));
      const c1 = one.allocate(m * n);
      const c2 = two!.allocate(m * n);
      one.gemm(c1, a, b, m, n, k, tA, tB, 1, 0);
      const shared = two!.pool!.stats.shared;
      two!.gemm(c2, a, b, m, n, k, tA, tB, 1, 0);
      assert.equal(two!.pool!.stats.shared, shared + 1, `${m}×${n}×${k} ran on both threads`);
      assert.deepEqual(Buffer.from(c2.buffer, c2.byteOffset, c2.byteLength), Buffer.from(c1.buffer, c1.byteOffset, c1.byteLength), `${m}×${n}×${k} density ${density}`);
    }
  }
});

test('after a worker held the caller up, the caller runs the next jobs alone, with the same bits', { skip: !two && 'needs 2 cores' }, () => {
  const pool = two!.pool!;
  const rng = new Rng(5);
  const [m, n, k] = [128, 256, 784];
  const a = one.allocate(m * k);
  const b = one.allocate(k * n);
  a.forEach((_, i) => (a[i] = rng.uniform() - 0.5));
  b.forEach((_, i) => (b[i] = rng.uniform() - 0.5));
  const shared = two!.allocate(m * n);
  const alone = two!.allocate(m * n);
  const before = { ...pool.stats };
  two!.gemm(shared, a, b, m, n, k, false, true, 1, 0);
  // What a miss does (the OS pausing a worker mid-part cannot be staged in a test).
  (pool as unknown as { solo: number }).solo = 2;
  two!.gemm(alone, a, b, m, n, k, false, true, 1, 0);
  two!.gemm(alone, a, b, m, n, k, false, true, 1, 0);
  assert.equal(pool.stats.solo - before.solo, 2);
  assert.ok(pool.stats.shared - before.shared >= 1);
  assert.deepEqual(Buffer.from(alone.buffer, alone.byteOffset, alone.byteLength), Buffer.from(shared.buffer, shared.byteOffset, shared.byteLength));
  // The stretch is over: the next job is shared again.
  const sharedNow = pool.stats.shared;
  two!.gemm(alone, a, b, m, n, k, false, true, 1, 0);
  assert.equal(pool.stats.shared, sharedNow + 1);
});

/** Records the jobs `pool` runs (op/part count, in order) until `restore()`. */
function recordJobs(pool: ThreadPool): { jobs: string[]; restore: () => void } {
  const jobs: string[] = [];
  const run = pool.run.bind(pool);
  pool.run = (name, parts, ...rest) => {
    jobs.push(`${name}/${parts}`);
    run(name, parts, ...rest);
  };
  return { jobs, restore: () => { pool.run = run; } };
}

test('a batch gather is shared only with a worker that is spinning: a sleeping one is not woken for it', { skip: !two && 'needs 2 cores' }, () => {
  const pool = two!.pool!;
  const rng = new Rng(8);
  const [rows, width, count] = [300, 784, 64];
  const src = two!.allocate(rows * width);
  src.forEach((_, i) => (src[i] = rng.uniform()));
  const orderBuf = two!.allocate(rows);
  const order = new Uint32Array(orderBuf.buffer, orderBuf.byteOffset, rows);
  order.forEach((_, i) => (order[i] = (i * 7) % rows));
  const want = new Float32Array(count * width);
  for (let r = 0; r < count; r++) want.set(src.subarray(order[r] * width, (order[r] + 1) * width), r * width);
  const { jobs, restore } = recordJobs(pool);
  try {
    // Idle for far longer than a worker spins (1 ms): it sleeps.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
    assert.equal(pool.awake(), 0, 'the worker sleeps');
    const out = two!.allocate(count * width);
    two!.gatherRows(out, src, order, 0, count, width);
    assert.deepEqual(jobs, [], 'not woken: the caller copied alone');
    assert.deepEqual(out, want);
    // A spinning worker takes its half.
    pool.awake = () => 1;
    const shared = two!.allocate(count * width);
    two!.gatherRows(shared, src, order, 0, count, width);
    assert.deepEqual(jobs, ['gatherRows/2']);
    assert.deepEqual(shared, want);
  } finally {
    restore();
    delete (pool as { awake?: unknown }).awake;
  }
});

test('how products and updates are split: long ones by columns, a short one on a large W by columns too (the forward keeping each thread on its rows of W), small ones not at all', { skip: !two && 'needs 2 cores' }, () => {
  const pool = two!.pool!;
  // The jobs each call hands the pool (op and part count), in order.
  const { jobs, restore } = recordJobs(pool);
  try {
    const [x, w, y, dy] = [two!.allocate(128 * 784).fill(0.5), two!.allocate(256 * 784).fill(0.25), two!.allocate(128 * 256), two!.allocate(128 * 256).fill(0.1)];
    const layer = (units: number, batch: number, sgdParts: number) => {
      jobs.length = 0;
      two!.gemm(y, x, w, batch, units, 784, false, true, 1, 0);
      two!.gemm(w, dy, x, units, 784, batch, true, false, 1, 0);
      two!.sgdUpdateSumSquares(w, w, units * 784, 0.1, 0);
      two!.sgdUpdate(w, w, w, units * 784, 0.1, 0, 0, false);
      assert.equal(sgdParts, Math.ceil((units * 784) / (1 << 14)));
      return [...jobs];
    };
    // 784 × 128 at batch 64 (each value in 40 multiply-adds): forward by columns (W's rows 0–63
    // and 64–127), gradient by columns (X's columns 0–391 and 392–783), the update by values.
    assert.deepEqual(layer(128, 64, 7), ['gemm/2', 'gemm/2', 'sgdSumSquares/7', 'sgdUpdate/2']);
    // 784 × 256 at batch 128 (76): long enough to split by columns either way.
    assert.deepEqual(layer(256, 128, 13), ['gemm/2', 'gemm/2', 'sgdSumSquares/13', 'sgdUpdate/2']);
    // 784 × 64 at batch 64 (31, and W's 50,176 values too few to split its update): one thread.
    assert.deepEqual(layer(64, 64, 4), []);
  } finally {
    restore();
  }
});

test('the MNIST MLP\'s shape (784-128-10, batch 64, mostly-zero inputs) trains to bit-identical weights on 1 and 2 threads, with its first layer split', { skip: !two && 'needs 2 cores' }, () => {
  const rng = new Rng(8);
  const count = 640;
  const x = new Float32Array(count * 784);
  const y = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) {
    y[i * 10 + (i % 10)] = 1;
    // About 19% non-zero values, as MNIST's pixels, in strokes that depend on the class.
    for (let j = 0; j < 784; j++) if ((j * (i % 10 + 3)) % 11 < 2 || rng.uniform() < 0.01) x[i * 784 + j] = rng.uniform();
  }
  const train = (backend: Backend) => {
    const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 4, backend });
    const optimizer = new SGD(model.parameters(), { lr: 0.1, backend });
    model.fit({ x, y, count }, { optimizer, loss: 'ce', epochs: 2, batchSize: 64 });
    return model.parameters().map((p) => Buffer.from(p.value.data.buffer, p.value.data.byteOffset, p.value.data.byteLength));
  };
  const shared = two!.pool!.stats.shared;
  const w2 = train(two!);
  // Per batch the forward, the weight gradient and the update (2 epochs of 10 batches): split in
  // the first block of the chooser's first trial (48 calls), alone in the next (splitChooser.ts).
  assert.ok(two!.pool!.stats.shared - shared >= 30, `${two!.pool!.stats.shared - shared} jobs shared`);
  assert.deepEqual(w2, train(one));
});

test('with the data in the wasm memory, a worker gathers the next batch during the step, and the weights are still 1 thread\'s', { skip: !two && 'needs 2 cores' }, (t) => {
  const count = 640;
  const data = (backend: Backend) => {
    const x = backend.allocate(count * 784);
    const y = backend.allocate(count * 10);
    for (let i = 0; i < count; i++) {
      y[i * 10 + (i % 10)] = 1;
      for (let j = 0; j < 784; j++) if ((j * (i % 10 + 3)) % 11 < 2) x[i * 784 + j] = ((i * 31 + j) % 17) / 17;
    }
    return { x, y, count };
  };
  const train = (backend: Backend) => {
    const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 5, backend });
    const optimizer = new SGD(model.parameters(), { lr: 0.1, backend });
    model.fit(data(backend), { optimizer, loss: 'ce', epochs: 3, batchSize: 64 });
    return model.parameters().map((p) => Buffer.from(p.value.data.buffer, p.value.data.byteOffset, p.value.data.byteLength));
  };
  const stats = two!.pool!.stats;
  const [byWorker, here] = [stats.postedByWorker, stats.postedHere];
  const w2 = train(two!);
  // 3 epochs of 10 batches: 9 next batches per epoch, posted after the first layer's forward
  // (split in the chooser's warm-up) if the worker is spinning then, and made by the worker or,
  // if it was not there in time, by the caller. On a busy machine the worker may sleep between
  // jobs instead (threadPool.ts), and the caller gathers every batch: only the count differs.
  const worker = stats.postedByWorker - byWorker;
  t.diagnostic(`${worker} of the 27 next batches gathered by the worker, ${stats.postedHere - here} posted and made by the caller`);
  assert.ok(worker + stats.postedHere - here <= 27);
  assert.deepEqual(w2, train(one));
});

test('an error in a posted background job surfaces to the caller, and the pool goes on working', { skip: !two && 'needs 2 cores' }, () => {
  const pool = two!.pool!;
  const n = 256;
  const a = two!.allocate(n * n).fill(1);
  const c = two!.allocate(n * n);
  const outside = 2 ** 31;
  const args = { out: outside, src: outside, order: outside, count: 64, per: 64, rowBytes: 3136 };
  // Posted only while the worker spins, as it does after a shared job unless a pause on a busy
  // machine sent it to sleep for the next jobs (threadPool.ts): share jobs until it does.
  let posted = false;
  for (let i = 0; i < 400 && !posted; i++) {
    two!.gemm(c, a, a, n, n, n, false, false, 1, 0);
    posted = pool.post('gatherRows', args);
  }
  assert.ok(posted, 'posted to a spinning worker');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  // Whoever made it (the worker, or this thread if the worker was not there), it traps.
  assert.throws(() => pool.settle(() => OPS.gatherRows.part((two as unknown as { k: Kernels }).k, args, 0, { index: 0, scratch: 0, memory: two!.wasmMemory.memory }), 'gatherRows test', 5000), /out of bounds/);
  two!.gemm(c, a, a, n, n, n, false, false, 1, 0);
  assert.ok(c.every((v) => v === n));
});

test('threaded sums of squares are bit-identical to one thread\'s (fixed parts, added in order)', { skip: !two && 'needs 2 cores' }, () => {
  const rng = new Rng(4);
  for (const n of [32_768, 100_003, 1_000_000]) {
    const x = one.allocate(n);
    x.forEach((_, i) => (x[i] = rng.uniform() * 4 - 2));
    // Each backend sums a copy in its own memory (a foreign array would take the JS path).
    const x2 = two!.allocate(n);
    x2.set(x);
    assert.equal(two!.sumSquares(x2, n), one.sumSquares(x, n), `n = ${n}`);
  }
});

test('the same seeded MLP trains to bit-identical weights on 1 and 2 threads, and to the JS backend\'s accuracy', { skip: !two && 'needs 2 cores' }, () => {
  // Synthetic 10-class data: each class a noisy prototype, so a small net learns it in one epoch.
  const rng = new Rng(5);
  const count = 2000;
  const features = 64;
  const protos = Array.from({ length: 10 }, () => Array.from({ length: features }, () => (rng.uniform() < 0.3 ? 1 : 0)));
  const x = new Float32Array(count * features);
  const y = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) {
    const c = i % 10;
    y[i * 10 + c] = 1;
    for (let j = 0; j < features; j++) x[i * features + j] = protos[c][j] * (0.5 + rng.uniform()) + (rng.uniform() < 0.1 ? 1 : 0);
  }
  const data = { x, y, count };
  const run = (backend: Backend) => {
    const model = new Sequential([new Dense(96), new ReLU(), new Dense(10)], { inputShape: [features], seed: 9, backend });
    const optimizer = new SGD(model.parameters(), { lr: 0.2, momentum: 0.9, backend });
    model.fit(data, { optimizer, loss: 'ce', epochs: 2, batchSize: 50 });
    return { model, acc: model.evaluate(data, { loss: 'ce' }).accuracy };
  };
  const r1 = run(one);
  const r2 = run(two!);
  const rj = run(new JsBackend());
  const w1 = r1.model.parameters().map((p) => Array.from(p.value.data));
  const w2 = r2.model.parameters().map((p) => Array.from(p.value.data));
  assert.deepEqual(w2, w1, 'weights after training differ between 1 and 2 threads');
  assert.ok(r1.acc > 0.9, `wasm accuracy ${r1.acc}`);
  assert.ok(Math.abs(r1.acc - rj.acc) <= 0.01, `wasm ${r1.acc} vs js ${rj.acc}`);
});

test('batches gathered in wasm (on 2 threads, data in the wasm memory) equal the JS gather of plain arrays', { skip: !two && 'needs 2 cores' }, () => {
  const rng = new Rng(6);
  const count = 1000;
  const features = 784; // 64 rows of 784: large enough to split over the threads
  const x = two!.allocate(count * features);
  const y = two!.allocate(count * 10);
  x.forEach((_, i) => (x[i] = rng.uniform() < 0.2 ? rng.uniform() : 0));
  for (let i = 0; i < count; i++) y[i * 10 + (i % 10)] = 1;
  const inWasm = new BatchIterator({ x, y, count }, { batchSize: 64, shuffle: true, rng: new Rng(1), backend: two! });
  const plain = new BatchIterator({ x: Float32Array.from(x), y: Float32Array.from(y), count }, { batchSize: 64, shuffle: true, rng: new Rng(1) });
  let batches = 0;
  const other = plain.epoch();
  for (const batch of inWasm.epoch()) {
    const ref = other.next().value!;
    assert.equal(batch.size, ref.size);
    assert.deepEqual(batch.x, ref.x, `batch ${batches} x`);
    assert.deepEqual(batch.y, ref.y, `batch ${batches} y`);
    batches++;
  }
  assert.equal(batches, 16);
  assert.ok(other.next().done, 'as many batches on both');
  // A dataset outside the wasm memory (staged through a plain array), into wasm batches.
  const outside = new BatchIterator({ x: Float32Array.from(x), y: Float32Array.from(y), count }, { batchSize: 64, shuffle: true, rng: new Rng(1), backend: two! });
  const again = new BatchIterator({ x: Float32Array.from(x), y: Float32Array.from(y), count }, { batchSize: 64, shuffle: true, rng: new Rng(1) }).epoch();
  for (const batch of outside.epoch()) {
    assert.ok(two!.wasmMemory.pointerOf(batch.x) >= 0, 'the batch lives in the wasm memory');
    const ref = again.next().value!;
    assert.deepEqual(batch.x, ref.x);
    assert.deepEqual(batch.y, ref.y);
  }
});

test('batch norm split over 2 threads (parts of whole samples, planes) gives the bits of 1 thread, and the JS values', { skip: !two && 'needs 2 cores' }, () => {
  const [n, c, s] = [64, 16, 144]; // 147,456 values: split over the threads
  const js = new JsBackend();
  const run = (be: Backend) => {
    const own = (len: number, f: () => number) => { const a = be.allocate(len); a.forEach((_, i) => (a[i] = f())); return a; };
    const r = new Rng(8);
    const x = own(n * c * s, () => r.uniform() * 4 - 1);
    const dy = own(n * c * s, () => r.uniform() - 0.5);
    const gamma = own(c, () => r.uniform() + 0.5);
    const beta = own(c, () => r.uniform() - 0.5);
    const mean = be.allocate(c);
    const variance = be.allocate(c);
    const y = be.allocate(n * c * s);
    const dx = be.allocate(n * c * s);
    const dgamma = be.allocate(c);
    const dbeta = be.allocate(c);
    let out: number[] = [];
    // Several reruns, back to back, so that the worker takes parts.
    for (let rep = 0; rep < 5; rep++) {
      be.batchNormStats(mean, variance, x, n, c, s);
      const invStd = be.allocate(c);
      invStd.forEach((_, i) => (invStd[i] = 1 / Math.sqrt(variance[i] + 1e-5)));
      be.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
      dgamma.fill(0);
      dbeta.fill(0);
      be.batchNormBackward(dx, dgamma, dbeta, dy, x, mean, invStd, gamma, n, c, s, true);
      const now = [...mean, ...variance, ...y, ...dx, ...dgamma, ...dbeta];
      if (rep > 0) assert.deepEqual(now, out, `rerun ${rep} changed a bit`);
      out = now;
    }
    return out;
  };
  const a = run(one);
  assert.deepEqual(run(two!), a, '2 threads differ from 1');
  const ref = run(js);
  assertClose(Float32Array.from(a), Float32Array.from(ref), { rtol: 1e-4, atol: 1e-4, label: 'wasm batch norm vs JS' });
});

test('one-pass batch-norm statistics match the two-pass float64 ones, with an outlier first sample and odd sizes', () => {
  // Channels: centred; far from 0 (mean 1000, σ 0.01: a plain Σx² − Mμ² would lose every digit);
  // a first sample 30σ away from the rest (its plane is the shift K: the check sends the channel
  // to the exact second pass); constant; and one with a NaN. s = 63 leaves a scalar tail.
  const [n, c, s] = [1024, 5, 63];
  const js = new JsBackend();
  const r = new Rng(3);
  const values = new Float32Array(n * c * s);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let k = 0; k < s; k++) {
        const z = r.normal();
        const v = [z, 1000 + 0.01 * z, b === 0 ? 1000 : z, 2.5, b === 7 && k === 3 ? NaN : z][ch];
        values[(b * c + ch) * s + k] = v;
      }
    }
  }
  const stats = (be: Backend) => {
    const x = be.allocate(n * c * s);
    x.set(values);
    const mean = be.allocate(c);
    const variance = be.allocate(c);
    be.batchNormStats(mean, variance, x, n, c, s);
    return [Array.from(mean), Array.from(variance)];
  };
  const [mw, vw] = stats(one);
  const [mj, vj] = stats(js);
  for (let ch = 0; ch < 4; ch++) {
    const sd = Math.sqrt(vj[ch]);
    assert.ok(Math.abs(mw[ch] - mj[ch]) <= 1e-6 * sd + 1.2e-7 * Math.abs(mj[ch]), `channel ${ch} mean ${mw[ch]} vs ${mj[ch]}`);
    assert.ok(Math.abs(vw[ch] - vj[ch]) <= 1e-6 * vj[ch], `channel ${ch} variance ${vw[ch]} vs ${vj[ch]}`);
  }
  assert.equal(vw[3], 0, 'a constant channel has variance 0');
  assert.ok(Number.isNaN(mw[4]) && Number.isNaN(vw[4]), 'a NaN reaches the statistics, as in the JS backend');
  const [mb, vb] = stats(baseline);
  for (let ch = 0; ch < 4; ch++) assert.ok(Math.abs(vb[ch] - vj[ch]) <= 1e-6 * vj[ch], `baseline SIMD, channel ${ch}`);
  if (two) assert.deepEqual(stats(two!), [mw, vw], '2 threads give the bits of 1');
  assert.ok(mb.length === c);
});

test('a seeded conv + batch norm network trains to bit-identical weights and running statistics on 1 and 2 threads', { skip: !two && 'needs 2 cores' }, () => {
  // Batches of 32 × 8 × 26 × 26 = 173,056 values per batch-norm pass: split over the threads,
  // in parts of 4 samples whose sums are added in part order.
  const rng = new Rng(6);
  const count = 96;
  const x = Float32Array.from({ length: count * 784 }, () => (rng.uniform() < 0.3 ? rng.uniform() : 0));
  const y = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) y[i * 3 + (i % 3)] = 1;
  const train = (backend: WasmBackend) => {
    const model = new Sequential([new Conv2D(8, 3, { bias: false }), new BatchNorm2D(), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(3)],
      { inputShape: [1, 28, 28], seed: 2, backend });
    model.fit({ x, y, count }, { optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, backend }), loss: 'ce', epochs: 2, batchSize: 32 });
    const bn = model.layers[1] as BatchNorm2D;
    return [...model.parameters().map((p) => Array.from(p.value.data)), Array.from(bn.runningMean.data), Array.from(bn.runningVar.data)];
  };
  const r1 = train(one);
  assert.deepEqual(train(two!), r1, 'weights or running statistics differ between 1 and 2 threads');
  assert.ok(r1.flat().every(Number.isFinite));
});

test('batch norm backward through a ReLU gives the bits of reluBackward then batchNormBackward, on every backend', () => {
  // Small (one thread, a scalar tail: s = 23) and large (split over the threads), with batch and
  // running statistics; β shifts the ReLU's threshold so that both sides of it are hit, and some
  // x sit exactly where y = 0; and once more with dy outside the wasm memory.
  for (const [n, c, s] of [[6, 3, 23], [64, 16, 144]]) {
    for (const batchStats of [true, false]) {
      const r = new Rng(n + c);
      const xs = Float32Array.from({ length: n * c * s }, (_, i) => (i % 17 === 0 ? 0 : r.normal()));
      const dys = Float32Array.from({ length: n * c * s }, () => r.normal());
      const backends: Backend[] = [one, baseline, new JsBackend(), ...(two ? [two] : [])];
      for (const be of backends) {
        const own = (a: ArrayLike<number>) => { const t = be.allocate(a.length); t.set(a); return t; };
        const x = own(xs);
        const dy = own(dys);
        const mean = own(Array.from({ length: c }, (_, ch) => (ch === 0 ? 0 : 0.1 * ch)));
        const invStd = own(Array.from({ length: c }, (_, ch) => 1 + 0.25 * ch));
        const gamma = own(Array.from({ length: c }, (_, ch) => 0.5 + ch));
        const beta = own(Array.from({ length: c }, (_, ch) => (ch === 0 ? 0 : 0.3 - 0.2 * ch)));
        const y = be.allocate(n * c * s);
        be.batchNormNormalize(y, x, mean, invStd, gamma, beta, n, c, s);
        const run = (through: boolean, dyIn: Float32Array = dy) => {
          const dx = be.allocate(n * c * s).fill(NaN);
          const dgamma = be.allocate(c);
          const dbeta = be.allocate(c);
          if (through) {
            be.batchNormBackward(dx, dgamma, dbeta, dyIn, x, mean, invStd, gamma, n, c, s, batchStats, beta);
          } else {
            const g = be.allocate(n * c * s);
            be.reluBackward(g, dy, y, n * c * s);
            be.batchNormBackward(dx, dgamma, dbeta, g, x, mean, invStd, gamma, n, c, s, batchStats);
          }
          return [...dx, ...dgamma, ...dbeta];
        };
        const fused = run(true);
        assert.deepEqual(fused, run(false), `${be.name} ${n}×${c}×${s} batchStats ${batchStats}`);
        // dy outside the wasm memory: the kernel falls back, and the ReLU's mask is still the forward's.
        assert.deepEqual(run(true, Float32Array.from(dys)), fused, `${be.name}, dy outside its memory`);
        assert.ok(fused.every(Number.isFinite));
      }
    }
  }
});

test('sizes that do not match the buffers are rejected before the kernel runs', () => {
  const c = one.allocate(4);
  const a = one.allocate(6);
  const b = one.allocate(6);
  assertNablaError(() => one.gemm(c, a, b, 2, 3, 3, false, false, 1, 0), ['wasm gemm', 'C to hold 2 × 3 = 6 values', '4']);
  assertNablaError(() => one.relu(a, b, 7), ['wasm relu', 'to hold 7 = 7 values', '6']);
  assertNablaError(() => one.addRowVector(a, b, one.allocate(2), 2, 3), ['wasm addRowVector', 'v to hold 3']);
});

test('thread counts this machine cannot give are refused, naming the limit', async () => {
  const cores = availableCores();
  for (const bad of [0, 1.5, cores + 1, 99]) {
    await assert.rejects(WasmBackend.create({ threads: bad }), (e: unknown) =>
      e instanceof NablaError && e.message.includes(`a thread count from 1 to ${Math.min(cores, 16)}`) && e.message.includes(String(bad)));
  }
  // 'auto' must not hide a bad request behind a fallback to js.
  await assert.rejects(createBackend({ name: 'auto', threads: 0 }), NablaError);
});

test('an error inside a worker surfaces to the caller as a NablaError, never a hang', { skip: !twoThreads && 'needs 2 cores' }, async () => {
  const be = await WasmBackend.create({ threads: 2 });
  // A job whose output pointer lies far outside the memory: any part a worker claims traps.
  // The caller's own parts sleep 1 ms each, so the worker claims most of the 200 parts.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const outside = 2 ** 31;
  assertNablaError(
    () => be.pool!.run('gemm', 200, { c: outside, a: outside, b: outside, m: 64, n: 64 * 200, k: 64, transA: 0, transB: 0, alpha: 1, beta: 0, per: 64, bias: 0, epilogue: 0 },
      () => Atomics.wait(pause, 0, 0, 1), 'gemm test', 5000),
    ['wasm worker 1', 'gemm test to succeed', 'out of bounds'],
  );
  be.dispose();
});

test('a worker that has died is reported on the next call; the caller never waits for it', { skip: !twoThreads && 'needs 2 cores' }, async () => {
  const be = await WasmBackend.create({ threads: 2 });
  const n = 256;
  const a = be.allocate(n * n).fill(1);
  const c = be.allocate(n * n);
  be.pool!.crashWorkerForTesting(1);
  // Until the runtime reports the death, the caller claims every part itself: right answer.
  be.gemm(c, a, a, n, n, n, false, false, 1, 0);
  assert.ok(c.every((v) => v === n));
  await new Promise((r) => setTimeout(r, 100));
  assertNablaError(() => be.gemm(c, a, a, n, n, n, false, false, 1, 0), ['wasm backend', 'wasm worker 1 stopped']);
  // Products too small to be split stay on the calling thread and still work.
  const s = be.allocate(4);
  be.gemm(s, a, a, 2, 2, 2, false, false, 1, 0);
  assert.deepEqual(Array.from(s), [2, 2, 2, 2]);
  be.dispose();
});

test('a disposed backend says so instead of waiting for workers that are gone', { skip: !twoThreads && 'needs 2 cores' }, async () => {
  const be = await WasmBackend.create({ threads: 2 });
  be.dispose();
  // A product large enough to be shared.
  const a = be.allocate(256 * 256);
  assertNablaError(() => be.gemm(a, a.slice(), a.slice(), 256, 256, 256, false, false, 1, 0), ['the backend was disposed']);
});
