// Activations (ReLU, LeakyReLU, Sigmoid, Tanh, Softmax): the gradient check (away from the kinks
// for ReLU and LeakyReLU), LeakyReLU's slope range, and Softmax's flat-input shape error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NablaError } from '../errors.ts';
import { Sequential } from '../model/sequential.ts';
import { FLAT_CASES, assertGradients } from '../../../../test/layerCases.ts';
import { ReLU, LeakyReLU, Sigmoid, Tanh, Softmax } from './activations.ts';

test('ReLU passes the gradient check away from the kink', () => {
  assertGradients(() => new ReLU(), 'ReLU', [...FLAT_CASES, { inputShape: [2, 3], batch: 2 }], { avoidZero: 0.05 });
});

test('LeakyReLU passes the gradient check away from the kink (default and custom slope)', () => {
  assertGradients(() => new LeakyReLU(), 'LeakyReLU(0.01)', FLAT_CASES, { avoidZero: 0.05 });
  assertGradients(() => new LeakyReLU(0.2), 'LeakyReLU(0.2)', [...FLAT_CASES, { inputShape: [3, 2], batch: 2 }], { avoidZero: 0.05 });
});

test('LeakyReLU rejects slopes outside [0, 1)', () => {
  for (const bad of [-0.1, 1, 2, NaN]) {
    assert.throws(() => new LeakyReLU(bad), (e: unknown) => e instanceof NablaError && e.message.includes('slope'));
  }
});

test('Sigmoid passes the gradient check', () => {
  assertGradients(() => new Sigmoid(), 'Sigmoid', [...FLAT_CASES, { inputShape: [2, 3], batch: 2 }]);
});

test('Tanh passes the gradient check', () => {
  assertGradients(() => new Tanh(), 'Tanh', [...FLAT_CASES, { inputShape: [3, 2], batch: 2 }]);
});

test('Softmax passes the gradient check', () => {
  assertGradients(() => new Softmax(), 'Softmax', FLAT_CASES);
});

test('shape error: Softmax needs a flat input', () => {
  assert.throws(
    () => new Sequential([new Softmax()], { inputShape: [3, 4] }),
    (e: unknown) => e instanceof NablaError && e.message.includes('layer 0 (Softmax)') && e.message.includes('add a Flatten layer'),
  );
});
