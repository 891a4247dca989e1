/**
 * Training diagnostics: finding where a NaN/Infinity first appears, the global gradient norm
 * (for clipping and for spotting explosions), and dead ReLU units.
 *
 * Cost per batch, by design: the loss is checked every batch (one number); the gradient norm is
 * one pass over the parameters' gradients (≈ P multiply-adds against ≈ 6·N·P for the batch's
 * forward and backward products, so well under 1% for N ≥ 64). Activations are scanned only when
 * the loss is not finite, and for dead units only once per epoch, on the last batch.
 *
 * NOTE: the gradient norm, the one pass made every batch, goes through the sumSquares kernel of
 * the parameters' backend (or the one the caller passes; the wasm kernels make the batch itself so cheap that a
 * JS loop over the gradients would be a noticeable share). The rarer scans stay JS loops over
 * whatever Float32Array the backend handed out.
 */
import type { Backend } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import type { Layer, Param } from '../layers/layer.ts';
import { firstNonFinite, type Tensor } from '../tensor.ts';
import { targetClass } from './metrics.ts';

/** The kernels used when neither the caller nor the parameters name a backend. */
const REFERENCE = new JsBackend();

/**
 * Σ g² over every parameter gradient, accumulated in float64: the square of the global norm
 * ‖g‖ = sqrt(Σ_params Σ_i g_i²) that gradient clipping uses (as PyTorch's clip_grad_norm_).
 * Not finite when any gradient is NaN or ±Infinity, which makes it a cheap finiteness check too.
 *
 * @example
 * const norm = Math.sqrt(gradSumOfSquares(model.parameters()));
 */
export function gradSumOfSquares(params: readonly Param[], backend: Backend = params[0]?.backend ?? REFERENCE): number {
  let sum = 0;
  for (const p of params) sum += backend.sumSquares(p.grad.data, p.grad.size);
  return sum;
}

/**
 * Clip gradients to a global norm: when ‖g‖ > maxNorm, every gradient is scaled by maxNorm / ‖g‖,
 * so the step keeps its direction and only its length shrinks. Returns the norm before clipping.
 *
 * @example
 * model.backward(dy);
 * clipGradNorm(model.parameters(), 1.0);
 * optimizer.step();
 */
export function clipGradNorm(params: readonly Param[], maxNorm: number, norm = Math.sqrt(gradSumOfSquares(params))): number {
  if (norm > maxNorm && Number.isFinite(norm)) {
    // NOTE: the small epsilon matches PyTorch (max_norm / (norm + 1e-6)): the clipped norm lands
    // just under maxNorm rather than exactly on it.
    const scale = maxNorm / (norm + 1e-6);
    for (const p of params) {
      const g = p.grad.data;
      for (let i = 0; i < g.length; i++) g[i] *= scale;
    }
  }
  return norm;
}

/**
 * Where a non-finite value was found, for DivergenceError.
 *
 * @example
 * const r = model.trainStep(x, y, 'ce', optimizer);
 * if (r.nonFinite) console.log(r.nonFinite.layer, r.nonFinite.found);
 */
export interface NonFinite {
  /** The layer named, e.g. "layer 2 (Dense)"; undefined when no single layer is to blame. */
  layer?: string;
  /** What was not finite, e.g. "NaN in the output of layer 2 (Dense) (row 3, value 17)". */
  found: string;
  /** What to try. */
  hint: string;
}

const LR_HINT = 'the learning rate is probably too high; lower --lr (or add --clip-norm 1)';

/**
 * The loss was NaN/Infinity: find the first place in the forward pass that produced it.
 * `acts[i]` is layer i's output for this batch; `x` the batch input.
 */
export function diagnoseForward(layers: readonly Layer[], acts: readonly Tensor[], x: Tensor, loss: number): NonFinite {
  const where = (v: Float32Array, perRow: number, i: number) => `${describe(v[i])} at sample ${Math.floor(i / perRow)}, value ${i % perRow}`;
  const bad = firstNonFinite(x.data);
  if (bad >= 0) {
    return {
      found: `${where(x.data, x.size / x.shape[0], bad)} of the input batch`,
      hint: 'the training data contains NaN or Infinity; check how the inputs were prepared',
    };
  }
  for (let l = 0; l < layers.length; l++) {
    for (const p of layers[l].params()) {
      const i = firstNonFinite(p.value.data);
      if (i >= 0) {
        return {
          layer: layers[l].label,
          found: `${describe(p.value.data[i])} in the ${p.name} of ${layers[l].label} (an earlier update overflowed it)`,
          hint: LR_HINT,
        };
      }
    }
    const a = acts[l];
    const i = a ? firstNonFinite(a.data) : -1;
    if (i >= 0) {
      return { layer: layers[l].label, found: `${where(a.data, a.size / a.shape[0], i)} in the output of ${layers[l].label}`, hint: LR_HINT };
    }
  }
  return { found: `a loss of ${loss} from finite outputs (the loss overflowed)`, hint: LR_HINT };
}

/**
 * The gradient norm was not finite: blame a non-finite weight if there is one (a NaN weight can
 * hide behind a ReLU in the forward pass, max(NaN, 0) = 0, and surface only in the gradients),
 * else the layer whose gradient went bad first (backward runs last → first).
 */
export function diagnoseGradients(layers: readonly Layer[]): NonFinite {
  for (const layer of layers) {
    for (const p of layer.params()) {
      const i = firstNonFinite(p.value.data);
      if (i >= 0) {
        return { layer: layer.label, found: `${describe(p.value.data[i])} in the ${p.name} of ${layer.label} (an earlier update overflowed it)`, hint: LR_HINT };
      }
    }
  }
  for (let l = layers.length - 1; l >= 0; l--) {
    for (const p of layers[l].params()) {
      const i = firstNonFinite(p.grad.data);
      if (i >= 0) {
        return { layer: layers[l].label, found: `${describe(p.grad.data[i])} in the ${p.name} gradient of ${layers[l].label}`, hint: LR_HINT };
      }
    }
  }
  return { found: 'a gradient norm that overflowed float64 (every gradient finite but huge)', hint: LR_HINT };
}

function describe(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Fraction of a ReLU layer's units that output 0 for every sample of a batch: units that also get
 * no gradient, so they may never recover ("dead" ReLUs, usually from a too-large learning rate).
 * `act` is the layer output (N, ...features).
 *
 * @example
 * deadUnitFraction(new Tensor([2, 2], new Float32Array([0, 1, 0, 0]))); // 0.5: unit 0 never fires
 */
export function deadUnitFraction(act: Tensor): number {
  const n = act.shape[0];
  const units = n === 0 ? 0 : act.size / n;
  if (units === 0) return 0;
  let dead = 0;
  for (let j = 0; j < units; j++) {
    let alive = false;
    for (let r = 0; r < n && !alive; r++) alive = act.data[r * units + j] > 0;
    if (!alive) dead++;
  }
  return dead / units;
}

/**
 * A warning from fit's monitor, with a concrete suggestion.
 *
 * @example
 * model.fit(train, { optimizer, loss: 'ce', epochs: 8, callbacks: [{ onWarning: (w) => console.warn(w.message) }] });
 */
export interface TrainingWarning {
  kind: 'exploding-gradients' | 'dead-relu' | 'loss-explosion' | 'chance-accuracy';
  epoch: number;
  batch: number;
  layer?: string;
  message: string;
}

/**
 * Thresholds of the TrainingMonitor.
 *
 * @example
 * const monitor = new TrainingMonitor({ explodeFactor: 50, deadFraction: 0.8 });
 */
export interface MonitorOptions {
  /** Warn when a batch's gradient norm exceeds this multiple of its running average (default 20). */
  explodeFactor?: number;
  /** Warn when more than this fraction of a ReLU layer's units are dead (default 0.5). */
  deadFraction?: number;
  /**
   * Warn when an epoch's mean loss (training or validation) exceeds this multiple of the loss the
   * run started at, its first batch's, floored at 1 (default 10).
   */
  lossFactor?: number;
  /**
   * Warn when training ends with an accuracy within this fraction of the gap between chance and
   * 100% above chance (default 0.1: below 20% on MNIST, whose chance is 11.35%).
   */
  chanceMargin?: number;
}

/**
 * The accuracy of always answering the most frequent class of `count` one-hot rows of `k`
 * targets: what a model that learned nothing reaches (1/K on balanced data), 0 for no rows.
 *
 * @example
 * chanceAccuracy(new Float32Array([1, 0, 1, 0, 0, 1]), 3, 2); // 2/3: class 0 twice out of 3
 */
export function chanceAccuracy(y: Float32Array, count: number, k: number): number {
  if (count === 0 || k === 0) return 0;
  // A single output is a binary target (0 or 1): two classes.
  const counts = new Array<number>(k === 1 ? 2 : k).fill(0);
  for (let r = 0; r < count; r++) counts[targetClass(y, r * k, k)]++;
  return Math.max(...counts) / count;
}

/**
 * What the end-of-training check looks at: the last epoch's figures and the chance level of each set.
 *
 * @example
 * const w = new TrainingMonitor().onTrainEnd({ epoch: 3, accuracy: 0.11, chance: 0.1135 } satisfies FinalFigures, 100); // 'chance-accuracy'
 */
export interface FinalFigures {
  epoch: number;
  accuracy: number;
  valAccuracy?: number;
  /** chanceAccuracy of the training data, and of the validation data when there is some. */
  chance: number;
  valChance?: number;
}

function fmtLoss(v: number): string {
  return v >= 1e4 || v < 1e-3 ? v.toExponential(2) : v.toPrecision(4);
}

function fmtPct(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}

/**
 * Watches gradient norms batch by batch, ReLU outputs and the mean loss once per epoch, and the
 * final accuracy once per run; at most one warning of each kind per epoch (the loss and chance
 * warnings once per run), so a log is not flooded.
 *
 * @example
 * const monitor = new TrainingMonitor();
 * const w = monitor.onGradNorm(norm, epoch, batch, undefined); // a warning, or undefined
 */
export class TrainingMonitor {
  private readonly explodeFactor: number;
  private readonly deadFraction: number;
  private readonly lossFactor: number;
  private readonly chanceMargin: number;
  /** The first batch's loss: the loss the run started from. */
  private startLoss: number | undefined;
  private lossWarned = false;
  private avg = 0;
  private seen = 0;
  private warnedEpoch = { 'exploding-gradients': 0, 'dead-relu': 0 };

  constructor(options: MonitorOptions = {}) {
    this.explodeFactor = options.explodeFactor ?? 20;
    this.deadFraction = options.deadFraction ?? 0.5;
    this.lossFactor = options.lossFactor ?? 10;
    this.chanceMargin = options.chanceMargin ?? 0.1;
  }

  /** Called with each batch's loss (measured before its update, so the first is the starting point). */
  onLoss(loss: number): void {
    if (this.startLoss === undefined && Number.isFinite(loss)) this.startLoss = loss;
  }

  /**
   * Called at the end of an epoch with its mean losses: a loss that grew far above where the run
   * started, while staying finite (no DivergenceError), is a learning rate that is too high.
   * Once per run: a loss that stays up would otherwise repeat the warning every epoch.
   */
  onEpochLoss(epoch: number, batch: number, loss: number, valLoss?: number): TrainingWarning | undefined {
    if (this.startLoss === undefined || this.lossWarned) return undefined;
    // NOTE: floored at 1 so that a model that starts near a loss of 0 (a fine-tuned one) may move
    // to 0.05 without this reading as an explosion.
    const limit = this.lossFactor * Math.max(this.startLoss, 1);
    const [which, value] = valLoss !== undefined && valLoss > loss ? ['validation loss', valLoss] : ['loss', loss];
    if (!(value > limit)) return undefined;
    this.lossWarned = true;
    return {
      kind: 'loss-explosion', epoch, batch,
      message: `the ${which} exploded in epoch ${epoch}: ${fmtLoss(value)}, against ${fmtLoss(this.startLoss)} at the start of training ` +
        `(more than ${this.lossFactor}× it); the learning rate is probably too high: lower --lr, or add --clip-norm 1`,
    };
  }

  /**
   * Called once when training ends: an accuracy at about chance (the most frequent class's share)
   * means the model learned nothing, whatever the loss says. The validation accuracy is judged
   * when there is one, else the training accuracy.
   */
  onTrainEnd(last: FinalFigures, batch: number): TrainingWarning | undefined {
    const val = last.valAccuracy !== undefined && last.valChance !== undefined;
    const [which, accuracy, chance] = val ? ['validation', last.valAccuracy!, last.valChance!] : ['training', last.accuracy, last.chance];
    if (!(accuracy <= chance + this.chanceMargin * (1 - chance))) return undefined;
    return {
      kind: 'chance-accuracy', epoch: last.epoch, batch,
      message: `training ended at about chance: ${which} accuracy ${fmtPct(accuracy)} after epoch ${last.epoch}, against ` +
        `${fmtPct(chance)} for always answering the most frequent class; the model has not learned: ` +
        'a lower --lr, more epochs, or a look at the labels may help',
    };
  }

  /** Called with each batch's gradient norm (before clipping). */
  onGradNorm(norm: number, epoch: number, batch: number, clipNorm: number | undefined): TrainingWarning | undefined {
    // A running average over roughly the last 50 batches; the first 10 batches only warm it up.
    const warm = this.seen >= 10;
    const spike = warm && norm > this.explodeFactor * this.avg;
    this.avg = this.seen === 0 ? norm : this.avg + (norm - this.avg) / Math.min(this.seen + 1, 50);
    this.seen++;
    if (!spike || this.warnedEpoch['exploding-gradients'] === epoch) return undefined;
    this.warnedEpoch['exploding-gradients'] = epoch;
    const fix = clipNorm === undefined ? 'lower --lr, or add --clip-norm 1' : 'lower --lr or --clip-norm';
    return {
      kind: 'exploding-gradients', epoch, batch,
      message: `exploding gradients at epoch ${epoch} batch ${batch}: gradient norm ${norm.toPrecision(3)}, ` +
        `${(norm / this.avg).toFixed(0)}× its recent average; ${fix}`,
    };
  }

  /** Called at the end of an epoch with the last batch's layer outputs. */
  onEpochEnd(layers: readonly Layer[], acts: readonly Tensor[], epoch: number, batch: number): TrainingWarning[] {
    const out: TrainingWarning[] = [];
    layers.forEach((layer, i) => {
      if (layer.type !== 'ReLU' || !acts[i] || acts[i].shape[0] < 16) return;
      const frac = deadUnitFraction(acts[i]);
      if (frac > this.deadFraction && this.warnedEpoch['dead-relu'] !== epoch) {
        this.warnedEpoch['dead-relu'] = epoch;
        out.push({
          kind: 'dead-relu', epoch, batch, layer: layer.label,
          message: `dead ReLU units: ${(100 * frac).toFixed(0)}% of the units of ${layer.label} output 0 for every sample ` +
            `of the last batch of epoch ${epoch}; use --activation leaky-relu, or lower --lr`,
        });
      }
    });
    return out;
  }
}
