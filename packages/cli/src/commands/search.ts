/**
 * nabla search: grid or random search over `nabla train` flags. Each trial is a separate
 * `nabla train --json --no-test` process (so trials use every core, whichever backend train uses),
 * at most --jobs at a time. Trials are ranked on validation accuracy (validation loss for a
 * regression task); the test set is evaluated once, for the chosen model.
 *
 * Files in --dir: trials.jsonl (one line appended per finished trial: the resume log),
 * results.csv and results.json (rewritten atomically after every trial), trial-<id>.safetensors
 * and their checkpoints. Rerunning the same command skips finished trials and resumes unfinished
 * ones from their checkpoints.
 *
 * On many machines (see searchArray.ts for the folder): --emit <folder> writes the trials as a
 * job array instead of running them; each line runs `nabla search --trial k --array <folder>`,
 * which trains trial k exactly as the local search would and writes its result file; then
 * --collect <folder> runs the trials without a result (or prints their lines) and ranks, tests
 * and prints exactly as the local search.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { NablaError, Rng, crc32 } from 'nabla';
import { readFileChecked, writeFileAtomic, loadModel } from 'nabla/node';
import { dataInputs, loadEvalData, type DataRecord } from '../dataSources.ts';
import { expectedPart, intIn, oneOf } from '../options.ts';
import { BIN } from '../paths.ts';
import { checkOutputs } from '../outputs.ts';
import { pct } from '../output.ts';
import { loadPlugins } from '../plugins.ts';
import {
  MANIFEST, SLURM_SCRIPT, TRIAL_LIST, absoluteBase, checkData, fingerprint, makeManifest, readManifest, readResult, resultPath, trialLine,
  writeManifest, writeResult, type ArrayTrial, type Manifest, type TrialOutcome,
} from '../searchArray.ts';
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
  emit?: string;
  nablaCommand?: string;
  collect?: string;
  missing: 'run' | 'print';
  trial?: number;
  array?: string;
}

/** One line of trials.jsonl: a trial's outcome (the fields a job-array result holds too) and which trial it was. */
export interface TrialRecord extends TrialOutcome {
  key: string;
  base: string;
  flags: Record<string, string>;
}

/** `nabla search --collect --missing print` with trials still missing: exit code 3 (not an error, not done). */
export class Incomplete extends Interrupted {
  override readonly exitCode: number = 3;
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('grid or random search over nabla train flags; picks on validation accuracy (validation loss for regression), tests the chosen model once. ' +
      'On many machines: --emit writes the trials as a job array, --collect ranks their results')
    .argument('[train-flags...]', 'flags for every trial, after "--" (e.g. -- --epochs 4 --data dir)')
    .option('--grid <space>', 'every combination, e.g. "lr=1e-3,2e-3 hidden=256,128|512 batch-size=64,128"')
    .option('--random <space>', 'random draws, e.g. "lr=1e-4..1e-2 hidden=128|256|512 batch-size=32..256" (lr is log-uniform)')
    .option('--trials <n>', 'trial budget (random: draws; grid: at most this many combinations, a seeded subset)', intIn(1))
    .option('--jobs <n>', 'trials running at once, each a separate process (default: the available cores)', intIn(1))
    .option('--seed <n>', 'seed of the random draws and grid subsets (each trial keeps its own --seed)', intIn(0, 2 ** 32 - 1), 1)
    .option('--dir <folder>', 'where trial models, checkpoints and results go', 'models/search')
    .option('--out <file>', 'where to save the chosen model (default: <dir>/best.safetensors, or <folder>/best.safetensors with --collect)')
    .option('--emit <folder>', 'run nothing: write the trials as a job array in <folder> (trials.txt: one shell command a line; slurm.sh; search.json), ' +
      'for a scheduler, GNU parallel or xargs -P; the folder must be shared with the machines that run them')
    .option('--nabla-command <cmd>', 'with --emit: how each line of trials.txt starts nabla (default: this node and this nabla, by absolute path), e.g. "npx nabla"')
    .option('--collect <folder>', 'rank the results of an emitted search exactly as a local search does and test the chosen model once; ' +
      'trials without a result first run here (see --missing)')
    .option('--missing <what>', 'with --collect, trials without a result: run (here, --jobs at a time, resuming from their checkpoints) ' +
      'or print (their lines of trials.txt on stdout, to resubmit; exit code 3)', oneOf(['run', 'print'] as const), 'run')
    .option('--trial <n>', 'run trial n (its line of trials.txt) of the emitted search in --array and write its result file', intIn(1))
    .option('--array <folder>', 'with --trial: the folder written by --emit')
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (trainFlags: string[], opts: SearchOptions, cmd: Command) => {
      const train = cmd.parent!.commands.find((c) => c.name() === 'train')!;
      checkModeFlags(trainFlags, opts, cmd);
      if (opts.trial !== undefined) return trialCommand(opts.array!, opts.trial, train);
      if (opts.collect !== undefined) return collect(opts.collect, opts, train);
      await search(trainFlags, opts, cmd);
    });
}

/** --emit, --collect and --trial exclude each other, and the last two take the search from the manifest. */
function checkModeFlags(base: string[], opts: SearchOptions, cmd: Command): void {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  const modes = (['emit', 'collect', 'trial'] as const).filter((m) => opts[m] !== undefined);
  if (modes.length > 1) throw new NablaError({ where: 'nabla search', expected: 'one of --emit, --collect and --trial', found: modes.map((m) => `--${m}`).join(' and ') });
  if ((opts.trial === undefined) !== (opts.array === undefined)) {
    throw new NablaError({ where: opts.trial === undefined ? 'flag --array' : 'flag --trial', expected: '--trial <n> and --array <folder> together', found: `only --${opts.trial === undefined ? 'array' : 'trial'}`, hint: 'copy the line from trials.txt' });
  }
  if (given('nablaCommand') && opts.emit === undefined) throw new NablaError({ where: 'flag --nabla-command', expected: '--emit with it', found: 'no --emit' });
  if (given('missing') && opts.collect === undefined) throw new NablaError({ where: 'flag --missing', expected: '--collect with it', found: 'no --collect' });
  if (opts.emit !== undefined) {
    for (const name of ['out', 'dir', 'jobs']) {
      if (given(name)) {
        throw new NablaError({ where: `flag --${name}`, expected: `no --${name} with --emit (it runs nothing)`, found: `--${name}`, hint: name === 'dir' ? 'the folder of --emit holds the trials and their results' : `give --${name} to nabla search --collect instead` });
      }
    }
  }
  if (opts.collect === undefined && opts.trial === undefined) return;
  const mode = opts.collect !== undefined ? '--collect' : '--trial';
  const fromManifest = ['grid', 'random', 'trials', 'seed', 'dir', ...(opts.trial !== undefined ? ['out', 'jobs'] : [])];
  for (const name of fromManifest) {
    if (given(name)) {
      throw new NablaError({
        where: `flag --${name}`, expected: `no --${name} with ${mode}`, found: `--${name}`,
        hint: name === 'out' || name === 'jobs' ? 'a trial writes only its own files' : `the search (space, seed, data, train flags) comes from the folder's ${MANIFEST}`,
      });
    }
  }
  if (base.length > 0) {
    throw new NablaError({ where: `train flag "${base[0]}"`, expected: `no train flags with ${mode}`, found: base.join(' '), hint: `the search (space, seed, data, train flags) comes from the folder's ${MANIFEST}` });
  }
}

/** The trials of a space: every grid combination (or a seeded subset of --trials), or --trials random draws. */
function planTrials(opts: SearchOptions, base: string[], train: Command, say: (line: string) => void): { dims: string[]; trials: TrialFlags[] } {
  if ((opts.grid === undefined) === (opts.random === undefined)) {
    throw new NablaError({ where: 'nabla search', expected: 'exactly one of --grid and --random', found: opts.grid === undefined ? 'neither' : 'both' });
  }
  if (opts.random !== undefined && opts.trials === undefined) {
    throw new NablaError({ where: 'flag --random', expected: '--trials <n> with it (how many draws)', found: 'no --trials' });
  }
  const dims = parseSpace(opts.grid ?? opts.random!, train, opts.random !== undefined);
  checkBaseFlags(base, train, new Set(dims.map((d) => d.flag)));
  let trials: TrialFlags[];
  if (opts.grid !== undefined) {
    trials = expandGrid(dims);
    if (opts.trials !== undefined && trials.length > opts.trials) {
      say(`the grid has ${trials.length} combinations; the budget of ${opts.trials} runs a seeded subset`);
      trials = seededSubset(trials, opts.trials, opts.seed);
    }
  } else {
    trials = sampleRandom(dims, opts.trials!, opts.seed);
  }
  return { dims: dims.map((d) => d.flag), trials };
}

/** The search's inputs: --init and the data files, never to be overwritten by its outputs. */
function inputsOf(base: string[]): Array<{ path: string; role: string }> {
  const initPath = flagValue(base, 'init');
  return [
    ...(initPath !== undefined ? [{ path: initPath, role: 'model file of --init' }] : []),
    ...dataInputs(flagValue(base, 'data'), flagValue(base, 'labels')).map((path) => ({ path, role: 'data file' })),
  ];
}

async function search(base: string[], opts: SearchOptions, cmd: Command): Promise<void> {
  const train = cmd.parent!.commands.find((c) => c.name() === 'train')!;
  const say = (line: string): void => void (opts.progress && process.stderr.write(`search: ${line}\n`));
  const { dims, trials } = planTrials(opts, base, train, say);
  if (opts.emit !== undefined) return emit(opts.emit, base, opts, dims, trials);

  const jobs = opts.jobs ?? availableParallelism();
  // Outputs checked before the first trial: the chosen model and the results never replace an
  // input (--init, --data files) and the folder is writable (each trial checks its own files too).
  checkOutputs([
    { path: opts.out ?? join(opts.dir, 'best.safetensors'), role: 'best model' }, { path: join(opts.dir, 'results.json'), role: 'search results' },
    { path: join(opts.dir, 'results.csv'), role: 'search results' }, { path: join(opts.dir, 'trials.jsonl'), role: 'search log' },
  ], inputsOf(base));
  mkdirSync(opts.dir, { recursive: true });
  const logPath = join(opts.dir, 'trials.jsonl');
  const baseKey = base.join(' ');
  const done = new Map<string, TrialRecord>();
  for (const r of readLog(logPath)) if (r.base === baseKey) done.set(r.key, r);
  const all = trials.map((t, i) => ({ index: i + 1, flags: t, key: trialKey(t) }));
  const todo = all.filter((t) => !done.has(t.key));
  if (done.size > 0 && todo.length < all.length) say(`${all.length - todo.length} of ${all.length} trials already finished in ${logPath}; skipping them`);

  const records = (): TrialRecord[] => all.map((t) => done.get(t.key)).filter((r): r is TrialRecord => r !== undefined);
  const ranked: Ranked = {
    dir: opts.dir, out: opts.out ?? join(opts.dir, 'best.safetensors'), dims, all, base, space: opts.grid ?? opts.random!,
    mode: opts.grid !== undefined ? 'grid' : 'random', log: logPath, dataCwd: undefined,
  };
  /** Files of a trial: named by a hash of its flags, so a changed grid never reuses another trial's files. */
  const stemOf = (key: string): string => join(opts.dir, `trial-${crc32(new TextEncoder().encode(`${key}\n${baseKey}`)).toString(16).padStart(8, '0')}`);
  // Trials interrupted in an earlier run go first: their checkpoints hold work already paid for.
  const queue = [...todo.filter((t) => existsSync(`${stemOf(t.key)}.ckpt.safetensors`)), ...todo.filter((t) => !existsSync(`${stemOf(t.key)}.ckpt.safetensors`))];
  const stopped = await runPool(queue, jobs, records, all.length, say, (t) => runTrial(t.flags, base, train, stemOf(t.key)), (t, result) => {
    const record: TrialRecord = { key: t.key, base: baseKey, flags: Object.fromEntries(t.flags), ...result.record };
    // One short line per write with O_APPEND: a crash leaves at most a torn last line, skipped on reading.
    appendFileSync(logPath, JSON.stringify(record) + '\n');
    done.set(t.key, record);
    writeResults(ranked, records());
    return record;
  });
  writeResults(ranked, records());
  if (stopped) {
    process.stderr.write(`nabla: search interrupted with ${records().length} of ${all.length} trials finished (in ${logPath}); run the same command again to resume\n`);
    throw new Interrupted();
  }
  await finish(ranked, records());
}

/** Everything the ranking, the results files and the final test need. */
interface Ranked {
  dir: string;
  out: string;
  dims: string[];
  all: Array<{ index: number; key: string; flags: TrialFlags }>;
  base: string[];
  space: string;
  mode: 'grid' | 'random';
  /** Where the trials' records are (named when every trial failed). */
  log: string;
  /** The folder relative data paths in `base` are read from (the emitting folder for --collect). */
  dataCwd: string | undefined;
}

/**
 * Run `queue` with at most `jobs` trials at once, each through `start`; `record` keeps a finished
 * one. Ctrl-C (SIGINT) stops new launches and waits for the running trials (which checkpoint).
 * Returns true when stopped so.
 */
async function runPool<T extends { index: number; key: string }>(
  queue: T[], jobs: number, records: () => TrialRecord[], planned: number, say: (line: string) => void,
  start: (t: T) => Promise<TrialResult>, record: (t: T, result: TrialResult) => TrialRecord,
): Promise<boolean> {
  let running = 0;
  let stopping = false;
  const warned = new Set<string>();
  const onSigint = (): void => {
    stopping = true;
    say('interrupted: waiting for the running trials to checkpoint; run the same command again to resume');
  };
  process.on('SIGINT', onSigint);
  const progress = (what: string): void => {
    const b = rank(records()).find((r) => r.status === 'ok');
    say(`${what}; ${records().length}/${planned} done, ${running} running` + (b ? `, best so far ${figure(b)} (${b.key})` : ''));
  };
  try {
    await new Promise<void>((resolveAll) => {
      const launch = (): void => {
        while (running < jobs && queue.length > 0 && !stopping) {
          const t = queue.shift()!;
          running++;
          start(t).then((result) => {
            running--;
            // A trial's warnings (say, --limit over the data size) would be lost with its stderr:
            // passed on, each text once, since every trial of the search tends to repeat them.
            for (const w of result.warnings) {
              if (warned.has(w)) continue;
              warned.add(w);
              process.stderr.write(`nabla: warning: trial ${t.index} (${t.key}): ${w}\n`);
            }
            if (result.status !== 'interrupted') {
              const r = record(t, result);
              progress(`trial ${t.index} (${t.key}) ${r.status === 'ok' ? `val ${figure(r)}` : `failed: ${r.error}`}`);
            } else {
              progress(`trial ${t.index} interrupted (its checkpoint resumes it)`);
            }
            launch();
          });
          progress(`trial ${t.index} started (${t.key})`);
        }
        if (running === 0) resolveAll();
      };
      launch();
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  return stopping;
}

/** results.csv and results.json in the search folder, ranked; with the chosen trial and its test figures at the end. */
function writeResults(s: Ranked, records: TrialRecord[], chosen?: { record: TrialRecord; test: Score }): void {
  const rows = rank(records);
  const csv = [
    ['trial', ...s.dims, 'status', 'val_accuracy', 'val_loss', 'epochs_run', 'train_seconds', `test_${chosen?.test.name ?? criterion(records).test}`, 'chosen'].join(','),
    ...rows.map((r) => [
      s.all.find((t) => t.key === r.key)!.index, ...s.dims.map((k) => csvCell(r.flags[k])), r.status, r.val_accuracy ?? '', r.val_loss ?? '',
      r.epochs_run ?? '', r.train_seconds?.toFixed(1) ?? '', chosen?.record === r ? chosen.test.value : '', chosen?.record === r ? 'yes' : '',
    ].join(',')),
  ].join('\n') + '\n';
  writeFileAtomic(join(s.dir, 'results.csv'), new TextEncoder().encode(csv), 'search results');
  const json = {
    space: s.space, mode: s.mode, base: s.base, planned: s.all.length, ranked_by: criterion(records).name,
    trials: rows, chosen: chosen ? { ...chosen.record, ...chosen.test.fields, saved_to: s.out } : null,
  };
  writeFileAtomic(join(s.dir, 'results.json'), new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n'), 'search results');
}

/** A test figure of the chosen model: accuracy (classification) or RMSE (regression), with every field for results.json. */
interface Score {
  name: string;
  value: number;
  fields: Record<string, number>;
  line: string;
}

/** Rank, test the chosen model once, save it, write the results, print the table. */
async function finish(s: Ranked, records: TrialRecord[]): Promise<void> {
  const chosen = rank(records).find((r) => r.status === 'ok');
  if (!chosen) {
    throw new NablaError({ where: 'nabla search', expected: 'at least one trial that finished', found: `${s.all.length} failed`, hint: `see ${s.log}; the first error: ${records[0]?.error}` });
  }
  // The only look at the test set: the chosen model, once.
  // The test set the trials held out (or --test-data, or the source's own), read as the model records.
  const given = flagValue(s.base, 'test-data') ?? flagValue(s.base, 'data');
  const data = given !== undefined && s.dataCwd !== undefined ? resolve(s.dataCwd, given) : given;
  const labels = flagValue(s.base, 'labels');
  const { model, training } = loadModel(chosen.model!);
  const { test, task } = await loadEvalData(training.data as DataRecord | undefined, { data, labels: labels !== undefined && s.dataCwd !== undefined ? resolve(s.dataCwd, labels) : labels }, chosen.model!, model.outputShape[0]);
  const ev = model.evaluate(test, { loss: training.loss ?? (task === 'regression' ? 'mse' : 'ce'), task });
  const score: Score = ev.task === 'classification'
    ? { name: 'accuracy', value: ev.accuracy, fields: { test_loss: ev.loss, test_accuracy: ev.accuracy }, line: `test accuracy of the chosen model: ${pct(ev.accuracy)} (test loss ${ev.loss.toFixed(4)}` }
    : {
      name: 'rmse', value: ev.rmse, fields: { test_loss: ev.loss, test_mae: ev.mae, test_rmse: ev.rmse, test_r2: ev.r2 },
      line: `test RMSE of the chosen model: ${ev.rmse.toPrecision(4)} (MAE ${ev.mae.toPrecision(4)}, R² ${ev.r2.toFixed(4)}, test loss ${ev.loss.toFixed(4)}`,
    };
  writeFileAtomic(s.out, readFileChecked(chosen.model!, 'trial model'), 'best model');
  writeResults(s, records, { record: chosen, test: score });
  console.log(formatTable(rank(records), s.dims, chosen, s.all));
  console.log(`\nchosen: ${chosen.key} (validation ${criterion(records).label} ${figure(chosen)})`);
  console.log(`${score.line}; the test set was evaluated for this model only)`);
  console.log(`saved to ${s.out}; results in ${join(s.dir, 'results.csv')} and results.json`);
}

/** --emit: the manifest, trials.txt and slurm.sh; no trial runs. */
function emit(folder: string, base: string[], opts: SearchOptions, dims: string[], trials: TrialFlags[]): void {
  const cwd = process.cwd();
  const absBase = absoluteBase(base, cwd);
  const command = opts.nablaCommand !== undefined ? opts.nablaCommand.trim().split(/\s+/).filter((w) => w !== '') : [process.execPath, BIN];
  if (command.length === 0) throw new NablaError({ where: 'flag --nabla-command', expected: 'a command that starts nabla, e.g. "npx nabla"', found: 'an empty string' });
  checkOutputs([MANIFEST, TRIAL_LIST, SLURM_SCRIPT, 'results.json', 'results.csv', 'best.safetensors'].map((f) => ({ path: join(folder, f), role: 'search folder file' })), inputsOf(absBase));
  const manifest = makeManifest({
    mode: opts.grid !== undefined ? 'grid' : 'random', space: opts.grid ?? opts.random!, seed: opts.seed, budget: opts.trials ?? null, dims, base: absBase, cwd,
    plugins: (process.env.NABLA_PLUGINS ?? '').split(delimiter).filter((p) => p !== ''),
    data: fingerprint([...inputsOf(absBase).filter((i) => i.role === 'data file').map((i) => i.path), ...testDataInputs(absBase)]),
    trials: trials.map((t, i) => ({ index: i + 1, key: trialKey(t), flags: t })),
    command,
  });
  if (existsSync(join(folder, MANIFEST))) {
    const old = readManifest(folder);
    if (old.id !== manifest.id) {
      throw new NablaError({
        where: `folder "${folder}"`, expected: 'a new folder, or the same search again', found: `another search (${old.space}; ${old.trials.length} trials)`,
        hint: 'emit into a new folder: its results would not be comparable',
      });
    }
  }
  mkdirSync(folder, { recursive: true });
  writeManifest(folder, manifest);
  const n = trials.length;
  const abs = resolve(folder);
  console.log(`wrote ${n} trial${n === 1 ? '' : 's'} of ${manifest.mode === 'grid' ? 'the grid' : 'random draws'} to ${join(abs, TRIAL_LIST)} (line k runs trial k), ` +
    `with ${join(abs, SLURM_SCRIPT)} and ${join(abs, MANIFEST)} (search ${manifest.id})`);
  console.log('run them on machines that see this folder, e.g.:');
  console.log(`  xargs -P 2 -I{} sh -c {} < ${join(abs, TRIAL_LIST)}`);
  console.log(`  parallel --jobs 4 < ${join(abs, TRIAL_LIST)}`);
  console.log(`  sbatch ${join(abs, SLURM_SCRIPT)}`);
  console.log(`then rank them (trials without a result run there first): nabla search --collect ${abs}`);
}

function testDataInputs(base: string[]): string[] {
  const t = flagValue(base, 'test-data');
  return t === undefined ? [] : dataInputs(t);
}

/** --trial k --array <folder>: what one line of trials.txt does. */
async function trialCommand(folder: string, index: number, train: Command): Promise<void> {
  const m = readManifest(folder);
  const t = m.trials.find((x) => x.index === index);
  if (!t) throw new NablaError({ where: 'flag --trial', expected: `a trial of the search in ${folder} (1 to ${m.trials.length})`, found: String(index) });
  checkData(m, folder);
  checkCwd(m, folder);
  const result = await runArrayTrial(folder, m, t, train, true);
  for (const w of result.warnings) process.stderr.write(`nabla: warning: trial ${t.index} (${t.key}): ${w}\n`);
  if (result.status === 'interrupted') {
    process.stderr.write(`nabla: trial ${t.index} interrupted; its checkpoint resumes it when the same line runs again\n`);
    throw new Interrupted();
  }
  if (result.status === 'failed') {
    throw new NablaError({ where: `trial ${t.index} (${t.key})`, expected: 'a finished training run', found: `an error: ${result.record.error}`, hint: `recorded in ${resultPath(folder, t.index)}; --collect ranks it last` });
  }
  console.log(`trial ${t.index} (${t.key}): validation ${figure(result.record)}; result in ${resultPath(folder, t.index)}`);
}

/** Trials run in the folder the search was emitted from: it must exist here. */
function checkCwd(m: Manifest, folder: string): void {
  if (!existsSync(m.cwd) || !statSync(m.cwd).isDirectory()) {
    throw new NablaError({ where: `search in ${folder}`, expected: `the folder it was emitted from, ${m.cwd}, on this machine (trials run there)`, found: 'no such folder', hint: 'mount the shared folders at the same paths on every machine' });
  }
}

/** Run one trial of an emitted search (in the folder it was emitted from) and write its result file, unless interrupted. */
async function runArrayTrial(folder: string, m: Manifest, t: ArrayTrial, train: Command, forwardSignals: boolean): Promise<TrialResult> {
  const name = `trial-${t.index}`;
  const result = await runTrial(t.flags, m.base, train, join(resolve(folder), name), {
    cwd: m.cwd, env: { ...process.env, NABLA_PLUGINS: m.plugins.join(delimiter) }, forwardSignals,
  });
  if (result.status !== 'interrupted') writeResult(folder, m, t, { ...result.record, model: result.record.model === null ? null : `${name}.safetensors` });
  return result;
}

/** --collect <folder>: run (or list) the missing trials, then rank, test and print as a local search does. */
async function collect(folder: string, opts: SearchOptions, train: Command): Promise<void> {
  const say = (line: string): void => void (opts.progress && process.stderr.write(`search: ${line}\n`));
  const m = readManifest(folder);
  // The chosen model may hold user layers: the plugins it was trained with are loaded here too.
  await loadPlugins(m.plugins);
  const out = opts.out ?? join(folder, 'best.safetensors');
  checkOutputs([
    { path: out, role: 'best model' }, { path: join(folder, 'results.json'), role: 'search results' }, { path: join(folder, 'results.csv'), role: 'search results' },
  ], inputsOf(m.base));
  checkData(m, folder);
  const baseKey = m.base.join(' ');
  const done = new Map<number, TrialRecord>();
  const toRecord = (t: ArrayTrial, o: NonNullable<ReturnType<typeof readResult>>): TrialRecord => (
    { key: t.key, base: baseKey, flags: Object.fromEntries(t.flags), ...o, model: o.model === null ? null : join(folder, o.model) });
  for (const t of m.trials) {
    const o = readResult(folder, m, t);
    if (o) done.set(t.index, toRecord(t, o));
  }
  const records = (): TrialRecord[] => m.trials.map((t) => done.get(t.index)).filter((r): r is TrialRecord => r !== undefined);
  const missing = m.trials.filter((t) => !done.has(t.index));
  const ranked: Ranked = {
    dir: folder, out, dims: m.dims, all: m.trials, base: m.base, space: m.space, mode: m.mode, log: `the trial-*.result.json files in ${folder}`, dataCwd: m.cwd,
  };
  if (missing.length > 0) {
    const list = missing.map((t) => `${t.index} (${t.key})`).join(', ');
    process.stderr.write(`search: ${missing.length} of ${m.trials.length} trials have no result in ${folder}: ${list}\n`);
    if (opts.missing === 'print') {
      for (const t of missing) console.log(trialLine(m, folder, t.index));
      process.stderr.write(`search: their lines are above (for Slurm: sbatch --array=${missing.map((t) => t.index - 1).join(',')} ${join(resolve(folder), SLURM_SCRIPT)}); ` +
        'collect again once they have run\n');
      throw new Incomplete();
    }
    checkCwd(m, folder);
    say(`running ${missing.length === 1 ? 'it' : 'them'} here, ${opts.jobs ?? availableParallelism()} at a time (a trial with a checkpoint resumes from it)`);
    const stopped = await runPool(missing, opts.jobs ?? availableParallelism(), records, m.trials.length, say, (t) => runArrayTrial(folder, m, t, train, false), (t, result) => {
      const r = toRecord(t, { ...result.record, model: result.record.model === null ? null : `trial-${t.index}.safetensors` });
      done.set(t.index, r);
      return r;
    });
    if (stopped) {
      process.stderr.write(`nabla: collect interrupted with ${records().length} of ${m.trials.length} trials finished; run the same command again to resume\n`);
      throw new Interrupted();
    }
  }
  await finish(ranked, records());
}

interface TrialResult {
  status: 'ok' | 'failed' | 'interrupted';
  record: Omit<TrialRecord, 'key' | 'base' | 'flags'>;
  /** The trial's "nabla: warning:" lines, without that prefix. */
  warnings: string[];
}

/** Run one trial as `nabla train` in a child process; resumes from its checkpoint if one exists. */
function runTrial(
  flags: TrialFlags, base: string[], train: Command, stem: string,
  where: { cwd?: string; env?: NodeJS.ProcessEnv; forwardSignals?: boolean } = {},
): Promise<TrialResult> {
  const model = `${stem}.safetensors`;
  const ckpt = `${stem}.ckpt.safetensors`;
  const args = [BIN, 'train', ...base, ...trialArgs(flags, train), '--json', '--no-progress', '--no-test', '--out', model, '--checkpoint', ckpt];
  if (existsSync(ckpt)) args.push('--resume', ckpt);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: where.cwd, env: where.env });
    // A trial of a job array: a scheduler's SIGTERM (time limit, cancel) or a SIGINT reaches the
    // trial's train as SIGINT, which checkpoints mid-epoch; the same line run again resumes there.
    const forward = (): void => void child.kill('SIGINT');
    if (where.forwardSignals) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, forward);
    child.on('close', () => {
      if (where.forwardSignals) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, forward);
    });
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

/**
 * Best first: validation accuracy, then validation loss; failed trials last. A regression run
 * reports no accuracy (null for every trial), so it ranks on validation loss alone.
 */
function rank(records: TrialRecord[]): TrialRecord[] {
  return [...records].sort((a, b) => {
    if (a.status !== b.status) return a.status === 'ok' ? -1 : 1;
    if (a.status !== 'ok') return 0;
    if (a.val_accuracy !== b.val_accuracy) return (b.val_accuracy ?? -1) - (a.val_accuracy ?? -1);
    return (a.val_loss ?? Infinity) - (b.val_loss ?? Infinity);
  });
}

/** What the ranking compares: accuracy when the trials report one (classification), else the validation loss (regression). */
function criterion(records: TrialRecord[]): { name: 'val_accuracy' | 'val_loss'; label: string; test: string } {
  return records.some((r) => r.status === 'ok' && r.val_accuracy !== null)
    ? { name: 'val_accuracy', label: 'accuracy', test: 'accuracy' } : { name: 'val_loss', label: 'loss', test: 'rmse' };
}

/** A finished trial's ranking figure: "97.25%", or the validation loss "0.0412" for regression. */
function figure(r: Pick<TrialRecord, 'val_accuracy' | 'val_loss'>): string {
  return r.val_accuracy !== null ? pct(r.val_accuracy) : r.val_loss !== null ? r.val_loss.toFixed(4) : 'none (no validation split)';
}

function formatTable(rows: TrialRecord[], keys: string[], chosen: TrialRecord, all: Array<{ index: number; key: string }>): string {
  const acc = criterion(rows).name === 'val_accuracy';
  const header = ['', 'trial', ...keys, ...(acc ? ['val_acc'] : []), 'val_loss', 'epochs', 'seconds'];
  const body = rows.map((r) => [
    r === chosen ? '*' : '', String(all.find((t) => t.key === r.key)!.index), ...keys.map((k) => r.flags[k]),
    ...(acc ? [r.status === 'ok' ? pct(r.val_accuracy!) : 'failed'] : []), r.status === 'ok' ? r.val_loss?.toFixed(4) ?? '' : (acc ? '' : 'failed'),
    String(r.epochs_run ?? ''), r.train_seconds?.toFixed(0) ?? '',
  ]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((r) => r[c].length)));
  const numeric = acc ? 4 : 3;
  const line = (r: string[]) => r.map((v, c) => (c >= header.length - numeric ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd();
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
