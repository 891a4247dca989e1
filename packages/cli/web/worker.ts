/**
 * The playground's Worker: all the computing, with the library's public API only (src/index.ts).
 * The page sends messages (protocol.ts) and draws what comes back; nothing here touches the DOM.
 * It computes on the wasm SIMD backend with threads where the browser allows it (backend.ts).
 *
 * Training is the library's fit loop (fitAsync), which yields to the event loop every ~60 ms, so
 * pause, a new learning rate or a prediction request are handled between batches. A pause stops
 * the fit after the current batch; Train resumes it from model.trainingState(), same batches.
 */
import {
  Adam, DivergenceError, Sequential, argmax, assembleMnist, buildModel, decodeModel, encodeModel, firstLayerPictures, inkToRgba,
  misclassified, parseIdx, rgbaToInk, sliceDataset, toMnistInput, traceSample,
  type Backend, type Callback, type Dataset, type FitState, type LossName, type Optimizer, type TrainingInfo,
} from 'nabla';
import { createBackend, disposeBackend } from './backend.ts';
import type { Architecture, BackendChoice, FromWorker, Hyper, ModelInfo, ToWorker } from './protocol.ts';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(m, transfer);

let backend: Backend | undefined;
let model: Sequential | undefined;
let source = '';
/** The loss the model was trained with (from the server's file; the page trains with 'ce'). */
let lossName: LossName = 'ce';
let optimizer: Optimizer | undefined;
let hyper: Hyper = { lr: 2e-3, batchSize: 64, trainCount: 0 };
/** The architecture of the page's network (the next Reset or Train builds from it). */
let arch: Architecture = { kind: 'hidden', hidden: 64 };
let train: Dataset | undefined;
let test: Dataset | undefined;
/** Where the page's fit stopped (a pause): the next Train continues it. */
let resume: FitState | undefined;
/** The user wants training to run; the fit stops after the batch in which this turns false. */
let running = false;
/** A fit loop is active (it may still be finishing its last batch after a pause). */
let looping = false;
let step = 0;
let epoch = 0;
/** The seed of the page's model (undefined for the server's). */
let seed: number | undefined;
/** The server model's own training record, downloaded as is while the page has not replaced it. */
let serverTraining: TrainingInfo | undefined;
/** Learning rates and batch sizes the page's training used (either can change between batches). */
const used = { lrs: new Set<number>(), batchSizes: new Set<number>() };
/** The last drawing, as the model's 784 inputs, for "step through my drawing". */
let lastDrawing: Float32Array | undefined;
/** Test accuracy during training is measured on this many test samples (fast, and always the same). */
const QUICK_TEST = 1000;

scope.onmessage = (event) => {
  handle(event.data).catch((e: unknown) => post({ type: 'error', text: e instanceof Error ? e.message : String(e) }));
};

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init': {
      await switchBackend(m.backend);
      const note = await loadServerModel();
      await loadData();
      // After "ready", so that it stays on the page.
      if (note) post({ type: 'status', text: note });
      return;
    }
    case 'backend':
      await switchBackend(m.backend);
      return;
    case 'reset':
      running = false;
      hyper = m.hyper;
      newModel(m.seed, m.arch);
      return;
    case 'load':
      running = false;
      loadFile(m.bytes, m.name);
      return;
    case 'setHyper':
      setHyper(m.hyper);
      return;
    case 'train':
      // The page trains its own network: the server's model (or a dropped file) stays for drawing until then.
      if (!source.startsWith('page')) {
        hyper = m.hyper;
        if (!newModel(1, m.arch)) return;
      }
      setHyper(m.hyper);
      if (!running) trainLoop().catch((e: unknown) => post({ type: 'error', text: e instanceof Error ? e.message : String(e) }));
      return;
    case 'pause':
      running = false;
      return;
    case 'predict':
      predict(m.rgba, m.width, m.height);
      return;
    case 'inspect':
      inspect();
      return;
    case 'trace':
      trace(m.source, m.index);
      return;
    case 'download': {
      const bytes = encodeModel(requireModel(), downloadRecord());
      post({ type: 'download', bytes, name: 'playground.safetensors' }, [bytes.buffer]);
      return;
    }
  }
}

/**
 * The training record of a downloaded model: what the page knows, and nothing it does not (nabla
 * summary prints what is recorded). The server's model, untouched, keeps its own record.
 */
function downloadRecord(): TrainingInfo {
  if (serverTraining) return serverTraining;
  const lrs = [...used.lrs];
  const batchSizes = [...used.batchSizes];
  return {
    loss: 'ce', dataset: 'MNIST (trained in the nabla playground)', steps: step, epochs: epoch,
    ...(seed !== undefined ? { seed } : {}),
    // Adam with its defaults but the learning rate; the rate as it was at the last step, and every
    // rate used when the slider moved during training.
    ...(lrs.length > 0 ? { optimizer: { name: 'adam', lr: lrs[lrs.length - 1], ...(lrs.length > 1 ? { lrsUsed: lrs } : {}) } } : {}),
    ...(batchSizes.length === 1 ? { batchSize: batchSizes[0] } : batchSizes.length > 1 ? { batchSizesUsed: batchSizes } : {}),
  };
}

function requireModel(): Sequential {
  if (!model) throw new Error('no model yet');
  return model;
}

function info(): ModelInfo {
  const m = requireModel();
  const first = m.layers.find((l) => l.type === 'Dense');
  return {
    source, summary: m.summary(), params: m.paramCount, firstUnits: first ? first.outputShape[0] : 0,
    convolutional: m.inputShape.length === 3,
  };
}

function requireBackend(): Backend {
  if (!backend) throw new Error('the backend is still starting');
  return backend;
}

/**
 * Compute on `choice` from now on. A model already built moves over with its weights (through
 * the model file format, as a download and a drop would); the optimiser starts afresh.
 */
async function switchBackend(choice: BackendChoice): Promise<void> {
  const wasRunning = running;
  running = false;
  while (looping) await new Promise((r) => setTimeout(r, 10));
  const old = backend;
  post({ type: 'status', text: 'starting the backend…' });
  const created = await createBackend(choice);
  backend = created.backend;
  if (model) {
    model = decodeModel(encodeModel(model, { loss: lossName }), 'the page\'s model', { backend }).model;
    optimizer = new Adam(model.parameters(), { lr: hyper.lr });
    resume = undefined;
    post({ type: 'model', info: info() });
  }
  if (old) disposeBackend(old);
  post({ type: 'backend', info: created.info });
  post({ type: 'status', text: `computing on ${created.info.label}` });
  if (wasRunning) trainLoop().catch((e: unknown) => post({ type: 'error', text: e instanceof Error ? e.message : String(e) }));
}

/**
 * Whether a decoded model fits the page: MNIST digits in (784 values, or a 1×28×28 image) and
 * ten classes out. Returns what is wrong, or undefined.
 */
function misfit(m: Sequential): string | undefined {
  const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
  if (size(m.inputShape) !== 784) return `it takes input [${m.inputShape.join(', ')}], not a 28×28 digit (784 values)`;
  if (size(m.outputShape) !== 10) return `it has ${size(m.outputShape)} outputs, not 10 (one per digit)`;
  return undefined;
}

/** Make `next` the page's model: a fresh optimiser and step count, and tell the page. */
function useModel(next: Sequential, from: string, loss: LossName): void {
  model = next;
  source = from;
  lossName = loss;
  optimizer = new Adam(model.parameters(), { lr: hyper.lr });
  resume = undefined;
  step = 0;
  epoch = 0;
  post({ type: 'model', info: info() });
  post({ type: 'training', running: false });
}

/** A model file dropped on the page (or picked with the file input), decoded by the library. */
function loadFile(bytes: Uint8Array, name: string): void {
  let loaded: ReturnType<typeof decodeModel>;
  try {
    loaded = decodeModel(bytes, `file "${name}"`, { backend: requireBackend() });
  } catch (e) {
    post({ type: 'error', text: `not a nabla model file: ${e instanceof Error ? e.message : String(e)}` });
    return;
  }
  const wrong = misfit(loaded.model);
  if (wrong) {
    post({ type: 'error', text: `file "${name}" is a nabla model, but ${wrong}: the playground needs an MNIST classifier` });
    return;
  }
  seed = undefined;
  serverTraining = loaded.training;
  useModel(loaded.model, `file: ${name}`, loaded.training.loss ?? 'ce');
  post({ type: 'status', text: `loaded ${name}: Train starts a new network from the controls; Evaluate, draw and trace use this one` });
}

/**
 * The server's model, if it has one (GET /api/model is 404 without) and it takes MNIST digits;
 * else a fresh page model, and for a model of other data a note to show once MNIST is loaded.
 */
async function loadServerModel(): Promise<string | undefined> {
  post({ type: 'status', text: 'loading the model…' });
  const res = await fetch('/api/model');
  if (res.ok) {
    const meta = (await res.json()) as { name: string; weights: string };
    const bytes = new Uint8Array(await (await fetch(meta.weights)).arrayBuffer());
    const loaded = decodeModel(bytes, `server model "${meta.name}"`, { backend: requireBackend() });
    // A model trained on other data (a table, colour images) is served by the API, not drawn on here.
    const wrong = misfit(loaded.model);
    if (wrong) {
      newModel(1, arch);
      return `MNIST loaded. The server's model "${meta.name}" stays with its API (POST /api/predict): ${wrong}. This page trains its own network.`;
    }
    seed = undefined;
    serverTraining = loaded.training;
    useModel(loaded.model, `server: ${meta.name}`, loaded.training.loss ?? 'ce');
  } else {
    newModel(1, arch);
  }
  return undefined;
}

/** A one-line name of an architecture for the page: "784-64-10", "preset cnn", or the spec. */
function describe(a: Architecture): string {
  return a.kind === 'hidden' ? `784-${a.hidden}-10` : a.kind === 'preset' ? `preset ${a.preset}` : a.spec.replace(/\s+/g, '');
}

/**
 * A new network from `a`, built by the library's buildModel (presets and layer specs as the
 * CLI's train has them). A spec the parser refuses keeps the current model and goes back to the
 * page as a specError; returns whether a model was built.
 */
function newModel(modelSeed: number, a: Architecture): boolean {
  let built: Sequential;
  try {
    const common = { classes: 10, seed: modelSeed, backend: requireBackend(), role: 'the layer spec' };
    built = a.kind === 'hidden'
      ? buildModel({ ...common, hidden: [a.hidden], inputShape: [784] })
      : a.kind === 'preset'
        ? buildModel({ ...common, preset: a.preset })
        : buildModel({ ...common, layers: a.spec, inputShape: [1, 28, 28] });
  } catch (e) {
    running = false;
    post({ type: 'specError', text: e instanceof Error ? e.message : String(e) });
    post({ type: 'training', running: false });
    return false;
  }
  arch = a;
  seed = modelSeed;
  serverTraining = undefined;
  used.lrs.clear();
  used.batchSizes.clear();
  useModel(built, `page: ${describe(a)}, seed ${seed}`, 'ce');
  post({ type: 'specError', text: '' });
  return true;
}

function setHyper(h: Hyper): void {
  // A new batch size or training subset starts a new epoch order (the running fit stops and a new one begins).
  if (h.batchSize !== hyper.batchSize || h.trainCount !== hyper.trainCount) resume = undefined;
  hyper = h;
  if (optimizer) optimizer.lr = h.lr;
}

async function fetchIdx(name: string): Promise<Uint8Array> {
  const res = await fetch(`/data/${name}`);
  if (!res.ok) throw new Error(`GET /data/${name}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The IDX files from the server, through the same parser the CLI uses. */
async function loadData(): Promise<void> {
  post({ type: 'status', text: 'loading MNIST…' });
  const load = async (images: string, labels: string): Promise<Dataset> => {
    const [i, l] = await Promise.all([fetchIdx(images), fetchIdx(labels)]);
    const roles = { images: `images "${images}"`, labels: `labels "${labels}"` };
    return assembleMnist(parseIdx(i, roles.images), parseIdx(l, roles.labels), roles);
  };
  test = await load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte');
  train = await load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte');
  post({ type: 'dataReady', train: train.count, test: test.count });
}

async function trainLoop(): Promise<void> {
  if (!train || !test) throw new Error('MNIST is still loading');
  running = true;
  post({ type: 'training', running: true });
  // A fit still finishing its last batch after a pause sees `running` again and carries on.
  if (looping) return;
  looping = true;
  try {
    while (running) {
      const n = hyper.trainCount > 0 ? Math.min(hyper.trainCount, train.count) : train.count;
      await fitUntilStopped(n < train.count ? sliceDataset(train, 0, n) : train, sliceDataset(test, 0, QUICK_TEST));
    }
  } finally {
    looping = false;
  }
  post({ type: 'training', running: false });
}

/**
 * One fit of the current model, until a pause, a new model or a new batch size stops it after a
 * batch. Progress goes out every ~60 ms: the mean loss of the batches since the last message, and
 * the accuracy on `quick` every ~400 ms.
 */
async function fitUntilStopped(data: Dataset, quick: Dataset): Promise<void> {
  const m = requireModel();
  const batchSize = hyper.batchSize;
  const trainCount = hyper.trainCount;
  let t0 = performance.now();
  let lastEval = 0;
  let samples = 0;
  let lossSum = 0;
  let count = 0;
  const progress: Callback = {
    onBatchEnd(log) {
      step++;
      used.lrs.add(optimizer!.lr);
      used.batchSizes.add(batchSize);
      samples += Math.min(batchSize, data.count - (log.batch - 1) * batchSize);
      lossSum += log.loss;
      count++;
      if (!running || m !== model || hyper.batchSize !== batchSize || hyper.trainCount !== trainCount) m.stopAfterBatch = true;
      const now = performance.now();
      if (now - t0 < 60 && !m.stopAfterBatch) return;
      const seconds = (now - t0) / 1000;
      let testAccuracy: number | undefined;
      if (now - lastEval > 400) {
        testAccuracy = m.evaluate(quick, { loss: 'ce' }).accuracy;
        lastEval = performance.now();
      }
      post({ type: 'progress', progress: { step, epoch, loss: lossSum / count, testAccuracy, samplesPerSecond: samples / seconds, samples, seconds } });
      t0 = performance.now();
      samples = lossSum = count = 0;
    },
    onEpochEnd: () => void epoch++,
  };
  try {
    await m.fitAsync(data, {
      optimizer: optimizer!, loss: 'ce', epochs: Number.MAX_SAFE_INTEGER, batchSize, resume, callbacks: [progress], monitor: false,
    }, 60);
    resume = m === model && hyper.batchSize === batchSize && hyper.trainCount === trainCount ? m.trainingState() : undefined;
  } catch (e) {
    if (!(e instanceof DivergenceError)) throw e;
    running = false;
    post({ type: 'error', text: `the loss became ${e.found} at step ${step + 1}: the learning rate is too high; press Reset and lower it` });
  }
}

function predict(rgba: Uint8ClampedArray, width: number, height: number): void {
  const m = requireModel();
  const x = toMnistInput(rgbaToInk(rgba, width, height), width, height);
  lastDrawing = x;
  const probabilities = m.predictProbabilities(x, 1);
  const input = inkToRgba(x, 28, 28);
  post({ type: 'prediction', probabilities, input, predicted: argmax(probabilities, 0, 10) }, [probabilities.buffer, input.buffer]);
}

/** W(1) pictures, the confusion matrix and the worst mistakes on the whole test set. */
function inspect(): void {
  if (!test) throw new Error('MNIST is still loading');
  const m = requireModel();
  post({ type: 'status', text: 'evaluating on the 10,000 test digits…' });
  const weights = firstLayerPictures(m, 64)?.pictures ?? [];
  const ev = m.evaluate(test, { loss: lossName, task: 'classification' });
  const probs = m.predictProbabilities(test.x, test.count);
  const mistakes = misclassified(probs, test.y, 10, 24).map((e) => ({
    ...e, rgba: inkToRgba(test!.x.subarray(e.index * 784, (e.index + 1) * 784), 28, 28),
  }));
  post({
    type: 'inspection', weights, confusion: ev.confusion, perClass: ev.perClass, accuracy: ev.accuracy, count: ev.count, mistakes,
  });
  post({ type: 'status', text: `test accuracy ${(100 * ev.accuracy).toFixed(2)}%` });
}

function trace(from: 'drawing' | 'test', index: number): void {
  const m = requireModel();
  if (from === 'drawing') {
    if (!lastDrawing) throw new Error('draw a digit first');
    // No label for a drawing: take the predicted class as the target, so δ shows how the
    // network would reinforce its own answer.
    const probs = m.predictProbabilities(lastDrawing, 1);
    const target = new Float32Array(10);
    target[argmax(probs, 0, 10)] = 1;
    post({ type: 'trace', trace: traceSample(m, lastDrawing, target, lossName), label: null, title: 'your drawing (target: the predicted class)' });
    return;
  }
  if (!test) throw new Error('MNIST is still loading');
  const i = Math.max(0, Math.min(test.count - 1, Math.floor(index)));
  const t = traceSample(m, test.x.subarray(i * 784, (i + 1) * 784), test.y.subarray(i * 10, (i + 1) * 10), lossName);
  post({ type: 'trace', trace: t, label: test.labels[i], title: `test digit #${i} (label ${test.labels[i]})` });
}
