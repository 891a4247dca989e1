// The library must run in a browser: no file under packages/nabla/src/ (tests and the Node entry
// src/node/ aside) may import a node: module or a package, and every import must be a relative
// path with an explicit .ts extension.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dirname, '..', 'packages', 'nabla', 'src');

function libraryFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    // AssemblyScript sources compile to wasm (scripts/build-wasm.mjs); they are not loaded as JS.
    // src/node/ is 'nabla/node', the Node-only entry, which no browser module imports.
    if (e.isDirectory()) return e.name === 'assembly' || p === join(SRC, 'node') ? [] : libraryFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

test('src/ imports nothing but its own modules (no node:, no packages)', () => {
  const files = libraryFiles(SRC);
  assert.ok(files.length > 20, `found the library files (${files.length})`);
  const offenders: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      if (!m[1].startsWith('.') || !m[1].endsWith('.ts')) offenders.push(`${relative(SRC, f)}: ${m[1]}`);
    }
    // Node features may only be probed for, never assumed: `process?.getBuiltinModule?.(...)`
    // (the wasm backend finds worker_threads and os that way). Code inside string literals (the
    // Node worker's bootstrap source), comments and type members (`process?: {...}`) do not count.
    const code = text
      .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      .replace(/`(?:\\.|[^`\\])*`|'(?:\\.|[^'\\\n])*'/g, '""');
    const unguarded = code.replace(/process\?\.getBuiltinModule\?\.|process\?:/g, '');
    if (/\bprocess\b(?!\?\.)|\bprocess\?\.(?!getBuiltinModule)|\brequire\(/.test(unguarded)) {
      offenders.push(`${relative(SRC, f)}: uses process or require`);
    }
  }
  assert.deepEqual(offenders, []);
});
