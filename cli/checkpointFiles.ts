/**
 * Checkpoint files for `nabla train`: where they go, writing them atomically, and resuming, which
 * means refusing flags that disagree with the checkpoint and taking every other training setting
 * from it. The format itself is the library's (src/model/checkpoint.ts).
 */
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import {
  NablaError, decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointParts,
} from '../src/index.ts';
import { readFileChecked, writeFileAtomic } from './files.ts';

/**
 * The train options a checkpoint records and a resume must agree with (commander's camelCase
 * names). Output paths, --data and display flags may differ between the run and its resume.
 */
export const RESUME_KEYS = [
  'model', 'layers', 'augment', 'hidden', 'activation', 'output', 'loss', 'optimizer', 'lr', 'momentum', 'nesterov', 'weightDecay', 'schedule',
  'warmup', 'gamma', 'stepSize', 'epochs', 'batchSize', 'seed', 'val', 'limit', 'shuffle', 'init', 'earlyStopping',
  'monitor', 'restoreBest', 'clipNorm',
] as const;
/**
 * Taken from the checkpoint when not given again, but free to change. (A resume is bit-identical
 * on the same backend; another backend continues correctly, with its own rounding.)
 */
const DEFAULTED_KEYS = ['out', 'data', 'backend', 'threads'] as const;

/** models/mnist-mlp.safetensors → models/mnist-mlp.ckpt.safetensors */
export function defaultCheckpointPath(out: string): string {
  return out.endsWith('.safetensors') ? out.replace(/\.safetensors$/, '.ckpt.safetensors') : `${out}.ckpt.safetensors`;
}

export function loadCheckpointFile(path: string): Checkpoint {
  return decodeCheckpoint(readFileChecked(path, 'checkpoint'), `checkpoint "${path}"`);
}

export function saveCheckpointFile(path: string, parts: CheckpointParts): void {
  writeFileAtomic(path, encodeCheckpoint(parts), 'checkpoint');
}

/**
 * Fail before training, not an epoch (or a whole run) later: the folder of `path` must exist or be
 * creatable, and be writable.
 */
export function checkWritable(path: string, role: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NablaError({
      where: `${role} "${path}"`, expected: 'a writable folder', found: code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' || code === 'EEXIST' ? 'a path through a file that is not a folder' : String(code ?? e),
      hint: 'choose another path, or fix the folder\'s permissions',
    });
  }
}

/** True when a fresh run is about to replace another run's checkpoint at `path`. */
export function replacesCheckpoint(path: string, resuming: string | undefined): boolean {
  return resuming !== path && existsSync(path);
}

/** The options to record in a checkpoint. */
export function recordedOptions(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...RESUME_KEYS, ...DEFAULTED_KEYS]) out[k] = (opts as Record<string, unknown>)[k] ?? null;
  return out;
}

/**
 * Merge a checkpoint's recorded options into this run's: a flag given on the command line must
 * equal the recorded value (else a NablaError naming the flag); everything else comes from the
 * checkpoint.
 */
export function mergeResumeOptions<T extends object>(given: T, cmd: Command, ckpt: Checkpoint, path: string): T {
  const opts = given as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...opts };
  for (const key of RESUME_KEYS) {
    const saved = ckpt.options[key] ?? undefined;
    if (cmd.getOptionValueSource(key) === 'cli' && JSON.stringify(opts[key]) !== JSON.stringify(saved)) {
      throw new NablaError({
        where: `flag --${kebab(key)}`, expected: `${show(saved)} (as in checkpoint "${path}") or no flag`, found: show(opts[key]),
        hint: 'a resumed run keeps its settings; drop the flag, or start a new run without --resume',
      });
    }
    merged[key] = saved;
  }
  for (const key of DEFAULTED_KEYS) {
    if (cmd.getOptionValueSource(key) !== 'cli' && ckpt.options[key] !== null && ckpt.options[key] !== undefined) merged[key] = ckpt.options[key];
  }
  return merged as unknown as T;
}

/** The command that resumes a run, quoted for a POSIX shell. */
export function resumeCommand(checkpoint: string, opts: { out: string; data?: string }): string {
  const q = (s: string) => (/^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return ['nabla', 'train', '--resume', q(checkpoint), '--out', q(opts.out), ...(opts.data ? ['--data', q(opts.data)] : [])].join(' ');
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function show(v: unknown): string {
  if (v === undefined || v === null) return 'unset';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',');
  return String(v);
}
