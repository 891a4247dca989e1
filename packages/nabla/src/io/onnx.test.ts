// ONNX writer: the protobuf wire encoding against hand-worked bytes, every layer emitter run in
// ONNX Runtime against a plain-loop reference (the convolution family on hand-built layer
// configs, as their classes land separately), and layers ONNX cannot express refused whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { Dense, Flatten, layerTypes, LeakyReLU, ReLU, Rng, Sequential, Sigmoid, Softmax, Tanh, Tensor, shapeSize } from '../index.ts';
import type { Layer, LayerConfig } from '../layers/layer.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { ONNX_IR_VERSION, onnxLayerTypes, ONNX_OPSET, encodeOnnx, exportOnnx, type OnnxLayer } from './onnx.ts';
import { ProtoWriter } from './protobuf.ts';

test('protobuf: varints, negative int64, strings, floats and nested messages as the wire format says', () => {
  // The protobuf encoding guide's own example: field 1 = 150 → 08 96 01.
  assert.deepEqual([...new ProtoWriter().int(1, 150).finish()], [0x08, 0x96, 0x01]);
  assert.deepEqual([...new ProtoWriter().int(2, 300).finish()], [0x10, 0xac, 0x02]);
  // -1 as int64: ten bytes of two's complement.
  assert.deepEqual([...new ProtoWriter().int(1, -1).finish()], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual([...new ProtoWriter().string(2, 'testing').finish()], [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
  assert.deepEqual([...new ProtoWriter().float(2, 1).finish()], [0x15, 0x00, 0x00, 0x80, 0x3f]);
  assert.deepEqual([...new ProtoWriter().message(3, new ProtoWriter().int(1, 150)).finish()], [0x1a, 0x03, 0x08, 0x96, 0x01]);
  assert.deepEqual([...new ProtoWriter().repeatedInts(4, [1, 2]).finish()], [0x20, 0x01, 0x20, 0x02]);
  assert.throws(() => new ProtoWriter().int(1, 0.5), /not a safe integer/);
});

test('the file names its IR version and opset, "input" with a symbolic batch and "logits"', async () => {
  const model = new Sequential([new Dense(3)], { inputShape: [4], seed: 1 });
  const bytes = exportOnnx(model);
  // ModelProto starts with field 1 (ir_version) = 8; opset_import { domain "", version 17 } is in there.
  assert.deepEqual([...bytes.subarray(0, 2)], [0x08, ONNX_IR_VERSION]);
  const opset = [0x42, 0x04, 0x0a, 0x00, 0x10, ONNX_OPSET];
  assert.ok(indexOf(bytes, opset) > 0, 'opset_import entry present');
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['logits']);
  // Any batch size runs.
  for (const n of [1, 7]) {
    const r = await session.run({ input: new ort.Tensor('float32', new Float32Array(n * 4), [n, 4]) });
    assert.deepEqual(r.logits.dims, [n, 3]);
  }
});

test('every existing layer type through ONNX Runtime matches nabla (dense, activations, flatten, softmax)', async () => {
  const cases: [string, Layer[], number[], string][] = [
    ['flatten-dense-leaky-tanh-sigmoid-softmax', [new Flatten(), new Dense(16), new LeakyReLU(0.1), new Dense(8, { bias: false }), new Tanh(), new Dense(5), new Sigmoid(), new Dense(3), new Softmax()], [4, 5], 'probabilities'],
    ['dense-relu-dense', [new Dense(12), new ReLU(), new Dense(4)], [9], 'logits'],
    ['ends in an activation', [new Dense(6), new Sigmoid()], [3], 'output'],
  ];
  for (const [name, layers, inputShape, outName] of cases) {
    const model = new Sequential(layers, { inputShape, seed: 2 });
    const n = 5;
    const x = randomArray(n * shapeSize(inputShape), 3);
    const session = await ort.InferenceSession.create(exportOnnx(model));
    assert.deepEqual(session.outputNames, [outName], name);
    const r = await session.run({ input: new ort.Tensor('float32', x, [n, ...inputShape]) });
    assertClose(r[outName].data as Float32Array, model.predict(x, n), 1e-5, name);
  }
});

test('Conv2D, BatchNorm2D, MaxPool2D, AvgPool2D, Dropout, BatchNorm1D emitters match plain-loop references', async () => {
  // x (N, 2, 7, 6) → Conv2D 3 filters 3×2, stride [2, 1], padding [1, 0] → (N, 3, 4, 5)
  // → BatchNorm2D → MaxPool2D 2×2 stride 2, padding 1 → (N, 3, 3, 3)
  // → AvgPool2D 2×2 stride 1, padding 1 (zeros counted) → (N, 3, 4, 4) → Dropout → Flatten (48)
  // → Dense 5 → BatchNorm1D.
  const rng = new Rng(4);
  const t = (shape: number[], lo = -1, hi = 1) => new Tensor(shape, Float32Array.from({ length: shapeSize(shape) }, () => lo + (hi - lo) * rng.uniform()));
  const tensors = new Map<string, Tensor>([
    ['0.weight', t([3, 2, 3, 2])], ['0.bias', t([3])],
    ['1.weight', t([3], 0.5, 1.5)], ['1.bias', t([3])], ['1.running_mean', t([3])], ['1.running_var', t([3], 0.2, 2)],
    ['6.weight', t([5, 48])], ['6.bias', t([5])],
    ['7.weight', t([5], 0.5, 1.5)], ['7.bias', t([5])], ['7.running_mean', t([5])], ['7.running_var', t([5], 0.2, 2)],
  ]);
  const L = (config: LayerConfig, inputShape: number[], outputShape: number[]): OnnxLayer => ({ config, inputShape, outputShape });
  const layers: OnnxLayer[] = [
    L({ type: 'Conv2D', filters: 3, kernelSize: [3, 2], stride: [2, 1], padding: [1, 0], bias: true }, [2, 7, 6], [3, 4, 5]),
    L({ type: 'BatchNorm2D', momentum: 0.1, eps: 1e-3 }, [3, 4, 5], [3, 4, 5]),
    L({ type: 'MaxPool2D', poolSize: [2, 2], stride: [2, 2], padding: [1, 1] }, [3, 4, 5], [3, 3, 3]),
    L({ type: 'AvgPool2D', poolSize: [2, 2], stride: [1, 1], padding: [1, 1] }, [3, 3, 3], [3, 4, 4]),
    L({ type: 'Dropout', rate: 0.5 }, [3, 4, 4], [3, 4, 4]),
    L({ type: 'Flatten' }, [3, 4, 4], [48]),
    L({ type: 'Dense', units: 5, bias: true }, [48], [5]),
    L({ type: 'BatchNorm1D', momentum: 0.1, eps: 1e-5 }, [5], [5]),
  ];
  const n = 3;
  const x = randomArray(n * 2 * 7 * 6, 5);
  const session = await ort.InferenceSession.create(encodeOnnx({ inputShape: [2, 7, 6], layers, tensors }));
  const r = await session.run({ input: new ort.Tensor('float32', x, [n, 2, 7, 6]) });

  // The reference, one plain loop per layer.
  const p = (name: string) => tensors.get(name)!.data;
  let a = conv2d(x, n, [2, 7, 6], p('0.weight'), p('0.bias'), 3, [3, 2], [2, 1], [1, 0]);
  a = batchNorm(a, n, 3, 20, p('1.weight'), p('1.bias'), p('1.running_mean'), p('1.running_var'), 1e-3);
  a = pool(a, n, [3, 4, 5], [2, 2], [2, 2], [1, 1], 'max');
  a = pool(a, n, [3, 3, 3], [2, 2], [1, 1], [1, 1], 'avg');
  const dense = new Float64Array(n * 5);
  for (let s = 0; s < n; s++) for (let o = 0; o < 5; o++) {
    let z = p('6.bias')[o];
    for (let k = 0; k < 48; k++) z += a[s * 48 + k] * p('6.weight')[o * 48 + k];
    dense[s * 5 + o] = z;
  }
  const expected = batchNorm(dense, n, 5, 1, p('7.weight'), p('7.bias'), p('7.running_mean'), p('7.running_var'), 1e-5);
  assert.deepEqual(r.logits.dims, [n, 5]);
  assertClose(r.logits.data as Float32Array, expected, 1e-4, 'conv family');

  // AvgPool2D with countIncludePad false divides by the in-image part of the window only.
  const avgOnly = encodeOnnx({
    inputShape: [1, 3, 3],
    layers: [L({ type: 'AvgPool2D', poolSize: [2, 2], stride: [2, 2], padding: [1, 1], countIncludePad: false }, [1, 3, 3], [1, 2, 2])],
    tensors: new Map(),
  });
  const r2 = await (await ort.InferenceSession.create(avgOnly)).run({ input: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), [1, 1, 3, 3]) });
  assert.deepEqual([...(r2.logits.data as Float32Array)], [1, 2.5, 5.5, 7]);
});

test('every layer type a model file may name has an ONNX emitter (a new layer needs one too)', () => {
  const missing = layerTypes().filter((t) => !onnxLayerTypes().includes(t));
  assert.deepEqual(missing, []);
});

test('a layer ONNX cannot express, or weights that disagree with the config: a NablaError naming the layer, no bytes', () => {
  const L = (config: LayerConfig): OnnxLayer => ({ config, inputShape: [4], outputShape: [4] });
  assertNablaError(
    () => encodeOnnx({ inputShape: [4], layers: [L({ type: 'ReLU' }), L({ type: 'Attention', heads: 2 })], tensors: new Map() }),
    ['ONNX export, layer 1 (Attention)', 'a layer ONNX export supports', 'Dense', 'Conv2D', '"Attention"', 'nothing was written'],
  );
  assertNablaError(
    () => encodeOnnx({ inputShape: [4], layers: [L({ type: 'Dense', units: 4 })], tensors: new Map([['0.weight', new Tensor([4, 3])]]) }),
    ['layer 0 (Dense)', '"0.weight" of shape [4, 4]', 'shape [4, 3]'],
  );
  assertNablaError(
    () => encodeOnnx({ inputShape: [1, 4, 4], layers: [{ config: { type: 'MaxPool2D', poolSize: [2] }, inputShape: [1, 4, 4], outputShape: [1, 2, 2] }], tensors: new Map() }),
    ['layer 0 (MaxPool2D)', 'poolSize as [h, w]'],
  );
  assertNablaError(
    () => encodeOnnx({ inputShape: [4], layers: [L({ type: 'BatchNorm1D', eps: 1e-5 })], tensors: new Map([['0.weight', new Tensor([4])], ['0.bias', new Tensor([4])]]) }),
    ['layer 0 (BatchNorm1D)', '"0.running_mean"', 'found none'],
  );
});

// ---------------------------------------------------------------------------------------------

function randomArray(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => 2 * rng.uniform() - 1);
}

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  assert.ok(worst <= tol, `${label}: max |diff| ${worst} at ${at} (${actual[at]} vs ${expected[at]}) > ${tol}`);
}

/** Cross-correlation, zero padding: y[s, o, i, j] = b[o] + Σ x[s, c, i·SH + u − PH, j·SW + v − PW] W[o, c, u, v]. */
function conv2d(x: ArrayLike<number>, n: number, [c, h, w]: number[], weight: ArrayLike<number>, bias: ArrayLike<number>,
  oc: number, [kh, kw]: number[], [sh, sw]: number[], [ph, pw]: number[]): Float64Array {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * oc * oh * ow);
  for (let s = 0; s < n; s++) for (let o = 0; o < oc; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let z = bias[o];
    for (let ch = 0; ch < c; ch++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const r = i * sh + u - ph;
      const q = j * sw + v - pw;
      if (r >= 0 && r < h && q >= 0 && q < w) z += x[((s * c + ch) * h + r) * w + q] * weight[((o * c + ch) * kh + u) * kw + v];
    }
    y[((s * oc + o) * oh + i) * ow + j] = z;
  }
  return y;
}

/** Pooling; max ignores padding, avg counts padded zeros in the divisor (count_include_pad = 1). */
function pool(x: ArrayLike<number>, n: number, [c, h, w]: number[], [kh, kw]: number[], [sh, sw]: number[], [ph, pw]: number[], kind: 'max' | 'avg'): Float64Array {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  for (let s = 0; s < n * c; s++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const r = i * sh + u - ph;
      const q = j * sw + v - pw;
      if (r < 0 || r >= h || q < 0 || q >= w) continue;
      const val = x[(s * h + r) * w + q];
      acc = kind === 'max' ? Math.max(acc, val) : acc + val;
    }
    y[(s * oh + i) * ow + j] = kind === 'max' ? acc : acc / (kh * kw);
  }
  return y;
}

/** Inference batch norm over channel axis 1: γ (x − mean) / √(var + eps) + β. */
function batchNorm(x: ArrayLike<number>, n: number, c: number, spatial: number, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(n * c * spatial);
  for (let s = 0; s < n; s++) for (let ch = 0; ch < c; ch++) for (let k = 0; k < spatial; k++) {
    const i = (s * c + ch) * spatial + k;
    y[i] = gamma[ch] * (x[i] - mean[ch]) / Math.sqrt(variance[ch] + eps) + beta[ch];
  }
  return y;
}
