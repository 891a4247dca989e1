/**
 * The layer registry: an array of LayerKinds, the built-in ones (every class exported from
 * builtins.ts with a static `kind`) followed by those a user registers. Model files, the layer-spec
 * parser, the ONNX writer and summary() find a layer type here and nowhere else.
 */
import { NablaError } from '../errors.ts';
import * as builtins from './builtins.ts';
import type { BuiltLayer, LayerKind } from './kind.ts';
import { Layer, type LayerConfig } from './layer.ts';

/**
 * A layer class that carries its description as a static `kind`.
 *
 * @example
 * const described: DescribedClass = Dense;
 */
export type DescribedClass = { readonly kind: LayerKind; readonly prototype: Layer };

const isDescribed = (v: unknown): v is DescribedClass =>
  typeof v === 'function' && v.prototype instanceof Layer && Object.hasOwn(v, 'kind');

const LAYERS: LayerKind[] = [];
registerLayersFrom(builtins);

/**
 * Register a layer type of your own so that model files load it, `--layers` specs spell it,
 * `summary()` shows it, ONNX export writes it (when it has `onnx`) and PyTorch export writes it (when
 * it has `pytorch`). Give the class (which
 * carries its static `kind`) or the kind itself. Registering the same kind twice does nothing;
 * another kind with a type or spec name already taken is refused.
 *
 * @example
 * class Double extends Layer {
 *   static readonly kind: LayerKind = { type: 'Double', fromConfig: () => new Double() };
 *   readonly type = 'Double';
 *   // ... init, forward, backward, config
 * }
 * registerLayer(Double);
 */
export function registerLayer(layer: LayerKind | DescribedClass): void {
  const kind: LayerKind = isDescribed(layer) ? layer.kind : layer;
  if (LAYERS.includes(kind)) return;
  const where = `registerLayer(${JSON.stringify(kind?.type)})`;
  if (typeof kind?.type !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(kind.type) || typeof kind.fromConfig !== 'function') {
    throw new NablaError({
      where, expected: 'a Layer class with a static kind, or a LayerKind: a type name (letters, digits, _) and fromConfig',
      found: typeof kind?.type === 'string' ? `type ${JSON.stringify(kind.type)}` : String(kind), hint: 'see docs/architecture.md, "Add a layer"',
    });
  }
  const clash = LAYERS.find((k) => k.type === kind.type);
  if (clash) throw new NablaError({ where, expected: 'a type name not yet registered', found: `"${kind.type}" is taken`, hint: 'choose another type name' });
  for (const name of kind.spec?.names ?? []) {
    const owner = LAYERS.find((k) => k.spec?.names.includes(name));
    if (owner) throw new NablaError({ where, expected: 'spec names not yet taken', found: `"${name}" spells ${owner.type}`, hint: 'choose another token name' });
  }
  LAYERS.push(kind);
}

/**
 * Register every layer a module exports (classes with a static `kind`): how the built-in layers are
 * registered, and how the CLI's `--plugin <module>` loads yours. Returns the types registered.
 *
 * @example
 * registerLayersFrom(await import('./myLayers.ts')); // ['Swish']
 */
export function registerLayersFrom(module: Record<string, unknown>): string[] {
  const classes = Object.values(module as Record<string, unknown>).filter(isDescribed);
  for (const c of classes) registerLayer(c);
  return classes.map((c) => c.kind.type);
}

/**
 * The registered layer types, built-in first.
 *
 * @example
 * layerTypes().includes('Conv2D'); // true
 */
export function layerTypes(): string[] {
  return LAYERS.map((k) => k.type);
}

/**
 * Every registered kind (read-only view).
 *
 * @example
 * for (const k of layerKinds()) if (k.spec) console.log(k.spec.grammar);
 */
export function layerKinds(): readonly LayerKind[] {
  return LAYERS;
}

/**
 * The kind of a layer type, or undefined.
 *
 * @example
 * findLayerKind('Softmax')?.output; // 'probabilities'
 */
export function findLayerKind(type: string): LayerKind | undefined {
  return LAYERS.find((k) => k.type === type);
}

/**
 * A built layer as its readers (ONNX writer, summary) see it: config, shapes, inner layers.
 *
 * @example
 * builtLayer(model.layers[0]); // { config: { type: 'Dense', ... }, inputShape: [784], outputShape: [256] }
 */
export function builtLayer(l: Layer): BuiltLayer {
  const children = l.children().map(builtLayer);
  return { config: l.config(), inputShape: l.inputShape, outputShape: l.outputShape, ...(children.length ? { children } : {}) };
}

/**
 * Rebuild layer `index` of an architecture from its config.
 *
 * @example
 * layerFromConfig({ type: 'LeakyReLU', slope: 0.1 }, 1); // a LeakyReLU
 */
export function layerFromConfig(config: LayerConfig, index: number | string): Layer {
  return build(config, typeof index === 'number' ? `architecture, layer ${index}` : index);
}

function build(config: LayerConfig, where: string): Layer {
  const kind = config !== null && typeof config === 'object' ? findLayerKind(config.type) : undefined;
  if (!kind) {
    throw new NablaError({
      where, expected: `a layer type among ${layerTypes().join(', ')}`, found: JSON.stringify(config?.type),
      hint: 'a layer of your own must be registered first: registerLayer in code, nabla --plugin <module> on the command line',
    });
  }
  try {
    return kind.fromConfig(config, { where, layerFromConfig: build });
  } catch (e) {
    // A constructor says "Conv2D: expected stride ≥ 1"; add which layer of the architecture it was.
    if (e instanceof NablaError && !e.where.startsWith(where)) {
      throw new NablaError({ where: `${where} (${e.where})`, expected: e.expected, found: e.found, hint: e.hint });
    }
    throw e;
  }
}
