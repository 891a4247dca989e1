/**
 * Search spaces for `nabla search`: "flag=values" entries separated by spaces, over any flag of
 * `nabla train` that shapes the model or its training.
 *
 *   grid     lr=1e-3,2e-3 hidden=256,128|512 batch-size=64,128 activation=relu,leaky-relu
 *            alternatives are separated by "|", or by "," for flags whose value has no commas
 *            (for --hidden, whose value is a comma list, only "|" separates alternatives)
 *   random   the same lists (one picked uniformly), or ranges: lr=1e-4..1e-2 (log-uniform for
 *            lr and weight-decay, or with ":log"), momentum=0.8..0.99 (uniform), batch-size=32..256
 *            (integers for integer flags)
 *
 * Every value is checked with the train command's own flag parser before any trial starts, so a
 * typo fails at once rather than in trial 7.
 */
import type { Command, Option } from 'commander';
import { NablaError, Rng } from 'nabla';
import { expectedPart } from './options.ts';

/** One trial: flag (long name without "--") → value as passed on the command line ("true"/"false" for switches). */
export type TrialFlags = Array<[string, string]>;

/** Flags a search may not vary: where things are written, what is printed, the data, and how the kernels run. */
const NOT_SEARCHABLE = new Set(['out', 'checkpoint', 'resume', 'json', 'progress', 'data', 'test', 'init', 'limit', 'val', 'help', 'backend', 'threads']);
/** Short names people use. */
const ALIASES: Record<string, string> = { batch: 'batch-size', wd: 'weight-decay', opt: 'optimizer', act: 'activation', clip: 'clip-norm' };
/** Flags searched on a log scale when given as a range. */
const LOG_BY_DEFAULT = new Set(['lr', 'weight-decay', 'clip-norm']);
const INTEGER_FLAGS = new Set(['epochs', 'batch-size', 'seed', 'step-size', 'early-stopping']);

interface Dimension {
  flag: string;
  /** A list of values, or a numeric range. */
  values?: string[];
  range?: { lo: number; hi: number; log: boolean; integer: boolean };
}

/** The train flags a space may use, from the train command's own option list. */
export function searchableFlags(train: Command): Map<string, Option> {
  const out = new Map<string, Option>();
  for (const o of train.options) {
    const name = o.long?.replace(/^--(no-)?/, '');
    if (!name || NOT_SEARCHABLE.has(name)) continue;
    // For "--no-x" the positive flag is the searchable one (as nesterov=true,false).
    if (!out.has(name) || !o.negate) out.set(name, o);
  }
  return out;
}

/** Parse a space; `random` allows ranges. Errors name the entry and what was expected. */
export function parseSpace(spec: string, train: Command, random: boolean): Dimension[] {
  const flags = searchableFlags(train);
  const entries = spec.trim().split(/\s+/).filter((e) => e !== '');
  const where = (e: string) => `search space entry "${e}"`;
  if (entries.length === 0) {
    throw new NablaError({ where: 'search space', expected: 'entries like lr=1e-3,2e-3', found: 'nothing' });
  }
  const seen = new Set<string>();
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new NablaError({ where: where(entry), expected: 'flag=values, e.g. lr=1e-3,2e-3', found: 'no "="' });
    const key = entry.slice(0, eq).replace(/^--/, '');
    const flag = ALIASES[key] ?? key;
    const option = flags.get(flag);
    if (!option) {
      throw new NablaError({
        where: where(entry), expected: `a flag of nabla train (${[...flags.keys()].join(', ')})`, found: `"${key}"`,
        hint: NOT_SEARCHABLE.has(flag) ? `--${flag} is the same for every trial; pass it after "--"` : 'check the spelling',
      });
    }
    if (seen.has(flag)) throw new NablaError({ where: where(entry), expected: `--${flag} once`, found: 'it twice' });
    seen.add(flag);
    const text = entry.slice(eq + 1);
    const rangeMatch = /^(.*?)\.\.(.*?)(:log)?$/.exec(text);
    if (rangeMatch && random) {
      const lo = rangeMatch[1].trim() === '' ? NaN : Number(rangeMatch[1]);
      const hi = rangeMatch[2].trim() === '' ? NaN : Number(rangeMatch[2]);
      const log = rangeMatch[3] !== undefined || LOG_BY_DEFAULT.has(flag);
      const integer = INTEGER_FLAGS.has(flag);
      if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo <= hi) || (log && lo <= 0) || (integer && Math.ceil(lo) > Math.floor(hi))) {
        throw new NablaError({
          where: where(entry), expected: `a non-empty range lo..hi${log ? ' with lo > 0 (log scale)' : ''}${integer ? ' holding an integer' : ''}`,
          found: `${rangeMatch[1]}..${rangeMatch[2]}`,
        });
      }
      check(option, flag, String(lo), entry);
      check(option, flag, String(hi), entry);
      return { flag, range: { lo, hi, log, integer } };
    }
    if (rangeMatch) {
      throw new NablaError({ where: where(entry), expected: 'a list of values in a grid (ranges need --random)', found: text });
    }
    const values = (flag === 'hidden' || text.includes('|') ? text.split('|') : text.split(',')).map((v) => v.trim());
    if (values.length === 0 || values.some((v) => v === '')) {
      throw new NablaError({ where: where(entry), expected: 'one or more values', found: text === '' ? 'an empty list' : `an empty value in "${text}"` });
    }
    if (new Set(values).size !== values.length) {
      throw new NablaError({ where: where(entry), expected: 'distinct values', found: text });
    }
    for (const v of values) check(option, flag, v, entry);
    return { flag, values };
  });
}

/** Every combination, first dimension slowest (as nested loops written in the spec's order). */
export function expandGrid(dims: Dimension[]): TrialFlags[] {
  let out: TrialFlags[] = [[]];
  for (const d of dims) {
    const next: TrialFlags[] = [];
    for (const t of out) for (const v of d.values!) next.push([...t, [d.flag, v]]);
    out = next;
  }
  return out;
}

/**
 * `count` seeded random draws; duplicates (possible with lists) are skipped, so fewer may come
 * back when the space is small.
 */
export function sampleRandom(dims: Dimension[], count: number, seed: number): TrialFlags[] {
  const rng = new Rng(seed);
  const out: TrialFlags[] = [];
  const seen = new Set<string>();
  for (let attempt = 0; out.length < count && attempt < count * 20; attempt++) {
    const trial: TrialFlags = dims.map((d) => [d.flag, draw(d, rng)]);
    const key = trialKey(trial);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(trial);
  }
  return out;
}

function draw(d: Dimension, rng: Rng): string {
  if (d.values) return d.values[rng.int(d.values.length)];
  const { lo, hi, log, integer } = d.range!;
  if (integer) {
    const a = Math.ceil(lo);
    const b = Math.floor(hi);
    return String(log ? Math.round(Math.exp(Math.log(a) + rng.uniform() * (Math.log(b) - Math.log(a)))) : a + rng.int(b - a + 1));
  }
  const v = log ? Math.exp(Math.log(lo) + rng.uniform() * (Math.log(hi) - Math.log(lo))) : lo + rng.uniform() * (hi - lo);
  // Three significant digits: readable in tables, and the same string on every resume.
  return String(Number(v.toPrecision(3)));
}

/** "lr=0.001 hidden=256,128": the identity of a trial in the results log. */
export function trialKey(trial: TrialFlags): string {
  return trial.map(([k, v]) => `${k}=${v}`).join(' ');
}

/** The command-line arguments of a trial. */
export function trialArgs(trial: TrialFlags, train: Command): string[] {
  const flags = searchableFlags(train);
  const args: string[] = [];
  for (const [flag, value] of trial) {
    const o = flags.get(flag)!;
    if (o.isBoolean() || o.negate) {
      // A switch: --x for true (or --no-x for false when the flag is on by default).
      const on = value === 'true';
      const hasNegation = train.options.some((x) => x.long === `--no-${flag}`);
      if (on && !o.negate) args.push(`--${flag}`);
      if (!on && hasNegation) args.push(`--no-${flag}`);
    } else {
      args.push(`--${flag}`, value);
    }
  }
  return args;
}

function check(option: Option, flag: string, value: string, entry: string): void {
  if (option.isBoolean() || option.negate) {
    if (value !== 'true' && value !== 'false') {
      throw new NablaError({ where: `search space entry "${entry}"`, expected: `true or false for the switch --${flag}`, found: value });
    }
    return;
  }
  if (!option.parseArg) return;
  try {
    option.parseArg(value, undefined as never);
  } catch (e) {
    throw new NablaError({ where: `search space entry "${entry}"`, expected: `${expectedPart((e as Error).message)} for --${flag}`, found: value });
  }
}
