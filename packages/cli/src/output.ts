/** Human-readable formatting shared by the commands. */
import type { ClassificationEvaluation, RegressionEvaluation } from 'nabla';

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** A number for a table: 4 decimals, or 4 significant digits in scientific notation when tiny or large. */
export function num(v: number): string {
  return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/**
 * Per-class accuracy and the confusion matrix (rows: true class, columns: predicted), classes
 * shown by name when the model file records them (names cut to 12 characters in the matrix).
 */
export function formatEvaluation(ev: ClassificationEvaluation, classNames?: string[]): string {
  const k = ev.confusion.length;
  const names = Array.from({ length: k }, (_, c) => classNames?.[c] ?? String(c));
  const short = names.map((n) => (n.length > 12 ? n.slice(0, 11) + '…' : n));
  const nameWidth = Math.max(2, ...names.map((n) => n.length));
  const lines = [
    `test loss ${ev.loss.toFixed(4)}, accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`,
    '',
    'per-class accuracy:',
    ...ev.perClass.map((a, c) => `  ${names[c].padStart(nameWidth)}: ${Number.isNaN(a) ? '  n/a' : pct(a).padStart(7)}  (${ev.confusion[c].reduce((s, v) => s + v, 0)} samples)`),
    '',
    'confusion matrix (rows: true class, columns: predicted):',
  ];
  const rowWidth = Math.max(2, ...short.map((n) => n.length));
  const width = Math.max(4, ...ev.confusion.flat().map((v) => String(v).length + 1), ...short.map((n) => n.length + 1));
  lines.push(' '.repeat(rowWidth + 3) + short.map((n) => n.padStart(width)).join(''));
  ev.confusion.forEach((row, i) => lines.push(`  ${short[i].padStart(rowWidth)} ` + row.map((v) => String(v).padStart(width)).join('')));
  return lines.join('\n');
}

/** A regression model's test figures: MAE, RMSE and R² overall and, for several targets, per target. */
export function formatRegression(ev: RegressionEvaluation, targetNames?: string[]): string {
  const lines = [`test loss ${ev.loss.toFixed(4)}, MAE ${num(ev.mae)}, RMSE ${num(ev.rmse)}, R² ${ev.r2.toFixed(4)} (${ev.count} samples)`];
  if (ev.perTarget.length > 1 || targetNames?.length) {
    lines.push('', 'per target:');
    ev.perTarget.forEach((t, j) => lines.push(`  ${targetNames?.[j] ?? `target ${j}`}: MAE ${num(t.mae)}, RMSE ${num(t.rmse)}, R² ${t.r2.toFixed(4)}`));
  }
  return lines.join('\n');
}
