// Shared by the CLI tests: run the nabla command in a child process, and check a user error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The executable the tests run, as a user would (node bin/nabla.js). */
export const BIN = join(import.meta.dirname, '..', 'packages', 'cli', 'bin', 'nabla.js');

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

/** A user error: exit 1, one "nabla: error:" line (or commander's "error:"), no stack trace. */
export function assertUserError(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /error: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace leaked: ${r.stderr}`);
  for (const f of fragments) assert.ok(r.stderr.includes(f), `stderr should mention ${JSON.stringify(f)}: ${r.stderr}`);
}
