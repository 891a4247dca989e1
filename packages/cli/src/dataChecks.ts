/** Checks of a command's data and model that belong to the command line (they name its flags). */
import { NablaError, type Sequential, type Task } from 'nabla';

/**
 * --limit is an upper bound ("at most N samples", as head -n): asking for more than the data holds
 * runs on all of it, but says so on stderr, since the run is then not the size the user asked for.
 */
export function warnLimitOver(limit: number | undefined, count: number, what: string): void {
  if (limit === undefined || limit <= count) return;
  process.stderr.write(`nabla: warning: --limit ${limit} is more than the ${count} ${what}; using all ${count}\n`);
}

/**
 * Refuse a model whose output is not one score per class before eval or predict read it as one:
 * a single output (a regression model) would otherwise score "100%", its argmax always class 0.
 * With `classes` (the data's), the number of outputs must match it too.
 */
export function checkClassifier(path: string, model: Sequential, command: string, classes?: number, task?: Task): void {
  const out = model.outputShape;
  const where = `model file "${path}"`;
  // A single output is a binary classifier only when the file says the model classifies.
  if (task === 'classification' && out.length === 1 && out[0] === 1) return;
  if (out.length !== 1 || out[0] < 2) {
    throw new NablaError({
      where, expected: `one output per class${classes !== undefined ? ` (${classes} for this data)` : ''}, as a classifier has`,
      found: out.length === 1 ? `${out[0]} output per sample (a regression model, not class scores)` : `output shape [${out.join(', ')}] per sample`,
      hint: `nabla ${command} reads a model with no recorded task as a classifier; a model trained with nabla train --task regression (or --loss mse|huber on a CSV) records its task and gets MAE, RMSE and R²`,
    });
  }
  if (classes !== undefined && out[0] !== classes) {
    throw new NablaError({
      where, expected: `${classes} outputs, one per class of the data`, found: `${out[0]} outputs`,
      hint: 'was the model trained on other data? pass that data with --data',
    });
  }
}
