// nabla export and nabla import end to end: the ONNX file runs in ONNX Runtime with the model's
// outputs; corrupted inputs and mismatched weights give one line, exit 1 and no output file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { Rng, Tensor, decodeModel, encodeSafetensors } from 'nabla';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { assertUserError, nabla } from '../../../test/cliRunner.ts';




test('nabla export --onnx: the file runs in ONNX Runtime and gives the model\'s own outputs; bad models leave no file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-export-'));
  const model = join(dir, 'm.safetensors');
  const train = nabla('train', '--data', writeMnistFixture(), '--hidden', '16', '--epochs', '1', '--val', '0', '--no-progress', '--out', model);
  assert.equal(train.code, 0, train.stderr);

  const onnx = join(dir, 'm.onnx');
  const r = nabla('export', model, '--onnx', onnx);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ONNX opset 17\): input "input" \[batch, 784\] → "logits" \[batch, 10\]/);
  const session = await ort.InferenceSession.create(readFileSync(onnx));
  const rng = new Rng(1);
  const x = Float32Array.from({ length: 4 * 784 }, () => rng.uniform());
  const out = (await session.run({ input: new ort.Tensor('float32', x, [4, 784]) })).logits.data as Float32Array;
  const ours = decodeModel(new Uint8Array(readFileSync(model))).model.predict(x, 4);
  for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(out[i] - ours[i]) < 1e-4, `logit ${i}: ${out[i]} vs ${ours[i]}`);

  // A truncated model file: one line naming it, exit 1, and the ONNX file already there untouched.
  const before = readFileSync(onnx);
  const broken = join(dir, 'broken.safetensors');
  writeFileSync(broken, readFileSync(model).subarray(0, 5000));
  assertUserError(nabla('export', broken, '--onnx', onnx), `model file "${broken}"`);
  assert.deepEqual(readFileSync(onnx), before);
  const fresh = join(dir, 'never.onnx');
  assertUserError(nabla('export', join(dir, 'missing.safetensors'), '--onnx', fresh), 'an existing file');
  assert.equal(existsSync(fresh), false);
  assertUserError(nabla('export', model), '--onnx <file> or --pytorch <dir>');
});

test('nabla import: a PyTorch-named state dict becomes a model; mismatches are named and write nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-import-'));
  const rng = new Rng(2);
  const t = (shape: number[]) => new Tensor(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.uniform() - 0.5));
  const weights = join(dir, 'state_dict.safetensors');
  const tensors: [string, Tensor][] = [['0.weight', t([5, 784])], ['0.bias', t([5])], ['2.weight', t([10, 5])], ['2.bias', t([10])]];
  writeFileSync(weights, encodeSafetensors(tensors, { format: 'pt' }));

  const out = join(dir, 'imported.safetensors');
  const r = nabla('import', weights, '--arch', '784-5-10 tanh', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 layers, 3,985 parameters/);
  const { model } = decodeModel(new Uint8Array(readFileSync(out)));
  assert.deepEqual(model.config().layers.map((l) => l.type), ['Dense', 'Tanh', 'Dense']);
  assert.deepEqual(model.stateDict().get('2.bias')!.data, tensors[3][1].data);

  const s = nabla('summary', out);
  assert.equal(s.code, 0, s.stderr);

  // --layers takes train's spec grammar too: the same model, bit for bit.
  const fromSpec = join(dir, 'from-spec.safetensors');
  const r2 = nabla('import', weights, '--layers', 'dense:5,tanh,dense:10', '--out', fromSpec);
  assert.equal(r2.code, 0, r2.stderr);
  const specModel = decodeModel(new Uint8Array(readFileSync(fromSpec))).model;
  assert.deepEqual(specModel.inputShape, [784]);
  assert.deepEqual(specModel.stateDict().get('0.weight')!.data, tensors[0][1].data);
  const r3 = nabla('import', weights, '--layers', 'dense:5,tanh,dense:10', '--input', '784', '--out', join(dir, 'img.safetensors'));
  assert.equal(r3.code, 0, r3.stderr);

  const never = join(dir, 'never.safetensors');
  assertUserError(nabla('import', weights, '--arch', '784-6-10 tanh', '--out', never), '"0.weight" of shape [6, 784]', 'found [5, 784]');
  assertUserError(nabla('import', weights, '--arch', '784-5-5-10', '--out', never), 'no "4.weight", "4.bias"');
  assertUserError(nabla('import', weights, '--arch', '784-5-10', '--layers', '{}', '--out', never), 'exactly one of them');
  assertUserError(nabla('import', weights, '--layers', '{"inputShape": [784], "layers": [{"type": "Dense", "units": 5}, {"type": "Dense", "units": 10}]}', '--out', never), 'no "1.weight", "1.bias"', 'the file has "0.weight"');
  assertUserError(nabla('import', weights, '--layers', '{oops', '--out', never), 'flag --layers', 'JSON');
  assertUserError(nabla('import', weights, '--layers', 'dense:5,tahn,dense:10', '--out', never), 'token 2 "tahn"', 'a layer name among');
  assertUserError(nabla('import', weights, '--layers', 'dense:5,tanh,dense:10', '--input', '28x0', '--out', never), 'flag --input');
  assert.equal(existsSync(never), false);
});
