/**
 * Layer specs: a whole network written on one line, as the CLI's --layers takes it (the named
 * presets, in buildModel.ts, are specs too). Parsing gives the same LayerConfig list a model file stores,
 * so a spec builds through layerFromConfig like a saved model does.
 *
 * Grammar (tokens separated by commas; spaces and letter case ignored):
 *
 *   conv:F x K [x KW] [/s S[xS]] [/p P[xP] | /same] [/nobias]   Conv2D: F filters of K×K (or K×KW)
 *   maxpool:K[xKW] [/s S[xS]] [/p P[xP]]                          MaxPool2D (stride = window by default)
 *   avgpool:K[xKW] [/s S[xS]] [/p P[xP]]                          AvgPool2D
 *   dense:N [/nobias]                                             Dense with N units
 *   dropout:RATE                                                  Dropout, RATE in [0, 1)
 *   bn | bn1d | bn2d                                              BatchNorm (bn: 2D on images, else 1D)
 *   relu | leakyrelu[:SLOPE] | sigmoid | tanh | softmax | flatten
 *
 * "/same" pads (K − 1)/2 so that a stride-1 convolution keeps the size (odd K only).
 *
 * @example
 * parseLayerSpec('conv:8x5x5,relu,maxpool:2,conv:16x5x5,relu,maxpool:2,flatten,dense:10');
 */
import { NablaError } from '../errors.ts';
import type { Layer, LayerConfig } from '../layers/layer.ts';
import type { Shape } from '../tensor.ts';
import { layerFromConfig } from './layerFromConfig.ts';

/**
 * The grammar in one line, for hints and --help.
 *
 * @example
 * console.log(`tokens: ${LAYER_SPEC_GRAMMAR}`);
 */
export const LAYER_SPEC_GRAMMAR =
  'conv:FxK[xKW][/sS][/pP|/same][/nobias], maxpool:K[/sS][/pP], avgpool:K[/sS][/pP], dense:N[/nobias], ' +
  'dropout:RATE, bn|bn1d|bn2d, relu, leakyrelu[:SLOPE], sigmoid, tanh, softmax, flatten';

/** Layer types that need an image input (N, C, H, W). */
const IMAGE_LAYERS = new Set(['Conv2D', 'MaxPool2D', 'AvgPool2D', 'BatchNorm2D']);

/**
 * Parse a spec into layer configs. `inputRank` (default 3, an image) decides what a bare `bn`
 * becomes before any flatten or dense: BatchNorm2D on rank 3, BatchNorm1D otherwise.
 *
 * @example
 * parseLayerSpec('conv:32x3/same,bn,relu,maxpool:2,flatten,dropout:0.5,dense:10');
 */
export function parseLayerSpec(spec: string, inputRank = 3): LayerConfig[] {
  const tokens = spec.split(',').map((t) => t.trim().toLowerCase());
  if (spec.trim() === '' || tokens.some((t) => t === '')) {
    throw new NablaError({
      where: 'layer spec', expected: 'comma-separated layers, none empty', found: JSON.stringify(spec),
      hint: `e.g. "conv:8x5x5,relu,maxpool:2,flatten,dense:10"; tokens: ${LAYER_SPEC_GRAMMAR}`,
    });
  }
  let rank = inputRank;
  return tokens.map((token, i) => {
    const config = parseToken(token, i, rank);
    if (config.type === 'Flatten' || config.type === 'Dense') rank = 1;
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
  for (const c of configs) {
    if (IMAGE_LAYERS.has(c.type)) return true;
    if (c.type === 'Dense' || c.type === 'Flatten' || c.type === 'BatchNorm1D') return false;
  }
  return false;
}

function parseToken(token: string, index: number, rank: number): LayerConfig {
  const fail = (expected: string, found = `"${token}"`): NablaError => new NablaError({
    where: `layer spec, token ${index + 1} "${token}"`, expected, found, hint: `tokens: ${LAYER_SPEC_GRAMMAR}`,
  });
  const [head, ...options] = token.split('/');
  const colon = head.indexOf(':');
  const name = colon < 0 ? head : head.slice(0, colon);
  const arg = colon < 0 ? undefined : head.slice(colon + 1);
  const noArg = (config: LayerConfig): LayerConfig => {
    if (arg !== undefined || options.length > 0) throw fail(`"${name}" alone, without arguments`);
    return config;
  };
  /** "3" → [3, 3], "3x2" → [3, 2]; integers ≥ min. */
  const pair = (text: string, what: string, min: number): [number, number] => {
    const parts = text.split('x');
    if (parts.length > 2 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= min)) {
      throw fail(`${what} as an integer ≥ ${min} or HxW`, `"${text}"`);
    }
    const [h, w = h] = parts.map(Number);
    return [h, w];
  };
  /** /sS, /pP, /same, /nobias. */
  const windowOptions = (allowed: string[], k: [number, number]) => {
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
  };

  switch (name) {
    case 'conv': {
      const parts = (arg ?? '').split('x');
      if (arg === undefined || parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) {
        throw fail('conv:FILTERSxK or conv:FILTERSxKHxKW with positive integers, e.g. conv:8x5x5');
      }
      const [filters, kh, kw = kh] = parts.map(Number);
      const o = windowOptions(['s', 'p', 'same', 'nobias'], [kh, kw]);
      return {
        type: 'Conv2D', filters, kernelSize: [kh, kw], stride: o.stride ?? [1, 1], padding: o.padding ?? [0, 0],
        bias: o.bias ?? true, init: 'he',
      };
    }
    case 'maxpool':
    case 'avgpool': {
      if (arg === undefined) throw fail(`${name}:K or ${name}:KHxKW, e.g. ${name}:2`);
      const k = pair(arg, 'pool size', 1);
      const o = windowOptions(['s', 'p'], k);
      return { type: name === 'maxpool' ? 'MaxPool2D' : 'AvgPool2D', poolSize: k, stride: o.stride ?? k, padding: o.padding ?? [0, 0] };
    }
    case 'dense': {
      if (arg === undefined || !/^\d+$/.test(arg) || Number(arg) < 1) throw fail('dense:UNITS with a positive integer, e.g. dense:128');
      const o = windowOptions(['nobias'], [1, 1]);
      return { type: 'Dense', units: Number(arg), bias: o.bias ?? true, init: 'he' };
    }
    case 'dropout': {
      const rate = Number(arg);
      if (arg === undefined || arg.trim() === '' || !(rate >= 0 && rate < 1) || options.length > 0) {
        throw fail('dropout:RATE with RATE in [0, 1), e.g. dropout:0.5');
      }
      return { type: 'Dropout', rate };
    }
    case 'bn':
    case 'batchnorm':
      return noArg({ type: rank === 3 ? 'BatchNorm2D' : 'BatchNorm1D', momentum: 0.1, eps: 1e-5 });
    case 'bn1d': return noArg({ type: 'BatchNorm1D', momentum: 0.1, eps: 1e-5 });
    case 'bn2d': return noArg({ type: 'BatchNorm2D', momentum: 0.1, eps: 1e-5 });
    case 'relu': return noArg({ type: 'ReLU' });
    case 'leakyrelu': {
      if (arg === undefined && options.length === 0) return { type: 'LeakyReLU', slope: 0.01 };
      const slope = Number(arg);
      if (arg === undefined || arg.trim() === '' || !(slope >= 0 && slope < 1) || options.length > 0) {
        throw fail('leakyrelu or leakyrelu:SLOPE with SLOPE in [0, 1)');
      }
      return { type: 'LeakyReLU', slope };
    }
    case 'sigmoid': return noArg({ type: 'Sigmoid' });
    case 'tanh': return noArg({ type: 'Tanh' });
    case 'softmax': return noArg({ type: 'Softmax' });
    case 'flatten': return noArg({ type: 'Flatten' });
    default:
      throw fail('a layer name among conv, maxpool, avgpool, dense, dropout, bn, bn1d, bn2d, relu, leakyrelu, sigmoid, tanh, softmax, flatten', `"${name}"`);
  }
}
