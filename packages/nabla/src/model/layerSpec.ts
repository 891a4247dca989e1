/**
 * Layer specs: a whole network written on one line, as the CLI's --layers takes it (the named
 * presets, in buildModel.ts, are specs too). Parsing gives the same LayerConfig list a model file
 * stores, so a spec builds through layerFromConfig like a saved model does. Each layer type spells
 * its own tokens (its kind's `spec`, in its file); this file only splits the line and hands each
 * token to the layer it names.
 *
 * Grammar (tokens separated by commas; spaces and letter case ignored): NAME[:ARG][/OPTION...], or
 * NAME(SPEC) for a layer holding others, e.g. conv:16x3/s2/same, dense:10/nobias, res(dense:64,relu).
 * Which names exist, and what their arguments mean, each layer's kind says (`spec.grammar`);
 * layerSpecGrammar() lists them all, registered layers of your own included.
 *
 * @example
 * parseLayerSpec('conv:8x5x5,relu,maxpool:2,conv:16x5x5,relu,maxpool:2,flatten,dense:10');
 */
import { NablaError } from '../errors.ts';
import type { InputKind, LayerKind, SpecToken } from '../layers/kind.ts';
import type { Layer, LayerConfig } from '../layers/layer.ts';
import { findLayerKind, layerFromConfig, layerKinds } from '../layers/registry.ts';

/**
 * The grammar in one line, for hints and --help: every registered layer's tokens.
 *
 * @example
 * console.log(`tokens: ${layerSpecGrammar()}`);
 */
export function layerSpecGrammar(): string {
  return layerKinds().flatMap((k) => (k.spec ? [k.spec.grammar] : [])).join(', ');
}

/**
 * Parse a spec into layer configs. `inputRank` (default 3, an image) decides what a bare `bn`
 * becomes before any flatten or dense: BatchNorm2D on rank 3, BatchNorm1D otherwise.
 *
 * @example
 * parseLayerSpec('conv:32x3/same,bn,relu,maxpool:2,flatten,dropout:0.5,dense:10');
 */
export function parseLayerSpec(spec: string, inputRank = 3): LayerConfig[] {
  const tokens = splitTopLevel(spec);
  if (spec.trim() === '' || tokens.some((t) => t === '')) {
    throw new NablaError({
      where: 'layer spec', expected: 'comma-separated layers, none empty', found: JSON.stringify(spec),
      hint: `e.g. "conv:8x5x5,relu,maxpool:2,flatten,dense:10"; tokens: ${layerSpecGrammar()}`,
    });
  }
  let rank = inputRank;
  return tokens.map((token, i) => {
    const config = parseToken(token, i, rank);
    if (inputOf(config) === 'flat') rank = 1;
    return config;
  });
}

/**
 * Build the layers of a spec (unbuilt: Sequential infers their input sizes).
 * @example new Sequential(layersFromSpec('dense:128,relu,dense:10', 1), { inputShape: [784] })
 */
export function layersFromSpec(spec: string, inputRank = 3): Layer[] {
  return parseLayerSpec(spec, inputRank).map((c, i) => layerFromConfig(c, i));
}

/**
 * True when the first layer that cares about rank wants an image (C, H, W) input.
 *
 * @example
 * specWantsImages(parseLayerSpec('conv:8x5,relu,flatten,dense:10')); // true
 */
export function specWantsImages(configs: readonly LayerConfig[]): boolean {
  return firstInput(configs) === 'image';
}

/** What the first layer that cares about its input needs. */
function firstInput(configs: readonly LayerConfig[]): InputKind {
  for (const c of configs) {
    const input = inputOf(c);
    if (input) return input;
  }
  return undefined;
}

/** The input a config's layer needs ('image', 'flat' or undefined for any). */
function inputOf(config: LayerConfig): InputKind {
  return findLayerKind(config.type)?.input?.(config, firstInput);
}

/** Split at commas outside parentheses; lower case, trimmed. */
function splitTopLevel(spec: string): string[] {
  const tokens: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= spec.length; i++) {
    const ch = spec[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if ((ch === ',' && depth === 0) || i === spec.length) {
      tokens.push(spec.slice(start, i).trim().toLowerCase());
      start = i + 1;
    }
  }
  return tokens;
}

function parseToken(token: string, index: number, rank: number): LayerConfig {
  const fail = (expected: string, found = `"${token}"`): NablaError => new NablaError({
    where: `layer spec, token ${index + 1} "${token}"`, expected, found, hint: `tokens: ${layerSpecGrammar()}`,
  });
  const paren = token.indexOf('(');
  let body: string | undefined;
  let rest = token;
  if (paren >= 0) {
    if (!token.endsWith(')')) throw fail('NAME(LAYERS) with the parentheses closed at the end of the token');
    body = token.slice(paren + 1, -1);
    rest = token.slice(0, paren);
  }
  const [head, ...options] = rest.split('/');
  const colon = head.indexOf(':');
  const name = colon < 0 ? head : head.slice(0, colon);
  const arg = colon < 0 ? undefined : head.slice(colon + 1);
  const kind: LayerKind | undefined = layerKinds().find((k) => k.spec?.names.includes(name));
  if (!kind) {
    const names = layerKinds().flatMap((k) => k.spec?.names ?? []);
    throw fail(`a layer name among ${names.join(', ')}`, `"${name}"`);
  }
  const pair = (text: string, what: string, min: number): [number, number] => {
    const parts = text.split('x');
    if (parts.length > 2 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= min)) {
      throw fail(`${what} as an integer ≥ ${min} or HxW`, `"${text}"`);
    }
    const [h, w = h] = parts.map(Number);
    return [h, w];
  };
  const t: SpecToken = {
    name, arg, options, body, rank, fail, pair,
    noArg() {
      if (arg !== undefined || options.length > 0 || body !== undefined) throw fail(`"${name}" alone, without arguments`);
    },
    /** /sS, /pP, /same, /nobias. */
    windowOptions(allowed, k) {
      const out: { stride?: [number, number]; padding?: [number, number]; bias?: boolean } = {};
      for (const o of options) {
        if (o === 'nobias' && allowed.includes('nobias')) out.bias = false;
        else if (o === 'same' && allowed.includes('same')) {
          if (k[0] % 2 === 0 || k[1] % 2 === 0) throw fail('an odd kernel with /same', `kernel ${k[0]}x${k[1]}`);
          out.padding = [(k[0] - 1) / 2, (k[1] - 1) / 2];
        } else if (o.startsWith('s') && allowed.includes('s')) out.stride = pair(o.slice(1), 'stride', 1);
        else if (o.startsWith('p') && allowed.includes('p')) out.padding = pair(o.slice(1), 'padding', 0);
        else throw fail(`options among ${allowed.map((a) => (a.length === 1 ? `/${a}N` : `/${a}`)).join(', ')}`, `"/${o}"`);
      }
      return out;
    },
    parseBody() {
      if (body === undefined || body.trim() === '') throw fail(`${name}(LAYERS) with the inner layers in parentheses`);
      return parseLayerSpec(body, rank);
    },
  };
  if (body !== undefined && !kind.spec!.grammar.includes('(')) throw fail(`"${name}" without parentheses`);
  return kind.spec!.parse(t);
}
