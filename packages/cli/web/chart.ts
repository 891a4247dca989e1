/**
 * The page's line charts: plain canvas, no library, with "nice" axis ticks (1, 2 or 5 times a
 * power of ten, so 0.2 0.4 0.6 rather than 0.563 0.448).
 */

/**
 * Ticks covering [lo, hi] at a round step: about `count` of them, each a multiple of the step,
 * the first ≤ lo and the last ≥ hi. `decimals` is how many digits after the point print them
 * exactly.
 *
 * @example
 * niceTicks(0.448, 2.31, 5); // { ticks: [0, 0.5, 1, 1.5, 2, 2.5], step: 0.5, decimals: 1 }
 */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; step: number; decimals: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [0, 1], step: 1, decimals: 0 };
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi - lo < 1e-12) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  // The nearest of 1, 2, 5 (10): about `count` intervals, a few more or fewer.
  const step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: number[] = [];
  // Multiples of the step, rounded to the printed digits so that 0.30000000000000004 is 0.3.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { ticks, step, decimals };
}

/**
 * A line chart of (x, y) points; the y axis fixed (`yRange`) or from the data, both axes with
 * nice ticks. Draws at the canvas's CSS size times the device pixel ratio, so it stays sharp on
 * any screen, and sets data-points and data-y-ticks (the tick labels, for tests and tools).
 */
export function drawChart(canvas: HTMLCanvasElement, points: [number, number][], colour: string, yRange?: [number, number]): void {
  const ratio = globalThis.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * ratio) || canvas.height !== Math.round(cssH * ratio)) {
    canvas.width = Math.round(cssW * ratio);
    canvas.height = Math.round(cssH * ratio);
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  const W = cssW;
  const H = cssH;
  const pad = { l: 38, r: 10, t: 8, b: 20 };
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  canvas.dataset.points = String(points.length);
  if (points.length === 0) {
    canvas.dataset.yTicks = '';
    return;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const yt = niceTicks(yRange ? yRange[0] : Math.min(0, ...ys), yRange ? yRange[1] : Math.max(...ys), H < 120 ? 3 : 4);
  const [y0, y1] = [yt.ticks[0], yt.ticks[yt.ticks.length - 1]];
  const xMin = Math.min(...xs);
  const xt = niceTicks(xMin, Math.max(...xs, xMin + 1), Math.max(2, Math.floor((W - pad.l) / 70)));
  const [x0, x1] = [xt.ticks[0], xt.ticks[xt.ticks.length - 1]];
  const px = (x: number): number => pad.l + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const py = (y: number): number => H - pad.b - ((y - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
  g.strokeStyle = '#e3e6eb';
  g.fillStyle = '#556';
  g.font = '11px ui-monospace, monospace';
  g.lineWidth = 1;
  g.textAlign = 'right';
  const yLabels = yt.ticks.map((y) => y.toFixed(yt.decimals));
  yt.ticks.forEach((y, i) => {
    g.beginPath();
    g.moveTo(pad.l, py(y));
    g.lineTo(W - pad.r, py(y));
    g.stroke();
    g.fillText(yLabels[i], pad.l - 4, py(y) + 4);
  });
  g.textAlign = 'center';
  for (const x of xt.ticks) g.fillText(x >= 10_000 ? `${x / 1000}k` : String(x), px(x), H - 5);
  canvas.dataset.yTicks = yLabels.join(' ');
  g.strokeStyle = colour;
  g.lineWidth = 1.5;
  g.beginPath();
  points.forEach(([x, y], i) => (i === 0 ? g.moveTo(px(x), py(y)) : g.lineTo(px(x), py(y))));
  g.stroke();
}
