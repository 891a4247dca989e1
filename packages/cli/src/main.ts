/**
 * The nabla command line: argument parsing, files and printing only; the maths is in the library (packages/nabla).
 * User mistakes (NablaError, bad flags) print one line and exit 1, without a stack trace.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { isNablaError } from 'nabla';
import { registerEval } from './commands/evaluate.ts';
import { registerExport } from './commands/export.ts';
import { registerImport } from './commands/import.ts';
import { registerPredict } from './commands/predict.ts';
import { registerSearch } from './commands/search.ts';
import { registerReport } from './commands/report.ts';
import { registerServe } from './commands/serve.ts';
import { registerSummary } from './commands/summary.ts';
import { Interrupted, registerTrain } from './commands/train.ts';
import { PACKAGE_ROOT } from './paths.ts';
import { loadPlugins } from './plugins.ts';

/** This package's version (src/ and dist/ both sit beside package.json). */
const VERSION = (createRequire(import.meta.url)(join(PACKAGE_ROOT, 'package.json')) as { version: string }).version;

export function makeProgram(): Command {
  const program = new Command();
  program
    .name('nabla')
    .description('nabla: neural networks from scratch. Train, evaluate and use classifiers and regression models on MNIST or your own data (CSV, .npy/.npz, image folders).')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .option('--plugin <module>', 'load layers of your own first (repeatable): a module exporting Layer classes with a static kind, see examples/swish.ts',
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .hook('preAction', async () => {
      await loadPlugins(program.opts<{ plugin: string[] }>().plugin);
    })
    .exitOverride();
  registerTrain(program);
  registerEval(program);
  registerPredict(program);
  registerSummary(program);
  registerSearch(program);
  registerServe(program);
  registerReport(program);
  registerExport(program);
  registerImport(program);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError(`(run "nabla ${cmd.name()} --help" for usage)`);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await makeProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed the message (and help for --help/--version, with exit code 0).
      return e.exitCode;
    }
    if (e instanceof Interrupted) return e.exitCode;
    if (isNablaError(e)) {
      process.stderr.write(`nabla: error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
