// Adversarial requests against `nabla serve` (issue 18, class 10), as a hostile client would send
// them: raw bytes on a loopback socket, so nothing normalises them first. The real command runs in
// a child process (test/cliRunner.ts's BIN) so its stderr can be checked for stack traces.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dense, ReLU, Sequential, encodeModel } from 'nabla';
import { BIN } from '../cliRunner.ts';

const MAX_BODY = 4096;
let dir: string;
let child: ChildProcessWithoutNullStreams;
let port: number;
let stderr = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nabla-adv-serve-'));
  const model = new Sequential([new Dense(8), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
  writeFileSync(join(dir, 'm.safetensors'), encodeModel(model, { loss: 'ce', seed: 1, history: { epochs: [] } }));
  child = spawn(process.execPath, [BIN, 'serve', join(dir, 'm.safetensors'), '--port', '0', '--max-body', String(MAX_BODY)], {
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  child.stderr.on('data', (c: Buffer) => { stderr += c; });
  port = await new Promise<number>((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start: ${out} ${stderr}`)), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.on('exit', (code) => fail(new Error(`server exited with ${code}: ${stderr}`)));
  });
});

after(() => {
  child?.kill();
  rmSync(dir, { recursive: true, force: true });
});

interface RawResponse { status: number; headers: Record<string, string>; body: string; closed: boolean }

/** Write `bytes` on a fresh loopback socket; the first response, and whether the server closed. */
function raw(bytes: string, { destroyAfterMs }: { destroyAfterMs?: number } = {}): Promise<RawResponse> {
  return new Promise((ok, fail) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      const split = data.indexOf('\r\n\r\n');
      const head = (split < 0 ? data : data.slice(0, split)).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const status = Number(head[0]?.split(' ')[1]);
      ok({ status, headers, body: split < 0 ? '' : data.slice(split + 4), closed });
    };
    // Bounded: every case ends within 4 s, answered or not.
    const timer = setTimeout(() => finish(false), 4000);
    socket.on('data', (c: Buffer) => { data += c.toString('latin1'); });
    socket.on('end', () => finish(true));
    socket.on('error', (e) => (data ? finish(true) : fail(e)));
    socket.write(bytes);
    if (destroyAfterMs !== undefined) setTimeout(() => { clearTimeout(timer); socket.destroy(); ok({ status: 0, headers: {}, body: '', closed: true }); }, destroyAfterMs);
  });
}

const host = (): string => `127.0.0.1:${port}`;

/** A 4xx whose body is the API's JSON error, saying something about `fact`. */
function assertJsonError(r: RawResponse, status: number, fact: RegExp): void {
  assert.equal(r.status, status, `status; body: ${r.body}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/, `content-type; body: ${JSON.stringify(r.body)}`);
  const body = JSON.parse(r.body) as { error: string; status: number };
  assert.match(body.error, fact);
  assert.equal(body.status, status);
}

test('[class 10] requests Node\'s parser refuses get the JSON error body, and the socket is closed', async () => {
  const post = (headers: string, body = ''): string => `POST /api/predict HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
  const cases: [string, string, RegExp][] = [
    ['doubled Content-Length', post('Content-Length: 2\r\nContent-Length: 3\r\n', '{}x'), /Content-Length/i],
    ['non-numeric Content-Length', post('Content-Length: 12abc\r\n', '{}'), /Content-Length/i],
    ['negative Content-Length', post('Content-Length: -1\r\n', '{}'), /Content-Length/i],
    ['Content-Length and Transfer-Encoding', post('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n', '2\r\n{}\r\n0\r\n\r\n'), /Transfer-Encoding.*Content-Length|Content-Length.*Transfer-Encoding/],
    ['bad chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n'), /chunk size/],
    ['unknown method', `BREW /api/predict HTTP/1.1\r\nHost: ${host()}\r\n\r\n`, /method/],
    ['not HTTP at all', 'hello there\r\n\r\n', /./],
    ['a bad chunk size after a good chunk', post('Transfer-Encoding: chunked\r\n', '2\r\n{}\r\nzz\r\n'), /chunk size/],
    ['headers over Node\'s 16 KiB', `GET / HTTP/1.1\r\nHost: ${host()}\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, /headers too large/],
  ];
  for (const [what, bytes, fact] of cases) {
    const r = await raw(bytes);
    assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
    assertJsonError(r, r.status, fact);
    assert.ok(r.closed, `${what}: the server should close the connection`);
    assert.equal(r.headers.connection, 'close', what);
  }
});

test('[class 10] a Host the server does not bind is refused with 421 JSON (DNS rebinding), on every route', async () => {
  for (const name of ['attacker.example', `attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`, `localhost:${port + 1}`, `127.0.0.1:${port}@evil`]) {
    for (const req of [
      `GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`,
      `GET /api/model HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`,
      `POST /api/predict HTTP/1.1\r\nHost: ${name}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    ]) {
      const r = await raw(req);
      assert.ok(r.status === 421 || r.status === 403, `${name}: ${req.split('\r\n')[0]} got ${r.status}`);
      assertJsonError(r, r.status, /Host/);
      assert.ok(!r.body.includes('"probabilities"') && !r.body.includes('"architecture"'), name);
    }
  }
  // Without any Host at all (HTTP/1.0 or 1.1): a JSON 400, not Node's bare one.
  assertJsonError(await raw('GET /api/model HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, /Host/);
  // The names the server does bind still work.
  for (const name of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
    const r = await raw(`GET /api/model HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200, `${name}: ${r.body.slice(0, 200)}`);
  }
});

test('[class 10] aborted uploads print nothing on the server\'s stderr, and it keeps answering', async () => {
  const before = stderr.length;
  for (let i = 0; i < 8; i++) {
    const head = `POST /api/predict HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: ${i % 2 ? 'image/png' : 'application/json'}\r\n`;
    const r = await raw(i < 4
      ? `${head}Content-Length: ${MAX_BODY}\r\n\r\n{"pixels": [0, 0,`
      : `${head}Transfer-Encoding: chunked\r\n\r\n10\r\n{"pixels": [0, 0`, { destroyAfterMs: 50 });
    assert.equal(r.status, 0);
  }
  await new Promise((ok) => setTimeout(ok, 300));
  const printed = stderr.slice(before);
  assert.doesNotMatch(printed, /\n\s+at /, `stack trace on the server's stderr: ${printed}`);
  assert.ok(printed.split('\n').filter(Boolean).length <= 1, `more than one line for 8 aborted uploads: ${printed}`);
  const ok = await raw(`POST /api/predict HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${JSON.stringify({ pixels: new Array(784).fill(0) }).length}\r\n\r\n${JSON.stringify({ pixels: new Array(784).fill(0) })}`);
  assert.equal(ok.status, 200, ok.body);
});

test('[class 10] the page and every response carry a CSP that forbids framing, and nosniff', async () => {
  for (const path of ['/', '/api/model', '/nothing-here']) {
    const r = await raw(`GET ${path} HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`);
    const csp = r.headers['content-security-policy'] ?? '';
    assert.match(csp, /frame-ancestors 'none'/, `${path}: ${csp}`);
    assert.match(csp, /script-src 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
  }
});

test('[class 10] the body limit on /api/predict holds from Content-Length and while streaming, with a JSON 413', async () => {
  // Declared over the limit: refused before a byte of body is sent.
  const declared = await raw(`POST /api/predict HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: image/png\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`);
  assertJsonError(declared, 413, /limit/);
  // Chunked with no length: refused once the streamed bytes pass the limit.
  const chunk = 'x'.repeat(1024);
  const chunks = Array.from({ length: 8 }, () => `400\r\n${chunk}\r\n`).join('');
  const streamed = await raw(`POST /api/predict HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`);
  assertJsonError(streamed, 413, /limit/);
});

test('[class 10] allowedHosts: the loopback names, the bound host and --allow-host names, with the port; nothing else', async () => {
  const { allowedHosts } = await import('../../packages/cli/src/server.ts');
  const loop = allowedHosts('127.0.0.1', 8080, []);
  for (const ok of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080']) assert.ok(loop.has(ok), ok);
  for (const no of ['localhost', 'localhost:8081', 'evil.example:8080', '0.0.0.0:8080']) assert.ok(!loop.has(no), no);
  const v6 = allowedHosts('::1', 80, ['Proxy.LAN']);
  for (const ok of ['[::1]:80', '[::1]', 'proxy.lan', 'proxy.lan:80', 'localhost']) assert.ok(v6.has(ok), ok);
  assert.ok(!v6.has('evil.example'));
  const wild = allowedHosts('0.0.0.0', 9000, []);
  assert.ok(wild.has('127.0.0.1:9000') && !wild.has('evil.example:9000'));
});

test('[class 10] after every attack above, the server\'s stderr holds no stack trace and it still predicts', async () => {
  assert.doesNotMatch(stderr, /\n\s+at /, `stack trace on the server's stderr: ${stderr}`);
  const body = JSON.stringify({ pixels: new Array(784).fill(0.5) });
  const r = await raw(`POST /api/predict HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as { probabilities: number[] }).probabilities.length, 10);
});
