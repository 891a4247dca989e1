#!/usr/bin/env node
// Runs a command with TMPDIR set to a fresh folder, and removes that folder afterwards, however
// the command ends. `npm test` runs under it: the tests make hundreds of temporary folders (data
// sets, model files, CLI outputs, a browser profile), and the ones a test does not remove itself
// would otherwise stay in the system's temp folder after every run (measured: ~150 MB a run).
//
//   node scripts/in-temp-dir.mjs node --test a.test.ts b.test.ts
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/in-temp-dir.mjs <command> [args...]  (runs it with TMPDIR set to a fresh folder, removed afterwards)');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'nabla-run-'));
// The child gets Ctrl-C from the terminal itself; this process only has to outlive it.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => {});
const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, TMPDIR: dir, TMP: dir, TEMP: dir } });
rmSync(dir, { recursive: true, force: true });
if (result.error) {
  console.error(`in-temp-dir: could not run ${command}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
