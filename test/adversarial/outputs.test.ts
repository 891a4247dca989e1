// The output-path rules of cli/outputs.ts and the number grammar of cli/options.ts, tested as
// functions (issue 18, classes 3, 9 and 11); the commands that use them: paths.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath, checkOutputs, resolvedPath } from '../../packages/cli/src/outputs.ts';
import { numberIn } from '../../packages/cli/src/options.ts';
import { defaultResumeOut } from '../../packages/cli/src/checkpointFiles.ts';
import { assertNablaError } from '../assertNablaError.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-adv-outputs-'));
}

test('[class 3] resolvedPath: "./x", "a/../x" and a symlinked folder name the same file, even when it does not exist yet', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'real'));
  symlinkSync(join(dir, 'real'), join(dir, 'link'));
  const want = resolvedPath(join(dir, 'real', 'new.safetensors'));
  assert.equal(resolvedPath(join(dir, 'link', 'new.safetensors')), want);
  assert.equal(resolvedPath(join(dir, 'real', '.', 'x', '..', 'new.safetensors')), want);
  assert.equal(resolvedPath(join(dir, 'link', 'missing', 'deeper.bin')), join(want, '..', 'missing', 'deeper.bin'));
});

test('[class 3] checkOutputs: an output equal to an input or to another output is refused, naming both roles', () => {
  const dir = tmp();
  const input = join(dir, 'm.safetensors');
  writeFileSync(input, 'x');
  symlinkSync(input, join(dir, 'alias.safetensors'));
  assertNablaError(() => checkOutputs([{ path: join(dir, 'alias.safetensors'), role: 'report' }], [{ path: input, role: 'model file' }]),
    ['report', 'model file', 'the same file']);
  assertNablaError(() => checkOutputs([{ path: join(dir, 'a'), role: 'model file' }, { path: join(dir, '.', 'a'), role: 'checkpoint' }], []),
    ['checkpoint', 'model file', 'also writes']);
  checkOutputs([{ path: join(dir, 'b'), role: 'model file' }], [{ path: input, role: 'model file' }, { path: join(dir, 'gone'), role: 'data file' }]);
});

test('[class 9] checkOutputPath: empty names, folders and paths through a file are refused', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'file'), 'x');
  assertNablaError(() => checkOutputPath('', 'model file'), ['model file', 'an empty path']);
  assertNablaError(() => checkOutputPath(dir, 'model file'), ['an existing folder']);
  assertNablaError(() => checkOutputPath(`${dir}/sub/`, 'model file'), ['a folder path']);
  assertNablaError(() => checkOutputPath(join(dir, 'file', 'm.safetensors'), 'checkpoint'), ['checkpoint', 'not a folder']);
  checkOutputPath(join(dir, 'new', 'deeper', 'm.safetensors'), 'model file'); // missing folders are created on save
});

test('[class 11] numberIn takes plain decimal and scientific notation only', () => {
  const lr = numberIn(0, Infinity, { minOpen: true });
  for (const ok of ['0.1', '1e-3', '2E+2', '.5', '5.', '+3']) assert.equal(lr(ok), Number(ok));
  for (const bad of ['0x10', '0b11', '0o7', ' 1', '1 ', '1_000', 'Infinity', '', '1e', '-1']) assert.throws(() => lr(bad), /expected a number/, bad);
});

test('[class 4] a resumed run saves beside its checkpoint by default, never over it', () => {
  assert.equal(defaultResumeOut(join('runs', 'a.ckpt.safetensors')), join('runs', 'a.safetensors'));
  assert.equal(defaultResumeOut(join('runs', 'a.ckpt')), join('runs', 'a.safetensors'));
  assert.equal(defaultResumeOut(join('runs', 'a.safetensors')), join('runs', 'a.model.safetensors'));
});
