/**
 * IDX: the binary array format of the MNIST files (LeCun, http://yann.lecun.com/exdb/mnist/).
 *
 * Layout, all integers big-endian:
 *
 *   offset 0   2 bytes   0x00 0x00            magic: always zero
 *   offset 2   1 byte    dtype code           0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 *                                             0x0D float32, 0x0E float64
 *   offset 3   1 byte    ndims
 *   offset 4   4·ndims   dims                 uint32 each, outermost first
 *   then       data                           product(dims) values, row-major, big-endian
 *
 * The parser works on bytes only (no file access) so the CLI and the browser playground share it.
 * It validates like a file system would: every error names the file's role, what was expected,
 * what was found, and a hint, because a corrupt or gzip-compressed download is the usual culprit.
 */
import { NablaError } from '../errors.ts';

/**
 * Element types the IDX format defines (type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E).
 *
 * @example
 * encodeIdx({ dtype: 'uint8' satisfies IdxDtype, shape: [2], data: new Uint8Array([3, 4]) });
 */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/**
 * The typed array holding an {@link IdxArray}'s values, matching its dtype.
 *
 * @example
 * const data: IdxData = parseIdx(bytes).data; // Uint8Array for MNIST
 */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/**
 * A parsed IDX file: element type, dims (outermost first) and row-major values in host order.
 *
 * @example
 * const arr: IdxArray = parseIdx(bytes);
 * arr.shape; // [60000, 28, 28] for MNIST's training images
 */
export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

/** Type code ↔ dtype ↔ bytes per element, as defined by the IDX format. */
const DTYPES: ReadonlyArray<{ code: number; dtype: IdxDtype; bytes: number }> = [
  { code: 0x08, dtype: 'uint8', bytes: 1 },
  { code: 0x09, dtype: 'int8', bytes: 1 },
  { code: 0x0b, dtype: 'int16', bytes: 2 },
  { code: 0x0c, dtype: 'int32', bytes: 4 },
  { code: 0x0d, dtype: 'float32', bytes: 4 },
  { code: 0x0e, dtype: 'float64', bytes: 8 },
];

const HEADER_FIXED_BYTES = 4;

/**
 * The most data bytes one IDX file may declare: 256 MiB (2^28). MNIST's training images are
 * 47 MB, EMNIST's 240,000 digits 188 MB; read as float32 for training, 256 MiB of pixels is
 * already 1 GiB. Checked from the header, before the data is inflated or copied (docs/limits.md).
 *
 * @example
 * parseIdx(bytes, 'images file', { maxBytes: MAX_IDX_BYTES * 2 }); // raise it for a bigger data set
 */
export const MAX_IDX_BYTES = 2 ** 28;

/**
 * What an IDX header declares: element type, dims, and the byte sizes they imply.
 *
 * @example
 * const h: IdxHeader = readIdxHeader(bytes); // h.headerBytes + h.dataBytes is the file's size
 */
export interface IdxHeader {
  dtype: IdxDtype;
  shape: number[];
  headerBytes: number;
  dataBytes: number;
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Parse an IDX file held in memory.
 *
 * `role` names the file in error messages, e.g. `images file "train-images-idx3-ubyte"`, so a
 * user knows which of several inputs is broken. The returned data never aliases `bytes`.
 * A header declaring more than `options.maxBytes` of data (default {@link MAX_IDX_BYTES}) is refused.
 *
 * @example
 * const images = parseIdx(bytes, 'images file "train-images-idx3-ubyte"');
 * images.dtype; // 'uint8'
 * images.shape; // [60000, 28, 28]
 */
export function parseIdx(bytes: Uint8Array, role = 'IDX file', options: { maxBytes?: number } = {}): IdxArray {
  // The header's size is compared with the bytes first (a truncated file says so), then the limit.
  const { dtype, shape, headerBytes, dataBytes: expectedBytes } = readIdxHeader(bytes, role, { maxBytes: Infinity });
  const info = DTYPES.find((d) => d.dtype === dtype)!;
  const count = expectedBytes / info.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const foundBytes = bytes.length - headerBytes;
  if (foundBytes !== expectedBytes) {
    const dims = `${shape.join('×') || 'scalar'} ${info.dtype}`;
    if (foundBytes < expectedBytes) {
      throw new NablaError({
        where: role,
        expected: `${expectedBytes} bytes of data after the header (${dims})`,
        found: `${foundBytes} bytes: the file is truncated`,
        hint: 'the download was probably interrupted; download the file again',
      });
    }
    throw new NablaError({
      where: role,
      expected: `${expectedBytes} bytes of data after the header (${dims})`,
      found: `${foundBytes} bytes (${foundBytes - expectedBytes} too many)`,
      hint: 'the header does not match the file size; is this the right file, and is it intact?',
    });
  }

  readIdxHeader(bytes, role, options); // the size limit, before the data is copied
  return { dtype: info.dtype, shape, data: readData(view, headerBytes, count, info.dtype) };
}

/**
 * Read and check an IDX header only (magic, type code, dims), from the first bytes of a file: the
 * data need not be there. Refuses a header declaring more than `options.maxBytes` (default
 * {@link MAX_IDX_BYTES}) of data, so a caller can check a compressed file before inflating it.
 *
 * @example
 * const { shape, headerBytes, dataBytes } = readIdxHeader(firstKilobyte, 'images file');
 */
export function readIdxHeader(bytes: Uint8Array, role = 'IDX file', options: { maxBytes?: number } = {}): IdxHeader {
  const maxBytes = options.maxBytes ?? MAX_IDX_BYTES;
  if (bytes.length < HEADER_FIXED_BYTES) {
    throw new NablaError({
      where: role,
      expected: `an IDX header of at least ${HEADER_FIXED_BYTES} bytes`,
      found: `a file of ${plural(bytes.length, 'byte')}`,
      hint: 'the file is empty or truncated; download it again',
    });
  }

  // Magic: the first two bytes are always zero in IDX.
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    throw new NablaError({
      where: role,
      expected: 'an IDX file starting with bytes 0x00 0x00',
      found: gzip
        ? 'bytes 0x1f 0x8b: the file looks gzip-compressed'
        : `bytes ${hex(bytes[0])} ${hex(bytes[1])}`,
      hint: gzip
        ? 'decompress it first (gunzip), or give it a .gz name so it is decompressed when read'
        : 'is this an IDX file (e.g. MNIST train-images-idx3-ubyte)?',
    });
  }

  const code = bytes[2];
  const info = DTYPES.find((d) => d.code === code);
  if (!info) {
    throw new NablaError({
      where: role,
      expected: `an IDX type code (${DTYPES.map((d) => `${hex(d.code)} ${d.dtype}`).join(', ')})`,
      found: `type code ${hex(code)}`,
      hint: 'the file is corrupt or not an IDX file',
    });
  }

  const ndims = bytes[3];
  const headerBytes = HEADER_FIXED_BYTES + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new NablaError({
      where: role,
      expected: `a header of ${headerBytes} bytes (${plural(ndims, 'dimension')})`,
      found: `a file of ${plural(bytes.length, 'byte')}`,
      hint: 'the file is truncated; download it again',
    });
  }

  // NOTE: a DataView over the caller's bytes honours byteOffset, so subarrays parse correctly.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndims; d++) shape.push(view.getUint32(HEADER_FIXED_BYTES + 4 * d, false));

  // Product in float64: exact up to 2^53, and still ordered correctly beyond, which is all the
  // comparison below needs for garbage headers claiming enormous dims.
  let count = 1;
  for (const d of shape) count *= d;
  const dataBytes = count * info.bytes;
  if (dataBytes > maxBytes) {
    throw new NablaError({
      where: role,
      expected: `at most ${maxBytes} bytes of data (see docs/limits.md)`,
      found: `a header declaring ${shape.join('×')} ${info.dtype} = ${dataBytes} bytes`,
      hint: 'the header is corrupt, or the data set is larger than nabla reads',
    });
  }
  return { dtype: info.dtype, shape, headerBytes, dataBytes };
}

/** Decode `count` big-endian values of `dtype` starting at `offset` into a fresh host-order array. */
function readData(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'uint8': {
      // Copy (slice), so the result does not keep the whole file alive or alias it.
      return new Uint8Array(view.buffer, view.byteOffset + offset, count).slice();
    }
    case 'int8': {
      return new Int8Array(view.buffer, view.byteOffset + offset, count).slice();
    }
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Encode an array as IDX bytes (big-endian). The inverse of {@link parseIdx}; tests and tools use
 * it to make synthetic MNIST-like files.
 *
 * @example
 * const bytes = encodeIdx({ dtype: 'uint8', shape: [2], data: new Uint8Array([3, 7]) });
 * // bytes: 00 00 08 01 | 00 00 00 02 | 03 07
 */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const info = DTYPES.find((d) => d.dtype === arr.dtype);
  if (!info) {
    throw new NablaError({
      where: 'encodeIdx',
      expected: `a dtype among ${DTYPES.map((d) => d.dtype).join(', ')}`,
      found: `"${String(arr.dtype)}"`,
    });
  }
  if (arr.shape.length > 255) {
    throw new NablaError({
      where: 'encodeIdx',
      expected: 'at most 255 dimensions (ndims is one byte)',
      found: `${arr.shape.length} dimensions`,
    });
  }
  let count = 1;
  for (const d of arr.shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new NablaError({
        where: 'encodeIdx',
        expected: 'dims that are integers in 0..2^32-1',
        found: `shape [${arr.shape.join(', ')}]`,
      });
    }
    count *= d;
  }
  if (arr.data.length !== count) {
    throw new NablaError({
      where: 'encodeIdx',
      expected: `${count} values for shape [${arr.shape.join(', ')}]`,
      found: `${arr.data.length} values`,
    });
  }

  const headerBytes = HEADER_FIXED_BYTES + 4 * arr.shape.length;
  const out = new Uint8Array(headerBytes + count * info.bytes);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = arr.shape.length;
  arr.shape.forEach((d, i) => view.setUint32(HEADER_FIXED_BYTES + 4 * i, d, false));

  const data = arr.data;
  for (let i = 0; i < count; i++) {
    const at = headerBytes + i * info.bytes;
    switch (info.dtype) {
      case 'uint8': view.setUint8(at, data[i]); break;
      case 'int8': view.setInt8(at, data[i]); break;
      case 'int16': view.setInt16(at, data[i], false); break;
      case 'int32': view.setInt32(at, data[i], false); break;
      case 'float32': view.setFloat32(at, data[i], false); break;
      case 'float64': view.setFloat64(at, data[i], false); break;
    }
  }
  return out;
}
