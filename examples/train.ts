/**
 * Train a digit classifier on MNIST with the library: build, fit, evaluate, then save the model
 * as safetensors (PyTorch-loadable) and as ONNX.
 *
 *   node --conditions=nabla-source --import tsx examples/train.ts [--quick]
 *
 * --conditions=nabla-source makes 'nabla' resolve to this repository's TypeScript sources (see
 * package.json "exports"). The examples are not in the published package: they run from this
 * repository, where that condition is what `npm run examples` and the tests pass.
 * --quick (as CI runs it) trains on 500 digits instead of 55,000.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { encodeModel, exportOnnx, sliceDataset } from 'nabla';
import { loadMnist } from 'nabla/node';
import { quick } from './mnist.ts';

const all = loadMnist('train');
const train = sliceDataset(all, 0, quick ? 500 : 55000);
const val = sliceDataset(all, 55000, quick ? 55500 : 60000);
const test = quick ? sliceDataset(loadMnist('test'), 0, 2000) : loadMnist('test');

// #region readme (README.md shows exactly these lines; test/examples.test.ts keeps them equal)
import { Adam, Dense, ReLU, Sequential } from 'nabla';

const model = new Sequential([new Dense(256), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
const optimizer = new Adam(model.parameters(), { lr: 2e-3 });
const history = model.fit(train, { optimizer, loss: 'ce', epochs: 8, batchSize: 128, validationData: val });
const { accuracy, confusion } = model.evaluate(test, { loss: 'ce' });
// #endregion

for (const e of history.epochs) console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, val accuracy ${e.valAccuracy!.toFixed(4)}`);
console.log(`test accuracy ${accuracy.toFixed(4)} (sevens read as ones: ${confusion[7][1]})`);

mkdirSync('models', { recursive: true });
writeFileSync('models/example-mlp.safetensors', encodeModel(model, { loss: 'ce', history, seed: 1 }));
writeFileSync('models/example-mlp.onnx', exportOnnx(model));
console.log('saved models/example-mlp.safetensors and models/example-mlp.onnx');
