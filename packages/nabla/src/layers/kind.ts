/**
 * LayerKind: everything nabla knows about one layer type besides its forward and backward, written
 * once beside them as the class's static `kind`. The registry (registry.ts), the layer-spec parser,
 * the ONNX writer, `summary()` and the model files all read these descriptions; nothing else lists
 * layer types. A user's own layer registers the same kind of object (registerLayer).
 *
 * Types only: a layer file imports nothing at run time from the readers of its kind.
 */
import type { NablaError } from '../errors.ts';
import type { Shape } from '../tensor.ts';
import type { Layer, LayerConfig } from './layer.ts';

/**
 * One layer type, described once (see the header above).
 *
 * @example
 * const doubleKind: LayerKind = {
 *   type: 'Double',
 *   fromConfig: () => new Double(),
 *   spec: { names: ['double'], grammar: 'double', parse: (t) => { t.noArg(); return { type: 'Double' }; } },
 * };
 */
export interface LayerKind {
  /** The `type` of its configs ("Dense"): the name model files store. */
  readonly type: string;
  /** A fresh, unbuilt layer from its JSON config; throw a NablaError for a bad config. */
  fromConfig(config: LayerConfig, ctx: ConfigContext): Layer;
  /** Its token(s) in the one-line layer spec (`--layers`); none: the layer cannot be spelled there. */
  readonly spec?: LayerSpecSyntax;
  /**
   * The input it needs, when it cares: 'image' (C, H, W) or 'flat' (F). A spec's input shape is
   * decided by its first layer that cares; after a 'flat' layer a spec continues flat. A container
   * asks `first` about its inner layers.
   */
  input?(config: LayerConfig, first: (configs: readonly LayerConfig[]) => InputKind): InputKind;
  /**
   * What a model ending in this layer outputs: 'probabilities' (rows sum to 1), 'scores' (units in
   * (0, 1), e.g. a sigmoid), 'activations' (another nonlinearity); default: logits.
   */
  readonly output?: 'probabilities' | 'scores' | 'activations';
  /** The detail `summary()` prints after the type, e.g. "(784 → 10)"; none by default. */
  summary?(layer: BuiltLayer): string;
  /** Write the layer as ONNX nodes; without it, exporting a model that holds the layer is refused. */
  onnx?(ctx: OnnxEmitContext): void;
  /**
   * The layer as a PyTorch module: a Python expression building it (e.g. "nn.Linear(784, 128)"),
   * whose state-dict names under the layer's prefix are exactly nabla's. Without it, `nabla export
   * --pytorch` refuses a model holding the layer (io/pytorchModule.ts).
   */
  pytorch?(ctx: PytorchEmitContext): string;
}

/**
 * What a layer needs as input: an image (C, H, W), a flat vector (F), or either (undefined).
 *
 * @example
 * const need: InputKind = 'image';
 */
export type InputKind = 'image' | 'flat' | undefined;

/**
 * A layer's words in the layer-spec grammar.
 *
 * @example
 * const syntax: LayerSpecSyntax = { names: ['relu'], grammar: 'relu', parse: (t) => { t.noArg(); return { type: 'ReLU' }; } };
 */
export interface LayerSpecSyntax {
  /** Token names, lower case ("conv", "bn"). */
  readonly names: readonly string[];
  /** Its form for hints and --help, e.g. "dense:N[/nobias]". */
  readonly grammar: string;
  /** The config for one token (already split into name, argument and options). */
  parse(token: SpecToken): LayerConfig;
}

/**
 * One token of a layer spec, as a kind's parse receives it: "conv:8x5/s2/same" is name "conv",
 * arg "8x5", options ["s2", "same"]; "res(dense:64,relu)" is name "res" with body "dense:64,relu".
 *
 * @example
 * parse(t) { if (t.arg === undefined) throw t.fail('dense:UNITS'); return { type: 'Dense', units: Number(t.arg) }; }
 */
export interface SpecToken {
  readonly name: string;
  readonly arg?: string;
  readonly options: readonly string[];
  /** The text inside "name( ... )", when the token has parentheses. */
  readonly body?: string;
  /** Rank of the per-sample input at this point of the spec: 3 for images, 1 once flat. */
  readonly rank: number;
  /** An error naming this token and the grammar. */
  fail(expected: string, found?: string): NablaError;
  /** Refuse any argument, options or body. */
  noArg(): void;
  /** "3" → [3, 3], "3x2" → [3, 2]: integers ≥ min, or fail naming `what`. */
  pair(text: string, what: string, min: number): [number, number];
  /** The window options /sS, /pP, /same (needs kernel k) and /nobias, as far as `allowed` lists them. */
  windowOptions(allowed: readonly string[], k: [number, number]): { stride?: [number, number]; padding?: [number, number]; bias?: boolean };
  /** Parse `body` as a spec of its own, at this token's rank. */
  parseBody(): LayerConfig[];
}

/**
 * What fromConfig gets besides the config: where it is (for messages) and a way to build the
 * layers a container holds.
 *
 * @example
 * fromConfig: (c, ctx) => new Residual((c.layers as LayerConfig[]).map((l, j) => ctx.layerFromConfig(l, `${ctx.where}, inner layer ${j}`)))
 */
export interface ConfigContext {
  readonly where: string;
  /** Build an inner layer from its config; `where` names it in messages. */
  layerFromConfig(config: LayerConfig, where: string): Layer;
}

/**
 * A built layer as its readers see it: config and per-sample shapes, with its inner layers'.
 *
 * @example
 * const view: BuiltLayer = { config: { type: 'Flatten' }, inputShape: [1, 28, 28], outputShape: [784] };
 */
export interface BuiltLayer {
  config: LayerConfig;
  inputShape: Shape;
  outputShape: Shape;
  /** The inner layers of a container (Residual), in order. */
  children?: BuiltLayer[];
}

/**
 * An ONNX attribute under construction (io/onnx.ts builds it).
 *
 * @example
 * ctx.node('Softmax', [ctx.input], [ctx.int('axis', 1)]);
 */
export interface OnnxAttribute {
  readonly onnxAttribute: true;
}

/**
 * What a kind's onnx() gets: its layer, the value names to read and write, and the graph writer.
 *
 * @example
 * onnx: (ctx) => ctx.node('Relu', [ctx.input])
 */
export interface OnnxEmitContext {
  readonly layer: BuiltLayer;
  /** The value this layer reads, and the one it must write. */
  readonly input: string;
  readonly output: string;
  /** Its state-dict prefix: "3", or "3.body.0" inside a container. */
  readonly prefix: string;
  /** "ONNX export, layer 3 (Dense)", for messages. */
  readonly where: string;
  /** Add a node; writes `output` unless `outputs` says otherwise. */
  node(op: string, inputs: string[], attrs?: OnnxAttribute[], outputs?: string[]): void;
  /** A name for an intermediate value of this layer. */
  value(suffix: string): string;
  /** The state-dict tensor `${prefix}.${name}` as an initializer (checked against `shape`). */
  weight(name: string, shape: Shape): string;
  /** A float32 constant initializer named `${prefix}.${name}`. */
  constant(name: string, values: number[], shape: Shape): string;
  /** An integer attribute. */
  int(name: string, v: number): OnnxAttribute;
  /** A list-of-integers attribute. */
  ints(name: string, v: number[]): OnnxAttribute;
  /** A float attribute. */
  float(name: string, v: number): OnnxAttribute;
  /** A [h, w] config entry: two integers ≥ min (default 1). */
  pair(v: unknown, name: string, min?: number): [number, number];
  /** Emit inner layers in order from `input` to `output`, with their state-dict prefix. */
  emitLayers(layers: BuiltLayer[], input: string, output: string, prefix: string): void;
}

/**
 * What a kind's pytorch() gets: its layer, and ways to spell Python and to add a helper class once.
 *
 * @example
 * pytorch: (ctx) => `nn.Linear(${ctx.layer.inputShape[0]}, ${ctx.layer.outputShape[0]}, bias=${ctx.py(ctx.layer.config.bias !== false)})`
 */
export interface PytorchEmitContext {
  readonly layer: BuiltLayer;
  /** Its state-dict prefix: "3", or "3.body.0" inside a container. */
  readonly prefix: string;
  /** "PyTorch export, layer 3 (Dense)", for messages. */
  readonly where: string;
  /** A JSON-like value as a Python literal: numbers (floats keep full precision), booleans, strings, lists. */
  py(v: unknown): string;
  /** A [h, w] config entry: two integers ≥ min (default 1), as a Python tuple "(h, w)". */
  pair(v: unknown, name: string, min?: number): string;
  /** The Python expressions of inner layers, in order, comma-separated (their prefixes under `prefix`.`attr`). */
  layers(children: BuiltLayer[], attr: string): string;
  /**
   * Add a module-level Python definition (a helper nn.Module class) to the generated file, once per
   * name; `source` is the whole `class Name(nn.Module): ...` text, indented with 4 spaces.
   */
  define(name: string, source: string): void;
}
