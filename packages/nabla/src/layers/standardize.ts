/**
 * Standardize: each feature of a table brought to mean 0 and spread 1 with fixed statistics,
 *
 *   y[n, j] = (x[n, j] − mean[j]) / std[j]          ∂y/∂x = 1 / std[j]
 *
 * so that one learning rate suits columns measured in dollars and in years (without it a Dense
 * layer's gradient is dominated by the widest column, and SGD at lr 0.1 diverges on such a
 * table). mean and std are buffers, not parameters: `fit` sets them once from the training rows
 * (the CLI does so for tables) and the optimiser never moves them. Saved in model files and
 * exported with the model, so the model itself takes raw rows in eval, predict, serve, ONNX and
 * PyTorch. Keras calls this a Normalization layer, scikit-learn a StandardScaler.
 *
 * In float32 as PyTorch's (x − mean) / std and ONNX's Sub then Div round it: f32(f32(x − mean) / std).
 * Shapes: x, y, dy, dx: (N, F). Plain loops on the backend's arrays; there is no kernel.
 */
import { NablaError } from '../errors.ts';
import type { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { Layer, NO_GRAD, TensorBuffer, type LayerConfig, type StateTensor } from './layer.ts';

/** The PyTorch module written with an exported model that holds a Standardize layer. */
const TORCH_CLASS = `class Standardize(nn.Module):
    """y = (x - mean) / std per feature, with fixed statistics (buffers, not trained): nabla's Standardize."""

    def __init__(self, features):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, x):
        return (x - self.mean) / self.std`;

/**
 * (x − mean) / std per feature, with statistics fitted once (`fit`) and kept in the model file.
 *
 * @example
 * const model = new Sequential([new Standardize(), new Dense(16), new ReLU(), new Dense(2)], { inputShape: [3] });
 * (model.layers[0] as Standardize).fit(train.x, train.count); // before training
 */
export class Standardize extends Layer {
  readonly type = 'Standardize';
  private mean!: Tensor;
  private std!: Tensor;
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  protected init(inputShape: Shape, _rng: Rng): Shape {
    if (inputShape.length !== 1) throw this.shapeError('rows of features (N, F)', inputShape, 'add Flatten before it, or leave it out for images');
    const f = inputShape[0];
    this.mean = new Tensor([f], this.backend.allocate(f));
    this.std = new Tensor([f], this.backend.allocate(f).fill(1));
    return inputShape;
  }

  /**
   * Set mean and std to those of the first `count` rows of `x` (N × F, row-major): the mean and
   * the population standard deviation of each column, in float64. A constant column gets std 1
   * (its values all become 0). Throws a NablaError, naming the column, on NaN or ±Infinity.
   *
   * @example
   * (model.layers[0] as Standardize).fit(train.x, train.count);
   */
  fit(x: Float32Array, count: number): void {
    const f = this.inputShape[0];
    if (!(count >= 1) || x.length < count * f) {
      throw new NablaError({ where: `${this.label}: fit`, expected: `at least one row of ${f} values`, found: `${count} rows in ${x.length} values` });
    }
    const sum = new Float64Array(f);
    for (let n = 0; n < count; n++) for (let j = 0; j < f; j++) sum[j] += x[n * f + j];
    const mean = sum.map((s) => s / count);
    const squares = new Float64Array(f);
    for (let n = 0; n < count; n++) {
      for (let j = 0; j < f; j++) {
        const d = x[n * f + j] - mean[j];
        squares[j] += d * d;
      }
    }
    this.setStatistics(mean, Array.from(squares, (s) => Math.sqrt(s / count)));
  }

  /**
   * Set mean and std per feature directly (statistics computed elsewhere, e.g. the first pass of
   * openCsvChunks over a file too large for memory). A std that is 0 in float32 becomes 1 (the
   * column is only centred). Throws a NablaError, naming the column, for a wrong length or a value
   * that is not finite.
   *
   * @example
   * layer.setStatistics(source.columnStatistics.mean, source.columnStatistics.std);
   */
  setStatistics(mean: ArrayLike<number>, std: ArrayLike<number>): void {
    const f = this.inputShape[0];
    if (mean.length !== f || std.length !== f) {
      throw new NablaError({ where: `${this.label}: statistics`, expected: `${f} means and ${f} standard deviations`, found: `${mean.length} and ${std.length}` });
    }
    for (let j = 0; j < f; j++) {
      if (!Number.isFinite(mean[j]) || !Number.isFinite(std[j]) || std[j] < 0) {
        throw new NablaError({
          where: `${this.label}: statistics`, expected: 'finite values in every column (std ≥ 0)', found: `column ${j}: mean ${mean[j]}, std ${std[j]}`,
          hint: 'the data holds NaN or ±Infinity, or values too large for float64 sums',
        });
      }
    }
    for (let j = 0; j < f; j++) {
      this.mean.data[j] = mean[j];
      // A column whose values are all equal (or whose spread rounds to 0 in float32) is only centred.
      this.std.data[j] = Math.fround(std[j]) > 0 ? std[j] : 1;
    }
  }

  /** The fitted statistics, per feature (copies). @example const { mean, std } = layer.statistics(); */
  statistics(): { mean: Float32Array; std: Float32Array } {
    return { mean: Float32Array.from(this.mean.data), std: Float32Array.from(this.std.data) };
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const n = x.shape[0];
    const f = this.inputShape[0];
    const y = this.out.get(this.backend, n, this.outputShape);
    const [xd, yd, mean, std] = [x.data, y.data, this.mean.data, this.std.data];
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < f; j++) yd[r * f + j] = Math.fround(xd[r * f + j] - mean[j]) / std[j];
    }
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.needsInputGrad) return NO_GRAD;
    const n = dy.shape[0];
    const f = this.inputShape[0];
    const dx = this.dxBuf.get(this.backend, n, this.inputShape);
    const [dyd, dxd, std] = [dy.data, dx.data, this.std.data];
    for (let r = 0; r < n; r++) for (let j = 0; j < f; j++) dxd[r * f + j] = dyd[r * f + j] / std[j];
    return dx;
  }

  override buffers(): StateTensor[] {
    return [{ name: 'mean', value: this.mean }, { name: 'std', value: this.std }];
  }

  config(): LayerConfig {
    return { type: this.type };
  }

  static readonly kind: LayerKind = {
    type: 'Standardize',
    fromConfig: () => new Standardize(),
    spec: { names: ['standardize'], grammar: 'standardize', parse(t) { t.noArg(); return { type: 'Standardize' }; } },
    input: () => 'flat',
    summary: (layer) => `(${layer.inputShape[0]} features)`,
    onnx(ctx) {
      const [f] = ctx.layer.inputShape;
      const centred = ctx.value('centred');
      ctx.node('Sub', [ctx.input, ctx.weight('mean', [f])], [], [centred]);
      ctx.node('Div', [centred, ctx.weight('std', [f])]);
    },
    pytorch(ctx) {
      ctx.define('Standardize', TORCH_CLASS);
      return `Standardize(${ctx.layer.inputShape[0]})`;
    },
  };
}
