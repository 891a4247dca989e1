import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIdx, encodeIdx, type IdxArray } from './idx.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const ROLE = 'images file "train-images-idx3-ubyte"';


test('parseIdx reads a handcrafted uint8 file byte for byte', () => {
  // 2 images of 2×3, dims big-endian.
  const bytes = new Uint8Array([
    0x00, 0x00, 0x08, 0x03,
    0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x03,
    0, 1, 2, 3, 4, 5,
    250, 251, 252, 253, 254, 255,
  ]);
  const arr = parseIdx(bytes, ROLE);
  assert.equal(arr.dtype, 'uint8');
  assert.deepEqual(arr.shape, [2, 2, 3]);
  assert.ok(arr.data instanceof Uint8Array);
  assert.deepEqual([...arr.data], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
});

test('parseIdx decodes big-endian multi-byte values (handcrafted int16, int32, float32)', () => {
  const int16 = parseIdx(new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]));
  assert.deepEqual([...int16.data], [0x0102, -2]);

  const int32 = parseIdx(new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 0x80, 0x00, 0x00, 0x01]));
  assert.deepEqual([...int32.data], [-2147483647]);

  // 1.5 as float32 big-endian is 3F C0 00 00.
  const f32 = parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0x00, 0x00]));
  assert.deepEqual([...f32.data], [1.5]);
});

test('round trip through encodeIdx for every dtype', () => {
  const cases: IdxArray[] = [
    { dtype: 'uint8', shape: [3, 2], data: new Uint8Array([0, 1, 127, 128, 254, 255]) },
    { dtype: 'int8', shape: [4], data: new Int8Array([-128, -1, 0, 127]) },
    { dtype: 'int16', shape: [2, 2], data: new Int16Array([-32768, -1, 1, 32767]) },
    { dtype: 'int32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
    { dtype: 'float32', shape: [1, 3], data: new Float32Array([-0.5, 3.25, 1e-30]) },
    { dtype: 'float64', shape: [2, 1, 1], data: new Float64Array([Math.PI, -1e300]) },
  ];
  for (const arr of cases) {
    const back = parseIdx(encodeIdx(arr));
    assert.equal(back.dtype, arr.dtype);
    assert.deepEqual(back.shape, arr.shape);
    assert.equal(back.data.constructor, arr.data.constructor, arr.dtype);
    assert.deepEqual([...back.data], [...arr.data], arr.dtype);
  }
});

test('encodeIdx writes the documented header', () => {
  const bytes = encodeIdx({ dtype: 'uint8', shape: [2], data: new Uint8Array([3, 7]) });
  assert.deepEqual([...bytes], [0, 0, 8, 1, 0, 0, 0, 2, 3, 7]);
});

test('parseIdx handles a subarray with a byteOffset and does not alias the input', () => {
  const file = encodeIdx({ dtype: 'int16', shape: [2], data: new Int16Array([300, -300]) });
  const padded = new Uint8Array(file.length + 3);
  padded.set(file, 3);
  const arr = parseIdx(padded.subarray(3));
  assert.deepEqual([...arr.data], [300, -300]);

  const u8file = encodeIdx({ dtype: 'uint8', shape: [2], data: new Uint8Array([9, 9]) });
  const u8 = parseIdx(u8file);
  u8file[8] = 0;
  assert.equal(u8.data[0], 9);
});

test('empty dims parse (a zero-sized array)', () => {
  const arr = parseIdx(encodeIdx({ dtype: 'uint8', shape: [0, 28, 28], data: new Uint8Array(0) }));
  assert.deepEqual(arr.shape, [0, 28, 28]);
  assert.equal(arr.data.length, 0);
});

test('error: file shorter than 4 bytes', () => {
  const err = assertNablaError(() => parseIdx(new Uint8Array([0, 0, 8]), ROLE), [ROLE, '4 bytes', '3 bytes']);
  assert.equal(err.where, ROLE);
  assertNablaError(() => parseIdx(new Uint8Array(0), ROLE), [ROLE, '0 bytes']);
});

test('error: wrong magic', () => {
  const err = assertNablaError(() => parseIdx(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), ROLE), [
    ROLE, '0x00 0x00', '0x50 0x4b',
  ]);
  assert.ok(err.hint);
});

test('error: gzip-compressed file gets a decompress hint', () => {
  const err = assertNablaError(
    () => parseIdx(new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3]), ROLE),
    [ROLE, 'gzip'],
  );
  assert.match(err.hint ?? '', /decompress/);
  assert.match(err.hint ?? '', /\.gz/);
});

test('error: unknown dtype code', () => {
  assertNablaError(() => parseIdx(new Uint8Array([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), ROLE), [
    ROLE, 'type code 0x07', '0x08',
  ]);
});

test('error: header truncated', () => {
  // ndims 3 needs 16 header bytes; give 10.
  assertNablaError(() => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]), ROLE), [
    ROLE, '16 bytes', '3 dimensions', '10 bytes', 'truncated',
  ]);
});

test('error: data truncated says expected vs found bytes', () => {
  const full = encodeIdx({ dtype: 'int16', shape: [2, 3], data: new Int16Array(6) });
  const err = assertNablaError(() => parseIdx(full.subarray(0, full.length - 5), ROLE), [
    ROLE, '12 bytes', '7 bytes', 'truncated', '2×3 int16',
  ]);
  assert.ok(err.hint);
});

test('error: data too long', () => {
  const full = encodeIdx({ dtype: 'uint8', shape: [4], data: new Uint8Array(4) });
  const longer = new Uint8Array(full.length + 2);
  longer.set(full);
  assertNablaError(() => parseIdx(longer, ROLE), [ROLE, '4 bytes', '6 bytes', '2 too many']);
});

test('error: absurd dims from a garbage header are reported, not allocated', () => {
  const bytes = new Uint8Array([0, 0, 0x0e, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
  assertNablaError(() => parseIdx(bytes, ROLE), [ROLE, 'truncated', '3 bytes']);
});

test('default role is "IDX file"', () => {
  assertNablaError(() => parseIdx(new Uint8Array(1)), ['IDX file']);
});

test('encodeIdx rejects data that does not match the shape', () => {
  assertNablaError(() => encodeIdx({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) }), [
    'encodeIdx', '4 values', '3 values',
  ]);
});
