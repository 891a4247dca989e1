// MaxPool2D: the gradient check (overlapping windows, stride 2, padding 1, non-square), forward on
// a hand-made 4×4 image (padding as −∞), the errors for windows, strides and paddings, and the
// wasm 2×2 backward against the JS one (ties, −∞ and NaN windows, stale dx).
import { setFlagsFromString } from 'node:v8';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sequential } from '../model/sequential.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { POOL_CASES, assertGradients, buildLayer, image4x4 } from '../../../../test/layerCases.ts';
import { MaxPool2D } from './maxPool2d.ts';
import { Conv2D } from './conv2d.ts';
import type { Backend } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { WasmBackend } from '../backend/wasm/wasmBackend.ts';

test('MaxPool2D passes the gradient check: overlapping windows, stride 2, padding 1, non-square', () => {
  for (const [pool, opts, shape, batch] of POOL_CASES) {
    // A max is piecewise linear, so a small step has no truncation error and stays off the ties.
    assertGradients(() => new MaxPool2D(pool, opts), `MaxPool2D(${pool}, ${JSON.stringify(opts)})`, [{ inputShape: shape, batch }], { h: 1e-3 });
  }
});

test('MaxPool2D forward on a hand-made 4×4 image', () => {
  const x = image4x4();
  assert.deepEqual([...buildLayer(new MaxPool2D(2), [1, 4, 4]).forward(x, false).data], [4, 8, 12, 16]);
  // Padding 1, stride 2: max treats padding as −∞.
  assert.deepEqual([...buildLayer(new MaxPool2D(2, { padding: 1 }), [1, 4, 4]).forward(x, false).data], [1, 5, 6, 9, 13, 14, 11, 15, 16]);
});

test('bad MaxPool2D layers are rejected: a pool larger than its input, a negative stride, padding over half a window', () => {
  // pooling larger than its input
  assertNablaError(() => new Sequential([new Conv2D(2, 3), new MaxPool2D(4)], { inputShape: [1, 5, 5] }), ['layer 1 (MaxPool2D)', 'at least 4×4', '[N, 2, 3, 3]']);
  // non-positive stride, and padding over half a pool window
  assertNablaError(() => new MaxPool2D(2, { stride: [1, -1] }), ['MaxPool2D', 'stride', '[1,-1]']);
  assertNablaError(() => new MaxPool2D(2, { padding: 2 }), ['MaxPool2D', 'padding at most half']);
});

test('2×2 max-pool backward on wasm (vector and scalar paths, even and odd sizes) writes all of dx and keeps the ties of the JS backend', async () => {
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const js = new JsBackend();
  const wasm = await WasmBackend.create({ threads: 1 });
  try {
    // Values from a tiny set, so most windows hold ties; −∞ and NaN windows too. ow = 5 runs one
    // vector of 4 windows and one scalar window per row; 11 × 11 has an odd row and column.
    const pick = [0, 1, 1, 2, -Infinity, NaN];
    for (const [h, w] of [[4, 10], [6, 8], [11, 11], [2, 2]]) {
      const n = 2;
      const len = n * h * w;
      const oh = Math.floor(h / 2);
      const ow = Math.floor(w / 2);
      const vals = Array.from({ length: len }, (_, i) => pick[(i * 7 + (i >> 3)) % pick.length]);
      if (h === 4) vals.fill(-Infinity, 0, 2 * w); // a row of windows that are all −∞
      const dyVals = Array.from({ length: n * oh * ow }, (_, i) => i + 1);
      const run = (be: Backend) => {
        const x = be.allocate(len);
        x.set(vals);
        const dy = be.allocate(dyVals.length);
        dy.set(dyVals);
        const dx = be.allocate(len).fill(NaN); // stale values: every position must be written
        be.maxPoolBackward(dx, dy, x, n, 1, h, w, 2, 2, 2, 2, 0, 0);
        return [...dx];
      };
      assert.deepEqual(run(wasm), run(js), `${h}×${w}`);
    }
  } finally {
    wasm.dispose();
  }
});
