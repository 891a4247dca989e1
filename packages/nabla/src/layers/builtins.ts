/**
 * The built-in layers, one line each. Every class exported here that carries a static `kind` is
 * registered (registry.ts), and everything here is public (src/index.ts re-exports this file): a
 * new built-in layer is its own file plus one line below.
 */
export * from './dense.ts';
export * from './activations.ts';
export * from './flatten.ts';
export * from './conv2d.ts';
export * from './maxPool2d.ts';
export * from './avgPool2d.ts';
export * from './dropout.ts';
export * from './batchNorm.ts';
export * from './residual.ts';
export * from './gelu.ts';
export * from './layerNorm.ts';
export * from './standardize.ts';
