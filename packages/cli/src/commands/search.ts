/**
 * nabla search: grid or random search over `nabla train` flags. Each trial is a separate
 * `nabla train --json --no-test` process (so trials use every core, whichever backend train uses),
 * at most --jobs at a time. Trials are ranked on validation accuracy only; the test set is
 * evaluated once, for the chosen model.
 *
 * Files in --dir: trials.jsonl (one line appended per finished trial: the resume log),
 * results.csv and results.json (rewritten atomically after every trial), trial-<id>.safetensors
 * and their checkpoints. Rerunning the same command skips finished trials and resumes unfinished
 * ones from their checkpoints.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { NablaError, Rng, crc32 } from 'nabla';
import { readFileChecked, writeFileAtomic, loadModel } from 'nabla/node';
import { dataInputs, loadEvalData, type DataRecord } from '../dataSources.ts';
import { expectedPart, intIn } from '../options.ts';
import { BIN } from '../paths.ts';
import { checkOutputs } from '../outputs.ts';
import { pct } from '../output.ts';
import { expandGrid, parseSpace, sampleRandom, searchableFlags, trialArgs, trialKey, type TrialFlags } from '../searchSpace.ts';
import { Interrupted } from './train.ts';

/** Flags the search sets for each trial itself. */
const RESERVED = new Set(['out', 'checkpoint', 'resume', 'json', 'progress', 'test', 'help']);

interface SearchOptions {
  grid?: string;
  random?: string;
  trials?: number;
  jobs?: number;
  seed: number;
  dir: string;
  out?: string;
  progress: boolean;
}

/** One line of trials.jsonl. */
export interface TrialRecord {
  key: string;
  base: string;
  flags: Record<string, string>;
  status: 'ok' | 'failed';
  val_accuracy: number | null;
  val_loss: number | null;
  epochs_run: number | null;
  train_seconds: number | null;
  model: string | null;
  error?: string;
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('grid or random search over nabla train flags; picks on validation accuracy, tests the chosen model once')
    .argument('[train-flags...]', 'flags for every trial, after "--" (e.g. -- --epochs 4 --data dir)')
    .option('--grid <space>', 'every combination, e.g. "lr=1e-3,2e-3 hidden=256,128|512 batch-size=64,128"')
    .option('--random <space>', 'random draws, e.g. "lr=1e-4..1e-2 hidden=128|256|512 batch-size=32..256" (lr is log-uniform)')
    .option('--trials <n>', 'trial budget (random: draws; grid: at most this many combinations, a seeded subset)', intIn(1))
    .option('--jobs <n>', 'trials running at once, each a separate process (default: the available cores)', intIn(1))
    .option('--seed <n>', 'seed of the random draws and grid subsets (each trial keeps its own --seed)', intIn(0, 2 ** 32 - 1), 1)
    .option('--dir <folder>', 'where trial models, checkpoints and results go', 'models/search')
    .option('--out <file>', 'where to save the chosen model (default: <dir>/best.safetensors)')
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (trainFlags: string[], opts: SearchOptions, cmd: Command) => {
      await search(trainFlags, opts, cmd);
    });
}

async function search(base: string[], opts: SearchOptions, cmd: Command): Promise<void> {
  const train = cmd.parent!.commands.find((c) => c.name() === 'train')!;
  if ((opts.grid === undefined) === (opts.random === undefined)) {
    throw new NablaError({ where: 'nabla search', expected: 'exactly one of --grid and --random', found: opts.grid === undefined ? 'neither' : 'both' });
  }
  if (opts.random !== undefined && opts.trials === undefined) {
    throw new NablaError({ where: 'flag --random', expected: '--trials <n> with it (how many draws)', found: 'no --trials' });
  }
  const dims = parseSpace(opts.grid ?? opts.random!, train, opts.random !== undefined);
  checkBaseFlags(base, train, new Set(dims.map((d) => d.flag)));
  let trials: TrialFlags[];
  const say = (line: string): void => void (opts.progress && process.stderr.write(`search: ${line}\n`));
  if (opts.grid !== undefined) {
    trials = expandGrid(dims);
    if (opts.trials !== undefined && trials.length > opts.trials) {
      say(`the grid has ${trials.length} combinations; the budget of ${opts.trials} runs a seeded subset`);
      trials = seededSubset(trials, opts.trials, opts.seed);
    }
  } else {
    trials = sampleRandom(dims, opts.trials!, opts.seed);
  }

  const jobs = opts.jobs ?? availableParallelism();
  // Outputs checked before the first trial: the chosen model and the results never replace an
  // input (--init, --data files) and the folder is writable (each trial checks its own files too).
  const initPath = flagValue(base, 'init');
  checkOutputs([
    { path: opts.out ?? join(opts.dir, 'best.safetensors'), role: 'best model' }, { path: join(opts.dir, 'results.json'), role: 'search results' },
    { path: join(opts.dir, 'results.csv'), role: 'search results' }, { path: join(opts.dir, 'trials.jsonl'), role: 'search log' },
  ], [
    ...(initPath !== undefined ? [{ path: initPath, role: 'model file of --init' }] : []),
    ...dataInputs(flagValue(base, 'data'), flagValue(base, 'labels')).map((path) => ({ path, role: 'data file' })),
  ]);
  mkdirSync(opts.dir, { recursive: true });
  const logPath = join(opts.dir, 'trials.jsonl');
  const baseKey = base.join(' ');
  const done = new Map<string, TrialRecord>();
  for (const r of readLog(logPath)) if (r.base === baseKey) done.set(r.key, r);
  const all = trials.map((t, i) => ({ index: i + 1, flags: t, key: trialKey(t) }));
  const todo = all.filter((t) => !done.has(t.key));
  if (done.size > 0 && todo.length < all.length) say(`${all.length - todo.length} of ${all.length} trials already finished in ${logPath}; skipping them`);

  const records = (): TrialRecord[] => all.map((t) => done.get(t.key)).filter((r): r is TrialRecord => r !== undefined);
  const best = (): TrialRecord | undefined => rank(records()).find((r) => r.status === 'ok');
  let running = 0;
  let stopping = false;
  const warned = new Set<string>();
  const onSigint = (): void => {
    stopping = true;
    say('interrupted: waiting for the running trials to checkpoint; run the same command again to resume');
  };
  process.on('SIGINT', onSigint);
  const progress = (what: string): void => {
    const b = best();
    say(`${what}; ${done.size === 0 ? 0 : records().length}/${all.length} done, ${running} running` +
      (b ? `, best so far ${pct(b.val_accuracy!)} (${b.key})` : ''));
  };
  const writeResults = (chosen?: { record: TrialRecord; test: { loss: number; accuracy: number } }): void => {
    const rows = rank(records());
    const keys = dims.map((d) => d.flag);
    const csv = [
      ['trial', ...keys, 'status', 'val_accuracy', 'val_loss', 'epochs_run', 'train_seconds', 'test_accuracy', 'chosen'].join(','),
      ...rows.map((r) => [
        all.find((t) => t.key === r.key)!.index, ...keys.map((k) => csvCell(r.flags[k])), r.status, r.val_accuracy ?? '', r.val_loss ?? '',
        r.epochs_run ?? '', r.train_seconds?.toFixed(1) ?? '', chosen?.record === r ? chosen.test.accuracy : '', chosen?.record === r ? 'yes' : '',
      ].join(',')),
    ].join('\n') + '\n';
    writeFileAtomic(join(opts.dir, 'results.csv'), new TextEncoder().encode(csv), 'search results');
    const json = {
      space: opts.grid ?? opts.random, mode: opts.grid !== undefined ? 'grid' : 'random', base, planned: all.length,
      trials: rows, chosen: chosen ? { ...chosen.record, test_loss: chosen.test.loss, test_accuracy: chosen.test.accuracy, saved_to: outPath } : null,
    };
    writeFileAtomic(join(opts.dir, 'results.json'), new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n'), 'search results');
  };
  const outPath = opts.out ?? join(opts.dir, 'best.safetensors');
  /** Files of a trial: named by a hash of its flags, so a changed grid never reuses another trial's files. */
  const stemOf = (key: string): string => join(opts.dir, `trial-${crc32(new TextEncoder().encode(`${key}\n${baseKey}`)).toString(16).padStart(8, '0')}`);

  try {
    await new Promise<void>((resolve) => {
      // Trials interrupted in an earlier run go first: their checkpoints hold work already paid for.
      const queue = [...todo.filter((t) => existsSync(`${stemOf(t.key)}.ckpt.safetensors`)), ...todo.filter((t) => !existsSync(`${stemOf(t.key)}.ckpt.safetensors`))];
      const launch = (): void => {
        while (running < jobs && queue.length > 0 && !stopping) {
          const t = queue.shift()!;
          running++;
          runTrial(t.flags, base, train, stemOf(t.key)).then((result) => {
            running--;
            // A trial's warnings (say, --limit over the data size) would be lost with its stderr:
            // passed on, each text once, since every trial of the search tends to repeat them.
            for (const w of result.warnings) {
              if (warned.has(w)) continue;
              warned.add(w);
              process.stderr.write(`nabla: warning: trial ${t.index} (${t.key}): ${w}\n`);
            }
            if (result.status !== 'interrupted') {
              const record: TrialRecord = { key: t.key, base: baseKey, flags: Object.fromEntries(t.flags), ...result.record };
              // One short line per write with O_APPEND: a crash leaves at most a torn last line, skipped on reading.
              appendFileSync(logPath, JSON.stringify(record) + '\n');
              done.set(t.key, record);
              writeResults();
              progress(`trial ${t.index} (${t.key}) ${record.status === 'ok' ? `val ${pct(record.val_accuracy!)}` : `failed: ${record.error}`}`);
            } else {
              progress(`trial ${t.index} interrupted (its checkpoint resumes it)`);
            }
            launch();
          });
          progress(`trial ${t.index} started (${t.key})`);
        }
        if (running === 0) resolve();
      };
      launch();
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  writeResults();
  if (stopping) {
    process.stderr.write(`nabla: search interrupted with ${records().length} of ${all.length} trials finished (in ${logPath}); run the same command again to resume\n`);
    throw new Interrupted();
  }

  const chosen = best();
  if (!chosen) {
    throw new NablaError({ where: 'nabla search', expected: 'at least one trial that finished', found: `${all.length} failed`, hint: `see ${logPath}; the first error: ${records()[0]?.error}` });
  }
  // The only look at the test set: the chosen model, once.
  // The test set the trials held out (or --test-data, or the source's own), read as the model records.
  const data = flagValue(base, 'test-data') ?? flagValue(base, 'data');
  const { model, training } = loadModel(chosen.model!);
  const { test } = await loadEvalData(training.data as DataRecord | undefined, { data, labels: flagValue(base, 'labels') }, chosen.model!, model.outputShape[0]);
  const ev = model.evaluate(test, { loss: training.loss ?? 'ce', task: 'classification' });
  writeFileAtomic(outPath, readFileChecked(chosen.model!, 'trial model'), 'best model');
  writeResults({ record: chosen, test: { loss: ev.loss, accuracy: ev.accuracy } });
  console.log(formatTable(rank(records()), dims.map((d) => d.flag), chosen, all));
  console.log(`\nchosen: ${chosen.key} (validation accuracy ${pct(chosen.val_accuracy!)})`);
  console.log(`test accuracy of the chosen model: ${pct(ev.accuracy)} (test loss ${ev.loss.toFixed(4)}; the test set was evaluated for this model only)`);
  console.log(`saved to ${outPath}; results in ${join(opts.dir, 'results.csv')} and results.json`);
}

interface TrialResult {
  status: 'ok' | 'failed' | 'interrupted';
  record: Omit<TrialRecord, 'key' | 'base' | 'flags'>;
  /** The trial's "nabla: warning:" lines, without that prefix. */
  warnings: string[];
}

/** Run one trial as `nabla train` in a child process; resumes from its checkpoint if one exists. */
function runTrial(flags: TrialFlags, base: string[], train: Command, stem: string): Promise<TrialResult> {
  const model = `${stem}.safetensors`;
  const ckpt = `${stem}.ckpt.safetensors`;
  const args = [BIN, 'train', ...base, ...trialArgs(flags, train), '--json', '--no-progress', '--no-test', '--out', model, '--checkpoint', ckpt];
  if (existsSync(ckpt)) args.push('--resume', ckpt);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      const warnings = stderr.split('\n').filter((l) => l.startsWith('nabla: warning: ')).map((l) => l.slice('nabla: warning: '.length));
      const empty = { val_accuracy: null, val_loss: null, epochs_run: null, train_seconds: null, model: null };
      if (code === 130) return resolve({ status: 'interrupted', record: { status: 'failed', ...empty }, warnings });
      const result = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.type === 'result');
      if (code !== 0 || !result) {
        const error = stderr.split('\n').filter((l) => l.startsWith('nabla: error:') || l.startsWith('error:')).at(-1)?.replace(/^nabla: error: /, '') ??
          `exit code ${code}`;
        return resolve({ status: 'failed', record: { status: 'failed', ...empty, error }, warnings });
      }
      resolve({
        status: 'ok',
        record: {
          status: 'ok', val_accuracy: result.val_accuracy, val_loss: result.val_loss, epochs_run: result.epochs_run,
          train_seconds: result.train_seconds, model,
        },
        warnings,
      });
    });
  });
}

/** Best first: validation accuracy, then validation loss; failed trials last. */
function rank(records: TrialRecord[]): TrialRecord[] {
  return [...records].sort((a, b) => {
    if (a.status !== b.status) return a.status === 'ok' ? -1 : 1;
    if (a.status !== 'ok') return 0;
    if (a.val_accuracy !== b.val_accuracy) return (b.val_accuracy ?? -1) - (a.val_accuracy ?? -1);
    return (a.val_loss ?? Infinity) - (b.val_loss ?? Infinity);
  });
}

function formatTable(rows: TrialRecord[], keys: string[], chosen: TrialRecord, all: Array<{ index: number; key: string }>): string {
  const header = ['', 'trial', ...keys, 'val_acc', 'val_loss', 'epochs', 'seconds'];
  const body = rows.map((r) => [
    r === chosen ? '*' : '', String(all.find((t) => t.key === r.key)!.index), ...keys.map((k) => r.flags[k]),
    r.status === 'ok' ? pct(r.val_accuracy!) : 'failed', r.val_loss?.toFixed(4) ?? '', String(r.epochs_run ?? ''), r.train_seconds?.toFixed(0) ?? '',
  ]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c >= header.length - 4 ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

function readLog(path: string): TrialRecord[] {
  if (!existsSync(path)) return [];
  const out: TrialRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as TrialRecord);
    } catch {
      // A line torn by a crash mid-append: that trial simply runs again.
    }
  }
  return out;
}

/** Base flags must be train flags that the space does not vary and the search does not set itself. */
function checkBaseFlags(base: string[], train: Command, varied: Set<string>): void {
  for (let i = 0; i < base.length; i++) {
    const tok = base[i];
    if (!tok.startsWith('--')) {
      throw new NablaError({ where: `train flag "${tok}"`, expected: 'a --flag (values follow their flag)', found: tok, hint: 'flags for every trial go after "--"' });
    }
    const name = tok.slice(2);
    const option = train.options.find((o) => o.long === tok);
    const plain = name.replace(/^no-/, '');
    if (!option || RESERVED.has(plain)) {
      throw new NablaError({
        where: `train flag "${tok}"`, expected: option ? 'a flag the search does not set itself' : 'a flag of nabla train', found: tok,
        hint: option ? 'nabla search sets --out, --checkpoint, --json and --no-test for each trial; use --dir and --out of search' : 'see nabla train --help',
      });
    }
    if (varied.has(plain) || (searchableFlags(train).has(plain) && varied.has(plain))) {
      throw new NablaError({ where: `train flag "${tok}"`, expected: 'flags the search space does not vary', found: `--${plain} in both` });
    }
    if (option.required) {
      const value = base[++i];
      if (value === undefined) throw new NablaError({ where: `train flag "${tok}"`, expected: 'a value after it', found: 'none' });
      try {
        option.parseArg?.(value, undefined as never);
      } catch (e) {
        throw new NablaError({ where: `train flag "${tok}"`, expected: expectedPart((e as Error).message), found: value });
      }
    }
  }
}

function flagValue(base: string[], name: string): string | undefined {
  const i = base.lastIndexOf(`--${name}`);
  return i >= 0 ? base[i + 1] : undefined;
}

/** `count` of the combinations, chosen with a seeded shuffle, kept in grid order. */
function seededSubset(trials: TrialFlags[], count: number, seed: number): TrialFlags[] {
  const idx = new Rng(seed).shuffle(Array.from({ length: trials.length }, (_, i) => i));
  return idx.slice(0, count).sort((a, b) => a - b).map((i) => trials[i]);
}

function csvCell(v: string | undefined): string {
  if (v === undefined) return '';
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
