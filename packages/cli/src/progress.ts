/**
 * Training progress on stderr: a live bar in a terminal (cli-progress), and in a pipe or log
 * file a plain line every ~10% of an epoch, so logs stay readable.
 */
import cliProgress from 'cli-progress';
import type { BatchLog, Callback } from 'nabla';

export function progressCallback(epochs: number, enabled: boolean): Callback {
  if (!enabled) return {};
  const tty = process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  let lastReported = -1;
  let batches = 0;
  return {
    onTrainBegin(info) {
      batches = info.batches;
    },
    onEpochBegin(epoch) {
      lastReported = -1;
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        {
          format: `epoch ${epoch}/${epochs} [{bar}] {percentage}% | batch {value}/{total} | loss {loss} | eta {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { loss: '-' });
    },
    onBatchEnd(log: BatchLog) {
      if (bar) {
        if (log.batch % 10 === 0 || log.batch === log.batches) bar.update(log.batch, { loss: log.loss.toFixed(4) });
        return;
      }
      const tenth = Math.floor((10 * log.batch) / log.batches);
      if (tenth > lastReported && tenth < 10) {
        lastReported = tenth;
        if (tenth > 0) process.stderr.write(`epoch ${log.epoch}/${epochs}: ${tenth * 10}% (batch ${log.batch}/${log.batches}, loss ${log.loss.toFixed(4)})\n`);
      }
    },
    onEpochEnd() {
      bar?.stop();
      bar = undefined;
    },
  };
}
