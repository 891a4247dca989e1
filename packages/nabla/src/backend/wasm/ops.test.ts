// The op table (ops.ts) against the two sides it ties together: the wasm module's exports (every
// part, run from the source text the workers get, calls the export of its name with that export's
// arity) and the backend (every op is dispatched to the threads by some Backend method).
import { setFlagsFromString } from 'node:v8';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../random.ts';
import { KERNELS } from './kernels.generated.ts';
import { OPS, OP_NAMES, opsSource, type Kernels, type Op, type OpName } from './ops.ts';
import { ARG_COUNT } from './threadPool.ts';
import { WasmBackend, availableCores } from './wasmBackend.ts';
import { withUnsharedMemory } from './wasmMemory.ts';

setFlagsFromString('--experimental-wasm-relaxed-simd');

const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024, shared: true });
const { instance } = await WebAssembly.instantiate(Buffer.from(KERNELS.simd, 'base64'), {
  env: { memory, abort: () => { throw new Error('wasm abort'); } },
});
const exports = instance.exports as Record<string, unknown>;

// Every export's parameter count, checked against `Kernels` by the compiler (the values must equal
// the interface's) and against the module by the first test.
const ARITY: { [K in keyof Kernels]: Parameters<Kernels[K]>['length'] } = {
  gemm: 13, gemmScratchBytes: 0, gemmEpilogue: 7, fill: 3, sumSquares: 2, addRowVector: 5, sumRows: 5, relu: 3, reluBackward: 4, leakyRelu: 4,
  leakyReluBackward: 5, sgdUpdate: 8, sgdSumSquares: 5, adamUpdate: 13, gatherRows: 5, softmaxCrossEntropy: 7, softmaxScratchBytes: 2, im2col: 12, col2im: 12, maxPool: 12, maxPoolBackward: 13,
  convForward: 18, convBackward: 20, convAddPartials: 8, direct3x3Forward: 12, direct3x3Backward: 12, winoScratchBytes: 7, winoFilterBytes: 2, winoFilter: 7, winoForward: 14, winoBackward: 16, winoAddPartials: 11,
  batchNormShift: 5, batchNormStats: 7, batchNormStatsFinish: 10, batchNormNormalize: 11, batchNormGrad: 11, batchNormGradFinish: 12,
  batchNormBackward: 13,
};

test('Kernels declares exactly the module\'s exported functions, with their arities', () => {
  const exported = Object.entries(exports).filter(([, f]) => typeof f === 'function');
  assert.deepEqual(exported.map(([name]) => name).sort(), Object.keys(ARITY).sort());
  for (const [name, f] of exported) assert.equal((f as (...a: number[]) => unknown).length, ARITY[name as keyof Kernels], name);
});

test('no build of the module has a data segment (a worker instantiating it would overwrite that memory)', () => {
  for (const [name, base64] of Object.entries(KERNELS)) {
    const bytes = Buffer.from(base64, 'base64');
    const sections: number[] = [];
    let at = 8;
    const leb = (): number => {
      let value = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[at++];
        value += (byte & 127) * 2 ** shift;
        if (byte < 128) return value;
      }
    };
    while (at < bytes.length) {
      const id = bytes[at++];
      const size = leb();
      at += size;
      sections.push(id);
    }
    assert.ok(sections.includes(10), `${name} has a code section`);
    assert.ok(!sections.includes(11), `${name} has a data section (sections ${sections.join(', ')})`);
  }
});

test('each build, its memory import made unshared, differs in that one byte and computes the same bits', async () => {
  for (const [name, base64] of Object.entries(KERNELS)) {
    const shared = new Uint8Array(Buffer.from(base64, 'base64'));
    if (!WebAssembly.validate(shared)) continue; // relaxed SIMD on an engine without it
    const unshared = withUnsharedMemory(shared);
    assert.equal(unshared.filter((b, i) => b !== shared[i]).length, 1, name);
    assert.throws(() => withUnsharedMemory(unshared), /imports a shared memory/);
    const product = async (bytes: Uint8Array<ArrayBuffer>, isShared: boolean): Promise<Float32Array> => {
      const mem = new WebAssembly.Memory({ initial: 16, maximum: 1024, shared: isShared });
      const { instance: inst } = await WebAssembly.instantiate(bytes, { env: { memory: mem, abort: () => { throw new Error('wasm abort'); } } });
      const k = inst.exports as unknown as Kernels;
      mem.grow(Math.ceil(k.gemmScratchBytes() / 65536));
      const f = new Float32Array(mem.buffer);
      const rng = new Rng(5);
      // A (7×5) at 64 KiB, B (5×6) after it, C (7×6) after that; packing scratch from 128 KiB.
      for (let i = 0; i < 35 + 30; i++) f[16384 + i] = rng.normal();
      k.gemm(65536 + 65 * 4, 65536, 65536 + 35 * 4, 7, 6, 5, 0, 0, 1, 0, 0, 6, 131072);
      return f.slice(16384 + 65, 16384 + 65 + 42);
    };
    assert.deepEqual(await product(unshared, false), await product(shared, true), name);
  }
});

// Exports an op calls after its namesake when its arguments ask (all arguments 8, below: they do).
const ALSO: Partial<Record<OpName, (keyof Kernels)[]>> = { gemm: ['gemmEpilogue'] };

test('every op, rebuilt from the source text the workers get, calls the export of its name with its arity', () => {
  const shipped = new Function(`return ${opsSource()};`)() as Op[];
  assert.equal(shipped.length, OP_NAMES.length);
  shipped.forEach((op, code) => {
    const name = OP_NAMES[code];
    assert.deepEqual(op.args, OPS[name].args, `${name}: arguments`);
    assert.ok(op.args.length + 2 <= ARG_COUNT, `${name}: ${op.args.length} arguments + [op, parts] fit in ${ARG_COUNT} slots`);
    // Every argument 8: a part of 8 items at item 0 (and 64-byte aligned slots), so each op calls.
    const args = Object.fromEntries(op.args.map((a) => [a, 8]));
    const calls: [string, number][] = [];
    const k = new Proxy({}, { get: (_, key: string) => (...values: number[]) => (calls.push([key, values.length]), 0) }) as Kernels;
    op.part(k, args, 0, { index: 1, scratch: 64, memory });
    const want = [name, ...(ALSO[name] ?? [])].map((e) => [e, (exports[e] as () => void).length]);
    assert.deepEqual(calls, want, `${name}: calls`);
  });
});

// Every op, reached through the Backend method that dispatches it, large enough to be split over 2 threads.
const CALLERS: Record<OpName, (b: WasmBackend, big: () => Float32Array) => void> = {
  gemm: (b) => b.gemm(b.allocate(256 * 256), b.allocate(256 * 256), b.allocate(256 * 256), 256, 256, 256, false, false, 1, 0),
  convForward: (b) => b.conv2dForward(b.allocate(32 * 8 * 576), b.allocate(32 * 784), b.allocate(200), undefined, 32, 1, 28, 28, 5, 5, 1, 1, 0, 0, 8),
  convBackward: (b) => b.conv2dBackward(b.allocate(200), b.allocate(8), b.allocate(32 * 784), b.allocate(32 * 784), b.allocate(32 * 8 * 576),
    b.allocate(200), 32, 1, 28, 28, 5, 5, 1, 1, 0, 0, 8),
  direct3x3Forward: (b) => b.conv2dForward(b.allocate(32 * 8 * 676), b.allocate(32 * 784), b.allocate(72), undefined, 32, 1, 28, 28, 3, 3, 1, 1, 0, 0, 8),
  direct3x3Backward: (b) => b.conv2dBackward(b.allocate(72), b.allocate(8), undefined, b.allocate(32 * 784), b.allocate(32 * 8 * 676),
    b.allocate(72), 32, 1, 28, 28, 3, 3, 1, 1, 0, 0, 8),
  winoForward: (b) => b.conv2dForward(b.allocate(32 * 8 * 676), b.allocate(32 * 4 * 784), b.allocate(288), undefined, 32, 4, 28, 28, 3, 3, 1, 1, 0, 0, 8),
  winoBackward: (b) => b.conv2dBackward(b.allocate(288), b.allocate(8), b.allocate(32 * 4 * 784), b.allocate(32 * 4 * 784), b.allocate(32 * 8 * 676),
    b.allocate(288), 32, 4, 28, 28, 3, 3, 1, 1, 0, 0, 8),
  relu: (b, big) => b.relu(big(), big(), 1 << 17),
  reluBackward: (b, big) => b.reluBackward(big(), big(), big(), 1 << 17),
  maxPool: (b, big) => b.maxPool(big(), big(), 32, 16, 16, 16, 2, 2, 2, 2, 0, 0),
  maxPoolBackward: (b, big) => b.maxPoolBackward(big(), big(), big(), 32, 16, 16, 16, 2, 2, 2, 2, 0, 0),
  sgdUpdate: (b, big) => b.sgdUpdate(big(), big(), big(), 1 << 17, 0.1, 0.9, 0, false),
  adamUpdate: (b, big) => b.adamUpdate(big(), big(), big(), big(), 1 << 17, 0.1, 0.9, 0.999, 1e-8, 0, false, 0.1, 0.001),
  sumSquares: (b, big) => b.sumSquares(big(), 1 << 17),
  sgdSumSquares: (b, big) => b.sgdUpdateSumSquares(big(), big(), 1 << 17, 0.1, 0),
  gatherRows: (b, big) => {
    const order = b.allocate(64); // row 0, 64 times, in the wasm memory
    // Shared only with a worker that spins (ThreadPool.awake); this one may have gone to sleep.
    b.pool!.awake = () => 1;
    try {
      b.gatherRows(big(), big(), new Uint32Array(order.buffer, order.byteOffset, 64), 0, 64, 784);
    } finally {
      delete (b.pool as { awake?: unknown }).awake;
    }
  },
  batchNormStats: (b, big) => b.batchNormStats(b.allocate(16), b.allocate(16), big(), 64, 16, 128),
  batchNormNormalize: (b, big) => b.batchNormNormalize(big(), big(), b.allocate(16), b.allocate(16), b.allocate(16), b.allocate(16), 64, 16, 128),
  batchNormGrad: (b, big) => b.batchNormBackward(big(), b.allocate(16), b.allocate(16), big(), big(), b.allocate(16), b.allocate(16),
    b.allocate(16), 64, 16, 128, true),
  batchNormBackward: (b, big) => b.batchNormBackward(big(), b.allocate(16), b.allocate(16), big(), big(), b.allocate(16), b.allocate(16),
    b.allocate(16), 64, 16, 128, true),
};

const two = availableCores() >= 2 ? await WasmBackend.create({ threads: 2 }) : undefined;
after(() => two?.dispose());

test('every op in the table is dispatched to the threads by a Backend method', { skip: !two && 'needs 2 cores' }, () => {
  const be = two!;
  const rng = new Rng(1);
  const big = (): Float32Array => {
    const a = be.allocate(1 << 17);
    for (let i = 0; i < a.length; i++) a[i] = rng.uniform();
    return a;
  };
  const pool = be.pool!;
  const seen: string[] = [];
  const run = pool.run.bind(pool);
  pool.run = (name, ...rest) => (seen.push(name), run(name, ...rest));
  try {
    for (const name of OP_NAMES) {
      seen.length = 0;
      CALLERS[name](be, big);
      assert.ok(seen.includes(name), `${name}: dispatched ${JSON.stringify(seen)}`);
    }
  } finally {
    pool.run = run;
  }
});

/** Byte offsets of blocks of these many floats in the module's memory (from 64 KiB, 64 bytes apart), grown to hold them. */
function layout(...floats: number[]): number[] {
  let at = 65536;
  const offsets = floats.map((len) => ((at += len * 4 + 64), at - len * 4 - 64));
  const pages = Math.ceil(at / 65536) - memory.buffer.byteLength / 65536;
  if (pages > 0) memory.grow(pages);
  return offsets;
}

test('the GEMM column path (Aᵀ·B with a mostly-zero B) gives the tile kernel\'s bits, and runs only where B is mostly zeros', () => {
  const k = exports as unknown as Kernels;
  // m = 43 rows: passes of 16, of 4 and single rows; 300 steps: two k blocks, both listed;
  // 37 sparse columns: an odd one out and a ragged end. The same sparse columns are multiplied
  // once alone (the column path) and once after 16 dense ones (B too full: the tile kernel).
  const [m, kk, dense, sparse] = [43, 300, 16, 37];
  const n = dense + sparse;
  const rng = new Rng(11);
  const [scratch, a, bSparse, bMixed, cSparse, cMixed, cCols] = layout(k.gemmScratchBytes() / 4, kk * m, kk * sparse, kk * n, m * sparse, m * n, m * sparse);
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < kk * m; i++) f[a / 4 + i] = rng.normal();
  for (let p = 0; p < kk; p++) {
    for (let j = 0; j < n; j++) {
      const v = j < dense ? rng.normal() : rng.uniform() < 0.2 ? rng.normal() : 0;
      f[bMixed / 4 + p * n + j] = v;
      if (j >= dense) f[bSparse / 4 + p * sparse + j - dense] = v;
    }
  }
  for (const beta of [0, 1]) {
    // The same starting C for both (beta = 1 adds to it).
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const v = rng.normal();
        f[cMixed / 4 + i * n + j] = v;
        if (j >= dense) f[cSparse / 4 + i * sparse + j - dense] = f[cCols / 4 + i * sparse + j - dense] = v;
      }
    }
    assert.equal(k.gemm(cSparse, a, bSparse, m, sparse, kk, 1, 0, 1, beta, 0, sparse, scratch), 1, 'sparse B: the column path');
    // Columns 0..16 and 16..37 as two threads compute a weight gradient: the same bits, both on the column path.
    assert.equal(k.gemm(cCols, a, bSparse, m, sparse, kk, 1, 0, 1, beta, 0, 16, scratch), 1, 'columns 0..16: the column path');
    assert.equal(k.gemm(cCols, a, bSparse, m, sparse, kk, 1, 0, 1, beta, 16, sparse, scratch), 1, 'columns 16..37: the column path');
    assert.deepEqual(Buffer.from(f.slice(cCols / 4, cCols / 4 + m * sparse).buffer), Buffer.from(f.slice(cSparse / 4, cSparse / 4 + m * sparse).buffer), `beta ${beta}: columns cut in two`);
    assert.equal(k.gemm(cMixed, a, bMixed, m, n, kk, 1, 0, 1, beta, 0, n, scratch), 0, 'dense columns first: the tile kernel');
    for (let i = 0; i < m; i++) {
      const got = f.slice(cSparse / 4 + i * sparse, cSparse / 4 + (i + 1) * sparse);
      const want = f.slice(cMixed / 4 + i * n + dense, cMixed / 4 + (i + 1) * n);
      assert.deepEqual(Buffer.from(got.buffer), Buffer.from(want.buffer), `beta ${beta}, row ${i}`);
    }
  }
});

test('the GEMM row path (A·Bᵀ with a mostly-zero A, whole or a range of columns) gives the tile kernel\'s bits, and runs only where A is mostly zeros', () => {
  const k = exports as unknown as Kernels;
  // 37 sparse rows (two groups of 16 and 5) of 275 steps (two k blocks: 256 steps, then 19, too
  // few to list on their own, which stay on the row path as the last block of 784 does; 19 = 4·4
  // + 3 ends the listing's 4-step loop with single steps), 45 columns (a
  // 24-column pass, a 16-column pass and a ragged 5; columns 8..45: 24, an 8-column panel, 5). The same sparse rows are multiplied
  // once alone (the row path) and once after 4 dense rows (A too full: the tile kernel). B is
  // stored n × k.
  const [kk, n, dense, sparse] = [275, 45, 4, 37];
  const m = dense + sparse;
  const rng = new Rng(12);
  const [scratch, aSparse, aMixed, b, cSparse, cMixed, cCols] = layout(k.gemmScratchBytes() / 4, sparse * kk, m * kk, n * kk, sparse * n, m * n, sparse * n);
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < n * kk; i++) f[b / 4 + i] = rng.normal();
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < kk; p++) {
      const v = i < dense ? rng.normal() : rng.uniform() < 0.2 ? rng.normal() : 0;
      f[aMixed / 4 + i * kk + p] = v;
      if (i >= dense) f[aSparse / 4 + (i - dense) * kk + p] = v;
    }
  }
  for (const beta of [0, 1]) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const v = rng.normal();
        f[cMixed / 4 + i * n + j] = v;
        if (i >= dense) f[cSparse / 4 + (i - dense) * n + j] = f[cCols / 4 + (i - dense) * n + j] = v;
      }
    }
    assert.equal(k.gemm(cSparse, aSparse, b, sparse, n, kk, 0, 1, 1, beta, 0, n, scratch), 2, 'sparse A: the row path');
    // Columns 0..8 and 8..45 as two threads compute a forward: too few columns for the row path
    // in the first (the tile kernel), the row path in the second; the same bits.
    assert.equal(k.gemm(cCols, aSparse, b, sparse, n, kk, 0, 1, 1, beta, 0, 8, scratch), 0, 'columns 0..8: the tile kernel');
    assert.equal(k.gemm(cCols, aSparse, b, sparse, n, kk, 0, 1, 1, beta, 8, n, scratch), 2, 'columns 8..45: the row path');
    assert.deepEqual(Buffer.from(f.slice(cCols / 4, cCols / 4 + sparse * n).buffer), Buffer.from(f.slice(cSparse / 4, cSparse / 4 + sparse * n).buffer), `beta ${beta}: columns cut in two`);
    assert.equal(k.gemm(cMixed, aMixed, b, m, n, kk, 0, 1, 1, beta, 0, n, scratch), 0, 'dense rows first: the tile kernel');
    const got = f.slice(cSparse / 4, cSparse / 4 + sparse * n);
    const want = f.slice(cMixed / 4 + dense * n, cMixed / 4 + m * n);
    assert.deepEqual(Buffer.from(got.buffer), Buffer.from(want.buffer), `beta ${beta}`);
  }
});
