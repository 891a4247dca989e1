import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSafetensors, decodeSafetensors } from './safetensors.ts';
import { Tensor } from '../tensor.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

const ROLE = 'model file "mnist.safetensors"';


/** A safetensors file from a header string (space-padded to 8 bytes) and raw data bytes. */
function buildFile(header: string, data: ArrayLike<number> = []): Uint8Array {
  const json = new TextEncoder().encode(header);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length);
  new DataView(out.buffer).setUint32(0, n, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  out.set(data, 8 + n);
  return out;
}

function f32le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

test('encode matches the spec byte for byte (handcrafted expected bytes)', () => {
  // {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes; padded to 56 = 0x38.
  const header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  assert.equal(header.length, 54);
  const expected = new Uint8Array([
    0x38, 0, 0, 0, 0, 0, 0, 0, // header length, uint64 little-endian
    ...Array.from(header, (c) => c.charCodeAt(0)),
    0x20, 0x20, // space padding to a multiple of 8
    0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
    0x00, 0x00, 0x00, 0xc0, // -2.0f little-endian
  ]);
  const bytes = encodeSafetensors({ w: new Tensor([2], new Float32Array([1, -2])) });
  assert.deepEqual([...bytes], [...expected]);

  const back = decodeSafetensors(expected, ROLE);
  assert.deepEqual([...back.tensors.keys()], ['w']);
  assert.deepEqual(back.tensors.get('w')?.shape, [2]);
  assert.deepEqual([...(back.tensors.get('w')?.data ?? [])], [1, -2]);
  assert.deepEqual(back.metadata, {});
});

test('metadata comes first in the header, as the reference writer puts it', () => {
  const bytes = encodeSafetensors([['b', new Tensor([1], new Float32Array([3]))]], { format: 'pt' });
  const n = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(text.trimEnd(), '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
});

test('round trip keeps insertion order, shapes, values and metadata', () => {
  const w = new Tensor([3, 4], Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1));
  const b = new Tensor([3], new Float32Array([0.5, -0.5, 1e-20]));
  const s = new Tensor([], new Float32Array([7])); // a scalar
  const z = new Tensor([0, 5]); // empty
  const order: Array<[string, Tensor]> = [['2.weight', w], ['10', s], ['0.bias', b], ['1', z]];
  const metadata = { architecture: JSON.stringify({ layers: [{ type: 'dense' }] }), 'ünïcode': 'ok ✓' };
  const { tensors, metadata: meta } = decodeSafetensors(encodeSafetensors(order, metadata), ROLE);
  // NOTE: integer-like names ("10", "1") would be reordered by a plain JS object; the file keeps them.
  assert.deepEqual([...tensors.keys()], ['2.weight', '10', '0.bias', '1']);
  for (const [name, t] of order) {
    const got = tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual([...got.data], [...t.data], name);
  }
  assert.deepEqual(meta, metadata);
});

test('decoded tensors do not alias the input, even from an unaligned subarray', () => {
  const file = encodeSafetensors({ a: new Tensor([2], new Float32Array([1.5, 2.5])) });
  const shifted = new Uint8Array(file.length + 1);
  shifted.set(file, 1);
  const input = shifted.subarray(1); // byteOffset 1: no Float32Array view over it is possible
  const t = decodeSafetensors(input).tensors.get('a')!;
  assert.deepEqual([...t.data], [1.5, 2.5]);
  input.fill(0);
  assert.deepEqual([...t.data], [1.5, 2.5]);
  assert.notEqual(t.data.buffer, shifted.buffer);
});

test('reads F64, F16 and BF16 as Float32', () => {
  const f64 = new Uint8Array(16);
  new DataView(f64.buffer).setFloat64(0, Math.PI, true);
  new DataView(f64.buffer).setFloat64(8, -1e-3, true);
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), +inf, NaN
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00]).buffer);
  // BF16: 1, -2, 3.140625
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x4049]).buffer);
  const data = new Uint8Array([...f64, ...f16, ...bf16]);
  const header = JSON.stringify({
    d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
    h: { dtype: 'F16', shape: [2, 3], data_offsets: [16, 28] },
    b: { dtype: 'BF16', shape: [3], data_offsets: [28, 34] },
  });
  const { tensors } = decodeSafetensors(buildFile(header, data), ROLE);
  assert.deepEqual([...tensors.get('d')!.data], [Math.fround(Math.PI), Math.fround(-1e-3)]);
  const h = [...tensors.get('h')!.data];
  assert.deepEqual(h.slice(0, 5), [1, -2, 65504, 2 ** -24, Infinity]);
  assert.ok(Number.isNaN(h[5]));
  assert.deepEqual(tensors.get('h')!.shape, [2, 3]);
  assert.deepEqual([...tensors.get('b')!.data], [1, -2, 3.140625]);
});

test('error: file shorter than 8 bytes', () => {
  assertNablaError(() => decodeSafetensors(new Uint8Array(5), ROLE), [ROLE, '8 bytes', '5 bytes']);
});

test('error: header length larger than the file', () => {
  const file = encodeSafetensors({ w: new Tensor([4]) });
  const truncated = file.subarray(0, 30);
  const err = assertNablaError(() => decodeSafetensors(truncated, ROLE), [
    ROLE, 'the header claims 56 bytes but the file has 30',
  ]);
  assert.match(err.hint ?? '', /truncated/);
  // Random bytes claim an absurd header: a different hint.
  const junk = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3]);
  const err2 = assertNablaError(() => decodeSafetensors(junk, ROLE), ['claims 4294967295 bytes but the file has 11']);
  assert.match(err2.hint ?? '', /safetensors file\?/);
});

test('error: header not starting with "{" or not valid JSON or not UTF-8', () => {
  const notObject = buildFile('[1, 2, 3]');
  assert.match(assertNablaError(() => decodeSafetensors(notObject, ROLE), [ROLE, '"{"']).hint ?? '', /safetensors/);
  assertNablaError(() => decodeSafetensors(buildFile('{"w": {"dtype": '), ROLE), [ROLE, 'invalid JSON']);
  const badUtf8 = buildFile('{"x":1}');
  badUtf8[10] = 0xff;
  assertNablaError(() => decodeSafetensors(badUtf8, ROLE), [ROLE, 'UTF-8']);
});

test('error: entry missing dtype, shape or data_offsets', () => {
  const full = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
  for (const field of ['dtype', 'shape', 'data_offsets'] as const) {
    const entry: Record<string, unknown> = { ...full };
    delete entry[field];
    const file = buildFile(JSON.stringify({ w: entry }), f32le([1]));
    assertNablaError(() => decodeSafetensors(file, ROLE), [ROLE, 'tensor "w"', `no "${field}"`]);
  }
  assertNablaError(() => decodeSafetensors(buildFile('{"w": 3}'), ROLE), ['tensor "w"', 'number']);
});

test('error: unsupported dtype', () => {
  const i64 = buildFile(JSON.stringify({ w: { dtype: 'U64', shape: [1], data_offsets: [0, 8] } }), new Uint8Array(8));
  const err = assertNablaError(() => decodeSafetensors(i64, ROLE), [ROLE, 'tensor "w"', 'dtype "U64"', 'F32']);
  assert.match(err.hint ?? '', /float32/);
  const weird = buildFile(JSON.stringify({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }), [0]);
  assertNablaError(() => decodeSafetensors(weird, ROLE), ['dtype "Q4"']);
});

test('error: malformed shape or offsets', () => {
  const badShape = buildFile(JSON.stringify({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), f32le([1]));
  assertNablaError(() => decodeSafetensors(badShape, ROLE), ['tensor "w"', 'shape [-1]']);
  const reversed = buildFile(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }), f32le([1]));
  assertNablaError(() => decodeSafetensors(reversed, ROLE), ['data_offsets [4,0]']);
  const oneOffset = buildFile(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [4] } }), f32le([1]));
  assertNablaError(() => decodeSafetensors(oneOffset, ROLE), ['data_offsets [4]']);
});

test('error: a header that lies about sizes (offsets vs shape × dtype)', () => {
  const file = buildFile(JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), f32le([1, 2]));
  assertNablaError(() => decodeSafetensors(file, ROLE), [ROLE, 'tensor "w"', '12 bytes for shape [3] of F32', 'spanning 8 bytes']);
});

test('error: tensors overlapping or leaving gaps', () => {
  const overlap = buildFile(JSON.stringify({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }), f32le([1, 2, 3]));
  assertNablaError(() => decodeSafetensors(overlap, ROLE), [ROLE, '"b" to start at data byte 8', 'overlapping']);
  const gap = buildFile(JSON.stringify({
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
  }), f32le([1, 2, 3]));
  assertNablaError(() => decodeSafetensors(gap, ROLE), ['"b" to start at data byte 4', 'gap']);
});

test('error: data buffer truncated, or trailing bytes', () => {
  const file = encodeSafetensors({ a: new Tensor([3]), b: new Tensor([2]) });
  const err = assertNablaError(() => decodeSafetensors(file.subarray(0, file.length - 3), ROLE), [
    ROLE, '20 bytes of tensor data', '17 bytes', 'truncated',
  ]);
  assert.match(err.hint ?? '', /re-save the model/);
  const longer = new Uint8Array(file.length + 4);
  longer.set(file);
  assertNablaError(() => decodeSafetensors(longer, ROLE), [ROLE, '24 bytes', '4 unexplained trailing bytes']);
});

test('error: metadata values must be strings', () => {
  const file = buildFile(JSON.stringify({ __metadata__: { epochs: 3 } }));
  assertNablaError(() => decodeSafetensors(file, ROLE), [ROLE, 'strings', 'number for key "epochs"']);
  assertNablaError(() => decodeSafetensors(buildFile('{"__metadata__":[]}'), ROLE), ['an array']);
});

test('an empty file body ({}) decodes to nothing', () => {
  const { tensors, metadata } = decodeSafetensors(buildFile('{}'));
  assert.equal(tensors.size, 0);
  assert.deepEqual(metadata, {});
});

test('encode rejects duplicate or reserved names and non-string metadata', () => {
  const t = new Tensor([1]);
  assertNablaError(() => encodeSafetensors([['a', t], ['a', t]]), ['encodeSafetensors', '"a" twice']);
  assertNablaError(() => encodeSafetensors([['__metadata__', t]]), ['"__metadata__"']);
  assertNablaError(() => encodeSafetensors({ a: t }, { n: 3 as unknown as string }), ['number for key "n"']);
});

test('default role is "model file"', () => {
  assertNablaError(() => decodeSafetensors(new Uint8Array(0)), ['model file']);
});
