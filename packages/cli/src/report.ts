/**
 * The training report of `nabla report <model>`: one self-contained HTML file (inline CSS, inline
 * SVG charts, PNG pictures as data: URIs, no script, nothing fetched), readable offline and easy
 * to attach to an issue. The numbers come from the library (evaluate, predictProbabilities,
 * misclassified, the heat maps); this file only lays them out.
 */
import { PNG } from 'pngjs';
import {
  confusionColour, firstLayerPictures, inkToRgba, misclassified, tilePictures, type Dataset, type LoadedModel, type Mistake,
} from 'nabla';

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

/** Build the report's HTML. */
export function buildReport({ name, loaded, test, dataSource }: ReportInput): string {
  const { model, training } = loaded;
  const lossName = training.loss ?? 'ce';
  const ev = model.evaluate(test, { loss: lossName, task: 'classification', role: `test set (${dataSource})` });
  const k = model.outputShape[0];
  const probs = model.predictProbabilities(test.x, test.count);
  const mistakes = misclassified(probs, test.y, k, MAX_MISTAKES);
  const epochs = training.history?.epochs ?? [];

  const sections = [
    html`<h1>nabla report: ${name}</h1>`,
    html`<p class="muted">${model.paramCount.toLocaleString('en-US')} parameters · trained with ${lossName} loss${
      training.optimizer ? html`, ${JSON.stringify(training.optimizer)}` : ''}${
      training.seed !== undefined ? html`, seed ${training.seed}` : ''} · evaluated on ${
      ev.count.toLocaleString('en-US')} test samples from ${dataSource}</p>`,
    html`<div class="cards"><div class="card"><b>${pct(ev.accuracy)}</b>test accuracy</div>${
      html`<div class="card"><b>${ev.loss.toFixed(4)}</b>test loss</div>`}${
      html`<div class="card"><b>${ev.count - Math.round(ev.accuracy * ev.count)}</b>misclassified</div>`}${
      html`<div class="card"><b>${epochs.length}</b>epochs recorded</div>`}</div>`,
    html`<h2>Architecture</h2><pre>${model.summary()}</pre>`,
    html`<h2>Training curves</h2>`,
    epochs.length === 0
      ? html`<p class="muted">The model file records no training history.</p>`
      : html`<div class="row">${lineChart('loss', [
        { name: 'training loss', colour: '#c0392b', points: epochs.map((e) => [e.epoch, e.loss]) },
        { name: 'validation loss', colour: '#e67e22', points: epochs.filter((e) => e.valLoss !== undefined).map((e) => [e.epoch, e.valLoss!]) },
      ])}${lineChart('accuracy', [
        { name: 'training accuracy', colour: '#2471a3', points: epochs.filter((e) => e.accuracy !== undefined).map((e) => [e.epoch, e.accuracy!]) },
        { name: 'validation accuracy', colour: '#16a085', points: epochs.filter((e) => e.valAccuracy !== undefined).map((e) => [e.epoch, e.valAccuracy!]) },
      ])}</div>${epochTable(epochs)}`,
    html`<h2>Test set: per-class accuracy and confusion matrix</h2>`,
    html`<div class="row">${perClassTable(ev.perClass, ev.confusion)}${confusionTable(ev.confusion)}</div>`,
    weightsSection(loaded),
    html`<h2>Worst misclassifications</h2><p class="muted">The ${mistakes.length} wrong answers given with the highest confidence: true → predicted (confidence), test index.</p>`,
    mistakesGrid(mistakes, test),
  ];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nabla report: ${name}</title>
<style>${CSS}</style></head>
<body><main>
${sections.map((x) => html`${x}\n`)}<p class="muted">Generated by nabla report. Self-contained: no network needed to view it.</p>
</main></body></html>
`.text;
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

function epochTable(epochs: { epoch: number; loss: number; accuracy?: number; valLoss?: number; valAccuracy?: number; seconds: number; lr: number }[]): Html {
  const rows = epochs.map((e) => html`<tr><td>${e.epoch}</td><td>${e.loss.toFixed(4)}</td><td>${e.accuracy === undefined ? '' : pct(e.accuracy)}</td>${
    html`<td>${e.valLoss === undefined ? '' : e.valLoss.toFixed(4)}</td><td>${e.valAccuracy === undefined ? '' : pct(e.valAccuracy)}</td>`}${
    html`<td>${e.lr.toExponential(2)}</td><td>${e.seconds.toFixed(1)}</td></tr>`}`);
  return html`<p></p><table><tr><th>epoch</th><th>loss</th><th>accuracy</th><th>val loss</th><th>val accuracy</th><th>lr</th><th>seconds</th></tr>${rows}</table>`;
}

function perClassTable(perClass: number[], confusion: number[][]): Html {
  const rows = perClass.map((a, c) => {
    const n = confusion[c].reduce((s, v) => s + v, 0);
    const width = Number.isNaN(a) ? 0 : Math.round(120 * a);
    return html`<tr><th>${c}</th><td>${pct(a)}</td><td style="text-align:left"><span class="bar" style="width:${width}px"></span></td><td>${n}</td></tr>`;
  });
  return html`<table id="per-class"><tr><th>class</th><th>accuracy</th><th></th><th>samples</th></tr>${rows}</table>`;
}

function confusionTable(confusion: number[][]): Html {
  const k = confusion.length;
  const head = html`<tr><th>true \\ predicted</th>${Array.from({ length: k }, (_, j) => html`<th>${j}</th>`)}</tr>`;
  const rows = confusion.map((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    return html`<tr><th>${i}</th>${row.map((v, j) => html`<td style="background:${confusionColour(v, total, i === j)}">${v}</td>`)}</tr>`;
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

function mistakesGrid(mistakes: Mistake[], test: Dataset): Html {
  if (mistakes.length === 0) return html`<p>No test sample is misclassified.</p>`;
  // Pictures for MNIST-shaped inputs; other data lists its mistakes as text.
  if (test.features !== 784) {
    return html`<ul id="mistakes">${mistakes.map((e) => html`<li>#${e.index}: ${e.label} → ${e.predicted} (${(100 * e.confidence).toFixed(0)}%)</li>`)}</ul>`;
  }
  const cells = mistakes.map((e) => {
    const uri = pngDataUri(inkToRgba(test.x.subarray(e.index * 784, (e.index + 1) * 784), 28, 28), 28, 28);
    return html`<figure><img class="px" alt="test ${e.index}" src="${uri}"><figcaption>${e.label} → ${e.predicted} (${(100 * e.confidence).toFixed(0)}%)<br>#${e.index}</figcaption></figure>`;
  });
  return html`<div class="mistakes" id="mistakes">${cells}</div>`;
}
