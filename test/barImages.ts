// Synthetic images for the CNN training tests: each of 4 classes is a bright bar in its own
// quadrant (rows and columns starting at `near` or `far`), `rows` tall and `cols` + (i mod 3)
// wide, with sparse noise elsewhere. Small enough to learn in a few epochs of a few batches.
import { Rng } from '../packages/nabla/src/random.ts';

export function barImages(o: { size: number; count: number; seed: number; near: number; far: number; rows: number; cols: number }): { x: Float32Array; y: Float32Array; count: number } {
  const { size, count } = o;
  const rng = new Rng(o.seed);
  const area = size * size;
  const x = new Float32Array(count * area);
  const y = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) {
    const c = i % 4;
    y[i * 4 + c] = 1;
    const r0 = c < 2 ? o.near : o.far;
    const c0 = c % 2 === 0 ? o.near : o.far;
    for (let r = 0; r < size; r++) for (let q = 0; q < size; q++) {
      const inBar = r >= r0 && r < r0 + o.rows && q >= c0 && q < c0 + o.cols + (i % 3);
      x[i * area + r * size + q] = inBar ? 0.8 + 0.2 * rng.uniform() : rng.uniform() < 0.05 ? rng.uniform() : 0;
    }
  }
  return { x, y, count };
}
