/** nabla summary <model>: layers, output shapes, parameter counts and how the model was trained. */
import type { Command } from 'commander';
import { loadModel } from 'nabla/node';
import { pct } from '../output.ts';

export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('show a model\'s layers, shapes, parameter counts and training record')
    .argument('<model>', 'model file (.safetensors)')
    .option('--json', 'print architecture and training record as JSON', false)
    .action((modelPath: string, opts: { json: boolean }) => {
      const { model, training } = loadModel(modelPath);
      if (opts.json) {
        console.log(JSON.stringify({ model: modelPath, params: model.paramCount, architecture: model.config(), training }));
        return;
      }
      console.log(model.summary());
      const t = training;
      // Only what the file records: files from the playground or the library may lack any field.
      const lines: string[] = [];
      const setup = [
        t.loss !== undefined ? `loss ${t.loss}` : undefined,
        t.optimizer !== undefined && Object.keys(t.optimizer).length > 0 ? `optimiser ${formatOptimizer(t.optimizer)}` : undefined,
        t.batchSize !== undefined ? `batch ${t.batchSize}` : undefined,
        t.seed !== undefined ? `seed ${t.seed}` : undefined,
      ].filter((p) => p !== undefined);
      if (setup.length > 0) lines.push(setup.join('; '));
      const h = t.history?.epochs ?? [];
      const on = t.dataset !== undefined ? ` on ${t.dataset}` : '';
      if (t.history !== undefined) {
        lines.push(`trained ${h.length} epoch${h.length === 1 ? '' : 's'}${on}${h.length > 0 ? ':' : ''}`);
        for (const e of h) {
          // A classifier's epochs have accuracies, a regression model's (the library's) MAE and R².
          const v = e.valAccuracy !== undefined ? `  val_acc ${pct(e.valAccuracy)}`
            : e.valMae !== undefined ? `  val_mae ${e.valMae.toPrecision(4)}  val_r2 ${e.valR2?.toFixed(4)}` : '';
          const a = e.accuracy !== undefined ? `  acc ${pct(e.accuracy)}` : e.mae !== undefined ? `  mae ${e.mae.toPrecision(4)}` : '';
          lines.push(`  epoch ${e.epoch}  loss ${e.loss.toFixed(4)}${a}${v}  ${e.seconds.toFixed(1)}s`);
        }
      } else if (Number.isSafeInteger(t.steps)) {
        lines.push(`trained${on}: ${t.steps} step${t.steps === 1 ? '' : 's'}`);
      } else if (on) {
        lines.push(`trained${on}`);
      }
      if (t.test?.accuracy !== undefined) lines.push(`test accuracy ${pct(t.test.accuracy)} (loss ${t.test.loss.toFixed(4)})`);
      else if (t.test) {
        const figures = (['mae', 'rmse', 'r2'] as const).filter((f) => t.test![f] !== undefined).map((f) => `${f} ${t.test![f]!.toPrecision(4)}`);
        lines.push(`test loss ${t.test.loss.toFixed(4)}${figures.length > 0 ? `, ${figures.join(', ')}` : ''}`);
      }
      if (lines.length > 0) console.log(`\n${lines.join('\n')}`);
    });
}

/**
 * "adam (lr 0.002, schedule cosine)": the name, then each recorded setting (unset ones left out,
 * and momentum and nesterov for the optimisers that have none: train records them for every run).
 */
function formatOptimizer(o: Record<string, unknown>): string {
  const sgdOnly = o.name !== 'sgd' ? ['momentum', 'nesterov'] : [];
  const settings = Object.entries(o)
    .filter(([k, v]) => k !== 'name' && !sgdOnly.includes(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  const name = typeof o.name === 'string' ? o.name : 'settings';
  return settings.length > 0 ? `${name} (${settings.join(', ')})` : name;
}
