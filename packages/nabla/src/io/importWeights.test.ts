// Importing PyTorch state dicts: the committed PyTorch fixture's weights, written as safetensors
// the way torch would (F64 here, F32 with a module prefix there), must give PyTorch's outputs;
// wrong files are refused with the tensor named and the model never half-loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, assertClose, encodeSafetensors, importStateDict, parseArchitecture } from '../index.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

interface Case {
  name: string;
  activation: string;
  outputActivation: 'none' | 'sigmoid';
  inputShape: number[];
  hidden: number;
  classes: number;
  weights: Record<string, number[] | number[][]>;
  x: number[][];
  networkOutput: number[][];
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'pytorch-reference.json'), 'utf8')) as { cases: Case[] };

/** A safetensors file of F64 tensors, as safetensors.torch.save_file writes a double state dict. */
function f64Safetensors(tensors: [string, number[], number[]][]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    header[name] = { dtype: 'F64', shape, data_offsets: [offset, offset + 8 * values.length] };
    offset += 8 * values.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, , values] of tensors) for (const v of values) { view.setFloat64(at, v, true); at += 8; }
  return out;
}

const shapeOf = (v: number[] | number[][]) => (Array.isArray(v[0]) ? [v.length, (v[0] as number[]).length] : [v.length]);

test('PyTorch state dicts (F64, or F32 under a module prefix) import into a described MLP and give PyTorch\'s outputs', () => {
  for (const c of fixture.cases) {
    const spec = `${c.inputShape[0]}-${c.hidden}-${c.classes} ${c.activation}${c.outputActivation === 'sigmoid' ? ' output=sigmoid' : ''}`;
    const entries = Object.entries(c.weights).map(([k, v]) => [k, shapeOf(v), (v as number[]).flat()] as [string, number[], number[]]);
    const x = Float32Array.from(c.x.flat());
    const expected = c.networkOutput.flat();

    const fromF64 = importStateDict(f64Safetensors(entries), parseArchitecture(spec), { role: c.name });
    assertClose(fromF64.predict(x, c.x.length), expected, { rtol: 1e-5, atol: 1e-6, label: `${c.name} (F64)` });

    const prefixed = encodeSafetensors(entries.map(([k, shape, v]) => [`net.${k}`, new Tensor(shape, Float32Array.from(v))]));
    const fromF32 = importStateDict(prefixed, parseArchitecture(spec), { prefix: 'net.' });
    assertClose(fromF32.predict(x, c.x.length), expected, { rtol: 1e-5, atol: 1e-6, label: `${c.name} (F32, prefix)` });
  }
});

test('parseArchitecture: sizes, activation, output; bad specs name what was expected', () => {
  assert.deepEqual(parseArchitecture('784-256-128-10 relu'), {
    inputShape: [784],
    layers: [
      { type: 'Dense', units: 256, bias: true }, { type: 'ReLU' }, { type: 'Dense', units: 128, bias: true }, { type: 'ReLU' },
      { type: 'Dense', units: 10, bias: true },
    ],
  });
  assert.deepEqual(parseArchitecture(' 784-30-10  sigmoid output=sigmoid').layers.map((l) => l.type), ['Dense', 'Sigmoid', 'Dense', 'Sigmoid']);
  assert.deepEqual(parseArchitecture('4-3').layers, [{ type: 'Dense', units: 3, bias: true }]);
  assertNablaError(() => parseArchitecture('784'), ['architecture "784"', 'layer sizes joined by "-"']);
  assertNablaError(() => parseArchitecture('784-0-10'), ['"784-0-10"']);
  assertNablaError(() => parseArchitecture('784-10 gelu'), ['an activation', '"gelu"']);
  assertNablaError(() => parseArchitecture('784-10 output=tanh'), ['output= one of none, sigmoid, softmax', '"tanh"']);
});

test('missing, mis-shaped or extra tensors, and a prefix left on, are refused with the tensor named', () => {
  const arch = parseArchitecture('4-3-2 relu');
  const t = (shape: number[]) => new Tensor(shape);
  const good: [string, Tensor][] = [['0.weight', t([3, 4])], ['0.bias', t([3])], ['2.weight', t([2, 3])], ['2.bias', t([2])]];
  assert.equal(importStateDict(encodeSafetensors(good), arch).paramCount, 23);

  assertNablaError(() => importStateDict(encodeSafetensors(good.slice(0, 3)), arch, { role: 'weights file "w.safetensors"' }),
    ['weights file "w.safetensors"', 'no "2.bias"', 'the architecture does not match']);
  assertNablaError(() => importStateDict(encodeSafetensors([...good.slice(0, 2), ['2.weight', t([2, 5])], good[3]]), arch),
    ['"2.weight" of shape [2, 3]', 'found [2, 5]']);
  assertNablaError(() => importStateDict(encodeSafetensors([...good, ['4.weight', t([1])]]), arch), ['also 4.weight']);
  assertNablaError(() => importStateDict(encodeSafetensors(good.map(([k, v]) => [`model.net.${k}`, v])), arch),
    ['no "0.weight"', 'pass prefix "model.net."']);
  assertNablaError(() => importStateDict(encodeSafetensors(good), arch, { prefix: 'net.' }), ['every key to start with "net."']);
  assertNablaError(() => importStateDict(encodeSafetensors(good), { inputShape: [4] } as never), ['architecture', '"inputShape"']);
  assertNablaError(() => importStateDict(new Uint8Array([1, 2, 3]), arch, { role: 'weights file "x"' }), ['weights file "x"']);
});
