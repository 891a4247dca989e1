// The real MNIST, end to end through the library, small enough for CI: a few thousand training
// samples must take a small network far above chance (10%) on held-out test digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, Dense, ReLU, Sequential, sliceDataset } from '../src/index.ts';
import { loadMnist } from '../cli/mnistFiles.ts';

test('a 784-64-10 network learns real MNIST digits from 5,000 samples', () => {
  const train = sliceDataset(loadMnist('train'), 0, 5000);
  const test = sliceDataset(loadMnist('test'), 0, 2000);
  assert.equal(train.features, 784);
  const model = new Sequential([new Dense(64), new ReLU(), new Dense(10)], { inputShape: [784], seed: 3 });
  const before = model.evaluate(test, { loss: 'ce' }).accuracy;
  const history = model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 2e-3 }), loss: 'ce', epochs: 3, batchSize: 64 });
  const after = model.evaluate(test, { loss: 'ce' });
  assert.ok(before < 0.3, `untrained accuracy should be near chance, got ${before}`);
  assert.ok(history.epochs[2].loss < history.epochs[0].loss, 'training loss falls');
  assert.ok(after.accuracy > 0.88, `test accuracy after 3 epochs on 5k samples: ${after.accuracy}`);
});
