// nabla serve's HTTP server on port 0: the API's answers match the library's, the files are
// served, every bad request gets a 4xx JSON error, and the server keeps answering afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { Dense, Flatten, ReLU, Sequential, decodeModel, encodeModel, inkToRgba, type LoadedModel, type TrainingInfo } from 'nabla';
import { decodeDigitPng } from './image.ts';
import { bundledMnistDir, loadImageBytes, loadMnist } from 'nabla/node';
import { startServer, type RunningServer } from './server.ts';

const MAX_BODY = 64 * 1024;
let dir: string;
let server: RunningServer;
let loaded: LoadedModel;
let bytes: Uint8Array;
let digits: { pixels: number[]; label: number }[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nabla-serve-'));
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', 'index.html'), '<!doctype html><title>playground</title>');
  writeFileSync(join(dir, 'secret.txt'), 'SECRET-OUTSIDE-STATIC');
  const model = new Sequential([new Dense(16), new ReLU(), new Dense(10)], { inputShape: [784], seed: 5 });
  bytes = encodeModel(model, { loss: 'ce', seed: 5, history: { epochs: [] } });
  loaded = decodeModel(bytes);
  const test = loadMnist('test');
  digits = [0, 1, 2].map((i) => ({ pixels: Array.from(test.x.subarray(i * 784, (i + 1) * 784)), label: test.labels[i] }));
  server = await startServer({
    model: { loaded, bytes, name: 'tiny.safetensors' }, staticDir: join(dir, 'static'), dataDir: bundledMnistDir(), port: 0, maxBody: MAX_BODY,
  });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; text: string };

/** A raw request, so paths reach the server exactly as written (fetch would normalise "..") */
function raw(method: string, path: string, body?: Uint8Array | string, headers: Record<string, string> = {}, base = server.url): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

const postJson = (body: string) => raw('POST', '/api/predict', body, { 'Content-Type': 'application/json' });

function assertIsolated(h: Record<string, string | string[] | undefined>): void {
  assert.equal(h['cross-origin-opener-policy'], 'same-origin');
  assert.equal(h['cross-origin-embedder-policy'], 'require-corp');
}

/** A 4xx with a JSON body { error } that says something about `fact`. */
function assertJsonError(r: Answer, status: number, fact: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(String(r.headers['content-type']), /application\/json/);
  const body = JSON.parse(r.text) as { error: string };
  assert.match(body.error, fact);
  assertIsolated(r.headers);
}

test('serve: binds loopback, reports the chosen port', () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(new URL(server.url).port, '0');
});

test('GET /api/model describes the model; /api/model/weights is the file itself', async () => {
  const r = await fetch(`${server.url}/api/model`);
  assert.equal(r.status, 200);
  assertIsolated({ 'cross-origin-opener-policy': r.headers.get('cross-origin-opener-policy') ?? undefined, 'cross-origin-embedder-policy': r.headers.get('cross-origin-embedder-policy') ?? undefined });
  const info = (await r.json()) as { params: number; architecture: unknown; training: { seed: number }; layers: { type: string }[]; name: string };
  assert.equal(info.params, 784 * 16 + 16 + 16 * 10 + 10);
  assert.deepEqual(info.architecture, loaded.model.config());
  assert.deepEqual(info.layers.map((l) => l.type), ['Dense', 'ReLU', 'Dense']);
  assert.equal(info.training.seed, 5);
  assert.equal(info.name, 'tiny.safetensors');
  const w = await fetch(`${server.url}/api/model/weights`);
  assert.deepEqual(new Uint8Array(await w.arrayBuffer()), bytes);
});

test('POST /api/predict with JSON pixels: the library\'s probabilities and argmax', async () => {
  for (const d of digits) {
    const r = await postJson(JSON.stringify({ pixels: d.pixels }));
    assert.equal(r.status, 200, r.text);
    assertIsolated(r.headers);
    const body = JSON.parse(r.text) as { predicted: number; probabilities: number[] };
    const expected = loaded.model.predictProbabilities(Float32Array.from(d.pixels), 1);
    assert.deepEqual(body.probabilities, Array.from(expected));
    assert.equal(body.predicted, expected.indexOf(Math.max(...expected)));
    assert.ok(Math.abs(body.probabilities.reduce((s, p) => s + p, 0) - 1) < 1e-5);
  }
});

test('POST /api/predict with a PNG body: decoded as nabla predict does', async () => {
  // A real test digit drawn black on white at 2×, as a scan would be.
  const rgba = inkToRgba(digits[1].pixels.map((v) => 1 - v), 28, 28);
  const png = new PNG({ width: 56, height: 56 });
  for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) {
    const s = 4 * ((y >> 1) * 28 + (x >> 1));
    png.data.set(rgba.subarray(s, s + 4), 4 * (y * 56 + x));
  }
  const body = new Uint8Array(PNG.sync.write(png));
  const r = await raw('POST', '/api/predict', body, { 'Content-Type': 'image/png' });
  assert.equal(r.status, 200, r.text);
  const out = JSON.parse(r.text) as { predicted: number; probabilities: number[] };
  const expected = loaded.model.predictProbabilities(decodeDigitPng(body, 'png'), 1);
  assert.deepEqual(out.probabilities, Array.from(expected));
});

/** A server over one model file written with `training` (as nabla train records own data); closed after `use`. */
async function withModel(model: Sequential, training: TrainingInfo, use: (post: (body: string | Uint8Array, type?: string) => Promise<Answer>, loaded: LoadedModel) => Promise<void>): Promise<void> {
  const file = encodeModel(model, training);
  const own = decodeModel(file);
  const s = await startServer({ model: { loaded: own, bytes: file, name: 'own.safetensors' }, staticDir: join(dir, 'static'), dataDir: bundledMnistDir(), port: 0 });
  const post = (body: string | Uint8Array, type = 'application/json') => raw('POST', '/api/predict', body, { 'Content-Type': type }, s.url);
  try {
    await use(post, own);
  } finally {
    await s.close();
  }
}

test('POST /api/predict for a model trained on a table: {"features": [...]} of any finite numbers, answered with the class name', async () => {
  const names = ['setosa', 'versicolor', 'virginica'];
  const model = new Sequential([new Dense(8), new ReLU(), new Dense(3)], { inputShape: [4], seed: 3 });
  await withModel(model, { loss: 'ce', task: 'classification', classNames: names, data: { kind: 'csv', path: 'iris.csv', scale: 'as written', task: 'classification', inputShape: [4] } }, async (post, own) => {
    for (const features of [[5.1, 3.5, 1.4, 0.2], [-40, 1e3, 0, 7.25]]) {
      const r = await post(JSON.stringify({ features }));
      assert.equal(r.status, 200, r.text);
      const out = JSON.parse(r.text) as { predicted: number; class_name: string; probabilities: number[] };
      const expected = own.model.predictProbabilities(Float32Array.from(features), 1);
      assert.deepEqual(out.probabilities, Array.from(expected));
      assert.equal(out.predicted, expected.indexOf(Math.max(...expected)));
      assert.equal(out.class_name, names[out.predicted]);
    }
    assertJsonError(await post(JSON.stringify({ features: [1, 2, 3] })), 400, /expected 4 features \(the columns in training's order\), got 3/);
    assertJsonError(await post(JSON.stringify({ features: [1, 2, 'x', 4] })), 400, /feature 2 must be a finite number, got "x"/);
    assertJsonError(await post('{"features": [1, 2, null, 4]}'), 400, /feature 2 must be a finite number, got null/);
    assertJsonError(await post(JSON.stringify({ pixels: [0.5, 0.5, 7, 0.5] })), 400, /pixel 2 must be a number in \[0, 1\]/);
    assertJsonError(await post(JSON.stringify({ pixels: [0, 0, 0, 0], features: [0, 0, 0, 0] })), 400, /not both/);
    assertJsonError(await post('{}'), 400, /"features": \[4 numbers\]/);
    const png = new Uint8Array(PNG.sync.write(new PNG({ width: 4, height: 4 })));
    assertJsonError(await post(png, 'image/png'), 400, /takes 4 numbers.*"features"/);
  });
});

test('POST /api/predict for a regression model: its values and target names', async () => {
  const model = new Sequential([new Dense(6), new ReLU(), new Dense(1)], { inputShape: [3], seed: 4 });
  await withModel(model, { loss: 'mse', task: 'regression', targetNames: ['price'] }, async (post, own) => {
    const features = [0.5, -2, 10];
    const r = await post(JSON.stringify({ features }));
    assert.equal(r.status, 200, r.text);
    const out = JSON.parse(r.text) as { prediction: number[]; target_names: string[] };
    assert.deepEqual(out.prediction, Array.from(own.model.predict(Float32Array.from(features), 1)));
    assert.deepEqual(out.target_names, ['price']);
    assert.equal('probabilities' in out, false);
  });
});

test('POST /api/predict for a model trained on an image folder: a PNG or JPEG read at the recorded size and channels', async () => {
  const names = ['red', 'blue'];
  const model = new Sequential([new Flatten(), new Dense(2)], { inputShape: [3, 8, 8], seed: 6 });
  const record = { kind: 'images', path: 'shapes', size: [8, 8], channels: 3, scale: 'x / 255', task: 'classification', inputShape: [3, 8, 8] };
  await withModel(model, { loss: 'ce', task: 'classification', classNames: names, data: record }, async (post, own) => {
    // 16×16 with a blue square on red: resized to 8×8 on the way in.
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 256; i++) {
      const inSquare = (i % 16) >= 4 && (i % 16) < 12 && (i >> 4) >= 4 && (i >> 4) < 12;
      rgba.set(inSquare ? [0, 0, 255, 255] : [255, 0, 0, 255], 4 * i);
    }
    const png = new PNG({ width: 16, height: 16 });
    png.data.set(rgba);
    const pngBytes = new Uint8Array(PNG.sync.write(png));
    const jpegBytes = new Uint8Array(jpeg.encode({ data: rgba, width: 16, height: 16 }, 95).data);
    for (const [body, type] of [[pngBytes, 'image/png'], [jpegBytes, 'image/jpeg']] as const) {
      const r = await post(body, type);
      assert.equal(r.status, 200, r.text);
      const out = JSON.parse(r.text) as { predicted: number; class_name: string; probabilities: number[] };
      const { x } = await loadImageBytes(body, 'test image', { size: [8, 8], channels: 3 });
      assert.deepEqual(out.probabilities, Array.from(own.model.predictProbabilities(x, 1)));
      assert.equal(out.class_name, names[out.predicted]);
    }
    assertJsonError(await post(new Uint8Array([1, 2, 3, 4]), 'image/jpeg'), 400, /request body.*PNG or JPEG/);
  });
});

test('POST /api/predict: every malformed body is a 4xx JSON error', async () => {
  const pixels = digits[0].pixels;
  assertJsonError(await postJson('this is not json'), 400, /not valid JSON/);
  assertJsonError(await postJson('{"pixels": [1, 2'), 400, /not valid JSON/);
  assertJsonError(await postJson('null'), 400, /pixels/);
  assertJsonError(await postJson('[1,2,3]'), 400, /pixels/);
  assertJsonError(await postJson('{"pixel": []}'), 400, /pixels/);
  assertJsonError(await postJson(JSON.stringify({ pixels: pixels.slice(1) })), 400, /784 pixels.*got 783/);
  assertJsonError(await postJson(JSON.stringify({ pixels: [...pixels, 0] })), 400, /got 785/);
  assertJsonError(await postJson(JSON.stringify({ pixels: pixels.map((v, i) => (i === 5 ? 'x' : v)) })), 400, /pixel 5 .*"x"/);
  assertJsonError(await postJson(JSON.stringify({ pixels: pixels.map((v, i) => (i === 7 ? null : v)) })), 400, /pixel 7/);
  assertJsonError(await postJson(JSON.stringify({ pixels: pixels.map((v, i) => (i === 9 ? 255 : v)) })), 400, /pixel 9 .*\[0, 1\].*255/);
  assertJsonError(await postJson(JSON.stringify({ pixels: 'abc' })), 400, /pixels/);
  assertJsonError(await raw('POST', '/api/predict', 'x', { 'Content-Type': 'text/plain' }), 415, /application\/json, image\/png or image\/jpeg/);
  assertJsonError(await raw('POST', '/api/predict', new Uint8Array(0), { 'Content-Type': 'image/png' }), 400, /empty/);
  assertJsonError(await raw('POST', '/api/predict', 'GIF89a not a png', { 'Content-Type': 'image/png' }), 400, /GIF/);
  const truncated = PNG.sync.write(new PNG({ width: 8, height: 8 })).subarray(0, 40);
  assertJsonError(await raw('POST', '/api/predict', truncated, { 'Content-Type': 'image/png' }), 400, /corrupt PNG/);
});

test('bodies over the limit get 413, declared or streamed', async () => {
  const big = JSON.stringify({ pixels: new Array(784).fill(0.123456789123456) }) + ' '.repeat(MAX_BODY);
  assertJsonError(await postJson(big), 413, /limit/);
  // Chunked, no Content-Length: refused while streaming.
  const { hostname, port } = new URL(server.url);
  const r = await new Promise<{ status: number; text: string }>((ok, fail) => {
    const req = request({ host: hostname, port, method: 'POST', path: '/api/predict', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => ok({ status: res.statusCode!, text }));
    });
    req.on('error', fail);
    for (let i = 0; i < 10; i++) req.write('x'.repeat(MAX_BODY / 4));
    req.end();
  });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.text).error, /limit/);
});

test('wrong methods get 405 with Allow; unknown routes 404', async () => {
  const g = await raw('GET', '/api/predict');
  assertJsonError(g, 405, /GET not allowed.*POST/);
  assert.equal(g.headers.allow, 'POST');
  assertJsonError(await raw('DELETE', '/'), 405, /DELETE/);
  assertJsonError(await raw('POST', '/api/model', '{}', { 'Content-Type': 'application/json' }), 405, /POST/);
  assertJsonError(await raw('PUT', '/data/t10k-labels-idx1-ubyte', 'x'), 405, /PUT/);
  assertJsonError(await raw('GET', '/api/nothing'), 404, /no API route/);
  assertJsonError(await raw('GET', '/missing.js'), 404, /not found/);
  assertJsonError(await raw('GET', '/data/secret'), 404, /no data file/);
});

test('paths that try to leave the static folder are refused and never return the file', async () => {
  for (const path of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt', '/static/../../secret.txt', '/..\\secret.txt', '/%5c..%5csecret.txt', '/data/..%2f..%2fsecret.txt']) {
    const r = await raw('GET', path);
    assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    assert.ok(!r.text.includes('SECRET'), `${path} leaked the file`);
    assert.ok(JSON.parse(r.text).error, path);
  }
  assertJsonError(await raw('GET', '/%E0%A4%A'), 400, /percent-encoding/);
  assertJsonError(await raw('GET', '/a%00b'), 400, /NUL/);
});

test('static files and the MNIST IDX files are served, with COOP/COEP', async () => {
  const page = await raw('GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.text, /<title>playground/);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assertIsolated(page.headers);
  const labels = await fetch(`${server.url}/data/t10k-labels-idx1-ubyte`);
  assert.equal(labels.status, 200);
  assert.deepEqual(new Uint8Array(await labels.arrayBuffer()), new Uint8Array(readFileSync(join(bundledMnistDir(), 't10k-labels-idx1-ubyte'))));
  const head = await raw('HEAD', '/data/train-images-idx3-ubyte');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(16 + 60000 * 784));
});

test('after all the bad requests the server still predicts', async () => {
  const r = await postJson(JSON.stringify({ pixels: digits[2].pixels }));
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text).probabilities.length, 10);
});

test('without a model: /api/model and /api/predict are 404 with a hint, the page is still served', async () => {
  const bare = await startServer({ staticDir: join(dir, 'static'), dataDir: bundledMnistDir(), port: 0 });
  try {
    const m = await fetch(`${bare.url}/api/model`);
    assert.equal(m.status, 404);
    assert.match(((await m.json()) as { error: string }).error, /nabla serve <model>/);
    const p = await fetch(`${bare.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(p.status, 404);
    assert.equal((await fetch(`${bare.url}/`)).status, 200);
  } finally {
    await bare.close();
  }
});
