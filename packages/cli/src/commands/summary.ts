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
      if (t.loss) console.log(`\nloss ${t.loss}; optimiser ${JSON.stringify(t.optimizer ?? {})}; seed ${t.seed}`);
      const h = t.history?.epochs ?? [];
      if (h.length > 0) {
        console.log(`trained ${h.length} epochs on ${t.dataset ?? 'unknown data'}:`);
        for (const e of h) {
          const v = e.valAccuracy === undefined ? '' : `  val_acc ${pct(e.valAccuracy)}`;
          console.log(`  epoch ${e.epoch}  loss ${e.loss.toFixed(4)}  acc ${pct(e.accuracy)}${v}  ${e.seconds.toFixed(1)}s`);
        }
      }
      if (t.test) console.log(`test accuracy ${pct(t.test.accuracy)} (loss ${t.test.loss.toFixed(4)})`);
    });
}
