// The library as a package: the declaration build (which is also the browser-only type-check:
// DOM libs, no Node types) emits runnable ES modules; the browser bundle runs; a bundle that
// imports only Tensor carries no layer, optimiser or model code (tree-shaking); the API
// reference builds without a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import * as nabla from 'nabla';
import * as nablaNode from 'nabla/node';

const ROOT = join(import.meta.dirname, '..');
/** The library's package. */
const LIB = join(ROOT, 'packages', 'nabla');
const require = createRequire(import.meta.url);

/** Start a package's executable (e.g. 'typescript', 'bin/tsc') with this Node; resolves when it exits. */
function tool(pkg: string, bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const script = join(dirname(require.resolve(`${pkg}/package.json`)), bin);
  const child = spawn(process.execPath, [script, ...args], { cwd: LIB });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

// The two slow tools (≈ 10 s each) start together, before the first test, and run side by side.
const distDir = mkdtempSync(join(tmpdir(), 'nabla-dist-'));
const building = tool('typescript', 'bin/tsc', ['-p', 'tsconfig.build.json', '--outDir', distDir, '--declarationMap', 'false', '--sourceMap', 'false']);
const apiJson = join(mkdtempSync(join(tmpdir(), 'nabla-api-')), 'api.json');
// typedoc.json sets treatWarningsAsErrors: an undocumented export or a broken link fails it.
const documenting = tool('typedoc', 'bin/typedoc', ['--json', apiJson]);

test('tsc -p tsconfig.build.json: browser-only type-check passes and emits .js + .d.ts that run in plain Node', async () => {
  const outDir = distDir;
  const r = await building;
  assert.equal(r.code, 0, r.out);
  for (const f of ['index.js', 'index.d.ts', 'io/onnx.d.ts', 'layers/dense.d.ts', 'node/index.js', 'node/index.d.ts']) assert.ok(existsSync(join(outDir, f)), f);
  // package.json points consumers at files this build makes (dist/ is the outDir of npm run build).
  const pkg = JSON.parse(readFileSync(join(LIB, 'package.json'), 'utf8'));
  // Node gets the whole library as two bundled entry points sharing one chunk (3 files to load
  // instead of ~70: `nabla --version` starts ≈ 60 ms sooner); bundlers get the module tree (tree-shaking).
  assert.deepEqual(Object.keys(pkg.exports['.']), ['nabla-source', 'types', 'node', 'default'], 'condition order: source, types, node, default');
  assert.equal(pkg.exports['.']['nabla-source'], './src/index.ts');
  assert.deepEqual(Object.keys(pkg.exports['./node']), ['nabla-source', 'types', 'node', 'default']);
  for (const target of [pkg.exports['.'].types, pkg.exports['.'].default, pkg.types, pkg.exports['./browser'].types, pkg.exports['./node'].types, pkg.exports['./node'].default]) {
    assert.match(target, /^\.\/dist\//);
    assert.ok(existsSync(join(outDir, target.slice('./dist/'.length))), `${target} is built`);
  }
  assert.match(pkg.scripts.build, new RegExp(`--outfile=${pkg.exports['./browser'].default.slice(2).replaceAll('.', '\\.')}`));
  assert.equal(pkg.sideEffects, false);
  const index = readFileSync(join(outDir, 'index.js'), 'utf8');
  assert.match(index, /from "\.\/tensor\.js"/, 'relative imports rewritten to .js');
  assert.doesNotMatch(index, /\.ts"/);
  // The emitted modules, without tsx, export exactly what the sources do.
  writeFileSync(join(outDir, 'package.json'), '{"type": "module"}');
  const dist = await import(pathToFileURL(join(outDir, 'index.js')).href) as Record<string, unknown>;
  assert.deepEqual(Object.keys(dist).sort(), Object.keys(nabla).sort());
  const model = new (dist.Sequential as typeof nabla.Sequential)([new (dist.Dense as typeof nabla.Dense)(3)], { inputShape: [2], seed: 1 });
  const same = new nabla.Sequential([new nabla.Dense(3)], { inputShape: [2], seed: 1 });
  assert.deepEqual(model.predict(Float32Array.from([1, 2]), 1), same.predict(Float32Array.from([1, 2]), 1));
});

test('the browser bundle (ESM, platform browser) runs and gives the sources\' numbers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-bundle-'));
  const outfile = join(dir, 'nabla.browser.mjs');
  const result = await build({
    entryPoints: [join(LIB, 'src', 'index.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, outfile, metafile: true, logLevel: 'silent',
  });
  const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes;
  // 138 KB before checkpoints, schedules, early stopping and training diagnostics (+14 KB);
  // 159 KB before the batch convolution (+23 KB: 18 KB of it the wasm kernels, ≈ 3.4 KB in each
  // of the 4 wasm builds, as base64); then the wasm batch normalisation added ≈ 1.9 KB of wasm
  // to each build (≈ 10 KB of base64).
  // One place per layer: 188 KB → 197 KB with the layer kinds and registry, the model builder and
  // the W(1)/confusion colouring moved in from the CLI and the page, and Residual; GELU and
  // LayerNorm added 5 KB (GELU's erf is two polynomials).
  // Your own data (issue 14) added 19 KB: the CSV reader, .npy parser, datasetFromArrays, the
  // chunked shuffle buffer and fitSource (all browser-safe, so a page can read a dropped file);
  // regression and binary classification (Huber and BCE losses, tasks, MAE/RMSE/R², early
  // stopping on them, class and target names in model files) about 5.5 KB more.
  // explainConv (the worked conv, pooling, batch-norm and dropout sums of the playground's
  // step-through) added about 8 KB: 245,408 bytes.
  // Two wasm builds instead of four (the unshared ones are made at load time by clearing one byte,
  // wasmMemory.ts withUnsharedMemory): 247,977 → 212,378 bytes.
  // Issue 17's kernels then took each wasm build from 13.5 to 32.5-33 KB (Winograd 3×3
  // convolutions ≈ 13 KB, the batch-norm passes and the fused SGD norm ≈ 4 KB, the direct
  // one-channel 3×3 kernels ≈ 2 KB): 270,946 bytes. The GEMM's column path for a first layer's
  // weight gradient (listing pairs of columns, 3–5% off the MLP epoch on one thread) added
  // ≈ 3.4 KB to each build, and the row path for its forward product ≈ 1.5 KB: 284,408 bytes,
  // so the budget was 290 KB. The Winograd input gradient by the forward's adjoint (its own
  // inverse transforms and unpacking, ≈ 1.8 KB a build; the `cnn` preset's step 0.82× on 2
  // threads) and the batch norm's ReLU forward: 292,977 bytes, so the budget was 300 KB. The
  // softmax cross-entropy in wasm (≈ 1.1 KB a build) and the Standardize layer (≈ 2 KB with its
  // PyTorch class): 299,033 bytes, so the budget is 310 KB.
  assert.ok(bytes < 310_000, `browser bundle ${bytes} bytes`);
  const b = await import(pathToFileURL(outfile).href) as typeof nabla;
  const x = Float32Array.from({ length: 8 }, (_, i) => i / 8);
  const viaBundle = new b.Sequential([new b.Dense(4), new b.Tanh(), new b.Dense(2), new b.Softmax()], { inputShape: [4], seed: 3 });
  const viaSource = new nabla.Sequential([new nabla.Dense(4), new nabla.Tanh(), new nabla.Dense(2), new nabla.Softmax()], { inputShape: [4], seed: 3 });
  assert.deepEqual(viaBundle.predict(x, 2), viaSource.predict(x, 2));
  assert.ok(b.exportOnnx(viaBundle).length > 0);
});

test('tree-shaking: a bundle importing only Tensor carries no Dense, Adam, Sequential or ONNX code', async () => {
  const bundleOf = async (contents: string) => (await build({
    stdin: { contents, resolveDir: LIB, loader: 'ts' }, bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  })).outputFiles[0].text;
  const tensorOnly = await bundleOf("import { Tensor } from './src/index.ts'; export const t = new Tensor([2, 3]);");
  const withModel = await bundleOf("import { Sequential, Dense, Adam } from './src/index.ts'; export { Sequential, Dense, Adam };");
  // The markers are present when the classes are used, so their absence below means something.
  const markers = [/\bDense = class\b/, /\bAdam = class\b/, /\bSequential = class\b/, /\bJsBackend = class\b/];
  for (const marker of markers) assert.match(withModel, marker);
  for (const marker of [...markers, /ProtoWriter/, /function exportOnnx/]) assert.doesNotMatch(tensorOnly, marker);
  assert.ok(tensorOnly.length < 6000, `Tensor-only bundle is ${tensorOnly.length} bytes`);
});

test('the API reference (typedoc) builds without warnings; every export has a doc comment with an example', async () => {
  const json = apiJson;
  const r = await documenting;
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /warning/i);

  interface Comment { blockTags?: { tag: string }[] }
  interface Reflection { name: string; comment?: Comment; signatures?: { comment?: Comment }[]; children?: Reflection[] }
  const api = JSON.parse(readFileSync(json, 'utf8')) as Reflection;
  const hasExample = (c?: Comment) => c?.blockTags?.some((t) => t.tag === '@example') ?? false;
  const documented = (r: Reflection) => hasExample(r.comment) || (r.signatures ?? []).some((s) => hasExample(s.comment)) ||
    (r.children ?? []).some((m) => m.name === 'constructor' && (m.signatures ?? []).some((s) => hasExample(s.comment)));
  // Two entry points: typedoc makes one module each, 'index' (nabla) and 'node' (nabla/node).
  const moduleOf = (name: string) => (api.children ?? []).find((m) => m.name === name)?.children ?? [];
  const exports = [...moduleOf('index'), ...moduleOf('node')];
  for (const [name, runtime] of [['index', nabla], ['node', nablaNode]] as const) {
    const names = new Set(moduleOf(name).map((e) => e.name));
    assert.deepEqual(Object.keys(runtime).filter((k) => !names.has(k)), [], `typedoc sees every runtime export of ${name}`);
  }
  assert.ok(moduleOf('index').length > Object.keys(nabla).length, 'and the type exports');
  assert.deepEqual(exports.filter((e) => !documented(e)).map((e) => e.name), [], 'exports without an @example');
});
