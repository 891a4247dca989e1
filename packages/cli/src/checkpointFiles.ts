/**
 * Checkpoint files for `nabla train`: where they go, writing them atomically, and resuming, which
 * means refusing flags that disagree with the checkpoint and taking every other training setting
 * from it. The format itself is the library's (src/model/checkpoint.ts).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import {
  clip,
  NablaError, decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointParts,
} from 'nabla';
import { readFileChecked, writeFileAtomic } from 'nabla/node';
import { expectedPart } from './options.ts';

/**
 * The train options a checkpoint records and a resume must agree with (commander's camelCase
 * names). Output paths, --data and display flags may differ between the run and its resume.
 */
export const RESUME_KEYS = [
  'model', 'layers', 'augment', 'hidden', 'activation', 'output', 'loss', 'optimizer', 'lr', 'momentum', 'nesterov', 'weightDecay', 'schedule',
  'warmup', 'gamma', 'stepSize', 'epochs', 'batchSize', 'seed', 'val', 'limit', 'shuffle', 'init', 'earlyStopping',
  'monitor', 'restoreBest', 'clipNorm', 'label', 'testSplit', 'size', 'grey', 'colour', 'task', 'standardize',
] as const;
/** What a key missing from a checkpoint written before its flag existed meant then (else: the flag's default). */
const BEFORE_THE_FLAG: Record<string, unknown> = { standardize: false };
/**
 * Taken from the checkpoint when not given again, but free to change. (A resume is bit-identical
 * on the same backend; another backend continues correctly, with its own rounding.)
 */
const DEFAULTED_KEYS = ['backend', 'threads'] as const;
/**
 * Recorded for the record only. NOTE: a checkpoint is trusted for state, never for paths: a copied
 * or edited checkpoint must not choose which file a resumed run reads or overwrites. On --resume,
 * --out defaults to a name beside the checkpoint (defaultResumeOut) and --data must be given again
 * when the run used it; --init is not read at all (the checkpoint holds the architecture and weights).
 */
const PATH_KEYS = ['out', 'data', 'labels', 'testData'] as const;
/** The input paths a resumed run must be given again when the run used them. */
const INPUT_PATH_KEYS = ['data', 'labels', 'testData'] as const;

/**
 * Where a resumed run saves its model unless --out is given: beside the checkpoint, never where
 * the checkpoint says. runs/a.ckpt.safetensors → runs/a.safetensors; runs/a.ckpt → runs/a.safetensors;
 * runs/a.safetensors → runs/a.model.safetensors.
 */
export function defaultResumeOut(checkpoint: string): string {
  const name = basename(checkpoint).replace(/\.safetensors$/i, '').replace(/\.ckpt$/i, '');
  const out = join(dirname(checkpoint), `${name}.safetensors`);
  return out === join(dirname(checkpoint), basename(checkpoint)) ? join(dirname(checkpoint), `${name}.model.safetensors`) : out;
}

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

/** True when a fresh run is about to replace another run's checkpoint at `path`. */
export function replacesCheckpoint(path: string, resuming: string | undefined): boolean {
  return resuming !== path && existsSync(path);
}

/** The options to record in a checkpoint. */
export function recordedOptions(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...RESUME_KEYS, ...DEFAULTED_KEYS, ...PATH_KEYS]) out[k] = (opts as Record<string, unknown>)[k] ?? null;
  return out;
}

/**
 * Merge a checkpoint's recorded options into this run's: a flag given on the command line must
 * equal the recorded value (else a NablaError naming the flag); everything else comes from the
 * checkpoint, each value validated as the flag's own parser would (else a NablaError naming the
 * checkpoint and the field). Paths never come from the checkpoint (see PATH_KEYS).
 */
export function mergeResumeOptions<T extends object>(given: T, cmd: Command, ckpt: Checkpoint, path: string): T {
  const opts = given as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...opts };
  for (const key of RESUME_KEYS) {
    const saved = recordedValue(cmd, ckpt, key, path);
    if (cmd.getOptionValueSource(key) === 'cli' && JSON.stringify(opts[key]) !== JSON.stringify(saved)) {
      throw new NablaError({
        where: `flag --${kebab(key)}`, expected: `${show(saved)} (as in checkpoint "${path}") or no flag`, found: show(opts[key]),
        hint: 'a resumed run keeps its settings; drop the flag, or start a new run without --resume',
      });
    }
    merged[key] = saved;
  }
  for (const key of DEFAULTED_KEYS) {
    if (cmd.getOptionValueSource(key) === 'cli') continue;
    const saved = recordedValue(cmd, ckpt, key, path);
    if (saved !== undefined) merged[key] = saved;
  }
  for (const key of INPUT_PATH_KEYS) {
    if (cmd.getOptionValueSource(key) !== 'cli' && ckpt.options[key] !== null && ckpt.options[key] !== undefined) {
      const flag = `--${kebab(key)}`;
      throw new NablaError({
        where: `flag ${flag}`, expected: `the ${key === 'data' ? 'data' : key === 'labels' ? 'labels file' : 'test data'} of the run being resumed`, found: `no ${flag}`,
        hint: `checkpoint "${path}" was made with ${flag} ${clip(JSON.stringify(ckpt.options[key]))}; give ${flag} again (a checkpoint never chooses the files a run reads or writes)`,
      });
    }
  }
  if (cmd.getOptionValueSource('out') !== 'cli') merged.out = defaultResumeOut(path);
  return merged as unknown as T;
}

/**
 * A checkpoint's recorded option, validated like the flag: run through the flag's own parser (a
 * number must be a number in the flag's range, a name one of its names...). A key missing from an
 * older checkpoint takes the flag's default, or what the run did before the flag existed (BEFORE_THE_FLAG).
 */
function recordedValue(cmd: Command, ckpt: Checkpoint, key: string, path: string): unknown {
  const value = ckpt.options[key];
  const option = cmd.options.find((o) => o.attributeName() === key && !o.negate) ?? cmd.options.find((o) => o.attributeName() === key);
  if (!option) return value ?? undefined;
  const fail = (expected: string): never => {
    throw new NablaError({
      where: `checkpoint "${path}", option "${key}"`, expected: `${expected} (as --${kebab(key)} takes it)`, found: clip(JSON.stringify(value) ?? String(value)),
      hint: 'the checkpoint was edited or written by something else; resume from another checkpoint, or start a new run',
    });
  };
  if (value === undefined) return key in BEFORE_THE_FLAG ? BEFORE_THE_FLAG[key] : option.defaultValue;
  if (value === null) return option.defaultValue === undefined ? undefined : fail('a value');
  if (option.isBoolean() || option.negate) return typeof value === 'boolean' ? value : fail('true or false');
  // --size is written HxW; other number lists comma-separated.
  const text = Array.isArray(value) ? (value.length === 0 ? 'none' : value.every((v) => typeof v === 'number') ? value.join(key === 'size' ? 'x' : ',') : undefined)
    : typeof value === 'number' || typeof value === 'string' ? String(value) : undefined;
  if (text === undefined) return fail('a value');
  if (!option.parseArg) return typeof value === 'string' ? value : fail('a string');
  try {
    return option.parseArg(text, undefined as never);
  } catch (e) {
    return fail(expectedPart((e as Error).message));
  }
}


/** The command that resumes a run, quoted for a POSIX shell. */
export function resumeCommand(checkpoint: string, opts: { out: string; data?: string; labels?: string; testData?: string }): string {
  const q = (s: string) => (/^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return ['nabla', 'train', '--resume', q(checkpoint), '--out', q(opts.out), ...(opts.data ? ['--data', q(opts.data)] : []),
    ...(opts.labels ? ['--labels', q(opts.labels)] : []), ...(opts.testData ? ['--test-data', q(opts.testData)] : [])].join(' ');
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function show(v: unknown): string {
  if (v === undefined || v === null) return 'unset';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',');
  return String(v);
}
