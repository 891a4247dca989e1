/** Human-readable formatting shared by the commands. */
import type { ClassificationEvaluation } from 'nabla';

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** Per-class accuracy and the confusion matrix (rows: true class, columns: predicted). */
export function formatEvaluation(ev: ClassificationEvaluation): string {
  const k = ev.confusion.length;
  const lines = [
    `test loss ${ev.loss.toFixed(4)}, accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count})`,
    '',
    'per-class accuracy:',
    ...ev.perClass.map((a, c) => `  ${c}: ${Number.isNaN(a) ? '  n/a' : pct(a).padStart(7)}  (${ev.confusion[c].reduce((s, v) => s + v, 0)} samples)`),
    '',
    'confusion matrix (rows: true class, columns: predicted):',
  ];
  const width = Math.max(4, ...ev.confusion.flat().map((v) => String(v).length + 1));
  lines.push('     ' + Array.from({ length: k }, (_, j) => String(j).padStart(width)).join(''));
  ev.confusion.forEach((row, i) => lines.push(`  ${String(i).padStart(2)} ` + row.map((v) => String(v).padStart(width)).join('')));
  return lines.join('\n');
}
