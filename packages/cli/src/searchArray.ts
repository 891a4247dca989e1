/**
 * nabla search on many machines: the job-array folder written by `nabla search --emit <folder>`.
 *
 *   search.json   the manifest: the space, the seed, the budget, the trials (number, flags),
 *                 the flags every trial shares (data paths made absolute), the folder the search
 *                 was emitted from, the plugins, and the size and CRC-32 of every data file; its
 *                 `id` is a CRC-32 over all of that, and every result file names it
 *   trials.txt    one shell command a line, line k = trial k: `nabla search --trial k --array <folder>`
 *                 (GNU parallel, `xargs -P`, a Kubernetes Indexed Job: line $JOB_COMPLETION_INDEX+1)
 *   slurm.sh      `sbatch slurm.sh`: an array 0..N-1, task t runs line t+1
 *   trial-<k>.safetensors, trial-<k>.ckpt.safetensors   a trial's model and checkpoint
 *   trial-<k>.result.json   a trial's result, written atomically once it has finished (ok or
 *                 failed): a killed trial leaves none (its checkpoint resumes it), a re-run one
 *                 replaces only its own
 *
 * This module reads and writes those files; commands/search.ts runs the trials and ranks them.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { NablaError, crc32 } from 'nabla';
import { writeFileAtomic } from 'nabla/node';
import type { TrialFlags } from './searchSpace.ts';

export const MANIFEST = 'search.json';
export const TRIAL_LIST = 'trials.txt';
export const SLURM_SCRIPT = 'slurm.sh';
const FORMAT = 'nabla search array';
const RESULT_FORMAT = 'nabla search result';

/** Train flags naming files: made absolute in the manifest, so a worker in any folder reads the same files. */
export const PATH_FLAGS = new Set(['data', 'labels', 'test-data', 'init']);

/** One data file as the search was emitted with it. */
export interface DataFile {
  path: string;
  bytes: number;
  crc32: string;
}

export interface ArrayTrial {
  /** 1-based, as in the results table; line `index` of trials.txt. */
  index: number;
  key: string;
  flags: TrialFlags;
}

export interface Manifest {
  format: typeof FORMAT;
  version: 1;
  /** CRC-32 (hex) of everything below but `command`: what makes two searches the same search. */
  id: string;
  mode: 'grid' | 'random';
  space: string;
  seed: number;
  budget: number | null;
  /** The searched flags, in the space's order (the table's columns). */
  dims: string[];
  /** Flags every trial gets (path flags absolute). */
  base: string[];
  /** Where the search was emitted; each trial's `nabla train` runs there. */
  cwd: string;
  plugins: string[];
  data: DataFile[];
  trials: ArrayTrial[];
  /** How trials.txt starts nabla, e.g. ["/usr/bin/node", "/opt/nabla/bin/nabla.js"] or ["npx", "nabla"]. */
  command: string[];
}

/** The fields of a trial's outcome (as trials.jsonl holds them for a local search). */
export interface TrialOutcome {
  status: 'ok' | 'failed';
  val_accuracy: number | null;
  val_loss: number | null;
  epochs_run: number | null;
  train_seconds: number | null;
  /** The trial's model file, relative to the array folder. */
  model: string | null;
  error?: string;
}

/** Build a manifest; the id is computed here. */
export function makeManifest(m: Omit<Manifest, 'format' | 'version' | 'id'>): Manifest {
  const { command, ...rest } = m;
  const body = { format: FORMAT as typeof FORMAT, version: 1 as const, ...rest };
  // readManifest checks the id over the file's fields in the order written here.
  return { ...body, id: idOf(body), command };
}

function idOf(body: object): string {
  return crc32(new TextEncoder().encode(JSON.stringify(body))).toString(16).padStart(8, '0');
}

/** Base flags with their file paths made absolute against `cwd`. */
export function absoluteBase(base: string[], cwd: string): string[] {
  return base.map((tok, i) => (i > 0 && PATH_FLAGS.has(base[i - 1].replace(/^--/, '')) && base[i - 1].startsWith('--') && !isAbsolute(tok) ? resolve(cwd, tok) : tok));
}

/** Size and CRC-32 of each existing file (read in 1 MiB pieces). */
export function fingerprint(paths: string[]): DataFile[] {
  const out: DataFile[] = [];
  for (const path of [...new Set(paths.map((p) => resolve(p)))]) {
    if (!existsSync(path) || !statSync(path).isFile()) continue;
    out.push({ path, bytes: statSync(path).size, crc32: fileCrc(path) });
  }
  return out;
}

function fileCrc(path: string): string {
  const fd = openSync(path, 'r');
  const buf = new Uint8Array(1 << 20);
  let crc = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) crc = crc32(buf.subarray(0, n), crc);
  } finally {
    closeSync(fd);
  }
  return crc.toString(16).padStart(8, '0');
}

/** The data files must be the ones the search was emitted with: same size, same CRC-32. */
export function checkData(manifest: Manifest, folder: string): void {
  for (const f of manifest.data) {
    const where = `data file "${f.path}" of the search in ${folder}`;
    if (!existsSync(f.path)) {
      throw new NablaError({ where, expected: 'the file, at the same path on every machine', found: 'no such file here', hint: 'run the trials where the shared folders are mounted as where the search was emitted' });
    }
    const [now] = fingerprint([f.path]);
    if (now.bytes !== f.bytes || now.crc32 !== f.crc32) {
      throw new NablaError({
        where, expected: `the file the search was emitted with (${f.bytes} bytes, CRC-32 ${f.crc32})`, found: `${now.bytes} bytes, CRC-32 ${now.crc32}`,
        hint: 'the data changed since --emit: trials would not be comparable; emit the search again into a new folder',
      });
    }
  }
}

export function writeManifest(folder: string, m: Manifest): void {
  writeFileAtomic(join(folder, MANIFEST), new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n'), 'search manifest');
  const lines = m.trials.map((t) => trialLine(m, folder, t.index)).join('\n') + '\n';
  writeFileAtomic(join(folder, TRIAL_LIST), new TextEncoder().encode(lines), 'trial list');
  writeFileAtomic(join(folder, SLURM_SCRIPT), new TextEncoder().encode(slurmScript(folder, m.trials.length)), 'Slurm script');
}

/** Read and check search.json: present, parseable, of this format, unedited. */
export function readManifest(folder: string): Manifest {
  const path = join(folder, MANIFEST);
  const notSearch = (found: string): NablaError => new NablaError({
    where: `folder "${folder}"`, expected: `a search folder written by nabla search --emit (with ${MANIFEST})`, found,
    hint: 'emit one with: nabla search --grid "..." --emit <folder> -- <train flags>',
  });
  if (!existsSync(folder)) throw notSearch('no such folder');
  if (!statSync(folder).isDirectory()) throw notSearch('a file');
  if (!existsSync(path)) throw notSearch(`no ${MANIFEST}`);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new NablaError({ where: `search manifest "${path}"`, expected: 'JSON', found: (e as Error).message, hint: 'emit the search again into a new folder' });
  }
  if (m === null || typeof m !== 'object' || m.format !== FORMAT) throw notSearch(`a ${MANIFEST} that is not a search manifest`);
  if (m.version !== 1) throw new NablaError({ where: `search manifest "${path}"`, expected: 'version 1', found: `version ${m.version}`, hint: 'emit it with this version of nabla' });
  const { id, command, ...body } = m;
  if (!Array.isArray(command) || !Array.isArray(m.trials) || !Array.isArray(m.base) || !Array.isArray(m.data) || idOf(body) !== id) {
    throw new NablaError({ where: `search manifest "${path}"`, expected: `the manifest as emitted (id ${id})`, found: 'edited or damaged contents', hint: 'emit the search again into a new folder' });
  }
  return m;
}

/** POSIX shell quoting, only where needed. */
export function shellQuote(s: string): string {
  return /^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Line `index` of trials.txt. */
export function trialLine(m: Manifest, folder: string, index: number): string {
  return [...m.command, 'search', '--trial', String(index), '--array', resolve(folder)].map(shellQuote).join(' ');
}

function slurmScript(folder: string, n: number): string {
  const abs = resolve(folder);
  return [
    '#!/bin/bash',
    `# nabla search: ${n} trial${n === 1 ? '' : 's'}, one array task each; task t runs line t+1 of trials.txt (trial t+1).`,
    '# Submit from any folder: sbatch ' + shellQuote(join(abs, SLURM_SCRIPT)),
    '# Then rank them: nabla search --collect ' + shellQuote(abs),
    '#SBATCH --job-name=nabla-search',
    `#SBATCH --array=0-${n - 1}`,
    `#SBATCH --output=${abs}/slurm-task-%a.log`,
    'set -euo pipefail',
    `line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${shellQuote(join(abs, TRIAL_LIST))})`,
    'eval "$line"',
    '',
  ].join('\n');
}

export function resultPath(folder: string, index: number): string {
  return join(folder, `trial-${index}.result.json`);
}

export function writeResult(folder: string, m: Manifest, t: ArrayTrial, outcome: TrialOutcome): void {
  const json = { format: RESULT_FORMAT, manifest: m.id, index: t.index, key: t.key, ...outcome, host: hostname(), finished: new Date().toISOString() };
  writeFileAtomic(resultPath(folder, t.index), new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n'), 'trial result');
}

/** A trial's result, or undefined when it has none yet. Damaged files and other searches' results are errors. */
export function readResult(folder: string, m: Manifest, t: ArrayTrial): TrialOutcome | undefined {
  const path = resultPath(folder, t.index);
  if (!existsSync(path)) return undefined;
  const hint = `delete it and run trial ${t.index} again (line ${t.index} of ${join(folder, TRIAL_LIST)})`;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new NablaError({ where: `trial result "${path}"`, expected: 'JSON written by nabla search --trial', found: `unreadable JSON (${(e as Error).message})`, hint });
  }
  const num = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));
  if (r === null || typeof r !== 'object' || r.format !== RESULT_FORMAT || typeof r.manifest !== 'string') {
    throw new NablaError({ where: `trial result "${path}"`, expected: 'a result written by nabla search --trial', found: 'other contents', hint });
  }
  if (r.manifest !== m.id || r.index !== t.index || r.key !== t.key) {
    throw new NablaError({
      where: `trial result "${path}"`, expected: `trial ${t.index} (${t.key}) of search ${m.id}`,
      found: `a result of ${r.manifest !== m.id ? `another search (${r.manifest})` : `trial ${String(r.index)} (${String(r.key)})`}`,
      hint: `results must come from this folder's trials.txt; ${hint}`,
    });
  }
  const ok = r.status === 'ok' || r.status === 'failed';
  if (!ok || !num(r.val_accuracy) || !num(r.val_loss) || !num(r.epochs_run) || !num(r.train_seconds) || !(r.model === null || typeof r.model === 'string') ||
    (r.status === 'ok' && typeof r.model !== 'string')) {
    throw new NablaError({ where: `trial result "${path}"`, expected: 'status, validation figures and model of a finished trial', found: 'missing or malformed fields', hint });
  }
  return {
    status: r.status as 'ok' | 'failed', val_accuracy: r.val_accuracy as number | null, val_loss: r.val_loss as number | null,
    epochs_run: r.epochs_run as number | null, train_seconds: r.train_seconds as number | null, model: r.model as string | null,
    ...(typeof r.error === 'string' ? { error: r.error } : {}),
  };
}
