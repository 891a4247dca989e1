/**
 * The playground page: DOM, canvases and charts. No maths here: every number comes from the
 * Worker (worker.ts), which runs the library; the page only draws. The library's heat-map
 * helpers colour the trace's vectors and matrices, the same as the Worker's W(1) pictures.
 */
import { confusionColour, inkToRgba, signedToRgba, type SampleTrace, type TraceStep } from 'nabla';
import { drawChart } from './chart.ts';
import type { Architecture, BackendChoice, FromWorker, Hyper, MistakeView, Progress, ToWorker } from './protocol.ts';
import { imageStepParts, imageStepTitle, isImageStep } from './convTrace.ts';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);

const status = $<HTMLParagraphElement>('status');
const trainButton = $<HTMLButtonElement>('train');
let training = false;
let dataReady = false;

// ---------------------------------------------------------------------------------------------
// Drawing pad: white ink on black, like MNIST; pointer events cover mouse, pen and touch.
// ---------------------------------------------------------------------------------------------

const pad = $<HTMLCanvasElement>('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true })!;
let drawing = false;
let dirty = false;
let last: [number, number] | null = null;
let predictPending = false;
/** Bumped by every stroke; the prediction shown is fresh when it answered the latest version. */
let padVersion = 0;
let sentVersion = 0;

function clearPad(): void {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  $('predicted').textContent = '–';
  renderBars(null);
}

function padPoint(e: PointerEvent): [number, number] {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  last = padPoint(e);
  stroke(last, last);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing || !last) return;
  const p = padPoint(e);
  stroke(last, p);
  last = p;
});
const endStroke = (): void => {
  drawing = false;
  last = null;
  requestPrediction();
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

function stroke(from: [number, number], to: [number, number]): void {
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 20;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  dirty = true;
  padVersion++;
  $('predicted').dataset.fresh = 'false';
  requestPrediction();
}

/** At most one prediction in flight; the newest drawing is sent when the previous answer arrives. */
function requestPrediction(): void {
  if (!dirty || predictPending) return;
  predictPending = true;
  sentVersion = padVersion;
  const img = ctx.getImageData(0, 0, pad.width, pad.height);
  send({ type: 'predict', rgba: img.data, width: img.width, height: img.height }, [img.data.buffer]);
}

$('clear').addEventListener('click', clearPad);

function renderBars(probabilities: Float32Array | null): void {
  const bars = $('bars');
  bars.replaceChildren();
  for (let c = 0; c < 10; c++) {
    const p = probabilities ? probabilities[c] : 0;
    const label = document.createElement('span');
    label.textContent = String(c);
    const bar = document.createElement('span');
    bar.className = 'bar';
    const fill = document.createElement('i');
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement('span');
    value.textContent = probabilities ? `${(100 * p).toFixed(1)}%` : '';
    value.dataset.class = String(c);
    bars.append(label, bar, value);
  }
}

function putPixels(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function pixelCanvas(rgba: Uint8ClampedArray, width: number, height: number, className = ''): HTMLCanvasElement {
  const c = document.createElement('canvas');
  if (className) c.className = className;
  putPixels(c, rgba, width, height);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Training controls and charts
// ---------------------------------------------------------------------------------------------

const num = (id: string, fallback: number): number => {
  const v = Number($<HTMLInputElement>(id).value);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

function hyper(): Hyper {
  return { lr: num('lr', 2e-3), batchSize: Math.round(num('batch', 64)), trainCount: Number($<HTMLSelectElement>('train-count').value) };
}

/** The network the controls describe: the select picks dense, a preset or the layer spec box. */
function arch(): Architecture {
  const v = $<HTMLSelectElement>('arch').value;
  if (v === 'layers') return { kind: 'layers', spec: $<HTMLInputElement>('layers').value };
  if (v.startsWith('preset:')) return { kind: 'preset', preset: v.slice(7) as 'mlp' | 'cnn' | 'lenet5' };
  return { kind: 'hidden', hidden: Math.round(num('hidden', 64)) };
}

/** The hidden-units box only means something for the dense network. */
function syncArchControls(): void {
  $<HTMLInputElement>('hidden').disabled = $<HTMLSelectElement>('arch').value !== 'hidden';
}

trainButton.addEventListener('click', () => send(training ? { type: 'pause' } : { type: 'train', hyper: hyper(), arch: arch() }));
for (const id of ['lr', 'batch', 'train-count']) $(id).addEventListener('change', () => send({ type: 'setHyper', hyper: hyper() }));
$('hidden').addEventListener('change', () => resetNetwork());
$('arch').addEventListener('change', () => {
  syncArchControls();
  resetNetwork();
});
$('build').addEventListener('click', () => {
  $<HTMLSelectElement>('arch').value = 'layers';
  syncArchControls();
  resetNetwork();
});
$('layers').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  $('build').click();
});
$('backend').addEventListener('change', () => send({ type: 'backend', backend: $<HTMLSelectElement>('backend').value as BackendChoice }));
$('reset').addEventListener('click', () => resetNetwork());
$('download').addEventListener('click', () => send({ type: 'download' }));
$('inspect').addEventListener('click', () => send({ type: 'inspect' }));
$('trace-test').addEventListener('click', () => send({ type: 'trace', source: 'test', index: Number($<HTMLInputElement>('trace-index').value) }));
$('trace-drawing').addEventListener('click', () => send({ type: 'trace', source: 'drawing', index: 0 }));

const lossPoints: [number, number][] = [];
const accPoints: [number, number][] = [];
/** The last second or so of progress slices: samples/s is shown over this window, not one slice. */
const recent: { samples: number; seconds: number }[] = [];
/** Samples trained and seconds spent training since the page loaded (data-samples, data-seconds). */
const totals = { samples: 0, seconds: 0 };

/** A new or reset network: its curves, and the last test accuracy (the previous network's) go. */
function clearCharts(): void {
  lossPoints.length = 0;
  accPoints.length = 0;
  recent.length = 0;
  const stats = $('train-stats');
  delete stats.dataset.testAccuracy;
  stats.textContent = 'step 0';
  drawCharts();
}

function drawCharts(): void {
  drawChart($('loss-chart'), lossPoints, '#c0392b');
  drawChart($('acc-chart'), accPoints, '#2471a3', [0, 1]);
}

function resetNetwork(): void {
  clearCharts();
  send({ type: 'reset', hyper: hyper(), arch: arch(), seed: 1 });
}

function samplesPerSecond(p: Progress): number {
  recent.push({ samples: p.samples, seconds: p.seconds });
  let seconds = recent.reduce((s, r) => s + r.seconds, 0);
  while (recent.length > 1 && seconds - recent[0].seconds > 1) seconds -= recent.shift()!.seconds;
  return recent.reduce((s, r) => s + r.samples, 0) / Math.max(seconds, 1e-6);
}

function onProgress(p: Progress): void {
  totals.samples += p.samples;
  totals.seconds += p.seconds;
  const stats = $('train-stats');
  stats.dataset.samples = String(totals.samples);
  stats.dataset.seconds = String(totals.seconds);
  const rate = samplesPerSecond(p);
  stats.dataset.samplesPerSecond = String(rate);
  lossPoints.push([p.step, p.loss]);
  $('loss-chart').dataset.last = String(p.loss);
  if (lossPoints.length === 1) $('loss-chart').dataset.first = String(p.loss);
  if (p.testAccuracy !== undefined) accPoints.push([p.step, p.testAccuracy]);
  if (p.testAccuracy !== undefined) stats.dataset.testAccuracy = String(p.testAccuracy);
  drawCharts();
  const acc = accPoints.length ? `  test acc ${(100 * accPoints[accPoints.length - 1][1]).toFixed(1)}%` : '';
  stats.textContent =
    `step ${p.step}  epoch ${p.epoch}  loss ${p.loss.toFixed(4)}${acc}  ${Math.round(rate).toLocaleString('en-US')} samples/s`;
  // Live probabilities: the drawing is re-scored by the network as it learns.
  requestPrediction();
}

// ---------------------------------------------------------------------------------------------
// Inside the network: W(1), confusion matrix, mistakes
// ---------------------------------------------------------------------------------------------

function renderInspection(m: Extract<FromWorker, { type: 'inspection' }>): void {
  $('weights').replaceChildren(...m.weights.map((rgba) => pixelCanvas(rgba, 28, 28)));
  // W(1) pictures exist for a dense first layer only (a CNN's first layer is a convolution).
  ($('weights').closest('figure') as HTMLElement).hidden = m.weights.length === 0;
  const table = $<HTMLTableElement>('confusion');
  table.replaceChildren();
  const head = table.insertRow();
  head.append(document.createElement('th'));
  for (let j = 0; j < m.confusion.length; j++) {
    const th = document.createElement('th');
    th.textContent = String(j);
    head.append(th);
  }
  const acc = document.createElement('th');
  acc.textContent = 'acc';
  head.append(acc);
  m.confusion.forEach((row, i) => {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = String(i);
    tr.append(th);
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((v, j) => {
      const td = tr.insertCell();
      td.textContent = String(v);
      td.style.background = confusionColour(v, total, i === j);
    });
    const a = tr.insertCell();
    a.textContent = `${(100 * m.perClass[i]).toFixed(1)}`;
  });
  $('mistakes').replaceChildren(...m.mistakes.map((e: MistakeView) => {
    const cell = document.createElement('div');
    cell.title = `test #${e.index}`;
    cell.append(pixelCanvas(e.rgba, 28, 28), `${e.label}→${e.predicted} (${Math.round(100 * e.confidence)}%)`);
    return cell;
  }));
}

// ---------------------------------------------------------------------------------------------
// Step through one sample: the notes' equations beside the numbers
// ---------------------------------------------------------------------------------------------

function formatVector(v: Float32Array, max = 10): string {
  // Gradients of a confident network are tiny: show 3 significant digits, not 0.000.
  const num = (x: number): string => (x >= 0 ? ' ' : '') + (x === 0 || Math.abs(x) >= 1e-3 ? x.toFixed(3) : x.toExponential(2));
  const shown = Array.from(v.subarray(0, max), num).join(' ');
  return v.length > max ? `[${shown} … ] (${v.length} values)` : `[${shown} ]`;
}

function strip(v: Float32Array): HTMLCanvasElement {
  return pixelCanvas(signedToRgba(v, v.length, 1), v.length, 1, 'strip');
}

function field(eq: string, shape: string, body: (HTMLElement | string)[]): HTMLElement[] {
  const left = document.createElement('div');
  const e = document.createElement('div');
  e.className = 'eq';
  e.textContent = eq;
  const s = document.createElement('div');
  s.className = 'shape';
  s.textContent = shape;
  left.append(e, s);
  const right = document.createElement('div');
  right.className = 'nums';
  right.append(...body);
  return [left, right];
}

function vectorBody(v: Float32Array): (HTMLElement | string)[] {
  const text = document.createElement('div');
  text.textContent = formatVector(v);
  return [strip(v), text];
}

/**
 * Rows of ∂C/∂W(1) as 28×28 pictures: row u is δ_u times the input image, so it shows the digit
 * itself, red or blue by the sign of δ_u. The first units with a non-zero δ, in unit order.
 */
function gradientRows(grad: Float32Array, delta: Float32Array, l: number): HTMLElement {
  const wrap = document.createElement('div');
  wrap.className = 'grid';
  let shown = 0;
  for (let u = 0; u < delta.length && shown < 8; u++) {
    if (delta[u] === 0) continue;
    const cell = document.createElement('div');
    cell.title = `row ${u} of ∂C/∂W(${l}) = δ(${l})_${u} · a(${l - 1})ᵀ, δ = ${delta[u].toExponential(2)}`;
    cell.append(pixelCanvas(signedToRgba(grad.subarray(u * 784, (u + 1) * 784), 28, 28), 28, 28));
    wrap.append(cell);
    shown++;
  }
  const caption = document.createElement('div');
  caption.textContent = `rows of the first ${shown} units with δ ≠ 0, as 28×28: each is δ_u × the input (red +, blue −)`;
  const box = document.createElement('div');
  box.append(wrap, caption);
  return box;
}

const ACTIVATION_EQ: Record<string, string> = {
  ReLU: 'σ(z) = max(0, z),  σ′(z) = [z > 0]',
  LeakyReLU: 'σ(z) = z > 0 ? z : αz',
  Sigmoid: 'σ(z) = 1 / (1 + e^−z),  σ′ = a(1 − a)',
  Tanh: 'σ(z) = tanh z,  σ′ = 1 − a²',
  Softmax: 'σ(z)_j = e^z_j / Σ_k e^z_k',
};

function renderTrace(trace: SampleTrace, title: string): void {
  const out = $('trace');
  out.replaceChildren();
  const card = (heading: string, parts: HTMLElement[], className = 'step'): void => {
    const div = document.createElement('div');
    div.className = className;
    const h = document.createElement('h3');
    h.textContent = heading;
    div.append(h, ...parts);
    out.append(div);
  };
  let input: (HTMLElement | string)[];
  if (trace.input.length === 784) {
    const img = pixelCanvas(inkToRgba(trace.input, 28, 28), 28, 28, 'mat');
    img.style.width = '84px';
    input = [img];
  } else {
    input = vectorBody(trace.input);
  }
  card(`Input: ${title}`, field('a(0) = x', `(${trace.input.length})`, input));

  // l counts the weighted layers (Dense and Conv2D): z(l), a(l), δ(l).
  const denseIdx = trace.steps.filter((s) => s.type === 'Dense' || s.type === 'Conv2D').map((s) => s.index);
  const L = denseIdx.length;
  let l = 0;
  trace.steps.forEach((s: TraceStep) => {
    const inN = s.inputShape[0];
    const outN = s.outputShape[0];
    if (isImageStep(s)) {
      // Convolutions, pooling, batch norm, dropout and maps: convTrace.ts.
      if (s.type === 'Conv2D') l++;
      card(imageStepTitle(s, l), imageStepParts(trace, s.index, l), `step conv ct-${s.type}`);
      return;
    }
    if (s.type === 'Dense') {
      l++;
      const W = s.params.find((p) => p.name === 'weight');
      const b = s.params.find((p) => p.name === 'bias');
      const parts = [
        ...field(`z(${l}) = W(${l}) a(${l - 1}) + b(${l})`, `(${outN}) = (${outN}×${inN})·(${inN}) + (${outN})`, vectorBody(s.output)),
        ...field(
          l < L
            ? `δ(${l}) = ∂C/∂z(${l}) = (W(${l + 1})ᵀ δ(${l + 1})) ⊙ σ′(z(${l}))`
            : s.index < trace.steps.length - 1
              ? `δ(${l}) = ∂C/∂z(${l}) = ∂C/∂a(${l}) ⊙ σ′(z(${l}))`
              : trace.lossName === 'ce' ? `δ(${l}) = ∂C/∂z(${l}) = softmax(z(${l})) − y` : `δ(${l}) = ∂C/∂z(${l}) = 2(z(${l}) − y)`,
          `(${outN})`, vectorBody(s.gradOutput),
        ),
      ];
      if (W) {
        const img = pixelCanvas(signedToRgba(W.grad, inN, outN), inN, outN, 'mat');
        img.style.width = `${Math.min(700, Math.max(inN, 200))}px`;
        img.style.height = `${Math.min(200, Math.max(outN * 4, 20))}px`;
        const body: (HTMLElement | string)[] = [img];
        if (inN === 784) body.push(gradientRows(W.grad, s.gradOutput, l));
        parts.push(...field(`∂C/∂W(${l}) = δ(${l}) a(${l - 1})ᵀ`, `(${outN}×${inN}) = (${outN})·(${inN})ᵀ`, body));
      }
      if (b) parts.push(...field(`∂C/∂b(${l}) = δ(${l})`, `(${outN})`, vectorBody(b.grad)));
      card(`Layer ${l}: Dense ${inN} → ${outN}  (state dict "${s.index}.weight", "${s.index}.bias")`, parts);
    } else {
      const parts = [
        ...field(`a(${l}) = σ(z(${l}))`, `(${outN}); ${ACTIVATION_EQ[s.type] ?? s.type}`, vectorBody(s.output)),
        ...field(
          l < L ? `∂C/∂a(${l}) = W(${l + 1})ᵀ δ(${l + 1})` : trace.lossName === 'mse' ? `∂C/∂a(${l}) = 2(a(${l}) − y)` : `∂C/∂a(${l})`,
          `(${outN})`, vectorBody(s.gradOutput),
        ),
      ];
      card(`Layer ${l}: ${s.type}`, parts);
    }
  });
  const p = trace.probabilities;
  const best = p.indexOf(Math.max(...p));
  card('Output and cost', [
    ...field(trace.lossName === 'ce' ? `p = softmax(z(${L}))` : `p = a(${L}) / Σ_j a(${L})_j`, `(${p.length}); predicted ${best}`, vectorBody(p)),
    ...field(trace.lossName === 'ce' ? 'C = −Σ_j y_j log p_j' : `C = Σ_j (a(${L})_j − y_j)²`, `y = ${formatVector(trace.target)}`, [`C = ${trace.loss.toFixed(5)}`]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Messages from the Worker
// ---------------------------------------------------------------------------------------------

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case 'status':
      status.textContent = m.text;
      break;
    case 'error':
      predictPending = false;
      status.textContent = `error: ${m.text}`;
      status.classList.add('error');
      break;
    case 'specError': {
      const box = $<HTMLInputElement>('layers');
      $('layers-error').textContent = m.text;
      if (m.text) box.setAttribute('aria-invalid', 'true');
      else box.removeAttribute('aria-invalid');
      break;
    }
    case 'backend': {
      const el = $('backend-info');
      el.textContent = `backend: ${m.info.label}`;
      el.title = m.info.note;
      document.body.dataset.backend = m.info.name;
      document.body.dataset.threads = String(m.info.threads);
      break;
    }
    case 'model':
      status.classList.remove('error');
      document.body.dataset.convolutional = String(m.info.convolutional);
      $('model-source').textContent = `model ${m.info.source}, ${m.info.params.toLocaleString('en-US')} parameters`;
      $('model-source').title = m.info.summary;
      document.body.dataset.model = m.info.source;
      requestPrediction();
      break;
    case 'dataReady':
      dataReady = true;
      trainButton.disabled = false;
      status.textContent = `ready: MNIST loaded (${m.train.toLocaleString('en-US')} training, ${m.test.toLocaleString('en-US')} test digits)`;
      document.body.dataset.ready = 'true';
      break;
    case 'training':
      training = m.running;
      document.body.dataset.training = String(training);
      trainButton.textContent = training ? 'Pause' : 'Train';
      trainButton.disabled = !dataReady;
      break;
    case 'progress':
      onProgress(m.progress);
      break;
    case 'prediction':
      predictPending = false;
      if (!dirty) break; // cleared meanwhile
      $('predicted').textContent = String(m.predicted);
      $('predicted').dataset.fresh = String(sentVersion === padVersion);
      // Strokes drawn while this answer was computed: ask again for the newest drawing.
      if (sentVersion !== padVersion) requestPrediction();
      renderBars(m.probabilities);
      putPixels($('input28'), m.input, 28, 28);
      break;
    case 'inspection':
      renderInspection(m);
      break;
    case 'trace':
      renderTrace(m.trace, m.title);
      break;
    case 'download': {
      const url = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = m.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      break;
    }
  }
};
worker.onerror = (e) => {
  status.textContent = `error: ${e.message}`;
};

// ---------------------------------------------------------------------------------------------
// Loading a model file: dropped anywhere on the page, or picked with the file input
// ---------------------------------------------------------------------------------------------

async function loadModelFile(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  clearCharts();
  send({ type: 'load', bytes, name: file.name }, [bytes.buffer]);
}

$<HTMLInputElement>('model-file').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file) void loadModelFile(file);
  input.value = '';
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
  if (e.relatedTarget === null) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const file = e.dataTransfer?.files[0];
  if (file) void loadModelFile(file);
});

// The charts draw at their CSS size: redraw when the layout changes it (a phone turned, a window resized).
new ResizeObserver(() => drawCharts()).observe($('loss-chart'));

/** ?backend=js|wasm|auto picks the starting backend (the speed script and bookmarks use it). */
const asked = new URLSearchParams(location.search).get('backend');
if (asked === 'js' || asked === 'wasm' || asked === 'auto') $<HTMLSelectElement>('backend').value = asked;

clearPad();
syncArchControls();
drawCharts();
send({ type: 'init', backend: $<HTMLSelectElement>('backend').value as BackendChoice });
