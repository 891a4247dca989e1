// Shared by the layer test files (src/layers/*.test.ts): the flat input and pooling cases, a
// gradient check of a layer over several cases and seeds, and a one-line build. Not a test file.
import assert from 'node:assert/strict';
import { checkLayerGradients, type LayerCheckOptions } from '../packages/nabla/src/testing/gradCheck.ts';
import { JsBackend } from '../packages/nabla/src/backend/js/jsBackend.ts';
import { Rng } from '../packages/nabla/src/random.ts';
import { Tensor, type Shape } from '../packages/nabla/src/tensor.ts';
import type { Layer } from '../packages/nabla/src/layers/layer.ts';

export interface LayerCase {
  inputShape: Shape;
  batch: number;
}

/** Per-sample input shapes × batch sizes: batch 1, non-square, a prime width. */
export const FLAT_CASES: LayerCase[] = [
  { inputShape: [1], batch: 1 },
  { inputShape: [5], batch: 1 },
  { inputShape: [7], batch: 3 },
  { inputShape: [4], batch: 6 },
];

/** Pooling cases for MaxPool2D and AvgPool2D: pool size, options, per-sample input shape, batch. */
export const POOL_CASES: [[number, number], { stride?: number | [number, number]; padding?: number | [number, number] }, Shape, number][] = [
  [[2, 2], {}, [2, 4, 6], 2],
  [[3, 3], { stride: 2, padding: 1 }, [1, 7, 5], 2],
  [[3, 2], { stride: [1, 2] }, [2, 5, 4], 1],
  [[2, 2], { stride: 1 }, [1, 3, 3], 3], // overlapping: one pixel can be the max of several windows
  [[1, 1], {}, [1, 1, 1], 2],
];

/** A hand-made 4×4 one-channel image (1, 1, 4, 4) for the pooling forward tests. */
export const image4x4 = (): Tensor => new Tensor([1, 1, 4, 4], Float32Array.from([1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16]));

/**
 * A fresh layer from `make` passes the central-difference gradient check for every case and seeds
 * 1 and 2: the input and every parameter, each with at least one entry checked.
 */
export function assertGradients(
  make: () => Layer,
  label: string,
  cases: LayerCase[],
  options: Pick<LayerCheckOptions, 'avoidZero' | 'h' | 'training'> = {},
): void {
  for (const { inputShape, batch } of cases) {
    for (const seed of [1, 2]) {
      const layer = make();
      const report = checkLayerGradients(layer, { inputShape, batch, seed, ...options });
      const where = `${label}, input [${inputShape.join(', ')}], batch ${batch}, seed ${seed}`;
      assert.ok(report.ok, `${where}\n${report.message}`);
      // Every parameter was checked, plus the input.
      assert.equal(report.results.length, 1 + layer.params().length, where);
      for (const r of report.results) assert.ok(r.result.checked > 0, `${where}: ${r.name} checked nothing`);
    }
  }
}

/** `layer` built for `inputShape` on the JS backend. */
export function buildLayer<L extends Layer>(layer: L, inputShape: Shape, seed = 0): L {
  layer.build(inputShape, { backend: new JsBackend(), rng: new Rng(seed), index: 0 });
  return layer;
}
