// Small synthetic classification data shared by the training-control tests.
import { Rng } from '../packages/nabla/src/random.ts';
import type { Samples } from '../packages/nabla/src/data/batches.ts';

/** `classes` Gaussian blobs in `dims` dimensions (σ = 0.6), centres on the diagonal; one-hot targets. */
export function gaussianBlobs(count: number, seed: number, dims = 4, classes = 3): Samples {
  const rng = new Rng(seed);
  const x = new Float32Array(count * dims);
  const y = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    for (let d = 0; d < dims; d++) x[i * dims + d] = (d % classes === c ? 1.5 : -0.5) + 0.6 * rng.normal();
    y[i * classes + c] = 1;
  }
  return { x, y, count };
}
