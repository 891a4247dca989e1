/**
 * --backend and --threads, shared by every command that runs a model. The choice itself lives in
 * the library (createBackend); this only parses the flags and reports fallbacks on stderr.
 */
import type { Command } from 'commander';
import { BACKEND_NAMES, createBackend, type Backend, type BackendName } from 'nabla';
import { intIn, oneOf } from './options.ts';

export interface BackendFlags {
  backend: BackendName;
  threads?: number;
}

export function addBackendOptions(command: Command): Command {
  return command
    .option('--backend <name>', 'kernels: auto (wasm where it runs, else js) | wasm | js', oneOf(BACKEND_NAMES), 'auto')
    .option('--threads <n>', 'wasm threads, including the main one (default: all available cores)', intIn(1));
}

export function backendFromFlags(flags: BackendFlags): Promise<Backend> {
  return createBackend({
    name: flags.backend,
    threads: flags.threads,
    log: (message) => process.stderr.write(`${message}\n`),
  });
}
