/**
 * A training loop written by hand around `trainStep` (one Forward → Backward → Update on one
 * batch): your own batching, learning-rate schedule and early stopping, where `fit` has its own.
 *
 *   node --conditions=nabla-source --import tsx examples/customLoop.ts [--quick]
 */
import { BatchIterator, Dense, Rng, SGD, Sequential, Tanh, Tensor, sliceDataset } from 'nabla';
import { loadMnist } from 'nabla/node';
import { quick } from './mnist.ts';

const all = loadMnist('train');
const train = sliceDataset(all, 0, quick ? 2000 : 55000);
const val = sliceDataset(all, 55000, quick ? 56000 : 60000);

const model = new Sequential([new Dense(64, { init: 'xavier' }), new Tanh(), new Dense(10)], { inputShape: [784], seed: 2 });
const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
// The iterator reuses two batch buffers: no allocation per batch.
const batches = new BatchIterator(train, { batchSize: 64, shuffle: true, rng: new Rng(2) });

let best = 0;
let patience = 2;
for (let epoch = 1; epoch <= (quick ? 2 : 20) && patience > 0; epoch++) {
  optimizer.lr = 0.1 * 0.7 ** (epoch - 1); // step decay, once per epoch
  let lossSum = 0;
  let correct = 0;
  for (const batch of batches.epoch()) {
    const x = new Tensor([batch.size, 784], batch.x);
    const y = new Tensor([batch.size, 10], batch.y);
    const step = model.trainStep(x, y, 'ce', optimizer);
    lossSum += step.loss * batch.size;
    correct += step.correct;
  }
  const { accuracy } = model.evaluate(val, { loss: 'ce' });
  console.log(`epoch ${epoch}: lr ${optimizer.lr.toFixed(4)}, loss ${(lossSum / train.count).toFixed(4)}, ` +
    `train accuracy ${(correct / train.count).toFixed(4)}, val accuracy ${accuracy.toFixed(4)}`);
  // Early stopping: give up after two epochs without a better validation accuracy.
  if (accuracy > best) {
    best = accuracy;
    patience = 2;
  } else {
    patience--;
  }
}
console.log(`best val accuracy ${best.toFixed(4)}`);
