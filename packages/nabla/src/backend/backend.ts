/**
 * Backend: the kernels behind every layer, loss and optimiser. Layers never loop over numbers
 * themselves; they call these on raw Float32Array buffers, so a faster backend (WASM SIMD,
 * threads) can replace the reference one without touching a layer.
 *
 * Conventions (docs/architecture.md):
 * - arguments are output buffers first, then inputs, then sizes, then scalars;
 * - kernels never allocate per call and never see a Tensor;
 * - matrices are row-major; "rows" is the batch dimension N unless said otherwise.
 *
 * @example
 * const backend: Backend = new JsBackend();
 * const c = backend.allocate(4);
 * backend.gemm(c, a, b, 2, 2, 3, false, false, 1, 0); // C (2×2) = A (2×3) · B (3×2)
 */
export interface Backend {
  /** Shown in benchmarks and messages, e.g. "js" or "wasm-simd". */
  readonly name: string;

  /**
   * A zero-filled array that this backend's kernels read and write without copying: a plain
   * Float32Array for the JS backend, a view into the WebAssembly memory for the wasm one.
   * Layers, losses and optimisers allocate their parameters, gradients, state and output
   * buffers here. Kernels still accept any Float32Array (a foreign one may just cost a copy).
   */
  allocate(length: number): Float32Array;

  /**
   * BLAS-shaped matrix product: C = alpha·op(A)·op(B) + beta·C.
   * op(A) is (m × k): A is stored (m × k), or (k × m) when transA.
   * op(B) is (k × n): B is stored (k × n), or (n × k) when transB.
   * C is (m × n). With beta = 0, C is overwritten (its old contents, even NaN, are ignored);
   * beta = 1 accumulates, which is how parameter gradients add up.
   * `epilogue` (a Dense layer's forward): then C[i, j] += bias[j], then C = max(C, 0) as `relu`
   * does, each when asked: the same bits as calling addRowVector and relu afterwards, in one call.
   */
  gemm(
    c: Float32Array, a: Float32Array, b: Float32Array,
    m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
    epilogue?: { bias?: Float32Array; relu?: boolean },
  ): void;

  /** Σ x[i]² over x[0..n), accumulated in float64: squared norms for clipping and diagnostics. */
  sumSquares(x: Float32Array, n: number): number;

  /** out[0..n) = value (how gradients are cleared before a batch). */
  fill(out: Float32Array, value: number, n: number): void;

  /**
   * Row gather, how a mini-batch is assembled: out[r, :] = src[order[start + r], :] for r in
   * 0..count, rows of `width` values. The wasm backend copies in wasm (on every thread) when
   * all three arrays live in its memory: load a dataset through `allocate` to get that.
   */
  gatherRows(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): void;

  /**
   * Optional: take on a gather that `gatherRows` will be asked for with these same arguments, and
   * make it ahead of time where a thread would otherwise wait (the wasm backend: on a worker,
   * during a training step's single-threaded stretch). Returns false when it does not (nothing
   * happens then). After true, `out` must not be read or written until that `gatherRows` call,
   * which finishes the copy. BatchIterator uses it for the next batch.
   */
  prefetchRows?(out: Float32Array, src: Float32Array, order: Uint32Array, start: number, count: number, width: number): boolean;

  /** out[r, j] = x[r, j] + v[j] for a (rows × cols) matrix; out may be x. */
  addRowVector(out: Float32Array, x: Float32Array, v: Float32Array, rows: number, cols: number): void;
  /** out[j] = beta·out[j] + Σ_r x[r, j]: column sums, used for bias gradients. */
  sumRows(out: Float32Array, x: Float32Array, rows: number, cols: number, beta: number): void;

  /** out = max(x, 0) */
  relu(out: Float32Array, x: Float32Array, n: number): void;
  /** dx = dy ⊙ [x > 0] */
  reluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void;
  /** out = x > 0 ? x : slope·x */
  leakyRelu(out: Float32Array, x: Float32Array, n: number, slope: number): void;
  /** dx = dy ⊙ (x > 0 ? 1 : slope), from the forward input x */
  leakyReluBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number, slope: number): void;
  /** out = 1 / (1 + e^−x) */
  sigmoid(out: Float32Array, x: Float32Array, n: number): void;
  /** dx = dy ⊙ y(1 − y), from the forward output y */
  sigmoidBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void;
  /** out = tanh x */
  tanh(out: Float32Array, x: Float32Array, n: number): void;
  /** dx = dy ⊙ (1 − y²), from the forward output y */
  tanhBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void;
  /** Row-wise softmax of a (rows × cols) matrix, max-subtracted for stability. */
  softmax(out: Float32Array, x: Float32Array, rows: number, cols: number): void;
  /** dx[r] = y[r] ⊙ (dy[r] − ⟨dy[r], y[r]⟩): the softmax Jacobian-vector product per row. */
  softmaxBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, rows: number, cols: number): void;

  /**
   * Fused softmax + cross-entropy over rows of logits against target distributions (one-hot or
   * soft). Writes dlogits = scale·(softmax(logits) − target) and returns Σ_rows −Σ_j t log p,
   * computed with log-sum-exp so that large logits never overflow.
   */
  softmaxCrossEntropy(
    dlogits: Float32Array, logits: Float32Array, target: Float32Array,
    rows: number, cols: number, scale: number,
  ): number;
  /** Writes dpred = scale·2(pred − target) and returns Σ (pred − target)². */
  squaredError(dpred: Float32Array, pred: Float32Array, target: Float32Array, n: number, scale: number): number;

  /** out[i] = a[i] · b[i]: dropout's mask, forward (x ⊙ mask) and backward (dy ⊙ mask). */
  multiply(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;

  // ── Images: NCHW layout, x: (N, C, H, W) row-major. ──────────────────────────────────────
  // A window of KH × KW taken every SH rows / SW columns over the input zero-padded by PH rows
  // (top and bottom) and PW columns (left and right) gives OH × OW outputs:
  //   OH = floor((H + 2·PH − KH) / SH) + 1,  OW = floor((W + 2·PW − KW) / SW) + 1.

  /**
   * im2col: unrolls every window into a column. cols: (N, C·KH·KW, OH·OW), where
   * cols[n, (c·KH + u)·KW + v, oh·OW + ow] = x[n, c, oh·SH − PH + u, ow·SW − PW + v], or 0 where
   * that index falls into the padding. A convolution is then one GEMM per sample:
   * y[n] (OC × OH·OW) = W (OC × C·KH·KW) · cols[n]. Every entry of cols is written.
   */
  im2col(
    cols: Float32Array, x: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;
  /**
   * col2im: the adjoint of im2col. ADDS every entry of cols back into the pixel it was copied
   * from: dx[n, c, i, j] += Σ of the cols entries that im2col took from (i, j); entries that
   * came from the padding are dropped. NOTE: dx is accumulated, not overwritten: zero it first
   * when it should hold only this gradient.
   */
  col2im(
    dx: Float32Array, cols: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;
  /** out[n, c, s] = x[n, c, s] + b[c] for x: (N, C, S); out may be x. Convolution bias. */
  addChannelBias(out: Float32Array, x: Float32Array, b: Float32Array, n: number, c: number, s: number): void;
  /** out[c] = beta·out[c] + Σ_{n,s} x[n, c, s]: the convolution bias gradient. */
  sumChannels(out: Float32Array, x: Float32Array, n: number, c: number, s: number, beta: number): void;

  /**
   * A whole batch of Conv2D forward (the cross-correlation of docs/math.md §11): for every sample,
   * y[n] (OC × OH·OW) = weight (OC × C·KH·KW) · im2col(x[n]) + bias[oc] (no bias when undefined).
   * x: (N, C, H, W), weight: (OC, C, KH, KW), y: (N, OC, OH, OW), written fresh. One call per
   * batch, so a backend can keep the per-sample work (and its threads) inside its own kernels.
   */
  conv2dForward(
    y: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void;
  /**
   * A whole batch of Conv2D backward, from the forward input x and dy: (N, OC, OH, OW).
   * ADDS dW += Σ_n dy[n] · im2col(x[n])ᵀ and (when given) db[oc] += Σ_{n, positions} dy[n, oc];
   * writes dx (when given) fresh: dx[n] = col2im(weightᵀ · dy[n]). The order in which samples'
   * contributions are summed is the backend's (fixed for a given backend, whatever its threads).
   */
  conv2dBackward(
    dW: Float32Array, db: Float32Array | undefined, dx: Float32Array | undefined,
    x: Float32Array, dy: Float32Array, weight: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
    oc: number,
  ): void;

  /**
   * Max pooling: y[n, c, oh, ow] = max of x over the window (padding counts as −∞, as in
   * PyTorch; a window must hold at least one real pixel, which PH ≤ KH/2 guarantees).
   * y: (N, C, OH, OW).
   */
  maxPool(
    y: Float32Array, x: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;
  /**
   * Max pooling backward: dx (written fresh, zeros elsewhere) receives each dy at the position
   * of its window's maximum, found again from x (the first one in row-major window order on
   * ties, as the forward takes it). Overlapping windows add up.
   */
  maxPoolBackward(
    dx: Float32Array, dy: Float32Array, x: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;
  /**
   * Average pooling: y = (sum of the window) / (KH·KW); padding counts as zeros and is included
   * in the divisor (PyTorch's default, count_include_pad=True).
   */
  avgPool(
    y: Float32Array, x: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;
  /** Average pooling backward: dx (written fresh) gets dy / (KH·KW) at every pixel of its window. */
  avgPoolBackward(
    dx: Float32Array, dy: Float32Array,
    n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): void;

  // ── Batch normalisation over x: (N, C, S), statistics per channel c over N·S values ───────
  // (S = H·W for BatchNorm2D, S = 1 for BatchNorm1D on (N, C)).

  /** mean[c] and the biased variance var[c] = mean of (x − mean)² (two passes, float64 sums). */
  batchNormStats(mean: Float32Array, variance: Float32Array, x: Float32Array, n: number, c: number, s: number): void;
  /**
   * y = (x − mean[c]) · invStd[c] · gamma[c] + beta[c]; y may be x. With `relu`, y = relu of that,
   * bit for bit what `relu` would make of this call's y without it (a following ReLU's forward,
   * without a pass of its own).
   */
  batchNormNormalize(
    y: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, beta: Float32Array,
    n: number, c: number, s: number, relu?: boolean,
  ): void;
  /**
   * Batch norm backward with x̂ = (x − mean)·invStd recomputed from x. ADDS dgamma[c] += Σ dy·x̂
   * and dbeta[c] += Σ dy; writes dx fresh. With `batchStats` (training: mean and invStd came
   * from this batch, so they depend on x), with M = N·S:
   *   dx = gamma·invStd / M · (M·dy − Σdy − x̂·Σ(dy·x̂));
   * without (evaluation: running statistics are constants), dx = gamma·invStd·dy.
   * With `reluBeta` (the beta of the forward), dy is the gradient at relu(y) for the y that
   * batchNormNormalize computed from these operands on this backend (recomputed, bit for bit):
   * the ReLU's backward, dy·[y > 0], is applied first, without a pass of its own.
   */
  batchNormBackward(
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
    dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array,
    n: number, c: number, s: number, batchStats: boolean, reluBeta?: Float32Array,
  ): void;

  /**
   * SGD with momentum (PyTorch's form): g = grad + wd·p; v = μ·v + g;
   * step = nesterov ? g + μ·v : v; p -= lr·step. With μ = 0, velocity is not touched.
   */
  sgdUpdate(
    param: Float32Array, grad: Float32Array, velocity: Float32Array, n: number,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void;
  /**
   * Plain SGD (momentum 0) and the gradient's Σ grad² in one pass: returns exactly
   * sumSquares(grad, n) and, when that is finite, leaves param exactly as sgdUpdate(param, grad,
   * [], n, lr, 0, weightDecay, false) does. fit's gradient norm (its diagnostics) then costs no
   * second pass over the gradients. When the sum is not finite, part of param may have been
   * updated (the wasm kernel updates block by block up to the first non-finite gradient), but
   * never from a non-finite gradient: a weight that is not finite afterwards was not finite
   * before (or overflowed float32 in the update). The caller restores the weights (fit does).
   */
  sgdUpdateSumSquares(param: Float32Array, grad: Float32Array, n: number, lr: number, weightDecay: number): number;
  /**
   * Adam / AdamW. m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
   * p -= lr·(m / bc1) / (sqrt(v / bc2) + eps), where bc = 1 − β^t. weightDecay is added to the
   * gradient (Adam, L2) or applied as p -= lr·wd·p before the step (AdamW, decoupled).
   */
  adamUpdate(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean,
    bc1: number, bc2: number,
  ): void;
}
