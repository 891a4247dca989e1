// misclassified: only wrong rows, most confident first, ties in data order, limit, checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { misclassified } from './misclassified.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

test('misclassified: wrong rows only, sorted by the confidence of the wrong class', () => {
  const probs = Float32Array.from([
    0.9, 0.1, 0.0, // row 0: right (label 0)
    0.2, 0.7, 0.1, // row 1: wrong, 1 at 0.7 (label 2)
    0.1, 0.1, 0.8, // row 2: wrong, 2 at 0.8 (label 0)
    0.6, 0.3, 0.1, // row 3: wrong, 0 at 0.6 (label 1)
    0.2, 0.7, 0.1, // row 4: wrong, 1 at 0.7 (label 0): ties row 1, comes after it
  ]);
  const labels = [0, 2, 0, 1, 0];
  const y = new Float32Array(15);
  labels.forEach((l, r) => { y[r * 3 + l] = 1; });
  const m = misclassified(probs, y, 3);
  assert.deepEqual(m.map((e) => e.index), [2, 1, 4, 3]);
  assert.deepEqual(m[0], { index: 2, label: 0, predicted: 2, confidence: probs[8], labelProbability: probs[6] });
  assert.deepEqual(misclassified(probs, y, 3, 2).map((e) => e.index), [2, 1]);
  assert.deepEqual(misclassified(probs.subarray(0, 3), y.subarray(0, 3), 3), []);
});

test('misclassified: mismatched lengths are a NablaError', () => {
  assertNablaError(() => misclassified(new Float32Array(6), new Float32Array(3), 3), ['6 probabilities', '3 targets']);
  assertNablaError(() => misclassified(new Float32Array(5), new Float32Array(5), 3), ['K = 3']);
});

test('misclassified on a single-output binary model: probabilities [1 − p, p] beside one 0/1 target per row', () => {
  const probs = Float32Array.of(0.9, 0.1, 0.2, 0.8, 0.4, 0.6, 0.7, 0.3);
  const targets = Float32Array.of(0, 0, 1, 1);
  // Row 1: p = 0.8 but target 0; row 3: p = 0.3 but target 1.
  const m = misclassified(probs, targets, 2);
  assert.deepEqual(m.map((x) => [x.index, x.label, x.predicted]), [[1, 0, 1], [3, 1, 0]]);
  assert.ok(Math.abs(m[0].confidence - 0.8) < 1e-6 && Math.abs(m[0].labelProbability - 0.2) < 1e-6);
});
