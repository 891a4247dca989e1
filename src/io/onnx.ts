/**
 * ONNX export: a Sequential model written as an ONNX ModelProto, encoded by hand (protobuf.ts).
 *
 * What the file holds:
 *   ir_version 7, opset_import [{ domain: "" (ai.onnx), version: 13 }], producer "nabla"
 *   graph input  "input":  float32 [batch, ...inputShape]   ("batch" is a symbolic dimension)
 *   graph output "logits": float32 [batch, ...outputShape]  ("probabilities" when the model ends
 *                in Softmax, "output" when it ends in another activation)
 *   one node (two for none) per layer, in order; weights as initializers with the PyTorch state
 *   dict names ("0.weight", "0.bias"), so the ONNX file and the safetensors file agree.
 *
 * Layer → ONNX operator (opset 13):
 *   Dense                 Gemm(x, W, b), transB = 1: W is stored [OUT, IN], y = x·Wᵀ + b
 *   ReLU, Sigmoid, Tanh   Relu, Sigmoid, Tanh
 *   LeakyReLU             LeakyRelu, alpha = slope
 *   Softmax               Softmax, axis = 1 (nabla's Softmax takes (N, K))
 *   Flatten               Flatten, axis = 1: (N, d1, d2, ...) → (N, d1·d2·...), row-major as ours
 *   Conv2D                Conv(x, W [OC, IC, KH, KW], b [OC]), pads [PH, PW, PH, PW]
 *   MaxPool2D, AvgPool2D  MaxPool, AveragePool (count_include_pad = 1: zero padding is averaged
 *                         in, as PyTorch's default; `countIncludePad: false` in the config says not)
 *   Dropout               Identity (an exported model is for inference)
 *   BatchNorm1D/2D        BatchNormalization(x, weight, bias, running_mean, running_var), epsilon
 *                         = eps: the inference form, normalising with the running statistics
 *
 * The bytes are built in memory and returned whole: a layer ONNX cannot express throws a
 * NablaError naming it before anything is returned, so a caller never writes half a file.
 */
import { NablaError } from '../errors.ts';
import type { LayerConfig } from '../layers/layer.ts';
import type { Sequential } from '../model/sequential.ts';
import { sameShape, shapeToString, type Shape, type Tensor } from '../tensor.ts';
import { ProtoWriter } from './protobuf.ts';

/**
 * The ONNX operator set the exporter writes against (default domain, ai.onnx).
 *
 * @example
 * ONNX_OPSET; // 13
 */
export const ONNX_OPSET = 13;
/**
 * The ONNX IR version of the files (7: the IR released with opset 13, ONNX 1.8).
 *
 * @example
 * ONNX_IR_VERSION; // 7
 */
export const ONNX_IR_VERSION = 7;
/**
 * Layer types `exportOnnx` can write.
 *
 * @example
 * ONNX_LAYER_TYPES.includes('Conv2D'); // true
 */
export const ONNX_LAYER_TYPES = [
  'Dense', 'ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'Softmax', 'Flatten',
  'Conv2D', 'MaxPool2D', 'AvgPool2D', 'Dropout', 'BatchNorm1D', 'BatchNorm2D',
] as const;

/**
 * One layer as the exporter sees it: its JSON config and its per-sample shapes.
 *
 * @example
 * const layer: OnnxLayer = { config: { type: 'Flatten' }, inputShape: [1, 28, 28], outputShape: [784] };
 */
export interface OnnxLayer {
  config: LayerConfig;
  inputShape: Shape;
  outputShape: Shape;
}

/**
 * A model as the exporter sees it: shapes, layer configs and every tensor by its state-dict name
 * ("0.weight"; for batch norm also "1.running_mean", "1.running_var").
 *
 * @example
 * encodeOnnx({ inputShape: [4], layers: [{ config: { type: 'ReLU' }, inputShape: [4], outputShape: [4] }], tensors: new Map() });
 */
export interface OnnxGraphSpec {
  inputShape: Shape;
  layers: OnnxLayer[];
  tensors: Map<string, Tensor>;
}

/**
 * Optional extras of the ONNX file.
 *
 * @example
 * exportOnnx(model, { docString: 'MNIST digits', metadata: { pixels: 'x / 255' } });
 */
export interface OnnxOptions {
  /** The graph's name (default "nabla"). */
  graphName?: string;
  /** A human-readable description stored as the model's doc_string. */
  docString?: string;
  /** String key/value pairs stored as metadata_props (e.g. how to preprocess inputs). */
  metadata?: Record<string, string>;
}

/**
 * Write a Sequential model as ONNX bytes (opset 13, IR version 7): input "input" of shape
 * [batch, ...inputShape], output "logits" (or "probabilities" after a Softmax).
 *
 * @example
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
 * const bytes = exportOnnx(model); // a Uint8Array: save it as model.onnx, run it in ONNX Runtime
 */
export function exportOnnx(model: Sequential, options: OnnxOptions = {}): Uint8Array {
  return encodeOnnx({
    inputShape: model.inputShape,
    layers: model.layers.map((l) => ({ config: l.config(), inputShape: l.inputShape, outputShape: l.outputShape })),
    tensors: model.stateDict(),
  }, { ...options, metadata: { 'nabla.architecture': JSON.stringify(model.config()), ...options.metadata } });
}

/**
 * The same, from a description of the model rather than a Sequential: what `exportOnnx` calls,
 * and a way to export layer configs whose classes live elsewhere.
 *
 * @example
 * const bytes = encodeOnnx({
 *   inputShape: [4],
 *   layers: [{ config: { type: 'Dense', units: 2, bias: true }, inputShape: [4], outputShape: [2] }],
 *   tensors: new Map([['0.weight', new Tensor([2, 4])], ['0.bias', new Tensor([2])]]),
 * });
 */
export function encodeOnnx(spec: OnnxGraphSpec, options: OnnxOptions = {}): Uint8Array {
  const graph = new GraphBuilder(spec.tensors);
  let value = 'input';
  const last = spec.layers.length - 1;
  spec.layers.forEach((layer, i) => {
    const output = i === last ? onnxOutputName(layer.config.type) : `${i}.${layer.config.type}`;
    emitLayer(graph, layer, i, value, output);
    value = output;
  });

  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(GRAPH.node, n);
  g.string(GRAPH.name, options.graphName ?? 'nabla');
  for (const t of graph.initializers) g.message(GRAPH.initializer, t);
  g.message(GRAPH.input, valueInfo('input', spec.inputShape));
  g.message(GRAPH.output, valueInfo(value, spec.layers.length ? spec.layers[last].outputShape : spec.inputShape));

  const m = new ProtoWriter()
    .int(MODEL.irVersion, ONNX_IR_VERSION)
    .string(MODEL.producerName, 'nabla')
    .string(MODEL.producerVersion, '0.1.0');
  if (options.docString) m.string(MODEL.docString, options.docString);
  m.message(MODEL.graph, g);
  m.message(MODEL.opsetImport, new ProtoWriter().string(OPSET.domain, '').int(OPSET.version, ONNX_OPSET));
  for (const [key, v] of Object.entries(options.metadata ?? {})) {
    m.message(MODEL.metadataProps, new ProtoWriter().string(1, key).string(2, v));
  }
  return m.finish();
}

/**
 * The name the exported graph gives its output, from the type of the model's last layer.
 *
 * @example
 * onnxOutputName('Softmax'); // 'probabilities'
 * onnxOutputName('Dense');   // 'logits'
 */
export function onnxOutputName(lastType: string): string {
  if (lastType === 'Softmax') return 'probabilities';
  if (['ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh'].includes(lastType)) return 'output';
  return 'logits';
}

// ---------------------------------------------------------------------------------------------
// One emitter per layer type.

function emitLayer(g: GraphBuilder, layer: OnnxLayer, i: number, x: string, y: string): void {
  const c = layer.config;
  const where = `ONNX export, layer ${i} (${c.type})`;
  const node = (op: string, inputs: string[], attrs: Attribute[] = []) => g.node(`${i}.${op}`, op, inputs, [y], attrs);
  switch (c.type) {
    case 'Dense': {
      const [inF] = layer.inputShape;
      const units = layer.outputShape[0];
      const inputs = [x, g.initializer(`${i}.weight`, [units, inF], where)];
      if (c.bias !== false) inputs.push(g.initializer(`${i}.bias`, [units], where));
      node('Gemm', inputs, [intAttr('transB', 1)]);
      return;
    }
    case 'ReLU': return node('Relu', [x]);
    case 'LeakyReLU': return node('LeakyRelu', [x], [floatAttr('alpha', c.slope === undefined ? 0.01 : Number(c.slope))]);
    case 'Sigmoid': return node('Sigmoid', [x]);
    case 'Tanh': return node('Tanh', [x]);
    case 'Softmax': return node('Softmax', [x], [intAttr('axis', 1)]);
    case 'Flatten': return node('Flatten', [x], [intAttr('axis', 1)]);
    case 'Dropout': return node('Identity', [x]);
    case 'Conv2D': {
      const [kh, kw] = pair(c.kernelSize, 'kernelSize', where);
      const [sh, sw] = pair(c.stride ?? [1, 1], 'stride', where);
      const [ph, pw] = pair(c.padding ?? [0, 0], 'padding', where, 0);
      const ic = layer.inputShape[0];
      const oc = layer.outputShape[0];
      const inputs = [x, g.initializer(`${i}.weight`, [oc, ic, kh, kw], where)];
      if (c.bias !== false) inputs.push(g.initializer(`${i}.bias`, [oc], where));
      node('Conv', inputs, [
        intsAttr('kernel_shape', [kh, kw]), intsAttr('strides', [sh, sw]),
        intsAttr('pads', [ph, pw, ph, pw]), intsAttr('dilations', [1, 1]), intAttr('group', 1),
      ]);
      return;
    }
    case 'MaxPool2D':
    case 'AvgPool2D': {
      const size = pair(c.poolSize, 'poolSize', where);
      const stride = pair(c.stride ?? size, 'stride', where);
      const [ph, pw] = pair(c.padding ?? [0, 0], 'padding', where, 0);
      const attrs = [intsAttr('kernel_shape', size), intsAttr('strides', stride), intsAttr('pads', [ph, pw, ph, pw])];
      if (c.type === 'MaxPool2D') return node('MaxPool', [x], attrs);
      return node('AveragePool', [x], [...attrs, intAttr('count_include_pad', c.countIncludePad === false ? 0 : 1)]);
    }
    case 'BatchNorm1D':
    case 'BatchNorm2D': {
      const ch = layer.inputShape[0];
      const inputs = [x, ...['weight', 'bias', 'running_mean', 'running_var'].map((n) => g.initializer(`${i}.${n}`, [ch], where))];
      node('BatchNormalization', inputs, [floatAttr('epsilon', c.eps === undefined ? 1e-5 : Number(c.eps))]);
      return;
    }
    default:
      throw new NablaError({
        where, expected: `a layer ONNX export supports (${ONNX_LAYER_TYPES.join(', ')})`,
        found: `layer type ${JSON.stringify(c.type)}`,
        hint: 'nothing was written; remove or replace that layer to export the model',
      });
  }
}

/** A [h, w] config entry: two integers ≥ min (1 for sizes and strides, 0 for padding). */
function pair(v: unknown, name: string, where: string, min = 1): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => Number.isInteger(d) && d >= min)) {
    throw new NablaError({ where, expected: `${name} as [h, w] integers ≥ ${min}`, found: JSON.stringify(v) });
  }
  return [v[0], v[1]];
}

// ---------------------------------------------------------------------------------------------
// The graph under construction, and the messages of onnx.proto (field numbers from the spec).

const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 };
const OPSET = { domain: 1, version: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const ATTR = { name: 1, f: 2, i: 3, ints: 8, type: 20 };
const ATTR_TYPE = { FLOAT: 1, INT: 2, INTS: 7 };
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const FLOAT32 = 1; // TensorProto.DataType.FLOAT

type Attribute = ProtoWriter;

function intAttr(name: string, v: number): Attribute {
  return new ProtoWriter().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.INT).int(ATTR.i, v);
}

function intsAttr(name: string, v: number[]): Attribute {
  return new ProtoWriter().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.INTS).repeatedInts(ATTR.ints, v);
}

function floatAttr(name: string, v: number): Attribute {
  return new ProtoWriter().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.FLOAT).float(ATTR.f, v);
}

/** ValueInfoProto: name and TypeProto.tensor_type { elem_type FLOAT, shape [batch, ...shape] }. */
function valueInfo(name: string, shape: Shape): ProtoWriter {
  const dims = new ProtoWriter().message(1, new ProtoWriter().string(2, 'batch')); // dim_param
  for (const d of shape) dims.message(1, new ProtoWriter().int(1, d)); // dim_value
  const tensorType = new ProtoWriter().int(1, FLOAT32).message(2, dims);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

class GraphBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  constructor(private readonly tensors: Map<string, Tensor>) {}

  node(name: string, op: string, inputs: string[], outputs: string[], attrs: Attribute[]): void {
    const n = new ProtoWriter();
    for (const v of inputs) n.string(NODE.input, v);
    for (const v of outputs) n.string(NODE.output, v);
    n.string(NODE.name, name).string(NODE.opType, op);
    for (const a of attrs) n.message(NODE.attribute, a);
    this.nodes.push(n);
  }

  /** Add the state-dict tensor `name` (which must have `shape`) as an initializer; returns its name. */
  initializer(name: string, shape: Shape, where: string): string {
    const t = this.tensors.get(name);
    if (!t || !sameShape(t.shape, shape)) {
      throw new NablaError({
        where, expected: `a tensor "${name}" of shape ${shapeToString(shape)}`,
        found: t ? `shape ${shapeToString(t.shape)}` : 'none',
        hint: 'the layer config and its weights disagree',
      });
    }
    // raw_data is little-endian float32, whatever the platform's byte order.
    const raw = new Uint8Array(t.size * 4);
    const view = new DataView(raw.buffer);
    for (let k = 0; k < t.size; k++) view.setFloat32(4 * k, t.data[k], true);
    const p = new ProtoWriter().repeatedInts(TENSOR.dims, t.shape).int(TENSOR.dataType, FLOAT32).string(TENSOR.name, name);
    this.initializers.push(p.bytes(TENSOR.rawData, raw));
    return name;
  }
}
