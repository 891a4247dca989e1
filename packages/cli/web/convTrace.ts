/**
 * The step-through view of image layers (Conv2D, MaxPool2D, AvgPool2D, BatchNorm, Dropout,
 * Flatten, and activations or Residual blocks on feature maps). DOM only: every number comes from
 * the trace the Worker sent and from the library's explainConv functions, which work one value of
 * each layer's sum with its numbers beside the value the layer itself computed.
 *
 * Each card keeps a selected position (click a feature map, or focus it and use the arrow keys);
 * the worked sums below the maps follow it.
 */
import {
  convGeometry, explainBatchNorm, explainConvInputGrad, explainConvOutput, explainConvWeightGrad, explainDropout,
  explainPoolOutput, maxAbs, maxPoolRoutes, signedToRgba, stepInput, avgPoolSplit,
  type SampleTrace, type TraceStep,
} from 'nabla';

const IMAGE_TYPES = new Set(['Conv2D', 'MaxPool2D', 'AvgPool2D', 'BatchNorm2D', 'BatchNorm1D', 'Dropout', 'Flatten', 'Residual']);

/** True for the steps this view draws: image layers, and any layer whose output is a stack of maps. */
export function isImageStep(step: TraceStep): boolean {
  return IMAGE_TYPES.has(step.type) || step.outputShape.length === 3;
}

/** Numbers as the tables show them: 4 significant digits, exponent for the very small. */
export function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? Number(v.toPrecision(4)).toString() : v.toExponential(3);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The notes' equation on the left, numbers and pictures on the right (main.ts's layout). */
function field(eq: string, shape: string, body: (HTMLElement | string)[]): HTMLElement[] {
  const left = el('div');
  left.append(el('div', 'eq', eq), el('div', 'shape', shape));
  const right = el('div', 'nums');
  right.append(...body);
  return [left, right];
}

/** A value shown to 6 digits, with the exact float in data-value (the browser tests read both). */
function value(v: number, role: string): HTMLElement {
  const s = el('b', `ct-${role}`, Number(v.toPrecision(6)).toString());
  s.dataset.value = String(v);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Maps: one canvas per channel, scaled up, with an outline for the selected window
// ---------------------------------------------------------------------------------------------

interface MapView {
  wrap: HTMLElement;
  /** Outline rows r0..r0+h−1, columns c0..c0+w−1 (may hang over the edge, as a padded window does). */
  outline(r0: number, c0: number, h: number, w: number): void;
  /** Small marks on cells (max-pooling's argmax positions). */
  marks(cells: [number, number][]): void;
}

function mapView(values: Float32Array, h: number, w: number, scale: number, px: number, label: string): MapView {
  const wrap = el('div', 'ct-map');
  const canvas = el('canvas');
  canvas.width = w;
  canvas.height = h;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(signedToRgba(values, w, h, scale)), w, h), 0, 0);
  canvas.style.width = `${px}px`;
  canvas.style.height = `${(px * h) / w}px`;
  const box = el('div', 'ct-outline');
  box.hidden = true;
  const markLayer = el('div', 'ct-marks');
  wrap.append(canvas, box, markLayer);
  wrap.title = label;
  return {
    wrap,
    outline(r0, c0, bh, bw) {
      // A zero-sized outline hides it (the maps of the channels not selected).
      box.hidden = bh === 0 || bw === 0;
      box.style.top = `${(100 * r0) / h}%`;
      box.style.left = `${(100 * c0) / w}%`;
      box.style.height = `${(100 * bh) / h}%`;
      box.style.width = `${(100 * bw) / w}%`;
    },
    marks(cells) {
      markLayer.replaceChildren(...cells.map(([r, c]) => {
        const m = el('i');
        m.style.top = `${(100 * r) / h}%`;
        m.style.left = `${(100 * c) / w}%`;
        m.style.height = `${100 / h}%`;
        m.style.width = `${100 / w}%`;
        return m;
      }));
    },
  };
}

/**
 * The C maps of a (C, H, W) tensor, on one colour scale; clickable and keyboard-operable when
 * `onPick` is given (click a cell, or focus a map and use the arrow keys).
 */
function mapRow(
  data: Float32Array, shape: readonly number[], name: string,
  onPick?: (c: number, i: number, j: number) => void, current?: () => [number, number, number],
): { row: HTMLElement; maps: MapView[] } {
  const [C, H, W] = shape;
  const scale = maxAbs(data);
  const px = Math.max(56, Math.min(112, 3 * W));
  const row = el('div', 'ct-maps');
  const maps: MapView[] = [];
  for (let c = 0; c < C; c++) {
    const m = mapView(data.subarray(c * H * W, (c + 1) * H * W), H, W, scale, px, `${name}[${c}], ${H}×${W}`);
    const fig = el('figure', 'ct-fig');
    fig.append(m.wrap, el('figcaption', '', `${name}[${c}]`));
    if (onPick) {
      m.wrap.tabIndex = 0;
      m.wrap.setAttribute('role', 'button');
      m.wrap.setAttribute('aria-label', `${name}[${c}], ${H}×${W}: click a cell or use the arrow keys to pick the position worked below`);
      m.wrap.dataset.channel = String(c);
      m.wrap.addEventListener('click', (e) => {
        const r = m.wrap.getBoundingClientRect();
        const i = Math.min(H - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * H)));
        const j = Math.min(W - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * W)));
        onPick(c, i, j);
      });
      m.wrap.addEventListener('keydown', (e) => {
        const [c0, i0, j0] = current ? current() : [c, 0, 0];
        const [i, j] = c0 === c ? [i0, j0] : [Math.min(i0, H - 1), Math.min(j0, W - 1)];
        const move: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], Enter: [0, 0], ' ': [0, 0] };
        const d = move[e.key];
        if (!d) return;
        e.preventDefault();
        onPick(c, Math.min(H - 1, Math.max(0, i + d[0])), Math.min(W - 1, Math.max(0, j + d[1])));
      });
    }
    row.append(fig);
    maps.push(m);
  }
  return { row, maps };
}

/** A matrix of numbers; `cls(r, c)` adds a class to a cell ("pad" for padding, "hit" for the chosen one). */
function numTable(rows: number, cols: number, cell: (r: number, c: number) => number, cls?: (r: number, c: number) => string, role = ''): HTMLTableElement {
  const t = el('table', `ct-mat${role ? ` ct-${role}` : ''}`);
  for (let r = 0; r < rows; r++) {
    const tr = t.insertRow();
    for (let c = 0; c < cols; c++) {
      const td = tr.insertCell();
      const v = cell(r, c);
      td.textContent = fmt(v);
      td.dataset.value = String(v);
      const k = cls?.(r, c);
      if (k) td.className = k;
    }
  }
  return t;
}

function op(text: string): HTMLElement {
  return el('span', 'ct-op', text);
}

// ---------------------------------------------------------------------------------------------
// Cards
// ---------------------------------------------------------------------------------------------

/**
 * The parts of one image step's card (the caller puts them under its heading). `l` is the number
 * of weighted layers so far, as main.ts counts them (z(l), a(l)).
 */
export function imageStepParts(trace: SampleTrace, index: number, l: number): HTMLElement[] {
  const step = trace.steps[index];
  switch (step.type) {
    case 'Conv2D': return convParts(trace, index, l);
    case 'MaxPool2D':
    case 'AvgPool2D': return poolParts(trace, index);
    case 'BatchNorm2D':
    case 'BatchNorm1D': return batchNormParts(trace, index);
    case 'Dropout': return dropoutParts(trace, index);
    case 'Flatten':
      return field('a = flatten(a′)', `(${step.inputShape.join('×')}) → (${step.outputShape[0]}): channel by channel, row by row`, [
        `the ${step.outputShape[0]} values, in order c·H·W + i·W + j; ∂C/∂a′ is ∂C/∂a reshaped back`,
      ]);
    default: return mapsParts(trace, index, l);
  }
}

/** A heading for the image step's card. */
export function imageStepTitle(step: TraceStep, l: number): string {
  const shape = (s: readonly number[]) => s.join('×');
  if (step.type === 'Conv2D') {
    const g = convGeometry(step);
    return `Layer ${l}: Conv2D ${g.channels} → ${g.outChannels} channels, ${g.kernel.join('×')} kernels, stride ${g.stride.join('×')}, ` +
      `padding ${g.padding.join('×')}: (${shape(step.inputShape)}) → (${shape(step.outputShape)})  (state dict "${step.index}.weight", "${step.index}.bias")`;
  }
  if (step.type === 'MaxPool2D' || step.type === 'AvgPool2D') {
    const g = convGeometry(step);
    return `${step.type} ${g.kernel.join('×')}, stride ${g.stride.join('×')}, padding ${g.padding.join('×')}: (${shape(step.inputShape)}) → (${shape(step.outputShape)})`;
  }
  if (step.type === 'Dropout') return `Dropout, rate ${String(step.config.rate)}: (${shape(step.outputShape)})`;
  return `${step.type}: (${shape(step.inputShape)}) → (${shape(step.outputShape)})`;
}

/** Activations (or a Residual block) on maps: the output and ∂C/∂output, map by map. */
function mapsParts(trace: SampleTrace, index: number, l: number): HTMLElement[] {
  const step = trace.steps[index];
  const eq = step.type === 'Residual' ? 'y = x + f(x)' : `a(${l}) = σ(z(${l}))`;
  const parts = [...field(eq, `(${step.outputShape.join('×')}), applied value by value`, [mapRow(step.output, step.outputShape, 'a').row])];
  parts.push(...field(`∂C/∂a(${l})`, `(${step.outputShape.join('×')})`, [mapRow(step.gradOutput, step.outputShape, '∂C/∂a').row]));
  return parts;
}

function convParts(trace: SampleTrace, index: number, l: number): HTMLElement[] {
  const step = trace.steps[index];
  const g = convGeometry(step);
  const { input, gradInput } = stepInput(trace, index);
  const W = step.params.find((p) => p.name === 'weight')!;
  const [kh, kw] = g.kernel;
  const sel = { c: 0, i: Math.floor(g.outHeight / 2), j: Math.floor(g.outWidth / 2), k: 0, m: Math.floor(kh / 2), n: Math.floor(kw / 2), y: 0, x: 0 };
  const centre = (): void => {
    sel.y = Math.min(g.height - 1, Math.max(0, sel.i * g.stride[0] - g.padding[0] + Math.floor(kh / 2)));
    sel.x = Math.min(g.width - 1, Math.max(0, sel.j * g.stride[1] - g.padding[1] + Math.floor(kw / 2)));
  };
  centre();

  // The kernels as images: one row per filter c, one tile per input channel k, on one scale.
  const kernels = el('div', 'ct-kernels');
  // One row per filter c (a tile per input channel k); a single input channel puts the filters side by side.
  if (g.channels === 1) kernels.classList.add('ct-wrap');
  else kernels.style.gridTemplateColumns = `repeat(${Math.min(g.channels, 8)}, auto)`;
  const wScale = maxAbs(W.value);
  const tiles: HTMLElement[] = [];
  for (let c = 0; c < g.outChannels; c++) {
    for (let k = 0; k < Math.min(g.channels, 8); k++) {
      const m = mapView(W.value.subarray((c * g.channels + k) * kh * kw, (c * g.channels + k + 1) * kh * kw), kh, kw, wScale, 42, `W[${c},${k}]`);
      m.wrap.classList.add('ct-kernel');
      m.wrap.dataset.filter = String(c);
      m.wrap.tabIndex = 0;
      m.wrap.setAttribute('role', 'button');
      m.wrap.setAttribute('aria-label', `kernel W[${c},${k}]: pick its tap for ∂C/∂W`);
      const pick = (mm: number, nn: number): void => {
        Object.assign(sel, { c, k, m: mm, n: nn });
        update();
      };
      m.wrap.addEventListener('click', (e) => {
        const r = m.wrap.getBoundingClientRect();
        pick(Math.min(kh - 1, Math.floor(((e.clientY - r.top) / r.height) * kh)), Math.min(kw - 1, Math.floor(((e.clientX - r.left) / r.width) * kw)));
      });
      m.wrap.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          pick(Math.floor(kh / 2), Math.floor(kw / 2));
        }
      });
      tiles.push(m.wrap);
      kernels.append(m.wrap);
    }
  }
  const kernelNote = g.channels > 8 ? ` (the first 8 of ${g.channels} input channels)` : '';

  const inputMaps = mapRow(input, step.inputShape, `a(${l - 1})`, (k, y, x) => {
    Object.assign(sel, { k, y, x });
    update();
  }, () => [sel.k, sel.y, sel.x]);
  const outMaps = mapRow(step.output, step.outputShape, `z(${l})`, (c, i, j) => {
    Object.assign(sel, { c, i, j });
    centre();
    update();
  }, () => [sel.c, sel.i, sel.j]);
  const deltaMaps = mapRow(step.gradOutput, step.outputShape, `δ(${l})`, (c, i, j) => {
    Object.assign(sel, { c, i, j });
    centre();
    update();
  }, () => [sel.c, sel.i, sel.j]);
  const dW = W.grad;
  const dKernels = el('div', 'ct-kernels');
  dKernels.className = kernels.className;
  dKernels.style.gridTemplateColumns = kernels.style.gridTemplateColumns;
  const dScale = maxAbs(dW);
  for (let c = 0; c < g.outChannels; c++) {
    for (let k = 0; k < Math.min(g.channels, 8); k++) {
      dKernels.append(mapView(dW.subarray((c * g.channels + k) * kh * kw, (c * g.channels + k + 1) * kh * kw), kh, kw, dScale, 42, `∂C/∂W[${c},${k}]`).wrap);
    }
  }

  const forward = el('div', 'ct-worked ct-forward');
  forward.setAttribute('aria-live', 'polite');
  const wgrad = el('div', 'ct-worked ct-wgrad');
  const agrad = el('div', 'ct-worked ct-agrad');

  const s = `${g.stride[0] === g.stride[1] ? g.stride[0] : g.stride.join(',')}`;
  const p = `${g.padding[0] === g.padding[1] ? g.padding[0] : g.padding.join(',')}`;
  const parts = [
    ...field(`kernels W(${l})[c, k]`, `(${g.outChannels}×${g.channels}×${kh}×${kw}), ${g.channels === 1 ? 'filter c = 0, 1, … left to right' : 'one row per filter c'}${kernelNote}; red +, blue −; click a tap to work its ∂C/∂W below`, [kernels]),
    ...field(`a(${l - 1}), the input`, `(${step.inputShape.join('×')}); the outline is the window of the selected output`, [inputMaps.row]),
    ...field(
      `z(${l})[c,i,j] = b[c] + Σ_{k,m,n} W[c,k,m,n]·a[k, i·${s}+m−${p}, j·${s}+n−${p}]`,
      `(${step.outputShape.join('×')}), the feature maps; click one (or focus it and use the arrow keys) to work that value`,
      [outMaps.row, forward],
    ),
    ...field(`δ(${l}) = ∂C/∂z(${l})`, `(${step.outputShape.join('×')})`, [deltaMaps.row]),
    ...field(
      `∂C/∂W[c,k,m,n] = Σ_{i,j} δ[c,i,j]·a[k, i·${s}+m−${p}, j·${s}+n−${p}]`,
      `(${g.outChannels}×${g.channels}×${kh}×${kw}): the input correlated with δ; click a kernel tap above to work another`,
      [dKernels, wgrad],
    ),
    ...field(
      `∂C/∂a(${l - 1}) = δ̃ ⋆ rot180(W): ∂C/∂a[k,y,x] = Σ_{c,m,n} δ̃[c,y+m,x+n]·W[c,k,${kh - 1}−m,${kw - 1}−n]`,
      `δ̃ = δ with ${g.stride[0] - 1}×${g.stride[1] - 1} zeros between entries (stride), padded by K−1−p = ${kh - 1 - g.padding[0]}×${kw - 1 - g.padding[1]}: the "full" correlation; click the input maps to work another position`,
      [agrad],
    ),
  ];

  function update(): void {
    const z = explainConvOutput(step, input, sel.c, sel.i, sel.j);
    inputMaps.maps.forEach((m) => m.outline(z.origin[0], z.origin[1], kh, kw));
    outMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(sel.i, sel.j, 1, 1) : m.outline(0, 0, 0, 0)));
    deltaMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(sel.i, sel.j, 1, 1) : m.outline(0, 0, 0, 0)));
    tiles.forEach((t, q) => t.classList.toggle('ct-on', Math.floor(q / Math.min(g.channels, 8)) === sel.c && q % Math.min(g.channels, 8) === sel.k));

    // Forward: per input channel, window ⊙ kernel = products.
    forward.replaceChildren(el('div', 'ct-head', `z[${sel.c},${sel.i},${sel.j}]: window rows ${z.origin[0]}…${z.origin[0] + kh - 1}, columns ${z.origin[1]}…${z.origin[1] + kw - 1} of a (grey = padding, 0)`));
    const partials: number[] = [];
    for (let k = 0; k < g.channels; k++) {
      const t = z.terms.slice(k * kh * kw, (k + 1) * kh * kw);
      const at = (r: number, c: number) => t[r * kw + c];
      const pad = (r: number, c: number) => (at(r, c).inside ? '' : 'pad');
      const partial = t.reduce((acc, u) => acc + u.product, 0);
      partials.push(partial);
      const line = el('div', 'ct-line');
      line.dataset.channel = String(k);
      line.append(
        el('span', 'ct-lab', `k=${k}`),
        numTable(kh, kw, (r, c) => at(r, c).a, pad, 'window'), op('⊙'),
        numTable(kh, kw, (r, c) => at(r, c).w, undefined, 'weights'), op('='),
        numTable(kh, kw, (r, c) => at(r, c).product, pad, 'products'), op('Σ ='), value(partial, 'partial'),
      );
      forward.append(line);
    }
    const total = el('div', 'ct-total');
    total.append(
      `z[${sel.c},${sel.i},${sel.j}] = b[${sel.c}] + Σ = `, value(z.bias, 'bias'),
      ...partials.map((v) => ` + ${fmt(v)}`), ' = ', value(z.sum, 'sum'), '   the layer computed ', value(z.traced, 'traced'),
    );
    forward.append(total);

    // ∂C/∂W[c,k,m,n]: δ[c] times the input shifted by the tap, summed over the OH×OW positions.
    const gw = explainConvWeightGrad(step, input, sel.c, sel.k, sel.m, sel.n);
    const shifted = new Float32Array(g.outHeight * g.outWidth);
    const prods = new Float32Array(g.outHeight * g.outWidth);
    gw.terms.forEach((t, q) => { shifted[q] = t.a; prods[q] = t.product; });
    const small = (v: Float32Array, label: string): HTMLElement => {
      const f = el('figure', 'ct-fig');
      f.append(mapView(v, g.outHeight, g.outWidth, maxAbs(v), 84, label).wrap, el('figcaption', '', label));
      return f;
    };
    const biggest = gw.terms.filter((t) => t.product !== 0).sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
    const list = el('div', 'ct-terms');
    list.textContent = biggest.slice(0, 6).map((t) => `δ[${sel.c},${t.i},${t.j}]·a[${sel.k},${t.row},${t.col}] = ${fmt(t.delta)}·${fmt(t.a)} = ${fmt(t.product)}`).join(';  ') +
      (biggest.length > 6 ? `;  … ${biggest.length - 6} more non-zero terms` : '') +
      ` (${gw.terms.length - biggest.length} of the ${gw.terms.length} terms are 0: padding, blank input or δ = 0)`;
    const row = el('div', 'ct-maps');
    row.append(small(step.gradOutput.subarray(sel.c * g.outHeight * g.outWidth, (sel.c + 1) * g.outHeight * g.outWidth), `δ[${sel.c}]`), op('⊙'),
      small(shifted, `a[${sel.k}, i·${s}+${sel.m}−${p}, j·${s}+${sel.n}−${p}]`), op('='), small(prods, 'products'));
    const wtotal = el('div', 'ct-total');
    wtotal.append(`∂C/∂W[${sel.c},${sel.k},${sel.m},${sel.n}] = Σ of the ${gw.terms.length} products = `, value(gw.sum, 'sum'), '   the layer computed ', value(gw.traced, 'traced'));
    wgrad.replaceChildren(el('div', 'ct-head', `tap (m, n) = (${sel.m}, ${sel.n}) of kernel W[${sel.c},${sel.k}]`), row, list, wtotal);

    // ∂C/∂a[k,y,x]: per output channel, the δ̃ window ⊙ the rotated kernel.
    const ga = explainConvInputGrad(step, sel.k, sel.y, sel.x, gradInput);
    agrad.replaceChildren(el('div', 'ct-head', `∂C/∂a[${sel.k},${sel.y},${sel.x}]: δ̃ rows ${sel.y}…${sel.y + kh - 1}, columns ${sel.x}…${sel.x + kw - 1} (grey = a zero of the stride or the padding)`));
    const aParts: number[] = [];
    for (let c = 0; c < g.outChannels; c++) {
      const t = ga.terms.slice(c * kh * kw, (c + 1) * kh * kw);
      const at = (r: number, q: number) => t[r * kw + q];
      const partial = t.reduce((acc, u) => acc + u.product, 0);
      aParts.push(partial);
      const line = el('div', 'ct-line');
      line.append(
        el('span', 'ct-lab', `c=${c}`),
        numTable(kh, kw, (r, q) => at(r, q).delta, (r, q) => (at(r, q).i === undefined ? 'pad' : ''), 'dtilde'), op('⊙'),
        numTable(kh, kw, (r, q) => at(r, q).wRot, undefined, 'rot'), op('='),
        numTable(kh, kw, (r, q) => at(r, q).product, (r, q) => (at(r, q).i === undefined ? 'pad' : ''), 'products'), op('Σ ='), value(partial, 'partial'),
      );
      agrad.append(line);
    }
    const atotal = el('div', 'ct-total');
    atotal.append(`∂C/∂a[${sel.k},${sel.y},${sel.x}] = Σ = `, value(ga.sum, 'sum'), '   ');
    if (ga.traced !== undefined) atotal.append('the layer computed ', value(ga.traced, 'traced'));
    else atotal.append(el('span', 'muted', 'the model computes no ∂C/∂a for its first layer (nothing below it learns): this is what it would be'));
    agrad.append(atotal);
  }
  update();
  return parts;
}

function poolParts(trace: SampleTrace, index: number): HTMLElement[] {
  const step = trace.steps[index];
  const g = convGeometry(step);
  const { input, gradInput } = stepInput(trace, index);
  const isMax = step.type === 'MaxPool2D';
  const sel = { c: 0, i: Math.floor(g.outHeight / 2), j: Math.floor(g.outWidth / 2) };
  const routes = isMax ? maxPoolRoutes(step, input) : undefined;
  const routed = routes ? routes.gradInput : avgPoolSplit(step);
  const inMaps = mapRow(input, step.inputShape, 'a′');
  const pick = (c: number, i: number, j: number): void => {
    Object.assign(sel, { c, i, j });
    update();
  };
  const outMaps = mapRow(step.output, step.outputShape, 'a', pick, () => [sel.c, sel.i, sel.j]);
  const deltaMaps = mapRow(step.gradOutput, step.outputShape, 'δ', pick, () => [sel.c, sel.i, sel.j]);
  const gradMaps = mapRow(routed, step.inputShape, '∂C/∂a′');
  const worked = el('div', 'ct-worked ct-pool');
  worked.setAttribute('aria-live', 'polite');
  const [kh, kw] = g.kernel;
  const parts = [
    ...field('a′, the input', `(${step.inputShape.join('×')})${isMax ? '; green: the argmax of every window of the selected channel, where its gradient goes' : ''}`, [inMaps.row]),
    ...field(isMax ? 'a[c,i,j] = max over the window of a′[c]' : `a[c,i,j] = (1/${kh * kw}) Σ over the window of a′[c]`,
      `(${step.outputShape.join('×')}); click a map (or use the arrow keys) to work that value`, [outMaps.row, worked]),
    ...field('δ = ∂C/∂a', `(${step.outputShape.join('×')})`, [deltaMaps.row]),
    ...field(isMax ? '∂C/∂a′ = δ routed to each window\'s argmax, 0 elsewhere' : `∂C/∂a′: each input of a window gets δ/${kh * kw}`,
      `(${step.inputShape.join('×')})`, [gradMaps.row]),
  ];
  function update(): void {
    const pw = explainPoolOutput(step, input, sel.c, sel.i, sel.j);
    const r0 = sel.i * g.stride[0] - g.padding[0];
    const c0 = sel.j * g.stride[1] - g.padding[1];
    if (routes) {
      // The argmax of every window of the selected channel, on its input and on the gradient it receives.
      const cells = routes.routes.filter((r) => r.c === sel.c).map((r): [number, number] => [r.row, r.col]);
      inMaps.maps.forEach((m, c) => m.marks(c === sel.c ? cells : []));
      gradMaps.maps.forEach((m, c) => m.marks(c === sel.c ? cells : []));
    }
    inMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(r0, c0, kh, kw) : m.outline(0, 0, 0, 0)));
    gradMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(r0, c0, kh, kw) : m.outline(0, 0, 0, 0)));
    outMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(sel.i, sel.j, 1, 1) : m.outline(0, 0, 0, 0)));
    deltaMaps.maps.forEach((m, c) => (c === sel.c ? m.outline(sel.i, sel.j, 1, 1) : m.outline(0, 0, 0, 0)));
    const cell = (r: number, q: number) => pw.window.find((w) => w.row === r0 + r && w.col === c0 + q);
    const table = numTable(kh, kw, (r, q) => cell(r, q)?.a ?? 0, (r, q) => {
      const w = cell(r, q);
      if (!w) return 'pad';
      return pw.argmax && pw.argmax[0] === w.row && pw.argmax[1] === w.col ? 'hit' : '';
    }, 'window');
    const total = el('div', 'ct-total');
    const traced = gradInput ? ` (the model's ∂C/∂a′ there: ${fmt(gradInput[(sel.c * g.height + (pw.argmax?.[0] ?? 0)) * g.width + (pw.argmax?.[1] ?? 0)])})` : '';
    if (pw.argmax) {
      total.append(`a[${sel.c},${sel.i},${sel.j}] = max = `, value(pw.value, 'sum'), ' at a′', el('span', 'ct-route', `[${sel.c},${pw.argmax[0]},${pw.argmax[1]}]`),
        '   the layer computed ', value(pw.traced, 'traced'),
        `. Backward: δ[${sel.c},${sel.i},${sel.j}] = ${fmt(pw.delta)} goes to a′[${sel.c},${pw.argmax[0]},${pw.argmax[1]}] only; the other ${pw.window.length - 1} inputs of the window get 0 from it${traced}.`);
    } else {
      total.append(`a[${sel.c},${sel.i},${sel.j}] = (${pw.window.map((w) => fmt(w.a)).join(' + ')}) / ${pw.divisor} = `, value(pw.value, 'sum'),
        '   the layer computed ', value(pw.traced, 'traced'),
        `. Backward: each of the ${pw.window.length} inputs of the window gets δ/${pw.divisor} = ${fmt(pw.delta)}/${pw.divisor} = `, value(pw.share, 'share'),
        pw.window.length < pw.divisor ? ` (the other ${pw.divisor - pw.window.length} cells are padding)` : '');
    }
    worked.replaceChildren(el('div', 'ct-head', `window of a′[${sel.c}]: rows ${r0}…${r0 + kh - 1}, columns ${c0}…${c0 + kw - 1}${pw.argmax ? ' (the maximum highlighted)' : ''}`), table, total);
  }
  update();
  return parts;
}

function batchNormParts(trace: SampleTrace, index: number): HTMLElement[] {
  const step = trace.steps[index];
  const { input } = stepInput(trace, index);
  const bn = explainBatchNorm(step, input);
  const S = bn.perChannel;
  const mom = Number(step.config.momentum ?? 0.1);
  const table = el('table', 'ct-stats');
  const head = table.insertRow();
  for (const h of ['c', 'γ', 'β', 'running μ', 'running σ²', 'this sample μ', 'this sample σ²']) head.append(el('th', '', h));
  for (let c = 0; c < bn.channels; c++) {
    const tr = table.insertRow();
    for (const v of [c, bn.gamma[c], bn.beta[c], bn.evaluation.mean[c], bn.evaluation.variance[c], bn.training?.mean[c] ?? NaN, bn.training?.variance[c] ?? NaN]) {
      tr.insertCell().textContent = Number.isNaN(v) ? '–' : fmt(v);
    }
  }
  const parts = [
    ...field('y = γ·(x − μ)/√(σ² + ε) + β', `(${step.outputShape.join('×')}); per channel, ε = ${bn.eps}`, [table]),
  ];
  const shape = step.inputShape;
  const isMaps = shape.length === 3;
  const show = (v: Float32Array, name: string): HTMLElement => (isMaps ? mapRow(v, shape, name).row : el('div', '', `[${Array.from(v.subarray(0, 10), fmt).join(' ')}${v.length > 10 ? ' …' : ''}]`));
  parts.push(...field('evaluation: μ, σ² = running statistics', 'x̂ and y = the trace (what the network computes at test time, for each sample on its own)',
    [show(bn.evaluation.normalised, 'x̂'), show(bn.evaluation.output, 'y')]));
  const worked = el('div', 'ct-worked ct-bn');
  // One value worked in both modes: the brightest input of channel 0.
  let q = 0;
  for (let r = 0; r < S; r++) if (input[r] > input[q]) q = r;
  const x = input[q];
  const line = (mode: string, mean: number, variance: number): HTMLElement => {
    const d = el('div', 'ct-total');
    const y = bn.gamma[0] * ((x - mean) / Math.sqrt(variance + bn.eps)) + bn.beta[0];
    d.append(`${mode}: y = ${fmt(bn.gamma[0])}·(${fmt(x)} − ${fmt(mean)})/√(${fmt(variance)} + ${bn.eps}) + ${fmt(bn.beta[0])} = `, value(y, mode === 'evaluation' ? 'sum' : 'train'));
    return d;
  };
  worked.append(el('div', 'ct-head', `channel 0, position ${isMaps ? `(${Math.floor(q / shape[2])}, ${q % shape[2]})` : q} (its largest input x = ${fmt(x)})`),
    line('evaluation', bn.evaluation.mean[0], bn.evaluation.variance[0]));
  const tracedLine = el('div', 'ct-total');
  tracedLine.append('the layer computed (evaluation) ', value(step.output[q], 'traced'));
  worked.append(tracedLine);
  if (bn.training) {
    worked.append(line('training', bn.training.mean[0], bn.training.variance[0]));
    parts.push(...field('training: μ, σ² = the batch\'s', `here a batch of this one sample: μ and σ² over its ${S} values per channel (in a real batch, over N·${S}); each step moves running = ${fmt(1 - mom)}·running + ${fmt(mom)}·batch (σ² unbiased)`,
      [show(bn.training.normalised, 'x̂'), show(bn.training.output, 'y')]));
  } else {
    parts.push(...field('training: μ, σ² = the batch\'s', 'one value per channel per sample: the statistics need a batch of several samples', []));
  }
  parts.push(...field('one value, both modes', '', [worked]));
  return parts;
}

function dropoutParts(trace: SampleTrace, index: number): HTMLElement[] {
  const step = trace.steps[index];
  const { input } = stepInput(trace, index);
  const d = explainDropout(step, input, 1);
  const shape = step.outputShape;
  const isMaps = shape.length === 3;
  const show = (v: Float32Array, name: string): HTMLElement => (isMaps ? mapRow(v, shape, name).row : el('div', '', `[${Array.from(v.subarray(0, 12), fmt).join(' ')}${v.length > 12 ? ' …' : ''}]`));
  const summary = el('div', 'ct-total ct-dropout');
  summary.append(`rate p = ${d.rate}: kept `, value(d.kept, 'kept'), ` of ${d.mask.length} values (${(100 * d.kept / d.mask.length).toFixed(1)}%), each × 1/(1 − p) = `, value(d.scale, 'scale'),
    '; in evaluation y = x (the trace: its output equals its input ', value(step.output.every((v, q) => v === input[q]) ? 1 : 0, 'identity'), ')');
  return [
    ...field('training: y = x ⊙ mask,  mask = 0 (prob. p) or 1/(1 − p)', `(${shape.join('×')}); one mask drawn with the layer's rule (seed 1); a new one every batch`, [summary, show(d.mask, 'mask'), show(d.training, 'y')]),
    ...field('evaluation: y = x', 'the expected value of x ⊙ mask is x, so nothing changes at test time; ∂C/∂x = ∂C/∂y (in training, ∂C/∂y ⊙ mask)', [show(d.evaluation, 'y')]),
  ];
}
