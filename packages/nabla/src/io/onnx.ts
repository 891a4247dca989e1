/**
 * ONNX export: a Sequential model written as an ONNX ModelProto, encoded by hand (protobuf.ts).
 *
 * What the file holds:
 *   ir_version 8, opset_import [{ domain: "" (ai.onnx), version: 17 }], producer "nabla"
 *   (opset 17: the first with LayerNormalization)
 *   graph input  "input":  float32 [batch, ...inputShape]   ("batch" is a symbolic dimension)
 *   graph output "logits": float32 [batch, ...outputShape]  ("probabilities" when the model ends
 *                in Softmax, "output" when it ends in another activation)
 *   each layer's nodes in order (one for most, five for GELU's Div/Erf/Add/Mul/Mul); weights as
 *   initializers with the PyTorch state dict names ("0.weight", "0.bias"), so the ONNX file and
 *   the safetensors file agree.
 *
 * Each layer type writes its own nodes (its kind's `onnx`, in the layer's file); this file holds
 * the graph, the protobuf messages and the checks. A layer whose kind has no `onnx` is refused.
 *
 * The bytes are built in memory and returned whole: a layer ONNX cannot express throws a
 * NablaError naming it before anything is returned, so a caller never writes half a file.
 */
import { NablaError } from '../errors.ts';
import type { BuiltLayer, OnnxAttribute, OnnxEmitContext } from '../layers/kind.ts';
import { builtLayer, findLayerKind, layerKinds } from '../layers/registry.ts';
import type { Sequential } from '../model/sequential.ts';
import { sameShape, shapeToString, type Shape, type Tensor } from '../tensor.ts';
import { ProtoWriter } from './protobuf.ts';

/**
 * The ONNX operator set the exporter writes against (default domain, ai.onnx).
 *
 * @example
 * ONNX_OPSET; // 17
 */
export const ONNX_OPSET = 17;
/**
 * The ONNX IR version of the files (8: the IR released with opset 17, ONNX 1.12).
 *
 * @example
 * ONNX_IR_VERSION; // 8
 */
export const ONNX_IR_VERSION = 8;
/**
 * Layer types `exportOnnx` can write: every registered kind with an `onnx` emitter.
 *
 * @example
 * onnxLayerTypes().includes('Conv2D'); // true
 */
export function onnxLayerTypes(): string[] {
  return layerKinds().filter((k) => k.onnx).map((k) => k.type);
}

/**
 * One layer as the exporter sees it: its JSON config and its per-sample shapes (and its inner
 * layers', for a container).
 *
 * @example
 * const layer: OnnxLayer = { config: { type: 'Flatten' }, inputShape: [1, 28, 28], outputShape: [784] };
 */
export type OnnxLayer = BuiltLayer;

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
 * Write a Sequential model as ONNX bytes (opset 17, IR version 8): input "input" of shape
 * [batch, ...inputShape], output "logits" (or "probabilities" after a Softmax).
 *
 * @example
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
 * const bytes = exportOnnx(model); // a Uint8Array: save it as model.onnx, run it in ONNX Runtime
 */
export function exportOnnx(model: Sequential, options: OnnxOptions = {}): Uint8Array {
  return encodeOnnx({
    inputShape: model.inputShape,
    layers: model.layers.map(builtLayer),
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
  const last = spec.layers.length - 1;
  const value = last < 0 ? 'input' : onnxOutputName(spec.layers[last].config.type);
  emitLayers(graph, spec.layers, 'input', value, '');

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
  const output = findLayerKind(lastType)?.output;
  return output === 'probabilities' ? 'probabilities' : output ? 'output' : 'logits';
}

// ---------------------------------------------------------------------------------------------
// Layers in order, each through its kind's emitter.

/** Layers i = 0.. from `input` to `output`; state-dict names `${prefix}${i}.weight`. */
function emitLayers(g: GraphBuilder, layers: BuiltLayer[], input: string, output: string, prefix: string): void {
  let value = input;
  layers.forEach((layer, i) => {
    const next = i === layers.length - 1 ? output : `${prefix}${i}.${layer.config.type}`;
    emitLayer(g, layer, `${prefix}${i}`, value, next);
    value = next;
  });
  if (layers.length === 0 && input !== output) g.node(`${prefix}Identity`, 'Identity', [input], [output], []);
}

function emitLayer(g: GraphBuilder, layer: BuiltLayer, prefix: string, input: string, output: string): void {
  const where = `ONNX export, layer ${prefix} (${layer.config.type})`;
  const kind = findLayerKind(layer.config.type);
  if (!kind?.onnx) {
    throw new NablaError({
      where, expected: `a layer ONNX export supports (${onnxLayerTypes().join(', ')})`,
      found: kind ? `layer type ${JSON.stringify(layer.config.type)}, which has no ONNX form` : `layer type ${JSON.stringify(layer.config.type)}`,
      hint: kind ? 'nothing was written; give its LayerKind an onnx emitter, or remove or replace that layer' : 'nothing was written; remove or replace that layer to export the model',
    });
  }
  const names = new Map<string, number>();
  const ctx: OnnxEmitContext = {
    layer, input, output, prefix, where,
    node(op, inputs, attrs = [], outputs = [output]) {
      const count = names.get(op) ?? 0;
      names.set(op, count + 1);
      g.node(`${prefix}.${op}${count ? `_${count}` : ''}`, op, inputs, outputs, attrs as Attribute[]);
    },
    value: (suffix) => `${prefix}.${suffix}`,
    weight: (name, shape) => g.initializer(`${prefix}.${name}`, shape, where),
    constant: (name, values, shape) => g.constant(`${prefix}.${name}`, values, shape),
    int: intAttr,
    ints: intsAttr,
    float: floatAttr,
    pair: (v, name, min) => pair(v, name, where, min),
    emitLayers: (layers, from, to, innerPrefix) => emitLayers(g, layers, from, to, `${innerPrefix}.`),
  };
  kind.onnx(ctx);
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

type Attribute = ProtoWriter & OnnxAttribute;

/** An attribute message, marked as such for the emitters' types. */
const attr = (): Attribute => Object.assign(new ProtoWriter(), { onnxAttribute: true as const });

function intAttr(name: string, v: number): Attribute {
  return attr().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.INT).int(ATTR.i, v);
}

function intsAttr(name: string, v: number[]): Attribute {
  return attr().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.INTS).repeatedInts(ATTR.ints, v);
}

function floatAttr(name: string, v: number): Attribute {
  return attr().string(ATTR.name, name).int(ATTR.type, ATTR_TYPE.FLOAT).float(ATTR.f, v);
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
    return this.constant(name, t.data, t.shape);
  }

  /** A float32 initializer from values. */
  constant(name: string, values: ArrayLike<number>, shape: Shape): string {
    // raw_data is little-endian float32, whatever the platform's byte order.
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    for (let k = 0; k < values.length; k++) view.setFloat32(4 * k, values[k], true);
    const p = new ProtoWriter().repeatedInts(TENSOR.dims, shape).int(TENSOR.dataType, FLOAT32).string(TENSOR.name, name);
    this.initializers.push(p.bytes(TENSOR.rawData, raw));
    return name;
  }
}
