// Checkpoints from the command line: a run killed with SIGKILL or stopped with Ctrl-C (SIGINT)
// and then resumed ends with exactly the weights of an uninterrupted run; damaged, truncated and
// mismatched checkpoints are refused with one line, and nothing already saved is lost. A resume
// gives --data again: a checkpoint never chooses the files a run reads or writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from 'nabla';
import { writeMnistFixture } from '../../../test/cliFixtures.ts';
import { BIN, nabla } from '../../../test/cliRunner.ts';

// 1,980 training samples in batches of 8: ~250 batches an epoch, a few tenths of a second each,
// so a signal sent when the first epoch line appears lands in the middle of a later epoch.
const data = writeMnistFixture({ train: 2200, test: 60 });
// NOTE: enough epochs that a kill sent just after the first checkpoint lands mid-run even on the
// fast wasm backend (5 epochs could all finish in the signal's delay).
const EPOCHS = 10;
const RUN = ['--data', data, '--hidden', '24', '--epochs', String(EPOCHS), '--batch-size', '8', '--no-progress', '--json'];


function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-resume-'));
}

/** The weights of a model file, as raw bytes per tensor (metadata such as timings left out). */
function weightBytes(path: string): Map<string, Buffer> {
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(path)));
  return new Map([...tensors].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

function assertSameWeights(a: string, b: string): void {
  const wa = weightBytes(a);
  const wb = weightBytes(b);
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, bytes] of wa) assert.ok(bytes.equals(wb.get(k)!), `tensor ${k} differs byte for byte`);
}

/**
 * Start a training run; once `ready` holds for its stdout, send `signal` after `delayMs` (a number,
 * or computed from the stdout so far). Resolves with what it printed.
 */
function runAndSignal(
  args: string[], signal: NodeJS.Signals, ready: (stdout: string) => boolean,
  delayMs: number | ((stdout: string) => number) = 0,
) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args]);
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!sent && ready(stdout)) {
        sent = true;
        setTimeout(() => child.kill(signal), typeof delayMs === 'number' ? delayMs : delayMs(stdout));
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr }));
  });
}

const epochsIn = (stdout: string) => stdout.split('\n').filter((l) => l.includes('"type":"epoch"')).length;

let reference: string | undefined;
/** The uninterrupted run, shared by the tests below. */
function uninterrupted(): string {
  if (!reference) {
    reference = join(tmp(), 'full.safetensors');
    const r = nabla('train', ...RUN, '--out', reference);
    assert.equal(r.code, 0, r.stderr);
  }
  return reference;
}

test('SIGKILL mid-epoch, then --resume: the final weights equal an uninterrupted run\'s, byte for byte', async () => {
  const full = uninterrupted();
  const dir = tmp();
  const out = join(dir, 'killed.safetensors');
  const ckpt = join(dir, 'killed.ckpt.safetensors');
  // Kill a little after the first epoch's checkpoint: in the middle of epoch 2 (or 3).
  const r = await runAndSignal(['train', ...RUN, '--out', out], 'SIGKILL', (s) => epochsIn(s) >= 1 && existsSync(ckpt), 20);
  assert.equal(r.signal, 'SIGKILL', `the run should have been killed: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, /"type":"result"/, 'killed before the end');
  assert.ok(!existsSync(out), 'no final model yet');
  const before = epochsIn(r.stdout);
  assert.ok(before < EPOCHS, `killed after ${before} of ${EPOCHS} epochs`);

  const resumed = nabla('train', '--resume', ckpt, '--data', data, '--out', out, '--json', '--no-progress');
  assert.equal(resumed.code, 0, resumed.stderr);
  // The resumed run trains the epochs after the checkpoint's, and only those.
  assert.ok(epochsIn(resumed.stdout) >= EPOCHS - before && epochsIn(resumed.stdout) <= EPOCHS - before + 1, resumed.stdout);
  assertSameWeights(full, out);
  // The checkpoint folder holds no half-written temp files.
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('SIGINT finishes the batch, checkpoints mid-epoch, exits 130 printing the resume command, which continues bit for bit', async () => {
  const full = uninterrupted();
  const dir = tmp();
  const out = join(dir, 'stopped.safetensors');
  // Half an epoch after the first epoch line (its "seconds" says how long an epoch takes), so the
  // signal lands mid-epoch on a fast backend as on a slow one.
  const halfEpoch = (stdout: string): number => {
    const first = JSON.parse(stdout.split('\n').find((l) => l.includes('"type":"epoch"'))!);
    return Math.max(1, (first.seconds * 1000) / 2);
  };
  const r = await runAndSignal(['train', ...RUN, '--out', out], 'SIGINT', (s) => epochsIn(s) >= 1, halfEpoch);
  assert.equal(r.code, 130, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  // Almost always mid-epoch; on a busy machine the signal can still arrive as an epoch ends, which
  // is as valid a place to stop (the library tests cover mid-epoch state on their own).
  const m = /interrupted at (?:epoch \d+, batch \d+|the end of epoch \d+); checkpoint saved to (.+)\nresume with: (.+)\n/.exec(r.stderr);
  assert.ok(m, `expected an interruption message with the position and the resume command: ${r.stderr}`);
  const command = m[2].split(' ');
  assert.deepEqual(command.slice(0, 4), ['nabla', 'train', '--resume', join(dir, 'stopped.ckpt.safetensors')]);

  const resumed = nabla(...command.slice(1), '--no-progress', '--json');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /"type":"result"/);
  assertSameWeights(full, out);
});

test('a damaged or mismatched checkpoint is refused with one line and left untouched', () => {
  // The uninterrupted run's checkpoint (its last epoch's).
  const ckpt = uninterrupted().replace(/\.safetensors$/, '.ckpt.safetensors');
  const good = readFileSync(ckpt);
  const dir = tmp();
  const refuse = (file: string, extra: string[], ...fragments: string[]) => {
    const r = nabla('train', '--resume', file, '--out', join(dir, 'other.safetensors'), ...extra);
    assert.equal(r.code, 1, `expected exit 1: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    for (const f of fragments) assert.ok(r.stderr.includes(f), `stderr should mention ${JSON.stringify(f)}: ${r.stderr}`);
  };

  const flipped = Buffer.from(good);
  flipped[flipped.length - 100] ^= 0x40; // inside the weights: still valid floats
  writeFileSync(join(dir, 'flipped.safetensors'), flipped);
  refuse(join(dir, 'flipped.safetensors'), [], 'checkpoint', 'CRC-32', 'damaged');
  // (Truncated files and model files passed as checkpoints: see src/model/checkpoint.test.ts.)
  refuse(ckpt, ['--hidden', '16'], 'flag --hidden', 'expected 24', 'found 16');

  assert.ok(readFileSync(ckpt).equals(good), 'the checkpoint is unchanged');
  assert.ok(!existsSync(join(dir, 'other.safetensors')));
});

test('early stopping: a stopped run resumes into a finished one; --checkpoint picks the path, --no-checkpoint writes none', () => {
  const dir = tmp();
  const small = ['--data', data, '--hidden', '8', '--batch-size', '64', '--no-progress', '--limit', '600', '--json'];
  const ck = join(dir, 'sub', 'run.ckpt');
  // The synthetic bars reach 100% validation accuracy at once: patience 1 stops after epoch 2.
  const r = nabla('train', ...small, '--epochs', '20', '--early-stopping', '1', '--out', join(dir, 'b.safetensors'), '--checkpoint', ck);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.ok(result.epochs_run < 20, `stopped early after ${result.epochs_run} epochs`);
  const saved = readFileSync(ck);
  const again = nabla('train', '--resume', ck, '--data', data, '--out', join(dir, 'c.safetensors'), '--json', '--no-progress', '--no-checkpoint');
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /"type":"epoch"/, 'a stopped run does not train on');
  assertSameWeights(join(dir, 'b.safetensors'), join(dir, 'c.safetensors'));
  assert.ok(readFileSync(ck).equals(saved), '--no-checkpoint: the checkpoint was not rewritten');
  assert.deepEqual(readdirSync(dir).sort(), ['b.safetensors', 'c.safetensors', 'sub']);
});
