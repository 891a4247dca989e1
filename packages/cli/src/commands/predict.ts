/**
 * nabla predict <model> <input ...>: the class (by name when the model file records names) and
 * probabilities for each image, or for each row of a CSV file; a regression model's predicted
 * values. Images are read as the model expects: a model trained on an image folder gets the
 * recorded size and channels; an MNIST model (28×28 grey) the digit path (any size or colour,
 * brought to MNIST's white-on-black).
 */
import { extname } from 'node:path';
import type { Command } from 'commander';
import { argmax, csvRecords, noInk, NablaError, shapeSize, type Sequential, type TrainingInfo } from 'nabla';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { loadCsv, loadImageFile, loadModel } from 'nabla/node';
import { checkClassifier } from '../dataChecks.ts';
import { firstLine, type DataRecord } from '../dataSources.ts';
import { num, pct } from '../output.ts';

const CSV_EXTENSIONS = ['.csv', '.tsv', '.txt'];

export function registerPredict(program: Command): void {
  const command = program
    .command('predict')
    .description('predict images (PNG/JPEG) or the rows of CSV files: class names and probabilities, or a regression model\'s values')
    .argument('<model>', 'model file (.safetensors)')
    .argument('<inputs...>', 'images (resized to the size and channels the model was trained on; an MNIST model takes any digit PNG), ' +
      'or .csv files with the training columns, with or without the label column (with it, each row shows its true label too)')
    .option('--json', 'print one JSON object per image or row', false);
  addBackendOptions(command)
    .action(async (modelPath: string, inputs: string[], opts: { json: boolean } & BackendFlags) => {
      const { model, training } = loadModel(modelPath, { backend: await backendFromFlags(opts) });
      const regression = training.task === 'regression';
      if (!regression) checkClassifier(modelPath, model, 'predict', undefined, training.task);
      const record = training.data as DataRecord | undefined;
      for (const path of inputs) {
        if (CSV_EXTENSIONS.includes(extname(path).toLowerCase())) {
          predictCsv(path, model, training, record, opts.json);
          continue;
        }
        const { x, warning } = await readImage(path, model, record, modelPath);
        if (warning) process.stderr.write(`nabla: warning: ${path}: ${warning}\n`);
        report(model, training, x, 1, opts.json, () => ({ label: path, json: { file: path, ...(warning ? { warning } : {}) } }));
      }
    });
}

/** One image as the model's input. */
async function readImage(path: string, model: Sequential, record: DataRecord | undefined, modelPath: string): Promise<{ x: Float32Array; warning?: string }> {
  if (record?.kind === 'images') {
    const { x } = await loadImageFile(path, { size: record.size, channels: record.channels ?? 3 });
    return { x };
  }
  if (shapeSize(model.inputShape) !== 784) {
    throw new NablaError({
      where: `model file "${modelPath}"`, expected: 'a model trained on images (an image folder, or MNIST) to predict an image',
      found: `a model trained on ${record ? `${record.kind} data` : 'data it does not record'} (input [${model.inputShape.join(', ')}])`,
      hint: record?.kind === 'csv' ? 'pass a .csv file with its columns' : undefined,
    });
  }
  // Loaded when needed: it pulls in pngjs, which every other command (and --version) can do without.
  const { readDigitPng } = await import('../image.ts');
  const x = await readDigitPng(path);
  return { x, warning: noInk(x) };
}

/** Predict `count` rows of `x` and print one line (or JSON object) per row. */
function report(
  model: Sequential, training: TrainingInfo, x: Float32Array, count: number, json: boolean,
  row: (i: number) => { label: string; truth?: string | number[]; json: Record<string, unknown> },
): { correct: number; labelled: number } {
  let correct = 0;
  let labelled = 0;
  if (training.task === 'regression') {
    const out = model.predict(x, count);
    const t = out.length / count;
    for (let i = 0; i < count; i++) {
      const values = Array.from(out.subarray(i * t, (i + 1) * t));
      const r = row(i);
      if (json) {
        console.log(JSON.stringify({ ...r.json, prediction: values, ...(training.targetNames ? { target_names: training.targetNames } : {}), ...(r.truth !== undefined ? { target: r.truth } : {}) }));
      } else {
        const named = values.map((v, j) => `${training.targetNames?.[j] ?? (t > 1 ? `target ${j}` : '')}${training.targetNames?.[j] || t > 1 ? ' ' : ''}${num(v)}`).join(', ');
        console.log(`${r.label}: ${named}${r.truth !== undefined ? `  (true: ${(r.truth as number[]).map(num).join(', ')})` : ''}`);
      }
    }
    return { correct, labelled };
  }
  const probs = model.predictProbabilities(x, count);
  const k = probs.length / count;
  const names = training.classNames;
  const name = (c: number): string => names?.[c] ?? String(c);
  for (let i = 0; i < count; i++) {
    const p = probs.subarray(i * k, (i + 1) * k);
    const cls = argmax(p, 0, k);
    const r = row(i);
    if (r.truth !== undefined) {
      labelled++;
      if (r.truth === name(cls)) correct++;
    }
    if (json) {
      console.log(JSON.stringify({
        ...r.json, class: cls, ...(names ? { class_name: name(cls) } : {}), probabilities: Array.from(p, (v) => Number(v.toFixed(6))),
        ...(r.truth !== undefined ? { true_label: r.truth } : {}),
      }));
    } else {
      const top = Array.from(p, (v, c) => [c, v] as const).sort((a, b) => b[1] - a[1]).slice(0, 3);
      console.log(`${r.label}: ${name(cls)}  (${top.map(([c, v]) => `${name(c)}: ${pct(v)}`).join(', ')})${r.truth !== undefined ? `  true: ${r.truth}` : ''}`);
    }
  }
  return { correct, labelled };
}

/**
 * Every row of a CSV file: with the model's feature columns only, or with the label column too
 * (found as in training: the recorded --label, else by the same rules), whose value is shown
 * beside each prediction and counted.
 */
function predictCsv(path: string, model: Sequential, training: TrainingInfo, record: DataRecord | undefined, json: boolean): void {
  const features = shapeSize(model.inputShape);
  // Counted by the CSV reader itself, so a quoted header such as "width, cm" is one column.
  const columns = csvRecords(firstLine(path), `CSV file "${path}"`).next().value?.fields.length ?? 0;
  if (columns !== features && columns !== features + 1) {
    throw new NablaError({
      where: `CSV file "${path}":1`, expected: `${features} feature columns (as in training), or ${features + 1} with the label`,
      found: `${columns} columns`, hint: record?.path ? `the model was trained on "${record.path}"` : undefined,
    });
  }
  const hasLabel = columns === features + 1;
  const label = hasLabel ? record?.label : null;
  let x: Float32Array;
  let count: number;
  let truth: (i: number) => string | number[] | undefined = () => undefined;
  if (hasLabel && training.task === 'regression') {
    const ds = loadCsv(path, { task: 'regression', label });
    ({ x, count } = ds);
    const t = ds.targets;
    truth = (i) => Array.from(ds.y.subarray(i * t, (i + 1) * t));
  } else {
    // first-seen: any label value is shown as it is written, even one training never saw.
    const ds = loadCsv(path, { label, classOrder: 'first-seen' });
    ({ x, count } = ds);
    if (hasLabel) truth = (i) => ds.classNames?.[ds.labels[i]] ?? String(ds.labels[i]);
  }
  if (x.length !== count * features) {
    throw new NablaError({ where: `CSV file "${path}"`, expected: `${features} feature columns`, found: `${x.length / Math.max(count, 1)}` });
  }
  const { correct, labelled } = report(model, training, x, count, json, (i) => ({
    label: `${path} row ${i + 1}`, truth: truth(i), json: { file: path, row: i + 1 },
  }));
  if (labelled > 0 && !json) console.log(`${path}: ${correct}/${labelled} rows predicted as labelled (${pct(correct / labelled)})`);
}
