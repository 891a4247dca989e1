/**
 * NumPy's .npy format (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html):
 *
 *   offset 0   6 bytes   \x93NUMPY                   magic
 *   offset 6   1+1 byte  major, minor version        1.0, 2.0 or 3.0
 *   offset 8   2 bytes (v1) or 4 bytes (v2, v3)      header length, little-endian
 *   then       header    a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (N, 28, 28), }
 *                        latin-1 (v1, v2) or UTF-8 (v3), padded with spaces to a multiple of 64 (16 before numpy 1.x)
 *   then       data      product(shape) values, C order (row-major)
 *
 * Read here: |u1 |i1 |b1 <u2 <i2 <u4 <i4 <i8 <f4 <f8 (and their |/= spellings); big-endian
 * dtypes and Fortran order are refused with a hint saying how to convert in NumPy.
 */
import { NablaError } from '../errors.ts';
import { assembleClassification, type Dataset } from './dataset.ts';

/**
 * Element types nabla reads from .npy files. int64 values are returned as float64 (exact up to 2^53).
 *
 * @example
 * const d: NpyDtype = parseNpy(bytes).dtype; // 'uint8' for images
 */
export type NpyDtype = 'bool' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'int64' | 'float32' | 'float64';

/**
 * A parsed .npy array: dtype, shape (outermost first) and row-major values.
 *
 * @example
 * const arr: NpyArray = parseNpy(bytes, 'x.npy');
 * arr.shape; // [60000, 28, 28]
 */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
}

/**
 * What a .npy header declares, and where the data starts.
 *
 * @example
 * const h: NpyHeader = readNpyHeader(firstBytes, 'x.npy'); // h.dataOffset + h.dataBytes is the file's size
 */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Bytes per element. */
  itemBytes: number;
  /** Where the data starts (the header's total length). */
  dataOffset: number;
  dataBytes: number;
}

/**
 * The most data bytes one .npy array may declare by default: 1 GiB (2^30), the file size limit
 * of readFileChecked; CIFAR-10's training images are 150 MB as uint8. Checked from the header,
 * before anything is inflated or copied (docs/limits.md).
 *
 * @example
 * parseNpy(bytes, 'big.npy', { maxBytes: 2 * MAX_NPY_BYTES });
 */
export const MAX_NPY_BYTES = 2 ** 30;

const DTYPES: Record<string, { dtype: NpyDtype; bytes: number }> = {
  b1: { dtype: 'bool', bytes: 1 }, u1: { dtype: 'uint8', bytes: 1 }, i1: { dtype: 'int8', bytes: 1 },
  u2: { dtype: 'uint16', bytes: 2 }, i2: { dtype: 'int16', bytes: 2 }, u4: { dtype: 'uint32', bytes: 4 },
  i4: { dtype: 'int32', bytes: 4 }, i8: { dtype: 'int64', bytes: 8 }, f4: { dtype: 'float32', bytes: 4 },
  f8: { dtype: 'float64', bytes: 8 },
};

/** The minimal prefix that holds any header's length field. */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/**
 * Read and check a .npy header from the file's first bytes (at least the whole header).
 * `source` names the file in errors.
 *
 * @example
 * const h = readNpyHeader(bytes.subarray(0, 4096), 'x.npy');
 * h.shape; // [1000, 4]
 */
export function readNpyHeader(bytes: Uint8Array, source = '.npy file', maxBytes = MAX_NPY_BYTES): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NablaError({
      where: source, expected: 'a NumPy .npy file (starting with \\x93NUMPY)',
      found: bytes.length < 10 ? `${bytes.length} bytes` : `bytes ${[...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
      hint: 'save arrays with numpy.save; a .npz archive is read with loadNpz',
    });
  }
  const major = bytes[6];
  if (major < 1 || major > 3) {
    throw new NablaError({ where: source, expected: '.npy format version 1, 2 or 3', found: `version ${major}.${bytes[7]}` });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const start = 8 + lenBytes;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLen > bytes.length) {
    throw new NablaError({ where: source, expected: `a header of ${headerLen} bytes`, found: `${bytes.length - start} bytes`, hint: 'the file is truncated' });
  }
  const raw = bytes.subarray(start, start + headerLen);
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : String.fromCharCode(...raw);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NablaError({
      where: source, expected: "a header dict with 'descr', 'fortran_order' and 'shape'", found: JSON.stringify(text.trim().slice(0, 120)),
      hint: 'structured (record) arrays are not supported: save each field as its own array',
    });
  }
  const order = descr[0];
  const code = descr.slice(1);
  const known = DTYPES[code];
  if (!known || !'<>|='.includes(order)) {
    throw new NablaError({
      where: source, expected: 'a dtype among |u1 |i1 |b1 <u2 <i2 <u4 <i4 <i8 <f4 <f8', found: `'${descr}'`,
      hint: "convert in NumPy, e.g. x.astype('float32')",
    });
  }
  if (order === '>' && known.bytes > 1) {
    throw new NablaError({
      where: source, expected: 'little-endian data (< in the dtype)', found: `big-endian '${descr}'`,
      hint: "convert in NumPy: x.astype(x.dtype.newbyteorder('<'))",
    });
  }
  if (fortran === 'True') {
    throw new NablaError({
      where: source, expected: 'C order (row-major) data', found: 'fortran_order: True',
      hint: 'save numpy.ascontiguousarray(x) instead',
    });
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new NablaError({ where: source, expected: 'a shape of integers ≥ 0', found: `(${shapeText})` });
  }
  const elements = shape.reduce((a, b) => a * b, 1);
  const dataBytes = elements * known.bytes;
  if (dataBytes > maxBytes) {
    throw new NablaError({
      where: source, expected: `at most ${maxBytes} bytes of data`, found: `shape (${shape.join(', ')}) ${known.dtype}: ${dataBytes} bytes`,
      hint: 'read it in chunks with openNpyChunks, or raise maxBytes',
    });
  }
  return { dtype: known.dtype, shape, itemBytes: known.bytes, dataOffset: start + headerLen, dataBytes };
}

/**
 * Decode `count` elements of `dtype` from little-endian bytes into a typed array (a copy; int64
 * becomes float64 and must stay within ±2^53).
 *
 * @example
 * const values = decodeNpyData(bytes.subarray(h.dataOffset), h.dtype, 10, 'x.npy');
 */
export function decodeNpyData(bytes: Uint8Array, dtype: NpyDtype, count: number, source = '.npy file'): NpyArray['data'] {
  const copy = bytes.slice(0, count * (DTYPES[Object.keys(DTYPES).find((k) => DTYPES[k].dtype === dtype)!].bytes));
  const buf = copy.buffer;
  switch (dtype) {
    case 'bool': case 'uint8': return new Uint8Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint16': return new Uint16Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'uint32': return new Uint32Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int64': {
      const big = new BigInt64Array(buf);
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const v = big[i];
        if (v > 9007199254740992n || v < -9007199254740992n) {
          throw new NablaError({ where: `${source}, element ${i}`, expected: 'int64 values within ±2^53', found: String(v) });
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/**
 * Parse a whole .npy file. `maxBytes` caps the data the header may declare (default MAX_NPY_BYTES).
 *
 * @example
 * const x = parseNpy(new Uint8Array(await (await fetch('x.npy')).arrayBuffer()), 'x.npy');
 */
export function parseNpy(bytes: Uint8Array, source = '.npy file', options: { maxBytes?: number } = {}): NpyArray {
  const h = readNpyHeader(bytes, source, options.maxBytes);
  if (bytes.length < h.dataOffset + h.dataBytes) {
    throw new NablaError({
      where: source, expected: `${h.dataBytes} bytes of data (shape (${h.shape.join(', ')}) ${h.dtype})`,
      found: `${bytes.length - h.dataOffset}`, hint: 'the file is truncated; save or download it again',
    });
  }
  const count = h.shape.reduce((a, b) => a * b, 1);
  return { dtype: h.dtype, shape: h.shape, data: decodeNpyData(bytes.subarray(h.dataOffset), h.dtype, count, source) };
}

const DESCR: Record<NpyDtype, string> = {
  bool: '|b1', uint8: '|u1', int8: '|i1', uint16: '<u2', int16: '<i2', uint32: '<u4', int32: '<i4', int64: '<i8', float32: '<f4', float64: '<f8',
};

/**
 * Encode an array as a .npy file (format 1.0; int64 is written from float64 values).
 *
 * @example
 * const bytes = encodeNpy({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array([0, 255, 128, 3]) });
 */
export function encodeNpy(arr: NpyArray): Uint8Array {
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const values = arr.dtype === 'int64' ? BigInt64Array.from(arr.data, (v) => BigInt(v)) : arr.data;
  const out = new Uint8Array(total + values.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), total);
  return out;
}

/**
 * How x's dims map to an input shape: (N, F) → [F]; (N, H, W) → [1, H, W]; (N, H, W, C) is
 * channels-last (NumPy/Keras images) and transposed to NCHW [C, H, W] unless layout is 'nchw'.
 *
 * @example
 * npyInputShape([100, 32, 32, 3]); // { inputShape: [3, 32, 32], channelsLast: true }
 */
export function npyInputShape(shape: number[], layout: 'nhwc' | 'nchw' = 'nhwc'): { inputShape: number[]; channelsLast: boolean } {
  const rest = shape.slice(1);
  if (rest.length === 0) return { inputShape: [1], channelsLast: false };
  if (rest.length === 2) return { inputShape: [1, rest[0], rest[1]], channelsLast: false };
  if (rest.length === 3 && layout === 'nhwc') return { inputShape: [rest[2], rest[0], rest[1]], channelsLast: true };
  return { inputShape: rest, channelsLast: false };
}

/**
 * Convert `rows` samples of x to float32 input rows: uint8 divided by 255 (to [0, 1]), every other
 * type converted unchanged; channels-last (H, W, C) samples transposed to (C, H, W). Refuses NaN
 * and ±Infinity, naming the element.
 *
 * @example
 * const out = new Float32Array(n * 3 * 32 * 32);
 * npyRowsToFloat(x.data, 0, n, [32, 32, 3], true, 'uint8', out, 'x.npy');
 */
export function npyRowsToFloat(
  data: ArrayLike<number>, firstRow: number, rows: number, sampleShape: number[], channelsLast: boolean, dtype: NpyDtype,
  out: Float32Array, source: string, srcOffset = 0,
): void {
  const F = sampleShape.reduce((a, b) => a * b, 1);
  const scale = dtype === 'uint8' ? 255 : 1;
  for (let r = 0; r < rows; r++) {
    const base = srcOffset + r * F;
    if (channelsLast) {
      const [H, W, C] = sampleShape;
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < H * W; i++) out[r * F + c * H * W + i] = data[base + i * C + c] / scale;
      }
    } else if (scale === 1) {
      for (let j = 0; j < F; j++) out[r * F + j] = data[base + j];
    } else {
      for (let j = 0; j < F; j++) out[r * F + j] = data[base + j] / scale;
    }
    for (let j = 0; j < F; j++) {
      if (!Number.isFinite(out[r * F + j])) {
        throw new NablaError({
          where: `${source}, sample ${firstRow + r}`, expected: 'finite values',
          found: `${out[r * F + j]} at value ${j} of the sample (float32)`, hint: 'fill or drop missing values before training',
        });
      }
    }
  }
}

/**
 * Class indices from a labels array: (N) or (N, 1) integers ≥ 0, or (N, K) one-hot rows (their
 * argmax). Refuses non-integer or negative labels and rows that are not one-hot, naming the sample.
 *
 * @example
 * npyLabels({ dtype: 'int64', shape: [3], data: new Float64Array([2, 0, 1]) }, 'y.npy'); // { labels: [2, 0, 1], classes: 3 }
 */
export function npyLabels(y: NpyArray, source: string): { labels: Int32Array; classes: number } {
  const n = y.shape[0] ?? 0;
  const oneHot = y.shape.length === 2 && y.shape[1] > 1;
  if (!(y.shape.length === 1 || (y.shape.length === 2 && (y.shape[1] === 1 || oneHot)))) {
    throw new NablaError({
      where: source, expected: 'labels of shape (N,), (N, 1) or one-hot (N, K)', found: `shape (${y.shape.join(', ')})`,
    });
  }
  const labels = new Int32Array(n);
  let classes = 0;
  if (oneHot) {
    const K = y.shape[1];
    for (let i = 0; i < n; i++) {
      let arg = -1;
      for (let k = 0; k < K; k++) {
        const v = y.data[i * K + k];
        if (v === 1 && arg < 0) arg = k;
        else if (v !== 0) arg = -2;
      }
      if (arg < 0) {
        throw new NablaError({
          where: `${source}, sample ${i}`, expected: 'a one-hot row (a single 1, the rest 0)',
          found: `[${Array.from(y.data.subarray(i * K, Math.min(i * K + K, i * K + 10))).join(', ')}${K > 10 ? ', ...' : ''}]`,
        });
      }
      labels[i] = arg;
    }
    classes = K;
  } else {
    for (let i = 0; i < n; i++) {
      const v = y.data[i];
      if (!Number.isInteger(v) || v < 0) {
        throw new NablaError({
          where: `${source}, sample ${i}`, expected: 'a class index: an integer ≥ 0', found: String(v),
          hint: Number.isFinite(v) && !Number.isInteger(v) ? 'real-valued targets are regression, not classes' : 'class indices start at 0',
        });
      }
      labels[i] = v;
      if (v + 1 > classes) classes = v + 1;
    }
  }
  return { labels, classes };
}

/**
 * Build a classification {@link Dataset} from an inputs array and a labels array (see
 * npyInputShape, npyRowsToFloat and npyLabels for the shapes, scaling and checks).
 *
 * @example
 * const ds = datasetFromNpy(parseNpy(xBytes, 'x.npy'), parseNpy(yBytes, 'y.npy'), { sources: ['x.npy', 'y.npy'] });
 */
export function datasetFromNpy(
  x: NpyArray, y: NpyArray,
  options: { sources?: [string, string]; classNames?: string[]; layout?: 'nhwc' | 'nchw'; allocate?: (n: number) => Float32Array } = {},
): Dataset {
  const [xs, ys] = options.sources ?? ['x', 'y'];
  if (x.shape.length < 1 || y.shape.length < 1 || x.shape[0] !== y.shape[0]) {
    throw new NablaError({
      where: `${xs} and ${ys}`, expected: 'as many labels as samples (the same first dimension)',
      found: `x shape (${x.shape.join(', ')}), labels shape (${y.shape.join(', ')})`, hint: 'pair train inputs with train labels',
    });
  }
  const n = x.shape[0];
  const { inputShape, channelsLast } = npyInputShape(x.shape, options.layout);
  const sampleShape = x.shape.length === 1 ? [1] : x.shape.slice(1);
  const F = inputShape.reduce((a, b) => a * b, 1);
  const out = (options.allocate ?? ((m: number) => new Float32Array(m)))(n * F);
  npyRowsToFloat(x.data, 0, n, sampleShape, channelsLast, x.dtype, out, xs);
  const { labels, classes } = npyLabels(y, ys);
  const K = options.classNames?.length ?? classes;
  if (classes > K) {
    const at = labels.findIndex((l) => l >= K);
    throw new NablaError({ where: `${ys}, sample ${at}`, expected: `class indices in 0..${K - 1} (the class names)`, found: String(labels[at]) });
  }
  return assembleClassification(out, labels, K, inputShape, options.classNames, options.allocate);
}
