#!/usr/bin/env node
// The `nabla` command. An installed package runs the compiled JavaScript in dist/; a checkout of
// the repository (where src/ is present and dist/ may be stale or missing) runs the TypeScript
// sources through tsx, a devDependency, with the library's sources too (the nabla-source
// condition), so an edit takes effect without a build.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { setFlagsFromString } from 'node:v8';

// NOTE: Node 20's V8 has relaxed SIMD (fused multiply-add for the wasm GEMM, ~20% faster) behind
// a flag; newer Node versions ship it and ignore this. It must be set before any wasm compiles.
setFlagsFromString('--experimental-wasm-relaxed-simd');
// A reader that stops early (`nabla summary model | head`) closes the pipe: that is not an error,
// so leave quietly instead of dying on EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const source = new URL('../src/main.ts', import.meta.url);
let entry = new URL('../dist/main.js', import.meta.url);
// NABLA_CLI_DIST=1 runs the compiled dist/ in a checkout too: `npm test` builds it first and the
// test helpers set this only while dist/ is newer than every source (a start-up of ~0.2 s, not ~0.6 s).
if (existsSync(source) && process.env.NABLA_CLI_DIST !== '1') {
  const { register } = await import('tsx/esm/api');
  register();
  const withSourceCondition =
    'export async function resolve(specifier, context, next) {' +
    " return next(specifier, { ...context, conditions: [...context.conditions, 'nabla-source'] }); }";
  registerHooks(`data:text/javascript,${encodeURIComponent(withSourceCondition)}`);
  entry = source;
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
