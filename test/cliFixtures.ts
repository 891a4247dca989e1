/**
 * Tiny synthetic MNIST-format data sets for CLI tests: a few hundred 28×28 images of two or three
 * simple shapes, written as IDX files (optionally gzipped) into a temp folder.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, Rng } from 'nabla';

/** Class c draws a bar whose position depends on c, with noise: learnable in one epoch. */
export function syntheticImages(count: number, classes: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    labels[i] = c;
    const row = 4 + c * Math.floor(20 / classes) + rng.int(3);
    for (let y = row; y < row + 3; y++) for (let x = 4; x < 24; x++) images[i * 784 + y * 28 + x] = 200 + rng.int(56);
  }
  return { images, labels };
}

export interface FixtureOptions {
  train?: number;
  test?: number;
  classes?: number;
  gzip?: boolean;
}

/** Write train/t10k images and labels into a new temp folder; returns its path. */
export function writeMnistFixture(options: FixtureOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-data-'));
  const classes = options.classes ?? 3;
  const suffix = options.gzip ? '.gz' : '';
  const pack = (b: Uint8Array) => (options.gzip ? gzipSync(b) : b);
  for (const [prefix, count, seed] of [['train', options.train ?? 300, 1], ['t10k', options.test ?? 90, 2]] as const) {
    const { images, labels } = syntheticImages(count, classes, seed);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${suffix}`), pack(encodeIdx({ dtype: 'uint8', shape: [count, 28, 28], data: images })));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${suffix}`), pack(encodeIdx({ dtype: 'uint8', shape: [count], data: labels })));
  }
  return dir;
}
