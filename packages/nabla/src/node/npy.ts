/**
 * NumPy files from disk: .npy (one array), .npz (a zip of .npy files, stored or deflated, as
 * numpy.savez and numpy.savez_compressed write them, zip64 included), datasets from a pair of
 * arrays, and chunked reads of .npy files larger than memory (positioned reads, no full load).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { ChunkedDataset, type Chunk } from '../data/chunked.ts';
import type { Dataset } from '../data/dataset.ts';
import {
  MAX_NPY_BYTES, datasetFromNpy, decodeNpyData, npyInputShape, npyLabels, npyRowsToFloat, parseNpy, readNpyHeader, type NpyArray,
} from '../data/npy.ts';
import { crc32 } from '../io/crc32.ts';
import { NablaError } from '../errors.ts';
import { readFileChecked } from './files.ts';

/**
 * Read a .npy file (see the library's parseNpy for the dtypes and checks).
 *
 * @example
 * const x = loadNpy('x_train.npy'); // { dtype: 'uint8', shape: [60000, 28, 28], data }
 */
export function loadNpy(path: string, options: { maxBytes?: number } = {}): NpyArray {
  return parseNpy(readFileChecked(path, '.npy file'), path, options);
}

/**
 * Read a .npz archive: every `<name>.npy` entry, by name without the .npy. Entries may be stored
 * or deflated (savez_compressed); each is inflated with its output capped at the size the
 * archive declares, and that size at MAX_NPY_BYTES plus a header (raise with maxBytes), and its
 * CRC-32 checked.
 *
 * @example
 * const { x_train, y_train } = loadNpz('mnist.npz');
 */
export function loadNpz(path: string, options: { maxBytes?: number } = {}): Record<string, NpyArray> {
  const bytes = readFileChecked(path, '.npz file');
  const maxBytes = options.maxBytes ?? MAX_NPY_BYTES;
  const out: Record<string, NpyArray> = {};
  for (const e of zipEntries(bytes, path)) {
    const where = `${path}, entry "${e.name}"`;
    if (!e.name.endsWith('.npy')) continue;
    if (e.size > maxBytes + 65536) {
      throw new NablaError({ where, expected: `at most ${maxBytes} bytes of data`, found: `${e.size} bytes declared`, hint: 'raise maxBytes, or read it as .npy in chunks' });
    }
    const data = bytes.subarray(e.dataStart, e.dataStart + e.compressedSize);
    if (e.dataStart + e.compressedSize > bytes.length) {
      throw new NablaError({ where, expected: `${e.compressedSize} bytes of data`, found: 'the end of the file', hint: 'the archive is truncated' });
    }
    let raw: Uint8Array;
    if (e.method === 0) {
      raw = data;
    } else if (e.method === 8) {
      try {
        raw = new Uint8Array(inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) }));
      } catch (err) {
        throw new NablaError({
          where, expected: `deflate data inflating to the ${e.size} bytes the archive declares`,
          found: (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'more (inflation stopped there)' : `a damaged stream (${(err as Error).message})`,
          hint: 'save or download the archive again',
        });
      }
    } else {
      throw new NablaError({ where, expected: 'a stored or deflated entry (zip methods 0, 8)', found: `method ${e.method}`, hint: 'write it with numpy.savez or numpy.savez_compressed' });
    }
    if (raw.length !== e.size || crc32(raw) !== e.crc) {
      throw new NablaError({ where, expected: `${e.size} bytes with CRC-32 ${e.crc.toString(16)}`, found: `${raw.length} bytes with CRC-32 ${crc32(raw).toString(16)}`, hint: 'the archive is damaged' });
    }
    out[e.name.slice(0, -4)] = parseNpy(raw, where, { maxBytes });
  }
  return out;
}

interface ZipEntry { name: string; method: number; crc: number; compressedSize: number; size: number; dataStart: number }

function zipEntries(bytes: Uint8Array, path: string): ZipEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (found: string): NablaError => new NablaError({
    where: `.npz file "${path}"`, expected: 'a zip archive (as numpy.savez writes)', found, hint: 'a single array is a .npy file: read it with loadNpy',
  });
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  let entries = v.getUint16(eocd + 10, true);
  let cdOffset = v.getUint32(eocd + 16, true);
  if ((entries === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && v.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(v.getBigUint64(eocd - 12, true));
    if (z + 56 > bytes.length || v.getUint32(z, true) !== 0x06064b50) throw bad('a damaged zip64 record');
    entries = Number(v.getBigUint64(z + 32, true));
    cdOffset = Number(v.getBigUint64(z + 48, true));
  }
  const list: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < entries; k++) {
    if (p + 46 > bytes.length || v.getUint32(p, true) !== 0x02014b50) throw bad(`a damaged central directory (entry ${k})`);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    let compressedSize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let local = v.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64: the fields that overflowed are in extra field 0x0001, in this order.
    for (let q = p + 46 + nameLen; q + 4 <= p + 46 + nameLen + extraLen;) {
      const id = v.getUint16(q, true);
      const len = v.getUint16(q + 2, true);
      if (id === 1) {
        let r = q + 4;
        if (size === 0xffffffff) { size = Number(v.getBigUint64(r, true)); r += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(v.getBigUint64(r, true)); r += 8; }
        if (local === 0xffffffff) { local = Number(v.getBigUint64(r, true)); }
      }
      q += 4 + len;
    }
    if (local + 30 > bytes.length || v.getUint32(local, true) !== 0x04034b50) throw bad(`a damaged local header for "${name}"`);
    const dataStart = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    list.push({ name, method, crc, compressedSize, size, dataStart });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return list;
}

const KEY_PAIRS: Record<'train' | 'test' | 'any', Array<[string, string]>> = {
  any: [['x', 'y'], ['X', 'y'], ['x', 'labels'], ['images', 'labels'], ['data', 'labels'], ['inputs', 'targets'], ['features', 'labels']],
  train: [['x_train', 'y_train'], ['X_train', 'y_train'], ['train_images', 'train_labels'], ['train_x', 'train_y']],
  test: [['x_test', 'y_test'], ['X_test', 'y_test'], ['test_images', 'test_labels'], ['test_x', 'test_y']],
};

/**
 * A dataset from an .npz archive: inputs and labels under keys x/y (also X/y, images/labels,
 * data/labels, inputs/targets) or, for a split, x_train/y_train, x_test/y_test (also
 * train_images/train_labels and the like, as Keras' mnist.npz has). uint8 inputs are divided by
 * 255; (N, H, W) gets inputShape [1, H, W]; (N, H, W, C) is channels-last and is transposed to
 * NCHW [C, H, W] (pass layout: 'nchw' if it already is). Labels: integers (N) or (N, 1), or
 * one-hot rows (N, K).
 *
 * @example
 * const train = loadNpzDataset('mnist.npz', { split: 'train' }); // x_train, y_train
 * const test = loadNpzDataset('mnist.npz', { split: 'test' });
 */
export function loadNpzDataset(
  path: string, options: { split?: 'train' | 'test'; classNames?: string[]; layout?: 'nhwc' | 'nchw'; maxBytes?: number } = {},
): Dataset {
  const arrays = loadNpz(path, options);
  const pairs = options.split ? KEY_PAIRS[options.split] : [...KEY_PAIRS.any, ...KEY_PAIRS.train];
  const pair = pairs.find(([a, b]) => arrays[a] && arrays[b]);
  if (!pair) {
    throw new NablaError({
      where: `.npz file "${path}"`, expected: `inputs and labels under ${pairs.slice(0, 3).map(([a, b]) => `${a}/${b}`).join(', ')}, ...`,
      found: `keys ${Object.keys(arrays).join(', ') || '(none)'}`,
      hint: options.split ? 'is the split right?' : 'name the arrays x and y (numpy.savez(path, x=x, y=y))',
    });
  }
  const [xk, yk] = pair;
  return datasetFromNpy(arrays[xk], arrays[yk], { ...options, sources: [`${path}[${xk}]`, `${path}[${yk}]`] });
}

/**
 * A dataset from two .npy files, inputs and labels (the same rules as {@link loadNpzDataset}).
 *
 * @example
 * const ds = loadNpyDataset('x.npy', 'y.npy');
 */
export function loadNpyDataset(
  xPath: string, yPath: string, options: { classNames?: string[]; layout?: 'nhwc' | 'nchw'; maxBytes?: number } = {},
): Dataset {
  return datasetFromNpy(loadNpy(xPath, options), loadNpy(yPath, options), { ...options, sources: [xPath, yPath] });
}

/**
 * Inputs (.npy) read chunk by chunk with positioned reads: a {@link ChunkedDataset} for fitSource.
 *
 * @example
 * const source = openNpyChunks('x.npy', 'y.npy');
 * source.inputShape; // [3, 32, 32]
 */
export interface NpyChunks extends ChunkedDataset {
  readonly inputShape: number[];
  readonly classes: number;
  /** Closes x.npy (reads after this fail). */
  close(): void;
}

/**
 * Open a pair of .npy files too large for memory (inputs x, labels y) as a shuffled batch
 * source. Only the headers and the labels are read up front (the labels must fit in memory:
 * 4 bytes per sample); each chunk of `chunkRows` samples is one positioned read of x (like a
 * memory map), converted as loadNpyDataset converts. Shuffling as openCsvChunks: the chunk order
 * is permuted each epoch and rows pass through a shuffle buffer of `bufferRows` rows.
 *
 * @example
 * const source = openNpyChunks('x_train.npy', 'y_train.npy', { chunkRows: 2048 });
 * await fitSource(model, source, { optimizer, loss: 'ce', epochs: 3 });
 * source.close();
 */
export function openNpyChunks(
  xPath: string, yPath: string,
  options: { chunkRows?: number; bufferRows?: number; shuffle?: boolean; layout?: 'nhwc' | 'nchw'; classes?: number } = {},
): NpyChunks {
  const chunkRows = options.chunkRows ?? 4096;
  const y = loadNpy(yPath);
  const { labels, classes: found } = npyLabels(y, yPath);
  const K = Math.max(found, options.classes ?? 0);
  let fd: number;
  try {
    fd = openSync(xPath, 'r');
  } catch (e) {
    throw new NablaError({ where: `.npy file "${xPath}"`, expected: 'a readable file', found: (e as NodeJS.ErrnoException).code ?? String(e) });
  }
  try {
    const head = Buffer.alloc(Math.min(65536 + 12, fstatSync(fd).size));
    readSync(fd, head, 0, head.length, 0);
    const h = readNpyHeader(head, xPath, Number.MAX_SAFE_INTEGER);
    if (fstatSync(fd).size < h.dataOffset + h.dataBytes) {
      throw new NablaError({ where: xPath, expected: `${h.dataBytes} bytes of data`, found: `${fstatSync(fd).size - h.dataOffset}`, hint: 'the file is truncated' });
    }
    const n = h.shape[0];
    if (n !== labels.length) {
      throw new NablaError({ where: `${xPath} and ${yPath}`, expected: 'as many labels as samples', found: `${n} samples, ${labels.length} labels` });
    }
    const { inputShape, channelsLast } = npyInputShape(h.shape, options.layout);
    const sampleShape = h.shape.length === 1 ? [1] : h.shape.slice(1);
    const F = inputShape.reduce((a, b) => a * b, 1);
    let open = true;
    const reader = {
      chunks: Math.ceil(n / chunkRows), count: n, features: F, targets: K,
      readChunk(c: number): Chunk {
        if (!open) throw new NablaError({ where: xPath, expected: 'an open file', found: 'closed' });
        const first = c * chunkRows;
        const rows = Math.min(chunkRows, n - first);
        const bytes = Buffer.alloc(rows * F * h.itemBytes);
        readSync(fd, bytes, 0, bytes.length, h.dataOffset + first * F * h.itemBytes);
        const values = decodeNpyData(bytes, h.dtype, rows * F, xPath);
        const x = new Float32Array(rows * F);
        npyRowsToFloat(values, first, rows, sampleShape, channelsLast, h.dtype, x, xPath);
        const yc = new Float32Array(rows * K);
        for (let r = 0; r < rows; r++) yc[r * K + labels[first + r]] = 1;
        return { x, y: yc, rows };
      },
    };
    const data = new ChunkedDataset(reader, { bufferRows: options.bufferRows ?? 4 * chunkRows, shuffle: options.shuffle }) as NpyChunks & {
      inputShape: number[]; classes: number;
    };
    data.inputShape = inputShape;
    data.classes = K;
    data.close = () => { if (open) { open = false; closeSync(fd); } };
    return data;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
