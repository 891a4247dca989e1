/**
 * The training report of `nabla report <model>`: one self-contained HTML file (inline CSS, inline
 * SVG charts, PNG pictures as data: URIs, no script, nothing fetched), readable offline and easy
 * to attach to an issue. The numbers come from the library (evaluate, predictProbabilities,
 * misclassified, the heat maps); this file only lays them out.
 */
import { PNG } from 'pngjs';
import {
  confusionColour, firstLayerPictures, inkToRgba, inputShapeOf, misclassified, tilePictures,
  type ClassificationEvaluation, type Dataset, type LoadedModel, type Mistake, type RegressionEvaluation,
} from 'nabla';
import { num } from './output.ts';

export interface ReportInput {
  name: string;
  loaded: LoadedModel;
  test: Dataset;
  /** Where the test data came from, for the text. */
  dataSource: string;
}

/** How many units of W(1) are drawn, and how many mistakes. */
const MAX_UNITS = 128;
const MAX_MISTAKES = 32;

/**
 * A piece of the page that is already HTML: made only by html`...` (whose values are escaped) or
 * trusted() on a constant of this file. NOTE: the one way text reaches the page: every value a
 * template interpolates is escaped unless it is Html itself, so a string from the model file's
 * training record (seed, epochs, optimiser, loss) can never become markup, whatever its type.
 */
class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** For constants of this file only (the style sheet): never for anything read from a file. */
function trusted(text: string): Html {
  return new Html(text);
}

/** Tagged template: the literal parts as written, every value escaped (arrays concatenated, null/undefined/false empty). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  return esc(String(v));
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Build the report's HTML: a classifier's or a regression model's, as the model file's task says. */
export function buildReport({ name, loaded, test, dataSource }: ReportInput): string {
  const { model, training } = loaded;
  const regression = training.task === 'regression';
  const lossName = training.loss ?? (regression ? 'mse' : 'ce');
  const epochs = training.history?.epochs ?? [];
  const role = `test set (${dataSource})`;
  const ev = regression
    ? model.evaluate(test, { loss: lossName, task: 'regression', role })
    : model.evaluate(test, { loss: lossName, task: 'classification', role });

  const head = [
    html`<h1>nabla report: ${name}</h1>`,
    html`<p class="muted">${model.paramCount.toLocaleString('en-US')} parameters · ${regression ? 'regression' : 'classification'}, trained with ${lossName} loss${
      training.optimizer ? html`, ${JSON.stringify(training.optimizer)}` : ''}${
      training.seed !== undefined ? html`, seed ${training.seed}` : ''} · evaluated on ${
      ev.count.toLocaleString('en-US')} test samples from ${dataSource}</p>`,
  ];
  const cards = ev.task === 'regression'
    ? html`<div class="cards"><div class="card"><b>${num(ev.mae)}</b>test MAE</div>${
      html`<div class="card"><b>${num(ev.rmse)}</b>test RMSE</div>`}${
      html`<div class="card"><b>${ev.r2.toFixed(4)}</b>test R²</div>`}${
      html`<div class="card"><b>${epochs.length}</b>epochs recorded</div>`}</div>`
    : html`<div class="cards"><div class="card"><b>${pct(ev.accuracy)}</b>test accuracy</div>${
      html`<div class="card"><b>${ev.loss.toFixed(4)}</b>test loss</div>`}${
      html`<div class="card"><b>${ev.count - Math.round(ev.accuracy * ev.count)}</b>misclassified</div>`}${
      html`<div class="card"><b>${epochs.length}</b>epochs recorded</div>`}</div>`;
  const curves = [
    html`<h2>Architecture</h2><pre>${model.summary()}</pre>`,
    html`<h2>Training curves</h2>`,
    epochs.length === 0
      ? html`<p class="muted">The model file records no training history.</p>`
      : html`<div class="row">${lineChart('loss', [
        { name: 'training loss', colour: '#c0392b', points: epochs.map((e) => [e.epoch, e.loss]) },
        { name: 'validation loss', colour: '#e67e22', points: epochs.filter((e) => e.valLoss !== undefined).map((e) => [e.epoch, e.valLoss!]) },
      ])}${regression ? '' : lineChart('accuracy', [
        { name: 'training accuracy', colour: '#2471a3', points: epochs.filter((e) => e.accuracy !== undefined).map((e) => [e.epoch, e.accuracy!]) },
        { name: 'validation accuracy', colour: '#16a085', points: epochs.filter((e) => e.valAccuracy !== undefined).map((e) => [e.epoch, e.valAccuracy!]) },
      ])}</div>${epochTable(epochs, regression)}`,
  ];
  const body = ev.task === 'regression'
    ? regressionSections(ev, model.predict(test.x, test.count), test, training.targetNames)
    : classifierSections(ev, loaded, test, training.classNames ?? test.classNames);
  const sections = [...head, cards, ...curves, ...body];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nabla report: ${name}</title>
<style>${CSS}</style></head>
<body><main>
${sections.map((x) => html`${x}\n`)}<p class="muted">Generated by nabla report. Self-contained: no network needed to view it.</p>
</main></body></html>
`.text;
}

/** The classifier's part: per-class accuracy, confusion matrix, W(1), the worst mistakes. */
function classifierSections(ev: ClassificationEvaluation, loaded: LoadedModel, test: Dataset, names: string[] | undefined): Html[] {
  const k = loaded.model.outputShape[0];
  const probs = loaded.model.predictProbabilities(test.x, test.count);
  const mistakes = misclassified(probs, test.y, k, MAX_MISTAKES);
  const label = (c: number): string => names?.[c] ?? String(c);
  return [
    html`<h2>Test set: per-class accuracy and confusion matrix</h2>`,
    html`<div class="row">${perClassTable(ev.perClass, ev.confusion, label)}${confusionTable(ev.confusion, label)}</div>`,
    weightsSection(loaded),
    html`<h2>Worst misclassifications</h2><p class="muted">The ${mistakes.length} wrong answers given with the highest confidence: true → predicted (confidence), test index.</p>`,
    mistakesGrid(mistakes, test, label),
  ];
}

/** How many of the largest errors the regression report lists, and the scatter's points. */
const MAX_ERRORS = 20;
const MAX_POINTS = 2000;

/** The regression model's part: per-target MAE/RMSE/R², predicted against true, the largest errors. */
function regressionSections(ev: RegressionEvaluation, predicted: Float32Array, test: Dataset, names: string[] | undefined): Html[] {
  const t = ev.perTarget.length;
  const name = (j: number): string => names?.[j] ?? (t === 1 ? 'target' : `target ${j}`);
  const rows = ev.perTarget.map((m, j) => html`<tr><th>${name(j)}</th><td>${num(m.mae)}</td><td>${num(m.rmse)}</td><td>${m.r2.toFixed(4)}</td></tr>`);
  const scatters = ev.perTarget.slice(0, 4).map((_, j) => scatterChart(name(j), test.y, predicted, t, j));
  // The largest absolute errors over all targets, with the row they come from.
  const errors: { row: number; j: number; truth: number; guess: number }[] = [];
  for (let i = 0; i < test.count; i++) {
    for (let j = 0; j < t; j++) errors.push({ row: i, j, truth: test.y[i * t + j], guess: predicted[i * t + j] });
  }
  errors.sort((a, b) => Math.abs(b.guess - b.truth) - Math.abs(a.guess - a.truth) || a.row - b.row || a.j - b.j);
  const worst = errors.slice(0, MAX_ERRORS).map((e) => html`<tr><td>${e.row}</td>${t > 1 ? html`<td>${name(e.j)}</td>` : ''}<td>${num(e.truth)}</td><td>${num(e.guess)}</td><td>${num(e.guess - e.truth)}</td></tr>`);
  return [
    html`<h2>Test set: error per target</h2>`,
    html`<table id="per-target"><tr><th></th><th>MAE</th><th>RMSE</th><th>R²</th></tr>${rows}</table>`,
    html`<h2>Predicted against true</h2><p class="muted">One point per test row${test.count > MAX_POINTS ? ` (the first ${MAX_POINTS.toLocaleString('en-US')})` : ''}; on the diagonal the prediction is exact.${t > 4 ? ` The first 4 of ${t} targets.` : ''}</p>`,
    html`<div class="row">${scatters}</div>`,
    html`<h2>Largest errors</h2><table id="errors"><tr><th>row</th>${t > 1 ? html`<th>target</th>` : ''}<th>true</th><th>predicted</th><th>error</th></tr>${worst}</table>`,
  ];
}

/** Predicted (y axis) against true (x axis) for target j, with the diagonal. */
function scatterChart(title: string, truth: Float32Array, predicted: Float32Array, t: number, j: number): Html {
  const W = 320;
  const H = 320;
  const m = { l: 52, r: 12, t: 28, b: 34 };
  const n = Math.min(MAX_POINTS, truth.length / t);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    for (const v of [truth[i * t + j], predicted[i * t + j]]) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!(hi > lo)) {
    lo = (Number.isFinite(lo) ? lo : 0) - 1;
    hi = lo + 2;
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const px = (x: number): string => (m.l + ((x - lo) / (hi - lo)) * (W - m.l - m.r)).toFixed(1);
  const py = (y: number): string => (H - m.b - ((y - lo) / (hi - lo)) * (H - m.t - m.b)).toFixed(1);
  const parts: Html[] = [html`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}: predicted against true">`];
  parts.push(html`<text x="${m.l}" y="16" font-size="13" font-weight="600">${title}</text>`);
  parts.push(html`<line x1="${px(lo)}" y1="${py(lo)}" x2="${px(hi)}" y2="${py(hi)}" stroke="#bbb" stroke-dasharray="4 3"/>`);
  for (let i = 0; i < n; i++) {
    const a = truth[i * t + j];
    const b = predicted[i * t + j];
    if (Number.isFinite(a) && Number.isFinite(b)) parts.push(html`<circle cx="${px(a)}" cy="${py(b)}" r="1.8" fill="#2471a3" fill-opacity="0.5"/>`);
  }
  for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
    parts.push(html`<text x="${px(v)}" y="${H - m.b + 14}" font-size="10" text-anchor="middle" fill="#667">${num(v)}</text>`);
    parts.push(html`<text x="${m.l - 6}" y="${(Number(py(v)) + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#667">${num(v)}</text>`);
  }
  parts.push(html`<text x="${(W + m.l) / 2}" y="${H - 4}" font-size="10" text-anchor="middle" fill="#667">true</text>`);
  parts.push(html`<text x="12" y="${(H - m.b + m.t) / 2}" font-size="10" text-anchor="middle" fill="#667" transform="rotate(-90 12 ${(H - m.b + m.t) / 2})">predicted</text>`);
  return html`${parts}</svg>`;
}

const CSS = trusted(`
body{margin:0;background:#f6f7f9;color:#1d2330;font:14px/1.45 system-ui,sans-serif}
main{max-width:1080px;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.1rem;margin:1.6rem 0 .6rem;border-bottom:1px solid #d8dce4;padding-bottom:.2rem}
.muted{color:#667}.row{display:flex;flex-wrap:wrap;gap:1.2rem;align-items:flex-start}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border:1px solid #d8dce4;border-radius:8px;padding:.6rem 1rem;min-width:8rem;color:#667}
.card b{display:block;font-size:1.5rem;color:#1d2330}
pre{background:#fff;border:1px solid #d8dce4;border-radius:6px;padding:.6rem .8rem;overflow:auto}
table{border-collapse:collapse;font:12px ui-monospace,monospace;background:#fff}
td,th{border:1px solid #e6e8ee;padding:2px 6px;text-align:right}
svg{background:#fff;border:1px solid #d8dce4;border-radius:6px}
.bar{display:inline-block;height:9px;background:#2471a3;vertical-align:middle}
img.px{image-rendering:pixelated}
.mistakes{display:grid;grid-template-columns:repeat(8,96px);gap:8px}.mistakes figure{margin:0;text-align:center;font:11px ui-monospace,monospace}
.mistakes img{width:84px;height:84px;border:1px solid #d8dce4}
`);

function pct(x: number): string {
  return Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`;
}

/** RGBA pixels → a PNG data: URI. */
export function pngDataUri(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): string {
  const png = new PNG({ width, height });
  png.data.set(rgba);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

interface Series {
  name: string;
  colour: string;
  points: [number, number][];
}

/** An inline SVG line chart of per-epoch values, with a legend; no xmlns needed inside HTML. */
function lineChart(title: string, series: Series[]): Html {
  const W = 480;
  const H = 250;
  const m = { l: 52, r: 12, t: 44, b: 34 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  const padY = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 0.05;
  // Losses never go below 0 and accuracies never above 1: the padding must not suggest they do.
  y0 = y0 >= 0 ? Math.max(0, y0 - padY) : y0 - padY;
  y1 = y1 <= 1 && title === 'accuracy' ? Math.min(1, y1 + padY) : y1 + padY;
  const px = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: Html[] = [html`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}">`];
  parts.push(html`<text x="${m.l}" y="16" font-size="13" font-weight="600">${title} per epoch</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(html`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e6e8ee"/>`);
    parts.push(html`<text x="${m.l - 6}" y="${(py(y) + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#667">${y.toFixed(y1 - y0 < 0.1 ? 4 : 3)}</text>`);
  }
  const ticks = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.ceil(ticks.length / 10);
  ticks.forEach((x, i) => {
    if (i % every === 0) parts.push(html`<text x="${px(x).toFixed(1)}" y="${H - m.b + 14}" font-size="10" text-anchor="middle" fill="#667">${x}</text>`);
  });
  parts.push(html`<text x="${(W + m.l) / 2}" y="${H - 4}" font-size="10" text-anchor="middle" fill="#667">epoch</text>`);
  series.forEach((s, si) => {
    if (s.points.length === 0) return;
    const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    parts.push(html`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
    for (const [x, y] of s.points) parts.push(html`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${s.colour}"/>`);
    const lx = m.l + 150 * si;
    parts.push(html`<rect x="${lx}" y="24" width="10" height="10" fill="${s.colour}"/><text x="${lx + 14}" y="33" font-size="11">${s.name}</text>`);
  });
  return html`${parts}</svg>`;
}

function epochTable(epochs: { epoch: number; loss: number; accuracy?: number; valLoss?: number; valAccuracy?: number; seconds: number; lr: number }[], regression: boolean): Html {
  // A regression run has no accuracy: its columns are left out rather than shown empty.
  const rows = epochs.map((e) => html`<tr><td>${e.epoch}</td><td>${e.loss.toFixed(4)}</td>${regression ? '' : html`<td>${e.accuracy === undefined ? '' : pct(e.accuracy)}</td>`}${
    html`<td>${e.valLoss === undefined ? '' : e.valLoss.toFixed(4)}</td>${regression ? '' : html`<td>${e.valAccuracy === undefined ? '' : pct(e.valAccuracy)}</td>`}`}${
    html`<td>${e.lr.toExponential(2)}</td><td>${e.seconds.toFixed(1)}</td></tr>`}`);
  return html`<p></p><table><tr><th>epoch</th><th>loss</th>${regression ? '' : html`<th>accuracy</th>`}<th>val loss</th>${regression ? '' : html`<th>val accuracy</th>`}<th>lr</th><th>seconds</th></tr>${rows}</table>`;
}

function perClassTable(perClass: number[], confusion: number[][], label: (c: number) => string): Html {
  const rows = perClass.map((a, c) => {
    const n = confusion[c].reduce((s, v) => s + v, 0);
    const width = Number.isNaN(a) ? 0 : Math.round(120 * a);
    return html`<tr><th>${label(c)}</th><td>${pct(a)}</td><td style="text-align:left"><span class="bar" style="width:${width}px"></span></td><td>${n}</td></tr>`;
  });
  return html`<table id="per-class"><tr><th>class</th><th>accuracy</th><th></th><th>samples</th></tr>${rows}</table>`;
}

function confusionTable(confusion: number[][], label: (c: number) => string): Html {
  const k = confusion.length;
  const head = html`<tr><th>true \\ predicted</th>${Array.from({ length: k }, (_, j) => html`<th>${label(j)}</th>`)}</tr>`;
  const rows = confusion.map((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    return html`<tr><th>${label(i)}</th>${row.map((v, j) => html`<td style="background:${confusionColour(v, total, i === j)}">${v}</td>`)}</tr>`;
  });
  return html`<table id="confusion">${head}${rows}</table>`;
}

/** W(1) rows as 28×28 pictures in one sprite (one data URI instead of hundreds). */
function weightsSection(loaded: LoadedModel): Html {
  const w = firstLayerPictures(loaded.model, MAX_UNITS);
  if (!w) {
    return html`<h2>First-layer weights W(1)</h2><p class="muted">The first layer is not a Dense layer on 28×28 inputs.</p>`;
  }
  const sprite = tilePictures(w.pictures, 28, 28, 16);
  return html`<h2>First-layer weights W(1)</h2><p class="muted">Each hidden unit's 784 incoming weights drawn as a 28×28 image${
    ''} (red positive, blue negative, each unit on its own scale); the first ${w.pictures.length} of ${w.units} units.</p>${
    html`<img class="px" id="weights" alt="W(1) weight images" src="${pngDataUri(sprite.rgba, sprite.width, sprite.height)}" width="${sprite.width * 2}" height="${sprite.height * 2}">`}`;
}

function mistakesGrid(mistakes: Mistake[], test: Dataset, label: (c: number) => string): Html {
  if (mistakes.length === 0) return html`<p>No test sample is misclassified.</p>`;
  const caption = (e: Mistake): string => `${label(e.label)} → ${label(e.predicted)} (${(100 * e.confidence).toFixed(0)}%)`;
  // Pictures for image data (grey or colour, any size); other data lists its mistakes as text.
  const shape = inputShapeOf(test);
  const image = shape.length === 3 && (shape[0] === 1 || shape[0] === 3) ? { c: shape[0], h: shape[1], w: shape[2] } : undefined;
  if (!image) {
    return html`<ul id="mistakes">${mistakes.map((e) => html`<li>#${e.index}: ${caption(e)}</li>`)}</ul>`;
  }
  const n = image.c * image.h * image.w;
  const cells = mistakes.map((e) => {
    const x = test.x.subarray(e.index * n, (e.index + 1) * n);
    const rgba = image.c === 1 ? inkToRgba(x, image.w, image.h) : planesToRgba(x, image.w, image.h);
    const uri = pngDataUri(rgba, image.w, image.h);
    return html`<figure><img class="px" alt="test ${e.index}" src="${uri}"><figcaption>${caption(e)}<br>#${e.index}</figcaption></figure>`;
  });
  return html`<div class="mistakes" id="mistakes">${cells}</div>`;
}

/** A colour image as the model sees it (3 planes, R G B, values in [0, 1]) → RGBA pixels. */
function planesToRgba(x: Float32Array, width: number, height: number): Uint8ClampedArray {
  const plane = width * height;
  const rgba = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = Math.round(255 * x[c * plane + p]);
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}
