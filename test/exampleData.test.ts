// scripts/make-example-data.ts: every data set it writes loads, and the small tables train.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam, Dense, ReLU, Rng, Sequential, shuffleDataset, splitDataset } from 'nabla';
import { loadCsv, loadImageFolder } from 'nabla/node';
import { makeExampleData } from '../scripts/make-example-data.ts';

test('the example data sets load with the right shapes and classes; the iris-like table trains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-examples-'));
  makeExampleData(dir, 1, 10);
  const shapes = await loadImageFolder(join(dir, 'shapes'));
  assert.deepEqual(shapes.classNames, ['circle', 'square', 'triangle']);
  assert.deepEqual(shapes.inputShape, [3, 32, 32]);
  assert.equal(shapes.count, 30);
  const flowers = loadCsv(join(dir, 'flowers.csv'));
  assert.deepEqual(flowers.classNames, ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual(flowers.inputShape, [4]);
  const spirals = loadCsv(join(dir, 'spirals.csv'));
  assert.equal(spirals.classes, 2);
  assert.equal(spirals.features, 2);
  const houses = loadCsv(join(dir, 'houses.csv'), { task: 'regression', label: 'price' });
  assert.equal(houses.count, 500);
  assert.equal(houses.features, 4);
  const { train, val } = splitDataset(shuffleDataset(flowers, new Rng(1)), 30);
  const model = new Sequential([new Dense(16), new ReLU(), new Dense(3)], { inputShape: [4], seed: 1 });
  const h = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'ce', epochs: 60, batchSize: 16, validationData: val, monitor: false });
  assert.ok(h.epochs[59].valAccuracy! > 0.7, `validation accuracy ${h.epochs[59].valAccuracy}`);
});
