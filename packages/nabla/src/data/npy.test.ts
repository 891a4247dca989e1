import { test } from 'node:test';
import assert from 'node:assert/strict';
import { datasetFromNpy, encodeNpy, parseNpy, npyLabels } from './npy.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

// Written by NumPy 2.4 (np.save / np.lib.format.write_array).
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const BIG_ENDIAN = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/wAAAQAAAAEBAAABAgAAA');
const FORTRAN = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AABAQAAAAEAAAIBA');
const V3_I2 = b64('k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTInLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAIAAwA=');
const V2_F8 = b64('k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADwPwAAAAAAAABAAAAAAAAACEA=');

test('parseNpy reads format versions 1, 2 and 3 as NumPy writes them', () => {
  assert.deepEqual(parseNpy(V3_I2), { dtype: 'int16', shape: [3], data: new Int16Array([1, 2, 3]) });
  assert.deepEqual(parseNpy(V2_F8), { dtype: 'float64', shape: [3], data: new Float64Array([1, 2, 3]) });
  for (const [dtype, data] of [
    ['uint8', new Uint8Array([0, 255])], ['int8', new Int8Array([-1, 2])], ['uint16', new Uint16Array([9, 65535])],
    ['int32', new Int32Array([-7, 1 << 30])], ['float32', new Float32Array([0.5, -2])], ['int64', new Float64Array([-3, 2 ** 40])],
  ] as const) {
    const arr = parseNpy(encodeNpy({ dtype, shape: [2, 1], data }));
    assert.equal(arr.dtype, dtype);
    assert.deepEqual(arr.shape, [2, 1]);
    assert.deepEqual([...arr.data], [...data]);
  }
});

test('parseNpy refuses big-endian data, Fortran order, unknown dtypes and truncation clearly', () => {
  assertNablaError(() => parseNpy(BIG_ENDIAN, 'be.npy'), ['be.npy', "big-endian '>f4'", 'newbyteorder']);
  assertNablaError(() => parseNpy(FORTRAN, 'f.npy'), ['f.npy', 'fortran_order: True', 'ascontiguousarray']);
  const complex = encodeNpy({ dtype: 'float32', shape: [1], data: new Float32Array(2) });
  const text = new TextDecoder().decode(complex.subarray(10, 30)).replace('<f4', '<c8');
  complex.set(new TextEncoder().encode(text), 10);
  assertNablaError(() => parseNpy(complex, 'c.npy'), ['c.npy', "'<c8'", 'astype']);
  const good = encodeNpy({ dtype: 'float32', shape: [4], data: new Float32Array(4) });
  assertNablaError(() => parseNpy(good.subarray(0, good.length - 1), 't.npy'), ['t.npy', '16 bytes of data', 'truncated']);
  assertNablaError(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'z.npy'), ['z.npy', '\\x93NUMPY', 'loadNpz']);
  assertNablaError(() => parseNpy(encodeNpy({ dtype: 'uint8', shape: [1000], data: new Uint8Array(1000) }), 'big.npy', { maxBytes: 999 }), ['big.npy', 'at most 999 bytes']);
});

test('datasetFromNpy: uint8 / 255, (N,H,W) → [1,H,W], channels-last (N,H,W,C) → NCHW, one-hot labels', () => {
  // Two 2×3 RGB images, value = 100·channel + position.
  const data = new Uint8Array(2 * 2 * 3 * 3);
  for (let n = 0; n < 2; n++) for (let p = 0; p < 6; p++) for (let c = 0; c < 3; c++) data[n * 18 + p * 3 + c] = 100 * c + p + n;
  const ds = datasetFromNpy({ dtype: 'uint8', shape: [2, 2, 3, 3], data }, { dtype: 'int64', shape: [2], data: new Float64Array([1, 0]) });
  assert.deepEqual(ds.inputShape, [3, 2, 3]);
  assert.deepEqual(ds.imageShape, [2, 3]);
  assert.deepEqual([...ds.x.subarray(0, 18)].map((v) => Math.round(v * 255)), [0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105, 200, 201, 202, 203, 204, 205]);
  assert.deepEqual([...ds.labels], [1, 0]);
  const grey = datasetFromNpy({ dtype: 'float32', shape: [2, 2, 2], data: new Float32Array(8).fill(0.5) }, { dtype: 'float32', shape: [2, 3], data: new Float32Array([0, 0, 1, 1, 0, 0]) });
  assert.deepEqual(grey.inputShape, [1, 2, 2]);
  assert.equal(grey.x[0], 0.5);
  assert.deepEqual([...grey.labels], [2, 0]);
  assert.equal(grey.classes, 3);
});

test('datasetFromNpy and npyLabels name the bad sample', () => {
  const x = { dtype: 'float32' as const, shape: [2, 2], data: new Float32Array([1, 2, NaN, 4]) };
  assertNablaError(() => datasetFromNpy(x, { dtype: 'int32', shape: [2], data: new Int32Array([0, 1]) }, { sources: ['x.npy', 'y.npy'] }), ['x.npy, sample 1', 'NaN']);
  assertNablaError(() => datasetFromNpy(x, { dtype: 'int32', shape: [3], data: new Int32Array(3) }, { sources: ['x.npy', 'y.npy'] }), ['x.npy and y.npy', 'shape (2, 2)', 'shape (3)']);
  assertNablaError(() => npyLabels({ dtype: 'float32', shape: [2], data: new Float32Array([0, 0.5]) }, 'y.npy'), ['y.npy, sample 1', '0.5', 'regression']);
  assertNablaError(() => npyLabels({ dtype: 'int8', shape: [2], data: new Int8Array([0, -2]) }, 'y.npy'), ['y.npy, sample 1', '-2']);
  assertNablaError(() => npyLabels({ dtype: 'float32', shape: [1, 2], data: new Float32Array([0.5, 0.5]) }, 'y.npy'), ['y.npy, sample 0', 'one-hot']);
});
