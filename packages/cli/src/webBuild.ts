/**
 * Building the playground: web/*.ts → web/dist/ with esbuild (a devDependency), plus the static
 * files copied beside the bundles. `npm run build:web` and `npm install` (prepare) run this file;
 * `nabla serve` and the browser tests call ensureWebBuilt(), which rebuilds only when a source is
 * newer than the build, so a clean clone needs no separate step.
 *
 *   web/main.ts   → dist/main.js     the page (DOM, canvases, charts); no maths
 *   web/worker.ts → dist/worker.js   the Web Worker running the library (src/index.ts)
 *   web/index.html, web/style.css → dist/
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NablaError } from 'nabla';
import { PACKAGE_ROOT } from './paths.ts';

export const WEB_DIR = join(PACKAGE_ROOT, 'web');
/** The library's sources in a checkout of the repository (an installed package has none). */
const LIBRARY_SOURCES = join(PACKAGE_ROOT, '..', 'nabla', 'src');
export const WEB_DIST = join(WEB_DIR, 'dist');
const STATIC_FILES = ['index.html', 'style.css'];
const OUTPUTS = ['index.html', 'style.css', 'main.js', 'worker.js'];

/** Newest modification time of the playground's inputs: web/ sources and the library. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'dist' && e.name !== 'node_modules') walk(p);
      } else if (!e.name.endsWith('.test.ts')) {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  walk(WEB_DIR);
  if (existsSync(LIBRARY_SOURCES)) walk(LIBRARY_SOURCES);
  return newest;
}

/**
 * True when web/dist is missing a file or older than a source. An installed package has no
 * sources and ships web/dist prebuilt: never stale there.
 */
export function webBuildIsStale(): boolean {
  if (!existsSync(join(WEB_DIR, 'main.ts'))) return false;
  const paths = OUTPUTS.map((f) => join(WEB_DIST, f));
  if (!paths.every((p) => existsSync(p))) return true;
  const oldest = Math.min(...paths.map((p) => statSync(p).mtimeMs));
  return newestSource() > oldest;
}

/** Bundle the playground into web/dist (minified, with source maps). */
export async function buildWeb(): Promise<void> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new NablaError({
      where: 'building the playground', expected: 'the esbuild package (a devDependency)', found: 'it is not installed',
      hint: 'run npm install in the nabla folder, then npm run build:web',
    });
  }
  mkdirSync(WEB_DIST, { recursive: true });
  await esbuild.build({
    entryPoints: { main: join(WEB_DIR, 'main.ts'), worker: join(WEB_DIR, 'worker.ts') },
    outdir: WEB_DIST,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
    // 'nabla' is bundled from the library's sources, never from a possibly stale dist/.
    conditions: ['nabla-source'],
  });
  for (const f of STATIC_FILES) copyFileSync(join(WEB_DIR, f), join(WEB_DIST, f));
}

/** Build unless web/dist is up to date; returns whether it built. */
export async function ensureWebBuilt(): Promise<boolean> {
  if (!webBuildIsStale()) return false;
  await buildWeb();
  return true;
}

// `node --import tsx cli/webBuild.ts [--if-possible]`: build now. `prepare` passes --if-possible so
// that an install without devDependencies (no esbuild) still succeeds; `nabla serve` will say
// what is missing if the page is ever needed.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await buildWeb();
    console.log(`playground built in ${WEB_DIST}`);
  } catch (e) {
    if (!(process.argv.includes('--if-possible') && e instanceof NablaError)) throw e;
    console.warn(`playground not built: ${e.message}`);
  }
}
