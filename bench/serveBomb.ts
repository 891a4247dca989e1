/**
 * Decompression bombs against `nabla serve` (issue 18, class 2, server side), on loopback only.
 *
 *   node --import tsx bench/serveBomb.ts [-- --pixels N --max-body BYTES --repeat 2 --rss-cap-mb 6000]
 *
 * For each PNG shape below, starts a fresh server (`nabla serve <tiny model> --port 0`, loopback),
 * sends the worst PNG that fits the limits `--repeat` times in a row while a second client sends a
 * correct 784-pixel JSON request after another, and prints: the bomb's status and time, the
 * server's peak RSS (VmHWM) and its RSS a second after, and the correct requests' latencies
 * before and during the bomb.
 *
 * "Fits the limits": the PNG is at most --max-body bytes (the server's body limit, default its
 * DEFAULT_MAX_BODY) and declares --pixels pixels (width = height = √pixels). The default for
 * --pixels is the image pixel budget, MAX_IMAGE_PIXELS from 'nabla/node'. The pixel rows are all
 * one value, so deflate packs them ~1000:1: the declared size is reached with a body far under the
 * byte limit, and the decoder does the full work. Shapes: 1-bit grey (most decoded bytes per
 * compressed byte), 8-bit grey, 16-bit RGBA (most inflated bytes), and 8-bit grey interlaced.
 *
 * Bounded: --repeat requests per shape (default 2), 60 s per request, and the server is killed
 * if its RSS passes --rss-cap-mb (default 6000 MB), which is then reported.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflate } from 'node:zlib';
import { Dense, ReLU, Sequential, encodeModel } from 'nabla';
import { MAX_IMAGE_PIXELS } from 'nabla/node';
import { DEFAULT_MAX_BODY } from '../packages/cli/src/server.ts';
import { PNG_SIGNATURE, ihdr, pngChunk as chunk } from '../test/pngChunks.ts';

const ROOT = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name: string): number | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};

const pixels = flag('pixels') ?? MAX_IMAGE_PIXELS;
const maxBody = flag('max-body') ?? DEFAULT_MAX_BODY;
const repeat = flag('repeat') ?? 2;
const rssCapMb = flag('rss-cap-mb') ?? 6000;
const side = Math.floor(Math.sqrt(pixels));

// ---------------------------------------------------------------------------------------------
// PNG building (by hand: pngjs cannot write 1-bit or interlaced images)
// ---------------------------------------------------------------------------------------------

interface Shape { name: string; depth: number; colour: number; channels: number; interlace: boolean }
const SHAPES: Shape[] = [
  { name: 'grey 1-bit', depth: 1, colour: 0, channels: 1, interlace: false },
  { name: 'grey 8-bit', depth: 8, colour: 0, channels: 1, interlace: false },
  { name: 'RGBA 16-bit', depth: 16, colour: 6, channels: 4, interlace: false },
  { name: 'grey 8-bit interlaced', depth: 8, colour: 0, channels: 1, interlace: true },
];

/** Every scanline the decoder will expect (Adam7 passes when interlaced), filter byte 0. */
function rowLengths(w: number, h: number, bitsPerPixel: number, interlace: boolean): number[] {
  const rows: number[] = [];
  const passes = interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((w - x0) / dx);
    const ph = Math.ceil((h - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    for (let y = 0; y < ph; y++) rows.push(1 + Math.ceil((pw * bitsPerPixel) / 8));
  }
  return rows;
}

/** A complete, valid PNG of `side`×`side` pixels, every pixel white (all bits set). */
async function buildPng(shape: Shape, w: number, h: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((ok) => deflate.on('end', ok));
  const rows = rowLengths(w, h, shape.depth * shape.channels, shape.interlace);
  const widest = Math.max(...rows);
  const white = Buffer.alloc(widest, 0xff);
  white[0] = 0;
  // Feed in ~4 MB blocks so the bench itself stays small.
  let block: Buffer[] = [];
  let blockBytes = 0;
  for (const len of rows) {
    block.push(white.subarray(0, len));
    blockBytes += len;
    if (blockBytes > 4 << 20) {
      if (!deflate.write(Buffer.concat(block))) await new Promise((ok) => deflate.once('drain', ok));
      block = [];
      blockBytes = 0;
    }
  }
  deflate.end(Buffer.concat(block));
  await done;
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr(w, h, shape.depth, shape.colour, shape.interlace ? 1 : 0)), chunk('IDAT', Buffer.concat(out)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Server and clients
// ---------------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'nabla-bomb-'));
const modelPath = join(dir, 'm.safetensors');
const model = new Sequential([new Dense(32), new ReLU(), new Dense(10)], { inputShape: [784], seed: 3 });
writeFileSync(modelPath, encodeModel(model, { loss: 'ce', seed: 3, history: { epochs: [] } }));

const kb = (n: number): number => Math.round(n / 1024);
const status = (pid: number, field: string): number => {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) * 1024 : NaN;
};

interface Answer { status: number; ms: number; error?: string }
function post(port: number, agent: Agent, body: Buffer | string, type: string): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((ok) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/predict', agent, timeout: 60_000, headers: { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => ok({ status: res.statusCode!, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout (60 s)')));
    req.on('error', (e) => ok({ status: 0, ms: performance.now() - t0, error: e.message }));
    req.end(body);
  });
}

const correct = JSON.stringify({ pixels: new Array(784).fill(0).map((_, i) => ((i * 7) % 13 === 0 ? 1 : 0)) });
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

async function runShape(shape: Shape): Promise<Record<string, unknown>> {
  const png = await buildPng(shape, side, side);
  if (png.length > maxBody) return { shape: shape.name, skipped: `PNG is ${png.length} bytes, over the ${maxBody}-byte limit` };
  const server = spawn(process.execPath, [join(ROOT, 'packages', 'cli', 'bin', 'nabla.js'), 'serve', modelPath, '--port', '0', '--max-body', String(maxBody)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverErr = '';
  server.stderr.on('data', (c: Buffer) => { serverErr += c; });
  const port = await new Promise<number>((ok, fail) => {
    let out = '';
    server.stdout.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) ok(Number(m[1]));
    });
    server.on('exit', (code) => fail(new Error(`server exited with ${code}: ${serverErr}`)));
  });
  const pid = server.pid!;
  let capped = false;
  const watch = setInterval(() => {
    try {
      if (status(pid, 'VmRSS') > rssCapMb * 1024 * 1024) {
        capped = true;
        server.kill('SIGKILL');
      }
    } catch { /* exited */ }
  }, 20);
  // NOTE: a fresh connection per correct request: a kept-alive socket can be closed by the server's
  // keep-alive timer while its event loop is blocked, which would count as a failure of the client.
  const agent = new Agent({ keepAlive: false, maxSockets: 1 });
  try {
    const before: number[] = [];
    for (let i = 0; i < 20; i++) before.push((await post(port, agent, correct, 'application/json')).ms);
    const rssBefore = status(pid, 'VmRSS');
    const bombs: Answer[] = [];
    const during: Answer[] = [];
    let bombing = true;
    const bombAgent = new Agent({ keepAlive: false });
    const bombLoop = (async () => {
      for (let i = 0; i < repeat && !capped; i++) bombs.push(await post(port, bombAgent, png, 'image/png'));
      bombing = false;
    })();
    // The correct client: one request after another while the bombs are in flight.
    await new Promise((ok) => setTimeout(ok, 5));
    while (bombing && !capped) during.push(await post(port, agent, correct, 'application/json'));
    await bombLoop;
    const peak = capped ? NaN : status(pid, 'VmHWM');
    await new Promise((ok) => setTimeout(ok, 1000));
    const rssAfter = capped ? NaN : status(pid, 'VmRSS');
    const ok200 = during.filter((a) => a.status === 200).map((a) => a.ms);
    return {
      shape: `${shape.name} ${side}×${side}`, pngBytes: png.length,
      bombs: bombs.map((b) => `${b.status || b.error} in ${b.ms.toFixed(0)} ms`).join(', '),
      serverRssBeforeMB: kb(rssBefore) / 1024 | 0, serverPeakRssMB: capped ? `killed over ${rssCapMb} MB` : kb(peak) / 1024 | 0, serverRssAfterMB: kb(rssAfter) / 1024 | 0,
      correctBeforeP50ms: +pct(before, 0.5).toFixed(1), correctBeforeMaxMs: +Math.max(...before).toFixed(1),
      correctDuringCount: during.length, correctDuringFailed: during.filter((a) => a.status !== 200).map((a) => a.error ?? a.status),
      correctDuringP50ms: +pct(ok200, 0.5).toFixed(1), correctDuringMaxMs: +Math.max(...ok200).toFixed(1),
      serverStderrLines: serverErr.split('\n').filter(Boolean).length,
    };
  } finally {
    clearInterval(watch);
    agent.destroy();
    server.kill();
  }
}

try {
  console.log(`serveBomb: loopback; body limit ${maxBody} bytes; declared ${side}×${side} = ${side * side} pixels ` +
    `(${flag('pixels') ? '--pixels' : 'MAX_IMAGE_PIXELS'}); ` +
    `${repeat} bomb(s) per shape; RSS cap ${rssCapMb} MB`);
  for (const shape of SHAPES) console.log(JSON.stringify(await runShape(shape)));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
