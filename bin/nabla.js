#!/usr/bin/env node
// The `nabla` command: registers the TypeScript loader, then runs the CLI.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// NOTE: Node 20's V8 has relaxed SIMD (fused multiply-add for the wasm GEMM, ~20% faster) behind
// a flag; newer Node versions ship it and ignore this. It must be set before any wasm compiles.
setFlagsFromString('--experimental-wasm-relaxed-simd');
register();
// A reader that stops early (`nabla summary model | head`) closes the pipe: that is not an error,
// so leave quietly instead of dying on EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
