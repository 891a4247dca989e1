/**
 * safetensors: the model file format (https://github.com/huggingface/safetensors), read and
 * written over bytes so the CLI and the browser share it.
 *
 * Layout:
 *
 *   offset 0    8 bytes   N, little-endian uint64: length of the JSON header
 *   offset 8    N bytes   UTF-8 JSON: {"__metadata__": {"k": "v"},
 *                                      "0.weight": {"dtype": "F32", "shape": [128, 784],
 *                                                   "data_offsets": [begin, end]}, ...}
 *                         padded with spaces so the data starts 8-byte aligned
 *   offset 8+N            data buffer: tensors packed back to back, little-endian;
 *                         data_offsets are relative to the start of this buffer
 *
 * Writing emits F32 (nabla's only parameter type), or I64 for the tensors named in `dtypes`
 * (integer counters such as BatchNorm's num_batches_tracked, which PyTorch stores as int64).
 * Reading accepts F32, F64, F16, BF16 and I64 and converts to Float32, so a PyTorch state dict
 * saved in any float type loads. Validation follows
 * the reference implementation: offsets must tile the data buffer exactly, with no gaps, overlaps
 * or trailing bytes, and each tensor's byte size must equal shape × dtype size.
 */
import { NablaError } from '../errors.ts';
import { clip } from '../listSome.ts';
import { Tensor } from '../tensor.ts';

/** Bytes per element of the dtypes we can read. */
const DTYPE_BYTES: Readonly<Record<string, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8 };

/** Dtypes the spec defines that we recognise but do not read (model weights are floats). */
const KNOWN_UNSUPPORTED = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2'];

const METADATA_KEY = '__metadata__';

// NOTE: typed arrays use the host's byte order. Every mainstream JS engine runs little-endian,
// but checking once keeps big-endian hosts correct (they take the DataView path).
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A decoded safetensors file: tensors in file order, and the string metadata.
 *
 * @example
 * const { tensors, metadata }: SafetensorsContents = decodeSafetensors(bytes);
 * tensors.get('0.weight')?.shape; // [256, 784]
 */
export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/**
 * Encode tensors (as F32) and optional string metadata into safetensors bytes.
 *
 * Tensors are written in the given order (a Record's own insertion order, or the array's order);
 * names must be unique and not `__metadata__`. The header is padded with spaces to a multiple of
 * 8 bytes, as the reference writer does, so the data buffer is 8-byte aligned.
 *
 * @example
 * const bytes = encodeSafetensors(
 *   [['0.weight', new Tensor([2, 3])], ['0.bias', new Tensor([2])]],
 *   { format: 'pt', architecture: JSON.stringify(spec) },
 * );
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor> | Array<[string, Tensor]>,
  metadata?: Record<string, string>,
  dtypes: Readonly<Record<string, 'F32' | 'I64'>> = {},
): Uint8Array {
  const entries: Array<[string, Tensor]> = Array.isArray(tensors) ? tensors : Object.entries(tensors);

  const seen = new Set<string>();
  for (const [name, tensor] of entries) {
    if (name === '' || name === METADATA_KEY || seen.has(name)) {
      throw new NablaError({
        where: 'encodeSafetensors',
        expected: `unique, non-empty tensor names other than "${METADATA_KEY}"`,
        found: name === '' ? 'an empty name' : `"${name}"${seen.has(name) ? ' twice' : ''}`,
      });
    }
    if (!(tensor instanceof Tensor)) {
      throw new NablaError({ where: 'encodeSafetensors', expected: `a Tensor for "${name}"`, found: typeof tensor });
    }
    if (dtypes[name] === 'I64' && !tensor.data.every((v) => Number.isInteger(v))) {
      throw new NablaError({ where: 'encodeSafetensors', expected: `integers in "${name}" (saved as I64)`, found: 'a fraction' });
    }
    seen.add(name);
  }
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new NablaError({
          where: 'encodeSafetensors',
          expected: 'metadata values that are strings (the format allows only strings)',
          found: `${typeof value} for key "${key}"`,
          hint: 'JSON.stringify structured values before saving',
        });
      }
    }
  }

  // The JSON is built piece by piece rather than by stringifying one object: JS objects move
  // integer-like keys ("0", "1") to the front, which would break the promised tensor order.
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${jsonObjectInOrder(metadata)}`);
  let offset = 0;
  for (const [name, tensor] of entries) {
    const dtype = dtypes[name] ?? 'F32';
    const end = offset + tensor.data.length * DTYPE_BYTES[dtype];
    const info = `{"dtype":"${dtype}","shape":${JSON.stringify([...tensor.shape])},"data_offsets":[${offset},${end}]}`;
    parts.push(`${JSON.stringify(name)}:${info}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // space padding

  let at = 8 + headerLength;
  for (const [name, tensor] of entries) {
    const data = tensor.data;
    if (dtypes[name] === 'I64') {
      for (let i = 0; i < data.length; i++) view.setBigInt64(at + 8 * i, BigInt(data[i]), true);
      at += data.length * 8;
      continue;
    }
    if (HOST_LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i], true);
    }
    at += data.byteLength;
  }
  return out;
}

function jsonObjectInOrder(record: Record<string, string>): string {
  return `{${Object.entries(record).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decode safetensors bytes into Float32 tensors (from F32, F64, F16 or BF16) and the metadata.
 *
 * `role` names the file in errors, e.g. `model file "mnist.safetensors"`. The returned tensors
 * own fresh buffers: they never alias `bytes` (whose data may not even be 4-byte aligned).
 * Tensors come back in file order (by data offset).
 *
 * @example
 * const { tensors, metadata } = decodeSafetensors(bytes, 'model file "mlp.safetensors"');
 * tensors.get('0.weight')?.shape; // [128, 784]
 * JSON.parse(metadata.architecture);
 */
export function decodeSafetensors(bytes: Uint8Array, role = 'model file'): SafetensorsContents {
  if (bytes.length < 8) {
    throw new NablaError({
      where: role,
      expected: 'at least 8 bytes (the safetensors header length)',
      found: `a file of ${bytes.length} byte${bytes.length === 1 ? '' : 's'}`,
      hint: 'the file is empty or truncated; re-save the model',
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // uint64 as two halves: a float64 holds it exactly up to 2^53, far beyond any real file.
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (8 + headerLength > bytes.length) {
    throw new NablaError({
      where: role,
      expected: 'a header that fits in the file',
      found: `the header claims ${headerLength} bytes but the file has ${bytes.length}`,
      hint: looksLikeJson(bytes)
        ? 'the file may be truncated; re-save the model'
        : 'is this a .safetensors file?',
    });
  }

  const header = parseHeaderJson(bytes.subarray(8, 8 + headerLength), role);
  const metadata = readMetadata(header[METADATA_KEY], role);
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    entries.push(readEntry(name, info, role));
  }

  // The tensors must tile the data buffer exactly: sorted by offset, each one starts where the
  // previous ended, and the last ends at the end of the file. This rejects overlaps (two tensors
  // sharing bytes), gaps and trailing junk, like the reference implementation.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  let expectedBegin = 0;
  for (const e of entries) {
    if (e.begin !== expectedBegin) {
      throw new NablaError({
        where: role,
        expected: `tensors packed contiguously: "${clip(e.name)}" to start at data byte ${expectedBegin}`,
        found: `data_offsets [${e.begin}, ${e.end}] (${e.begin < expectedBegin ? 'overlapping the previous tensor' : 'leaving a gap'})`,
        hint: 'the header is corrupt; re-save the model',
      });
    }
    expectedBegin = e.end;
  }
  if (expectedBegin > dataLength) {
    throw new NablaError({
      where: role,
      expected: `${expectedBegin} bytes of tensor data after the header`,
      found: `${dataLength} bytes: the data is truncated`,
      hint: 'the file may be truncated; re-save the model',
    });
  }
  if (expectedBegin < dataLength) {
    throw new NablaError({
      where: role,
      expected: `${expectedBegin} bytes of tensor data after the header, as the header describes`,
      found: `${dataLength} bytes (${dataLength - expectedBegin} unexplained trailing bytes)`,
      hint: 'the file is corrupt or was appended to; re-save the model',
    });
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    tensors.set(e.name, new Tensor(e.shape, readFloats(view, dataStart + e.begin, e)));
  }
  return { tensors, metadata };
}

/** True when the bytes after the length prefix start like a JSON object: a truncated real file. */
function looksLikeJson(bytes: Uint8Array): boolean {
  return bytes.length > 8 && bytes[8] === 0x7b; // '{'
}

function parseHeaderJson(raw: Uint8Array, role: string): Record<string, unknown> {
  // The reference implementation requires the header to start with '{'; checking first gives a
  // clearer message than a JSON syntax error for a random binary file.
  if (raw.length === 0 || raw[0] !== 0x7b) {
    throw new NablaError({
      where: role,
      expected: 'a JSON header starting with "{" after the 8-byte length',
      found: raw.length === 0 ? 'an empty header' : `byte 0x${raw[0].toString(16).padStart(2, '0')}`,
      hint: 'is this a .safetensors file?',
    });
  }
  let text: string;
  let parsed: unknown;
  try {
    // fatal: invalid UTF-8 is an error rather than silently replaced characters.
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    parsed = JSON.parse(text);
  } catch (e) {
    throw new NablaError({
      where: role,
      expected: 'a valid UTF-8 JSON header',
      found: `invalid JSON (${e instanceof Error ? e.message : String(e)})`,
      hint: 'the file is corrupt or not a .safetensors file; re-save the model',
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new NablaError({
      where: role,
      expected: 'a JSON object header mapping tensor names to {dtype, shape, data_offsets}',
      found: Array.isArray(parsed) ? 'a JSON array' : `JSON ${parsed === null ? 'null' : typeof parsed}`,
      hint: 'is this a .safetensors file?',
    });
  }
  return parsed as Record<string, unknown>;
}

function readMetadata(raw: unknown, role: string): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new NablaError({
      where: role,
      expected: `"${METADATA_KEY}" to be an object of strings`,
      found: Array.isArray(raw) ? 'an array' : `${raw === null ? 'null' : typeof raw}`,
      hint: 'the header is corrupt; re-save the model',
    });
  }
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      throw new NablaError({
        where: role,
        expected: `"${METADATA_KEY}" values to be strings`,
        found: `${value === null ? 'null' : typeof value} for key "${key}"`,
        hint: 'the safetensors format allows only string metadata',
      });
    }
    metadata[key] = value;
  }
  return metadata;
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function readEntry(name: string, info: unknown, role: string): Entry {
  const where = `${role}, tensor "${clip(name)}"`;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) {
    throw new NablaError({
      where,
      expected: 'an object {dtype, shape, data_offsets}',
      found: Array.isArray(info) ? 'an array' : `${info === null ? 'null' : typeof info}`,
      hint: 'the header is corrupt; re-save the model',
    });
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  for (const [field, value] of [['dtype', dtype], ['shape', shape], ['data_offsets', offsets]] as const) {
    if (value === undefined) {
      throw new NablaError({
        where,
        expected: 'the fields dtype, shape and data_offsets',
        found: `no "${field}"`,
        hint: 'the header is corrupt; re-save the model',
      });
    }
  }

  // Own properties only: "toString" or "constructor" is not a dtype (`in` would find them on the prototype).
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    const known = typeof dtype === 'string' && KNOWN_UNSUPPORTED.includes(dtype);
    throw new NablaError({
      where,
      expected: `a float dtype nabla reads (${Object.keys(DTYPE_BYTES).join(', ')})`,
      found: `dtype ${clip(String(JSON.stringify(dtype)))}`,
      hint: known
        ? 'convert the tensor to float32 before saving (e.g. tensor.float() in PyTorch)'
        : 'the header is corrupt or uses an unknown dtype',
    });
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new NablaError({
      where,
      expected: 'shape as an array of non-negative integers',
      found: `shape ${clip(String(JSON.stringify(shape)))}`,
      hint: 'the header is corrupt; re-save the model',
    });
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !isNonNegativeInteger(offsets[0]) || !isNonNegativeInteger(offsets[1]) || offsets[0] > offsets[1]
  ) {
    throw new NablaError({
      where,
      expected: 'data_offsets as [begin, end] with integers 0 ≤ begin ≤ end',
      found: `data_offsets ${clip(String(JSON.stringify(offsets)))}`,
      hint: 'the header is corrupt; re-save the model',
    });
  }

  const [begin, end] = offsets as [number, number];
  let count = 1;
  for (const d of shape as number[]) count *= d;
  const expectedBytes = count * DTYPE_BYTES[dtype];
  // A header that lies about sizes must not make us read past a tensor or leave bytes unread.
  if (end - begin !== expectedBytes) {
    throw new NablaError({
      where,
      expected: `${expectedBytes} bytes for shape [${clip((shape as number[]).join(', '))}] of ${dtype}`,
      found: `data_offsets [${begin}, ${end}] spanning ${end - begin} bytes`,
      hint: 'the header is corrupt; re-save the model',
    });
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Convert one tensor's little-endian bytes at absolute `at` into a fresh Float32Array. */
function readFloats(view: DataView, at: number, e: Entry): Float32Array {
  const count = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
  const out = new Float32Array(count);
  switch (e.dtype) {
    case 'F32': {
      if (HOST_LITTLE_ENDIAN) {
        // Copy the bytes into the new (aligned) buffer: one memcpy instead of a DataView loop.
        new Uint8Array(out.buffer).set(new Uint8Array(view.buffer, view.byteOffset + at, count * 4));
      } else {
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, true);
      }
      break;
    }
    case 'F64': {
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, true);
      break;
    }
    case 'I64': {
      // NOTE: float32 holds integers exactly up to 2^24; counters beyond that round.
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(at + 8 * i, true));
      break;
    }
    case 'F16': {
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(at + 2 * i, true));
      break;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift its bits into place.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(at + 2 * i, true) << 16;
      break;
    }
  }
  return out;
}

/** IEEE 754 binary16 → number: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
