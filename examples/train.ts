/**
 * Train a digit classifier on MNIST with the library: the network `npm start` trains (784-256-128-10,
 * ReLU, Adam with a cosine decay, batch 128), built, fitted and evaluated in a few lines, then saved
 * as safetensors (PyTorch-loadable) and as ONNX. It runs on the default backend, the fastest this
 * engine has (wasm SIMD on every core), as `nabla train` does, and prints each epoch's time.
 *
 *   node --conditions=nabla-source --import tsx examples/train.ts [--quick]
 *
 * --conditions=nabla-source makes 'nabla' resolve to this repository's TypeScript sources (see
 * packages/nabla/package.json "exports"). The examples are not in the published packages: they run
 * from this repository, where that condition is what `npm run examples` and the tests pass.
 * --quick (as CI runs it) trains on 500 digits instead of 55,000.
 */
import { writeFileSync } from 'node:fs';
import { describeBackend, exportOnnx, sliceDataset } from 'nabla';
import { quick } from './mnist.ts';

// #region readme (README.md shows exactly these lines; test/examples.test.ts keeps them equal)
import { Adam, Dense, ReLU, Sequential, lrSchedule, splitDataset } from 'nabla';
import { loadMnist, saveModel } from 'nabla/node';

const { train, val } = splitDataset(loadMnist('train'), 5000); // 55,000 to train on, 5,000 held out
const model = new Sequential([new Dense(256), new ReLU(), new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
const optimizer = new Adam(model.parameters(), { lr: 2e-3 });
const history = model.fit(quick ? sliceDataset(train, 0, 500) : train, {
  optimizer, loss: 'ce', epochs: 8, batchSize: 128, validationData: val,
  callbacks: [lrSchedule(optimizer, { type: 'cosine' })],
});
const { accuracy, confusion } = model.evaluate(loadMnist('test'), { loss: 'ce' });
saveModel('models/example-mlp.safetensors', model, { loss: 'ce', history, seed: 1 });
// #endregion

console.log(`backend ${describeBackend(model.backend)}`);
for (const e of history.epochs) {
  console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, val accuracy ${e.valAccuracy!.toFixed(4)}, ${e.seconds.toFixed(2)} s`);
}
console.log(`test accuracy ${accuracy.toFixed(4)} (sevens read as ones: ${confusion[7][1]})`);
writeFileSync('models/example-mlp.onnx', exportOnnx(model));
console.log('saved models/example-mlp.safetensors and models/example-mlp.onnx');
