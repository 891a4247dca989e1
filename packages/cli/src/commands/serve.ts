/** nabla serve [model]: the playground, the MNIST files and a prediction API over HTTP. */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { bundledMnistDir, readFileChecked } from 'nabla/node';
import { NablaError, decodeModel } from 'nabla';
import { intIn } from '../options.ts';
import { DEFAULT_MAX_BODY, startServer } from '../server.ts';
import { checkClassifier } from '../dataChecks.ts';
import { addBackendOptions, backendFromFlags, type BackendFlags } from '../backendOptions.ts';
import { WEB_DIST, ensureWebBuilt } from '../webBuild.ts';
import { DEFAULTS } from './train.ts';

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('serve the browser playground and a JSON prediction API (POST /api/predict, GET /api/model)')
    .argument('[model]', `model file (.safetensors); default ${DEFAULTS.out} if it exists, else none (train in the page)`)
    .option('--host <address>', 'address to bind (loopback by default; 0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intIn(0, 65535), 8080)
    .option('--max-body <bytes>', 'largest request body accepted (larger: 413)', intIn(1), DEFAULT_MAX_BODY)
    .option('--allow-host <name>', 'also accept this name in the Host header (repeatable; e.g. behind a proxy); others get 421', (v: string, all: string[]) => [...all, v], [] as string[]);
  addBackendOptions(command)
    .addHelpText('after', '\nserve runs the wasm backend on 1 thread unless --threads is given: every request is one sample.')
    .action(async (modelArg: string | undefined, opts: { host: string; port: number; maxBody: number; allowHost: string[] } & BackendFlags) => {
      const modelPath = modelArg ?? (existsSync(DEFAULTS.out) ? DEFAULTS.out : undefined);
      let model;
      if (modelPath) {
        const bytes = readFileChecked(modelPath, 'model file');
        // NOTE: each request is a batch of one, far too small to split: measured with
        // bench/serveLoad.ts, wasm on 2 threads served ~4× fewer requests/s than on 1. So one
        // thread unless --threads says otherwise.
        const backend = await backendFromFlags({ ...opts, threads: opts.threads ?? 1 });
        model = { loaded: decodeModel(bytes, `model file "${modelPath}"`, { backend }), bytes, name: basename(modelPath) };
        const { task } = model.loaded.training;
        if (task !== 'regression') checkClassifier(modelPath, model.loaded.model, 'serve', undefined, task);
      }
      if (await ensureWebBuilt()) process.stderr.write(`built the playground into ${WEB_DIST}\n`);
      let url: string;
      try {
        ({ url } = await startServer({
          model, staticDir: WEB_DIST, dataDir: bundledMnistDir(), host: opts.host, port: opts.port, maxBody: opts.maxBody, allowedHosts: opts.allowHost,
        }));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new NablaError({
          where: `--host ${opts.host} --port ${opts.port}`, expected: 'an address the server can listen on',
          found: code === 'EADDRINUSE' ? 'the port is already in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : String((e as Error).message),
          hint: code === 'EADDRINUSE' ? 'pick another --port, or --port 0 for any free one' : undefined,
        });
      }
      console.log(`nabla serve: ${url}/  (model: ${modelPath ?? 'none, train one in the page'}; Ctrl-C to stop)`);
    });
}
