// Heat maps: the colour of known values, clamping, scale, and size checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inkToRgba, maxAbs, signedToRgba } from './heatmap.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

test('signedToRgba: −max blue, 0 white, +max red, half way pale, beyond the scale clamped', () => {
  const rgba = signedToRgba([-2, 0, 2, 1, 5], 5, 1, 2);
  assert.deepEqual(Array.from(rgba), [0, 0, 255, 255, 255, 255, 255, 255, 255, 0, 0, 255, 255, 128, 128, 255, 255, 0, 0, 255]);
  // Default scale: the largest |v|.
  assert.deepEqual(Array.from(signedToRgba([0.5, -0.25], 2, 1)).slice(0, 4), [255, 0, 0, 255]);
  // All zeros: white, no division by zero.
  assert.deepEqual(Array.from(signedToRgba([0], 1, 1)), [255, 255, 255, 255]);
});

test('inkToRgba: grey levels, clamped to [0, 1]', () => {
  assert.deepEqual(Array.from(inkToRgba([0, 1, 0.5, -1, 3, 0.2], 3, 2)).filter((_, i) => i % 4 === 0), [0, 255, 128, 0, 255, 51]);
});

test('heat maps: size mismatch is a NablaError; maxAbs', () => {
  assertNablaError(() => signedToRgba([1, 2, 3], 2, 2), ['4', '3 values']);
  assertNablaError(() => inkToRgba([1], 0, 1), ['inkToRgba']);
  assert.equal(maxAbs([1, -3, 2]), 3);
  assert.equal(maxAbs([]), 0);
});
