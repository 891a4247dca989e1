// Model files with image layers: Conv2D weights [OC, IC, KH, KW], BatchNorm running statistics
// saved under PyTorch's buffer names (num_batches_tracked as int64), and a round trip that
// rebuilds the same network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv2D } from '../layers/conv2d.ts';
import { MaxPool2D } from '../layers/maxPool2d.ts';
import { AvgPool2D } from '../layers/avgPool2d.ts';
import { Dropout } from '../layers/dropout.ts';
import { BatchNorm1D, BatchNorm2D } from '../layers/batchNorm.ts';
import { Dense } from '../layers/dense.ts';
import { Flatten } from '../layers/flatten.ts';
import { ReLU } from '../layers/activations.ts';
import { Sequential } from '../model/sequential.ts';
import { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { decodeModel, encodeModel } from './modelFile.ts';

function cnn(): Sequential {
  return new Sequential([
    new Conv2D(4, [3, 2], { stride: [1, 2], padding: 1 }), new BatchNorm2D(), new ReLU(), new MaxPool2D(2, { stride: 1 }),
    new Conv2D(3, 3, { bias: false }), new AvgPool2D(2), new Flatten(), new Dense(5), new BatchNorm1D({ momentum: 0.2 }),
    new Dropout(0.3), new Dense(2),
  ], { inputShape: [2, 9, 8], seed: 4 });
}

test('a CNN with BatchNorm round-trips through a model file: names, shapes, running statistics, outputs', () => {
  const model = cnn();
  const rng = new Rng(1);
  const x = new Tensor([6, 2, 9, 8], Float32Array.from({ length: 6 * 144 }, () => rng.normal()));
  for (let i = 0; i < 3; i++) model.forward(x, true); // move the running statistics away from 0 and 1
  const bytes = encodeModel(model, { loss: 'ce' });
  const { tensors } = decodeSafetensors(bytes);
  assert.deepEqual([...tensors].map(([k, t]) => [k, [...t.shape]]), [
    ['0.weight', [4, 2, 3, 2]], ['0.bias', [4]],
    ['1.weight', [4]], ['1.bias', [4]], ['1.running_mean', [4]], ['1.running_var', [4]], ['1.num_batches_tracked', []],
    ['4.weight', [3, 4, 3, 3]],
    ['7.weight', [5, 9]], ['7.bias', [5]],
    ['8.weight', [5]], ['8.bias', [5]], ['8.running_mean', [5]], ['8.running_var', [5]], ['8.num_batches_tracked', []],
    ['10.weight', [2, 5]], ['10.bias', [2]],
  ]);
  assert.equal(tensors.get('1.num_batches_tracked')!.data[0], 3);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true)));
  assert.match(header, /"1\.num_batches_tracked":\{"dtype":"I64","shape":\[\]/);

  const { model: back } = decodeModel(bytes);
  assert.deepEqual(back.config(), model.config());
  assert.deepEqual(back.config().layers[0], {
    type: 'Conv2D', filters: 4, kernelSize: [3, 2], stride: [1, 2], padding: [1, 1], bias: true, init: 'he',
  });
  assert.deepEqual(back.config().layers[1], { type: 'BatchNorm2D', momentum: 0.1, eps: 1e-5 });
  for (const [name, t] of model.stateDict()) assert.deepEqual(back.stateDict().get(name)!.data, t.data, name);
  assert.deepEqual(back.forward(x, false).data, model.forward(x, false).data);
  assert.equal(back.parameters().length, model.parameters().length, 'buffers are not parameters');
});

test('safetensors writes I64 as little-endian int64 and reads it back', () => {
  const bytes = encodeSafetensors([['n', new Tensor([2], Float32Array.from([7, 300]))]], undefined, { n: 'I64' });
  const headerLength = new DataView(bytes.buffer).getUint32(0, true);
  const data = new DataView(bytes.buffer, 8 + headerLength);
  assert.equal(data.getBigInt64(0, true), 7n);
  assert.equal(data.getBigInt64(8, true), 300n);
  assert.deepEqual([...decodeSafetensors(bytes).tensors.get('n')!.data], [7, 300]);
});

test('loadStateDict wants the buffers too: a state dict without running statistics is refused, naming them', () => {
  const model = cnn();
  const partial = new Map([...model.stateDict()].filter(([k]) => !k.endsWith('running_var')));
  assert.throws(() => cnn().loadStateDict(partial), /a tensor named "1\.running_var" \[4\]/);
});
