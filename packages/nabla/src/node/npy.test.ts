import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNpy, loadNpyDataset, loadNpz, loadNpzDataset, openNpyChunks } from './npy.ts';
import { encodeNpy } from '../data/npy.ts';
import { Rng } from '../random.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const dir = mkdtempSync(join(tmpdir(), 'nabla-npy-'));
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
// numpy.savez / savez_compressed(f, x_train=x, y_train=y, x_test=x[:1], y_test=y[:1]) with
// x = np.arange(36, dtype=np.uint8).reshape(2, 2, 3, 3), y = np.array([1, 0]) (int64): NumPy
// writes zip64 local headers (force_zip64).
const STORED = 'UEsDBC0AAAAAAAAAIQCB5b/L//////////8LABQAeF90cmFpbi5ucHkBABAApAAAAAAAAACkAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJ3x1MScsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCAyLCAzLCAzKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjUEsDBC0AAAAAAAAAIQBx+zmr//////////8LABQAeV90cmFpbi5ucHkBABAAkAAAAAAAAACQAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxpOCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAQAAAAAAAAAAAAAAAAAAAFBLAwQtAAAAAAAAACEAZX0JXP//////////CgAUAHhfdGVzdC5ucHkBABAAkgAAAAAAAACSAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJ3x1MScsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgxLCAyLCAzLCAzKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAECAwQFBgcICQoLDA0ODxARUEsDBC0AAAAAAAAAIQA+mhRe//////////8KABQAeV90ZXN0Lm5weQEAEACIAAAAAAAAAIgAAAAAAAAAk05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAAAAAFBLAQItAy0AAAAAAAAAIQCB5b/LpAAAAKQAAAALAAAAAAAAAAAAAACAAQAAAAB4X3RyYWluLm5weVBLAQItAy0AAAAAAAAAIQBx+zmrkAAAAJAAAAALAAAAAAAAAAAAAACAAeEAAAB5X3RyYWluLm5weVBLAQItAy0AAAAAAAAAIQBlfQlckgAAAJIAAAAKAAAAAAAAAAAAAACAAa4BAAB4X3Rlc3QubnB5UEsBAi0DLQAAAAAAAAAhAD6aFF6IAAAAiAAAAAoAAAAAAAAAAAAAAIABfAIAAHlfdGVzdC5ucHlQSwUGAAAAAAQABADiAAAAQAMAAAAA';
const DEFLATED = 'UEsDBC0AAAAIAAAAIQCB5b/L//////////8LABQAeF90cmFpbi5ucHkBABAApAAAAAAAAABtAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loF5Taqiuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CkBkDESaOgq1CmQALgZGJmYWVjZ2Dk4ubh5ePn4BQSFhEVExcQlJKWkZWTl5BUUlZQBQSwMELQAAAAgAAAAhAHH7Oav//////////wsAFAB5X3RyYWluLm5weQEAEACQAAAAAAAAAEgAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALkYGVAAAUEsDBC0AAAAIAAAAIQBlfQlc//////////8KABQAeF90ZXN0Lm5weQEAEACSAAAAAAAAAF0AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgXlNqqK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkahjoKRjoKxkCkqaNQq0AG4GJgZGJmYWVj5+Dk4ubh5eMXEAQAUEsDBC0AAAAIAAAAIQA+mhRe//////////8KABQAeV90ZXN0Lm5weQEAEACIAAAAAAAAAEgAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkahjqaOgq1ChQALkYGCAAAUEsBAi0DLQAAAAgAAAAhAIHlv8ttAAAApAAAAAsAAAAAAAAAAAAAAIABAAAAAHhfdHJhaW4ubnB5UEsBAi0DLQAAAAgAAAAhAHH7OatIAAAAkAAAAAsAAAAAAAAAAAAAAIABqgAAAHlfdHJhaW4ubnB5UEsBAi0DLQAAAAgAAAAhAGV9CVxdAAAAkgAAAAoAAAAAAAAAAAAAAIABLwEAAHhfdGVzdC5ucHlQSwECLQMtAAAACAAAACEAPpoUXkgAAACIAAAACgAAAAAAAAAAAAAAgAHIAQAAeV90ZXN0Lm5weVBLBQYAAAAABAAEAOIAAABMAgAAAAA=';

test('loadNpz reads numpy.savez and numpy.savez_compressed archives alike', () => {
  for (const [name, text] of [['stored.npz', STORED], ['deflated.npz', DEFLATED]]) {
    const p = join(dir, name);
    writeFileSync(p, b64(text));
    const arrays = loadNpz(p);
    assert.deepEqual(Object.keys(arrays).sort(), ['x_test', 'x_train', 'y_test', 'y_train']);
    assert.deepEqual(arrays.x_train.shape, [2, 2, 3, 3]);
    assert.deepEqual([...arrays.x_train.data], Array.from({ length: 36 }, (_, i) => i));
    assert.deepEqual([...arrays.y_train.data], [1, 0]);
    const train = loadNpzDataset(p, { split: 'train' });
    assert.equal(train.count, 2);
    assert.deepEqual(train.inputShape, [3, 2, 3]);
    assert.equal(train.x[1], Math.fround(3 / 255)); // channel 0 of pixel 1: byte 3 of the channels-last data
    const testSplit = loadNpzDataset(p, { split: 'test' });
    assert.equal(testSplit.count, 1);
    assert.equal(loadNpzDataset(p).count, 2, 'no split: x_train/y_train');
  }
});

test('damaged or unexpected .npz files are refused naming the file and entry', () => {
  const bytes = b64(DEFLATED);
  const damaged = bytes.slice();
  damaged[80] ^= 0xff; // inside x_train's deflate stream
  const p = join(dir, 'damaged.npz');
  writeFileSync(p, damaged);
  assertNablaError(() => loadNpz(p), [p, 'entry "x_train.npy"']);
  const q = join(dir, 'notzip.npz');
  writeFileSync(q, encodeNpy({ dtype: 'uint8', shape: [1], data: new Uint8Array(1) }));
  assertNablaError(() => loadNpz(q), [q, 'zip archive', 'loadNpy']);
  const r = join(dir, 'keys.npz');
  writeFileSync(r, b64(STORED));
  assertNablaError(() => loadNpzDataset(r, { split: 'test', classNames: ['a'] }), ['y_test', 'sample 0', '0..0']);
  assertNablaError(() => loadNpz(r, { maxBytes: 10 }), ['x_train.npy', 'at most 10 bytes']);
});

test('openNpyChunks reads x.npy chunk by chunk: every sample once per epoch, as loadNpyDataset reads it', () => {
  const n = 300;
  const x = new Float32Array(n * 4).map((_, i) => i);
  const y = new Int32Array(n).map((_, i) => i % 3);
  const xp = join(dir, 'x.npy');
  const yp = join(dir, 'y.npy');
  writeFileSync(xp, encodeNpy({ dtype: 'float32', shape: [n, 2, 2], data: x }));
  writeFileSync(yp, encodeNpy({ dtype: 'int32', shape: [n], data: y }));
  const whole = loadNpyDataset(xp, yp);
  assert.deepEqual(whole.inputShape, [1, 2, 2]);
  assert.deepEqual(loadNpy(yp).shape, [n]);
  const src = openNpyChunks(xp, yp, { chunkRows: 32, bufferRows: 64 });
  assert.deepEqual(src.inputShape, [1, 2, 2]);
  const seen = new Set<number>();
  let inOrder = 0;
  let pos = 0;
  for (const b of src.epoch(25, new Rng(4))) {
    for (let i = 0; i < b.size; i++, pos++) {
      const row = b.x[i * 4] / 4;
      assert.deepEqual([...b.x.subarray(i * 4, i * 4 + 4)], [...whole.x.subarray(row * 4, row * 4 + 4)]);
      assert.equal(b.y[i * 3 + (row % 3)], 1);
      seen.add(row);
      if (row === pos) inOrder++;
    }
  }
  assert.equal(seen.size, n);
  assert.ok(inOrder < 30, `shuffled (${inOrder} rows in place)`);
  src.close();
});
