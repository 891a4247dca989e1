// Shared by the CLI tests: run the nabla command in a child process, and check a user error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** The executable the tests run, as a user would (node bin/nabla.js). */
export const BIN = join(ROOT, 'packages', 'cli', 'bin', 'nabla.js');

/**
 * Whether the compiled packages (packages/nabla/dist, packages/cli/dist: what `npm run build` and
 * `npm pack` make) are newer than every source file they are built from. `npm test` builds them
 * first; a test file run alone after an edit finds them stale and runs the sources.
 */
export function builtIsFresh(): boolean {
  const built = ['packages/nabla/dist/node-esm/index.js', 'packages/nabla/dist/node-esm/node/index.js', 'packages/cli/dist/main.js']
    .map((f) => join(ROOT, f));
  if (!built.every((f) => existsSync(f))) return false;
  const oldestBuilt = Math.min(...built.map((f) => statSync(f).mtimeMs));
  const newestSource = (dir: string): number => {
    let newest = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
    }
    return newest;
  };
  const sources = ['packages/nabla/src', 'packages/cli/src', 'packages/nabla/package.json', 'packages/cli/package.json'].map((d) => join(ROOT, d));
  return sources.every((s) => (statSync(s).isDirectory() ? newestSource(s) : statSync(s).mtimeMs) < oldestBuilt);
}

// The CLI runs compiled when it is up to date (bin/nabla.js reads this; child processes inherit it).
if (process.env.NABLA_CLI_DIST === undefined && builtIsFresh()) process.env.NABLA_CLI_DIST = '1';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `nabla ...args` to completion (no colours), returning its exit code and output. */
export function nabla(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same from the TypeScript sources (through tsx), as a checkout runs it: e.g. for a .ts plugin. */
export function nablaFromSources(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NABLA_CLI_DIST: '0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit 1, one "nabla: error:" line (or commander's "error:"), no stack trace. */
export function assertUserError(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /error: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace leaked: ${r.stderr}`);
  for (const f of fragments) assert.ok(r.stderr.includes(f), `stderr should mention ${JSON.stringify(f)}: ${r.stderr}`);
}
