/**
 * `nabla --plugin <module>`: layers of your own on the command line. The module exports Layer
 * classes carrying a static `kind` (examples/swish.ts); each is registered before the command
 * runs, so --layers spells them and model files holding them load, summarise and export.
 *
 * The module imports the library as 'nabla'; that name is resolved to the very library this CLI
 * runs, so both share one layer registry. The plugins are passed on to child processes (search
 * trials) in NABLA_PLUGINS.
 */
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { delimiter, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NablaError, registerLayersFrom } from 'nabla';

let hooked = false;

/** Resolve `import ... from 'nabla'` in plugins to this CLI's own library (one registry). */
function shareLibrary(): void {
  if (hooked) return;
  hooked = true;
  const self = JSON.stringify(import.meta.resolve('nabla'));
  const hook = `export async function resolve(s, c, next) { return s === 'nabla' ? { url: ${self}, shortCircuit: true } : next(s, c); }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}

/**
 * Load and register the plugins named by `--plugin` and by NABLA_PLUGINS; returns their absolute paths.
 *
 * @example
 * await loadPlugins(['examples/swish.ts']); // --layers "dense:64,swish,dense:10" now parses
 */
export async function loadPlugins(paths: readonly string[]): Promise<string[]> {
  const inherited = (process.env.NABLA_PLUGINS ?? '').split(delimiter).filter((p) => p !== '');
  const all = [...new Set([...inherited, ...paths.map((p) => resolve(p))])];
  for (const path of all) {
    const where = `--plugin ${path}`;
    if (!existsSync(path)) {
      throw new NablaError({ where, expected: 'a JavaScript or TypeScript module file', found: 'no such file', hint: 'check the path' });
    }
    shareLibrary();
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(path).href);
    } catch (e) {
      throw new NablaError({ where, expected: 'a module that loads', found: (e as Error).message.split('\n')[0] });
    }
    if (registerLayersFrom(module).length === 0) {
      throw new NablaError({
        where, expected: 'at least one exported Layer class with a static kind', found: `exports ${Object.keys(module).join(', ') || 'nothing'}`,
        hint: 'see examples/swish.ts',
      });
    }
  }
  if (all.length > 0) process.env.NABLA_PLUGINS = all.join(delimiter);
  return all;
}
