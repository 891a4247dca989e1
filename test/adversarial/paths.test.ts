// Adversarial paths and checkpoints (issue 18): outputs that would overwrite inputs (class 3), a
// checkpoint choosing where a resumed run reads and writes (class 4), refusals that came only
// after training (class 9), and values from files or flags not validated like flags (class 11).
// Every hostile input is built here, in a temp folder; every run is a few hundred samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam, Sequential, decodeCheckpoint, encodeCheckpoint, encodeIdx, restoreCheckpoint } from 'nabla';
import { syntheticImages, writeMnistFixture } from '../cliFixtures.ts';
import { BIN, assertUserError, nabla } from '../cliRunner.ts';

const data = writeMnistFixture({ train: 300, test: 60 });
const SMALL = ['--data', data, '--hidden', '8', '--batch-size', '32', '--no-progress', '--val', '0'];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-adv-paths-'));
}

let trained: string | undefined;
/** A small trained model (shared), and a copy per test so no test can damage another's input. */
function model(dir: string): string {
  if (!trained) {
    trained = join(tmp(), 'm.safetensors');
    const r = nabla('train', ...SMALL, '--epochs', '1', '--out', trained, '--no-checkpoint');
    assert.equal(r.code, 0, r.stderr);
  }
  const copy = join(dir, 'm.safetensors');
  writeFileSync(copy, readFileSync(trained));
  return copy;
}

/** `run` must fail with one user error and leave `file` byte for byte as it was. */
function refusesAndKeeps(file: string, run: () => ReturnType<typeof nabla>, ...fragments: string[]): void {
  const before = readFileSync(file);
  const r = run();
  assertUserError(r, ...fragments);
  assert.ok(readFileSync(file).equals(before), `${file} was changed`);
}

const runs = new Map<string, string>();
/**
 * A checkpoint of a real 1-epoch run (one run per set of flags, shared), re-encoded into `dir`
 * with a valid CRC and its recorded options edited.
 */
function tamperedCheckpoint(dir: string, edit: (options: Record<string, unknown>) => void, flags: string[] = SMALL): string {
  const key = flags.join(' ');
  if (!runs.has(key)) {
    const at = tmp();
    const r = nabla('train', ...flags, '--epochs', '1', '--out', join(at, 'run.safetensors'), '--checkpoint', join(at, 'run.ckpt.safetensors'));
    assert.equal(r.code, 0, r.stderr);
    runs.set(key, join(at, 'run.ckpt.safetensors'));
  }
  const decoded = decodeCheckpoint(new Uint8Array(readFileSync(runs.get(key)!)));
  const net = Sequential.fromConfig(decoded.architecture);
  const optimizer = new Adam(net.parameters(), { lr: 2e-3 });
  restoreCheckpoint(decoded, { model: net, optimizer });
  const options = structuredClone(decoded.options);
  edit(options);
  const ckpt = join(dir, 'run.ckpt.safetensors');
  writeFileSync(ckpt, encodeCheckpoint({ model: net, optimizer, state: decoded.state, options }));
  return ckpt;
}

// ---- class 3: an output is never one of the command's inputs ----

test('[class 3] report --out the model itself (also as ./name and through a symlinked folder) is refused; the model is untouched', () => {
  const dir = tmp();
  const m = model(dir);
  symlinkSync(dir, join(dir, 'again'));
  for (const out of [m, join(dir, '.', 'm.safetensors'), join(dir, 'again', 'm.safetensors')]) {
    refusesAndKeeps(m, () => nabla('report', m, '--out', out, '--data', data), 'report', 'model file');
  }
});

test('[class 3] export --onnx the model itself is refused; the model is untouched', () => {
  const dir = tmp();
  const m = model(dir);
  refusesAndKeeps(m, () => nabla('export', m, '--onnx', m), 'ONNX file', 'model file');
});

test('[class 3] train --init m --checkpoint m is refused before training; m is untouched', () => {
  const dir = tmp();
  const m = model(dir);
  refusesAndKeeps(m, () => nabla('train', '--data', data, '--init', m, '--checkpoint', m, '--epochs', '1', '--out', join(dir, 'n.safetensors')),
    'checkpoint', '--init');
  assert.ok(!existsSync(join(dir, 'n.safetensors')));
});

test('[class 3] train --out <a file of its own --data folder> is refused; the data file is untouched', () => {
  const d = writeMnistFixture({ train: 100, test: 30 });
  const labels = join(d, 't10k-labels-idx1-ubyte');
  refusesAndKeeps(labels, () => nabla('train', '--data', d, '--hidden', '8', '--epochs', '1', '--out', labels), 'model file', 'data file');
});

test('[class 3] import --out the weights file itself is refused; two outputs on one file are refused', () => {
  const dir = tmp();
  const m = model(dir);
  refusesAndKeeps(m, () => nabla('import', m, '--arch', '784-8-10 relu', '--out', m), 'model file', 'weights file');
  const out = join(dir, 'same.safetensors');
  assertUserError(nabla('train', ...SMALL, '--epochs', '1', '--out', out, '--checkpoint', out), 'checkpoint', 'model file');
  assert.ok(!existsSync(out));
});

test('[class 3] search --out <one of its --data files> is refused before any trial', () => {
  const d = writeMnistFixture({ train: 100, test: 30 });
  const images = join(d, 'train-images-idx3-ubyte');
  const dir = tmp();
  refusesAndKeeps(images, () => nabla('search', '--grid', 'lr=1e-3', '--dir', dir, '--out', images, '--', '--data', d, '--epochs', '1'), 'best model', 'data file');
  assert.deepEqual(readdirSync(dir), [], 'no trial ran');
});

// ---- class 4: a checkpoint is trusted for state, never for paths ----

test('[class 4] a checkpoint whose recorded --out names another file does not overwrite it: the model goes beside the checkpoint', () => {
  const dir = tmp();
  const victimDir = tmp();
  const victim = join(victimDir, 'precious.txt');
  writeFileSync(victim, 'precious');
  const ckpt = tamperedCheckpoint(dir, (o) => {
    o.out = victim;
  });
  const r = nabla('train', '--resume', ckpt, '--data', data, '--no-progress');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.ok(existsSync(join(dir, 'run.safetensors')), `the model is saved beside the checkpoint: ${readdirSync(dir)}`);
});

test('[class 4] a resumed run needs --data again when the run used it, instead of reading the folder the checkpoint names', () => {
  const dir = tmp();
  const ckpt = tamperedCheckpoint(dir, () => {});
  const r = nabla('train', '--resume', ckpt, '--no-progress');
  assertUserError(r, 'flag --data', 'give --data again');
});

test('[class 4] a resumed --init run does not open the --init file the checkpoint names', () => {
  const dir = tmp();
  const init = model(tmp());
  const ckpt = tamperedCheckpoint(dir, () => {}, ['--init', init, ...SMALL.filter((f, i) => f !== '--hidden' && SMALL[i - 1] !== '--hidden')]);
  rmSync(init); // the checkpoint holds architecture and weights; the path it records is never read
  const r = nabla('train', '--resume', ckpt, '--data', data, '--no-progress', '--out', join(dir, 'resumed.safetensors'));
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'resumed.safetensors')));
});

// ---- class 11 (checkpoint values, flags, search messages) ----

test('[class 11] a tampered checkpoint value is refused like a flag, naming the checkpoint and the field', () => {
  const dir = tmp();
  for (const [key, value] of [['batchSize', 0], ['optimizer', 'rmsprop'], ['lr', -1]] as const) {
    const ckpt = tamperedCheckpoint(dir, (o) => {
      o[key] = value;
    });
    const r = nabla('train', '--resume', ckpt, '--data', data, '--no-progress', '--out', join(dir, 'r.safetensors'));
    assertUserError(r, `checkpoint "${ckpt}"`, `option "${key}"`);
    assert.doesNotMatch(r.stderr, /fit:|TypeError|undefined/, r.stderr);
  }
});

test('[class 11] --lr 0x10 (and other non-decimal numbers) are refused', () => {
  for (const v of ['0x10', '1_0']) {
    const out = join(tmp(), 'm.safetensors');
    assertUserError(nabla('train', ...SMALL, '--lr', v, '--epochs', '0', '--out', out, '--no-checkpoint'), '--lr');
    assert.ok(!existsSync(out));
  }
});

test('[class 11] search messages say "expected" once', () => {
  const dir = tmp();
  const space = nabla('search', '--grid', 'lr=abc', '--dir', dir, '--', '--data', data, '--epochs', '1');
  assertUserError(space, 'lr');
  assert.doesNotMatch(space.stderr, /expected expected/);
  const base = nabla('search', '--grid', 'lr=1e-3', '--dir', dir, '--', '--data', data, '--batch-size', 'big');
  assertUserError(base, '--batch-size');
  assert.doesNotMatch(base.stderr, /expected expected/);
});

// ---- class 9: refused before any work, and a failing checkpoint does not lose the run ----

test('[class 9] --out "" and --out <a folder> are refused before training, leaving no files behind', () => {
  const dir = tmp();
  for (const out of ['', dir, `${dir}/`]) {
    const r = spawnSyncIn(dir, ['train', ...SMALL, '--epochs', '1', '--out', out]);
    assertUserError(r, 'model file');
    assert.doesNotMatch(r.stdout, /epoch 1\//, 'refused before the first epoch');
    assert.deepEqual(readdirSync(dir), []);
  }
});

test('[class 9] --checkpoint naming a folder is refused before training', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'ck'));
  const r = nabla('train', ...SMALL, '--epochs', '1', '--out', join(dir, 'm.safetensors'), '--checkpoint', join(dir, 'ck'));
  assertUserError(r, 'checkpoint', 'folder');
  assert.doesNotMatch(r.stdout, /epoch 1\//);
});

test('[class 9] 10×10 training images with a 28×28 test set are refused before training, naming the files', () => {
  const d = writeMnistFixture({ train: 60, test: 30 });
  const { labels } = syntheticImages(60, 3, 1);
  const images = new Uint8Array(60 * 100).fill(7);
  writeFileSync(join(d, 'train-images-idx3-ubyte'), encodeIdx({ dtype: 'uint8', shape: [60, 10, 10], data: images }));
  writeFileSync(join(d, 'train-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [60], data: labels }));
  const out = join(tmp(), 'm.safetensors');
  const r = nabla('train', '--data', d, '--hidden', '8', '--epochs', '1', '--no-progress', '--out', out);
  assertUserError(r, 't10k-images-idx3-ubyte', 'train-images-idx3-ubyte');
  assert.doesNotMatch(r.stdout, /epoch 1\//);
});

test('[class 9] a checkpoint that cannot be written mid-run is reported, and the model is still saved', async () => {
  const dir = tmp();
  const d = writeMnistFixture({ train: 1500, test: 30 });
  const out = join(dir, 'm.safetensors');
  const ckpt = join(dir, 'm.ckpt.safetensors');
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'train', '--data', d, '--hidden', '8', '--batch-size', '8', '--epochs', '4', '--no-progress', '--json', '--out', out]);
    let stdout = '';
    let stderr = '';
    let broken = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!broken && stdout.includes('"type":"epoch"')) {
        // After the first checkpoint: its path becomes a non-empty folder, so every later write fails.
        broken = true;
        // The run may rename its next checkpoint into place between the two steps (a slow test
        // machine): then the path is a file again, and the two steps are simply repeated.
        for (let attempt = 0; ; attempt++) {
          try {
            rmSync(ckpt, { force: true });
            mkdirSync(join(ckpt, 'in-the-way'), { recursive: true });
            break;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR' && (e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 20) throw e;
          }
        }
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: could not write the checkpoint/);
  assert.match(r.stdout, /"type":"result"/);
  assert.ok(existsSync(out), 'the model is saved');
});

function spawnSyncIn(cwd: string, args: string[]) {
  // nabla() runs in this process's folder; --out '' must be tried where stray files would show.
  const r = spawnSyncCwd(cwd, args);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

import { spawnSync } from 'node:child_process';
function spawnSyncCwd(cwd: string, args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
}
