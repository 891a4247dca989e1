// Issue 18, class 8 (images): a blank, fully transparent or 1×1 image still gets a prediction,
// which means nothing; `nabla predict` now says so on stderr (and in --json), and the server adds a
// "warning" field through the same check (noInk). A digit with ink gets no warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Sequential, encodeModel, layersFromSpec, noInk } from 'nabla';
import { nabla } from '../cliRunner.ts';

const dir = mkdtempSync(join(tmpdir(), 'nabla-adv-blank-'));

function png(name: string, w: number, h: number, rgba: (x: number, y: number) => [number, number, number, number]): string {
  const image = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) image.data.set(rgba(x, y), 4 * (y * w + x));
  const path = join(dir, name);
  writeFileSync(path, PNG.sync.write(image, { colorType: 6 }));
  return path;
}

test('[class 8] blank, transparent and 1×1 images: predict warns that the prediction means nothing; a digit does not', () => {
  const model = join(dir, 'm.safetensors');
  writeFileSync(model, encodeModel(new Sequential(layersFromSpec('dense:8,relu,dense:10', 1), { inputShape: [784], seed: 1 })));
  const white = png('white.png', 40, 40, () => [255, 255, 255, 255]);
  const black = png('black.png', 40, 40, () => [0, 0, 0, 255]);
  const clear = png('transparent.png', 40, 40, () => [0, 0, 0, 0]);
  const dot = png('dot.png', 1, 1, () => [0, 0, 0, 255]);
  const digit = png('digit.png', 40, 40, (x, y) => (x >= 18 && x < 22 && y >= 5 && y < 35 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
  for (const path of [white, black, clear, dot]) {
    const r = nabla('predict', model, path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no ink found`), `${path}: ${r.stderr}`);
  }
  const json = nabla('predict', model, clear, '--json');
  assert.match(JSON.parse(json.stdout.trim()).warning ?? '', /no ink found/);
  const ok = nabla('predict', model, digit);
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /warning/);
  assert.equal(noInk(new Float32Array(784)), 'no ink found: the image is blank or transparent, so the prediction means nothing');
});
