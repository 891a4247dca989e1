// A user-defined layer (examples/swish.ts) registered with one call: it trains, saves, loads,
// summarises, is spelled in --layers and exports to ONNX; a layer without an ONNX form is refused
// by name; the CLI takes the same file with --plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import {
  Adam, Layer, Rng, Sequential, checkLayerGradients, compareClose, decodeModel, encodeModel, exportOnnx, layerTypes,
  layersFromSpec, parseLayerSpec, registerLayer, type LayerConfig, type LayerKind, type Shape, type Tensor,
} from 'nabla';
import { assertNablaError } from './assertNablaError.ts';
import { writeMnistFixture } from './cliFixtures.ts';
import { assertUserError, nablaFromSources } from './cliRunner.ts';
import { Swish } from '../examples/swish.ts';

/** y = x, with no ONNX form: exporting a model that holds it must fail by name. */
class Echo extends Layer {
  readonly type = 'Echo';
  protected init(inputShape: Shape): Shape { return inputShape; }
  forward(x: Tensor): Tensor { return x; }
  backward(dy: Tensor): Tensor { return dy; }
  config(): LayerConfig { return { type: this.type }; }
  static readonly kind: LayerKind = { type: 'Echo', fromConfig: () => new Echo() };
}

test('a registered layer: gradient check, spec token, fit, save → load bit-identical, summary, ONNX Runtime', async () => {
  assertNablaError(() => parseLayerSpec('dense:8,swish,dense:3', 1), ['"swish"', 'a layer name among']);
  registerLayer(Swish);
  registerLayer(Swish); // twice: nothing happens
  assert.ok(layerTypes().includes('Swish'));
  const report = checkLayerGradients(new Swish(), { inputShape: [5], batch: 3, seed: 1 });
  assert.ok(report.ok, report.message);

  const model = new Sequential(layersFromSpec('dense:8,swish,dense:3', 1), { inputShape: [4], seed: 2 });
  const rng = new Rng(3);
  const count = 60;
  const x = new Float32Array(count * 4).map(() => rng.normal());
  const y = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) y[i * 3 + (x[i * 4] > 0 ? 0 : x[i * 4 + 1] > 0 ? 1 : 2)] = 1;
  const history = model.fit({ x, y, count }, { optimizer: new Adam(model.parameters(), { lr: 0.02 }), loss: 'ce', epochs: 20, batchSize: 20 });
  assert.ok(history.epochs.at(-1)!.loss < history.epochs[0].loss, 'it learns');

  const loaded = decodeModel(encodeModel(model)).model;
  assert.deepEqual([...loaded.predict(x, count)], [...model.predict(x, count)]);
  assert.match(loaded.summary(), /1 Swish +\[N, 8\] +0/);

  const session = await ort.InferenceSession.create(exportOnnx(loaded));
  const out = await session.run({ input: new ort.Tensor('float32', x, [count, 4]) });
  const c = compareClose(out.logits.data as Float32Array, model.predict(x, count), { rtol: 1e-4, atol: 1e-5, label: 'Swish in ONNX Runtime' });
  assert.ok(c.ok, c.message);
});

test('registration errors, and a layer without an ONNX emitter refused by name', () => {
  assertNablaError(() => registerLayer({ ...Swish.kind }), ['registerLayer("Swish")', '"Swish" is taken']);
  assertNablaError(() => registerLayer({ ...Swish.kind, type: 'Swish2' }), ['"swish" spells Swish']);
  assertNablaError(() => registerLayer({ type: 'no spaces', fromConfig: () => new Swish() }), ['type "no spaces"']);
  registerLayer(Echo);
  const model = new Sequential([new Echo()], { inputShape: [3] });
  assert.ok(decodeModel(encodeModel(model)).model.layers[0] instanceof Echo);
  assertNablaError(() => exportOnnx(model), ['ONNX export, layer 0 (Echo)', 'has no ONNX form', 'give its LayerKind an onnx emitter']);
});

test('nabla --plugin examples/swish.ts: train --layers, summary, export; without the plugin the model is refused with a hint', () => {
  // A .ts plugin loads where tsx is registered: the checkout's source run (installed, a plugin is
  // JavaScript: test/installedPackage.test.ts).
  const run = nablaFromSources;
  const data = writeMnistFixture({ train: 120, test: 30 });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-plugin-'));
  const model = join(dir, 'swish.safetensors');
  const plugin = join(import.meta.dirname, '..', 'examples', 'swish.ts');
  const t = run('--plugin', plugin, 'train', '--data', data, '--layers', 'dense:16,swish,dense:10', '--epochs', '1',
    '--no-checkpoint', '--no-progress', '--out', model);
  assert.equal(t.code, 0, t.stderr);
  const s = run('summary', model, '--plugin', plugin);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /1 Swish/);
  const e = run('--plugin', plugin, 'export', model, '--onnx', join(dir, 'swish.onnx'));
  assert.equal(e.code, 0, e.stderr);
  assert.ok(existsSync(join(dir, 'swish.onnx')));
  assertUserError(run('summary', model), 'found "Swish"', 'nabla --plugin <module>');
  assertUserError(run('--plugin', join(dir, 'missing.ts'), 'summary', model), '--plugin', 'no such file');
});
