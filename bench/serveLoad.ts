/**
 * Load test of `nabla serve`'s prediction API on loopback, with autocannon.
 *
 *   npm run bench:serve [-- <model> --duration 10 --connections 20 --backend auto|wasm|js --threads n]
 *
 * Starts the real server (`nabla serve <model> --port 0`) in a child process, then:
 *   1. valid load: `connections` clients POST a real MNIST test digit as JSON for `duration` s;
 *   2. mixed load: the same valid clients, plus 4 clients sending only malformed requests (not
 *      JSON, 783 pixels, a string pixel, a wrong Content-Type) and 1 sending bodies over the
 *      size limit.
 * Reports requests/s and latency percentiles, and checks that every valid request got 200 with no
 * errors and every malformed one a 4xx. Exits 1 if a check fails. Timings on a shared machine are
 * noisy: run it a few times and quote the median.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import autocannon, { type Result } from 'autocannon';
import { loadMnist } from 'nabla/node';

const ROOT = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const modelPath = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) ?? 'models/mnist-mlp.safetensors';
const duration = flag('duration', 10);
const backendAt = args.indexOf('--backend');
const backend = backendAt >= 0 ? args[backendAt + 1] : 'auto';
const threadsAt = args.indexOf('--threads');
const threads = threadsAt >= 0 ? ['--threads', args[threadsAt + 1]] : [];
const connections = flag('connections', 20);

if (!existsSync(modelPath)) {
  console.error(`bench:serve: no model at ${modelPath}; train one with "npm start" (or pass a model path)`);
  process.exit(1);
}

const server = spawn(process.execPath, [join(ROOT, 'packages', 'cli', 'bin', 'nabla.js'), 'serve', modelPath, '--port', '0', '--backend', backend, ...threads], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((ok, fail) => {
  let out = '';
  server.stdout.on('data', (c: Buffer) => {
    out += c;
    const m = out.match(/http:\/\/[\d.]+:\d+/);
    if (m) ok(m[0]);
  });
  server.on('exit', (code) => fail(new Error(`server exited with ${code}`)));
});

const test = loadMnist('test');
const digit = JSON.stringify({ pixels: Array.from(test.x.subarray(0, 784)) });
const json = { 'Content-Type': 'application/json' };
const valid = (): Promise<Result> => autocannon({
  url: `${url}/api/predict`, method: 'POST', headers: json, body: digit, connections, duration, timeout: 10,
});
const malformed = (): Promise<Result> => autocannon({
  url: `${url}/api/predict`, connections: 4, duration, timeout: 10,
  requests: [
    { method: 'POST', headers: json, body: 'this is not json' },
    { method: 'POST', headers: json, body: JSON.stringify({ pixels: new Array(783).fill(0) }) },
    { method: 'POST', headers: json, body: JSON.stringify({ pixels: ['x', ...new Array(783).fill(0)] }) },
    { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: digit },
  ],
});
// NOTE: the server answers 413 from the Content-Length and closes the connection without reading
// the megabyte; the client is still writing it, so autocannon counts some of those closes as
// errors. That is this client's own connection, by design, and is reported apart.
const oversized = (): Promise<Result> => autocannon({
  url: `${url}/api/predict`, connections: 1, duration, timeout: 10,
  method: 'POST', headers: json, body: ' '.repeat((1 << 20) + 1),
});

const codes = (r: Result): string => Object.entries(r.statusCodeStats).map(([c, s]) => `${c}×${s.count}`).join(' ');
const line = (name: string, r: Result): string =>
  `${name.padEnd(26)} ${r.requests.average.toFixed(0).padStart(6)} req/s (median second ${r.requests.p50})  ` +
  `latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms  ` +
  `errors ${r.errors}, timeouts ${r.timeouts}, status ${codes(r)}`;

let failed = false;
const check = (ok: boolean, what: string): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

try {
  console.log(`nabla serve ${modelPath} --backend ${backend} ${threads.join(' ')} at ${url}; ${duration} s per phase, ${connections} connections (loopback, 2-core machine)`);
  const alone = await valid();
  console.log(line('valid only', alone));
  check(alone.errors === 0 && alone.timeouts === 0 && alone.non2xx === 0 && alone['2xx'] > 0, 'valid load: every request 200, zero errors');

  const [mixed, bad, big] = await Promise.all([valid(), malformed(), oversized()]);
  console.log(line('valid, beside malformed', mixed));
  console.log(line('malformed (4 connections)', bad));
  console.log(line('oversized (1 connection)', big));
  check(mixed.errors === 0 && mixed.timeouts === 0 && mixed.non2xx === 0 && mixed['2xx'] > 0, 'valid clients beside malformed ones: every request 200, zero errors');
  check(bad['2xx'] === 0 && bad['5xx'] === 0 && bad['4xx'] > 0 && bad.errors === 0, 'malformed requests: only 4xx answers (400, 415), no 2xx, 5xx or errors');
  check(big['2xx'] === 0 && big['5xx'] === 0 && big['4xx'] > 0 && Object.keys(big.statusCodeStats).join() === '413', 'oversized bodies: only 413');
  console.log(JSON.stringify({
    validOnly: { reqPerSec: alone.requests.average, p50: alone.latency.p50, p99: alone.latency.p99, errors: alone.errors },
    mixed: { reqPerSec: mixed.requests.average, p50: mixed.latency.p50, p99: mixed.latency.p99, errors: mixed.errors },
    malformed: { reqPerSec: bad.requests.average, p99: bad.latency.p99, status: bad.statusCodeStats, errors: bad.errors },
    oversized: { reqPerSec: big.requests.average, p99: big.latency.p99, status: big.statusCodeStats, errors: big.errors },
  }));
} finally {
  server.kill();
}
process.exit(failed ? 1 : 0);
