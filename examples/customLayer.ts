/**
 * A layer of your own, registered with one call: it then trains, saves, loads, summarises,
 * is spelled in layer specs and exports to ONNX like a built-in layer.
 *
 *   node --conditions=nabla-source --import tsx examples/customLayer.ts [--quick]
 *
 * The layer itself is examples/swish.ts; on the command line the same file is a plugin:
 *   nabla --plugin examples/swish.ts train --layers "dense:128,swish,dense:10"
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Adam, Sequential, decodeModel, encodeModel, exportOnnx, layersFromSpec, registerLayer, sliceDataset } from 'nabla';
import { loadMnist } from 'nabla/node';
import { quick } from './mnist.ts';
import { Swish } from './swish.ts';

// #region register
registerLayer(Swish); // now "swish" is a spec token and "Swish" a type model files may name
const model = new Sequential(layersFromSpec('dense:128,swish,dense:10', 1), { inputShape: [784], seed: 1 });
// #endregion

const all = loadMnist('train');
const train = sliceDataset(all, 0, quick ? 2000 : 55000);
const test = sliceDataset(loadMnist('test'), 0, quick ? 2000 : 10000);
model.fit(train, { optimizer: new Adam(model.parameters(), { lr: 2e-3 }), loss: 'ce', epochs: quick ? 2 : 5, batchSize: 128 });

const loaded = decodeModel(encodeModel(model)).model; // rebuilt from the file's architecture: Swish by its kind
console.log(loaded.summary());
console.log(`test accuracy ${loaded.evaluate(test, { loss: 'ce' }).accuracy.toFixed(4)}`);
mkdirSync('models', { recursive: true });
writeFileSync('models/swish-mlp.safetensors', encodeModel(loaded));
writeFileSync('models/swish-mlp.onnx', exportOnnx(loaded)); // Swish's own onnx(): Sigmoid then Mul
console.log('saved models/swish-mlp.safetensors and models/swish-mlp.onnx');
