// docs/architecture.md's dependency table is the real one: every run-time import between folders
// of src/ is listed there (and every listed one exists), and no two files of src/ import each
// other in a circle. Type-only imports do not count: they vanish at run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SRC = join(ROOT, 'packages', 'nabla', 'src');

function libraryFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'assembly' ? [] : libraryFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Run-time imports of each library file (absolute paths), index.ts aside (it re-exports everything). */
function runtimeImports(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of libraryFiles(SRC)) {
    if (f === join(SRC, 'index.ts')) continue;
    const text = readFileSync(f, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)(\s+type)?\s[^;]*?from\s+'(\.[^']+)'/gms)]
      .filter((m) => !m[1]).map((m) => resolve(dirname(f), m[2]));
    graph.set(f, targets);
  }
  return graph;
}

const folderOf = (f: string): string => {
  const parts = relative(SRC, f).split('/');
  return parts.length > 1 ? parts[0] : 'core';
};

test('the folder imports match docs/architecture.md\'s table', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const block = /<!-- dependencies -->([\s\S]*?)<!-- \/dependencies -->/.exec(doc)?.[1];
  assert.ok(block, 'docs/architecture.md has the <!-- dependencies --> table');
  const documented = new Map<string, Set<string>>();
  for (const m of block.matchAll(/^\| (\w+) \| ([\w, —]+) \|$/gm)) {
    if (m[1] !== 'folder') documented.set(m[1], new Set(m[2] === '—' ? [] : m[2].split(', ')));
  }
  const actual = new Map<string, Set<string>>();
  for (const [f, targets] of runtimeImports()) {
    const from = folderOf(f);
    if (!actual.has(from)) actual.set(from, new Set());
    for (const t of targets) if (folderOf(t) !== from) actual.get(from)!.add(folderOf(t));
  }
  const show = (m: Map<string, Set<string>>) => [...m].map(([k, v]) => `${k}: ${[...v].sort().join(', ')}`).sort();
  assert.deepEqual(show(actual), show(documented));
});

test('no two files of src/ import each other in a circle (at run time)', () => {
  const graph = runtimeImports();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, 'open');
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...path, f, t].slice(path.indexOf(t) >= 0 ? path.indexOf(t) : path.length).map((p) => relative(SRC, p)).join(' → '));
      else if (!state.has(t)) visit(t, [...path, f]);
    }
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
});
