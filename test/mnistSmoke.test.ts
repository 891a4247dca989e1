// The real MNIST, end to end through the library, small enough for CI: a few thousand training
// samples must take a small network far above chance (10%) on held-out test digits, and the
// predict pipeline (PNG → MNIST convention) must see those digits as the network does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Adam, Dense, ReLU, Sequential, argmax, sliceDataset, type Dataset } from 'nabla';
import { loadMnist } from 'nabla/node';
import { readDigitPng } from '../packages/cli/src/image.ts';

/** Test digit i drawn as a user would: black ink on white paper, 3× larger, with a margin. */
function writeDigitPng(ds: Dataset, i: number, path: string): void {
  const scale = 3;
  const side = 28 * scale + 20;
  const png = new PNG({ width: side, height: side });
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = Math.floor((x - 10) / scale);
      const sy = Math.floor((y - 10) / scale);
      const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? ds.x[i * 784 + sy * 28 + sx] : 0;
      const grey = Math.round(255 * (1 - ink));
      png.data.set([grey, grey, grey, 255], (y * side + x) * 4);
    }
  }
  writeFileSync(path, PNG.sync.write(png));
}

test('a 784-64-10 network learns real MNIST digits from 5,000 samples; PNGs of test digits predict the same', async () => {
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

  // Measured with the default model on 500 digits: 500/500 agree. Allow one miss in 40 here.
  const dir = mkdtempSync(join(tmpdir(), 'nabla-png-'));
  let agree = 0;
  const n = 40;
  for (let i = 0; i < n; i++) {
    const path = join(dir, `${i}.png`);
    writeDigitPng(test, i, path);
    const viaPng = argmax(model.predictProbabilities(await readDigitPng(path), 1), 0, 10);
    const direct = argmax(model.predictProbabilities(test.x.subarray(i * 784, (i + 1) * 784), 1), 0, 10);
    if (viaPng === direct) agree++;
  }
  assert.ok(agree >= n - 1, `PNG predictions agree with direct ones on ${agree}/${n} digits`);
});
