// The memory-bound kernels of a training step, four lanes at a time: bias add, bias gradient,
// ReLU family, and the optimiser updates. Same formulas as the JS backend (see backend.ts); the
// scalar tail loops handle lengths that are not multiples of 4.

// Σ x² in float64 (each value widened before it is squared), two lanes at a time: see squares.
export function sumSquares(x: usize, n: i32): f64 {
  return squares(0, x, n, 0, 0, false);
}

// out[0..n) = value (bulk memory for zeros: how gradients are cleared before each batch)
export function fill(out: usize, value: f32, n: i32): void {
  if (value == 0) {
    memory.fill(out, 0, <usize>n * 4);
    return;
  }
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + <usize>i * 4, v);
  for (; i < n; i++) store<f32>(out + <usize>i * 4, value);
}

// out[r, j] = x[r, j] + v[j]
export function addRowVector(out: usize, x: usize, v: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = out + <usize>(r * cols) * 4;
    const xi = x + <usize>(r * cols) * 4;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const off = <usize>j * 4;
      v128.store(o + off, f32x4.add(v128.load(xi + off), v128.load(v + off)));
    }
    for (; j < cols; j++) store<f32>(o + <usize>j * 4, load<f32>(xi + <usize>j * 4) + load<f32>(v + <usize>j * 4));
  }
}

// A product's epilogue on C[:, n0..n1) of a (m × n) C, by the thread that computed those columns
// (while they are in its cache): + bias[j] when `bias` is not 0 (addRowVector's add), then, with
// `relu`, relu's select. The same operations in the same order as those kernels: the same bits.
export function gemmEpilogue(c: usize, m: i32, n: i32, bias: usize, relu: bool, n0: i32, n1: i32): void {
  const zero = f32x4.splat(0);
  for (let i = 0; i < m; i++) {
    const row = c + <usize>(i * n) * 4;
    let j = n0;
    for (; j + 4 <= n1; j += 4) {
      const at = row + <usize>j * 4;
      let v = v128.load(at);
      if (bias != 0) v = f32x4.add(v, v128.load(bias + <usize>j * 4));
      if (relu) v = v128.bitselect(v, zero, f32x4.gt(v, zero));
      v128.store(at, v);
    }
    for (; j < n1; j++) {
      const at = row + <usize>j * 4;
      let v = load<f32>(at);
      if (bias != 0) v = v + load<f32>(bias + <usize>j * 4);
      if (relu) v = v > 0 ? v : 0;
      store<f32>(at, v);
    }
  }
}

// out[j] = beta·out[j] + Σ_r x[r, j]
export function sumRows(out: usize, x: usize, rows: i32, cols: i32, beta: f32): void {
  let j = 0;
  const bv = f32x4.splat(beta);
  for (; j + 4 <= cols; j += 4) {
    let s = f32x4.splat(0);
    for (let r = 0; r < rows; r++) s = f32x4.add(s, v128.load(x + <usize>(r * cols + j) * 4));
    const o = out + <usize>j * 4;
    v128.store(o, beta == 0 ? s : f32x4.add(f32x4.mul(bv, v128.load(o)), s));
  }
  for (; j < cols; j++) {
    let s: f32 = 0;
    for (let r = 0; r < rows; r++) s += load<f32>(x + <usize>(r * cols + j) * 4);
    const o = out + <usize>j * 4;
    store<f32>(o, beta == 0 ? s : beta * load<f32>(o) + s);
  }
}

// out = max(x, 0). NOTE: written as a select on x > 0, not f32x4.max, so that NaN propagates
// exactly as in the JS backend (x > 0 ? x : 0 maps NaN to 0 there too).
export function relu(out: usize, x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + <usize>i * 4);
    v128.store(out + <usize>i * 4, v128.bitselect(v, zero, f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + <usize>i * 4);
    store<f32>(out + <usize>i * 4, v > 0 ? v : 0);
  }
}

// dx = dy ⊙ [x > 0]
export function reluBackward(dx: usize, dy: usize, x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i * 4;
    v128.store(dx + off, v128.and(v128.load(dy + off), f32x4.gt(v128.load(x + off), zero)));
  }
  for (; i < n; i++) {
    const off = <usize>i * 4;
    store<f32>(dx + off, load<f32>(x + off) > 0 ? load<f32>(dy + off) : 0);
  }
}

// out = x > 0 ? x : slope·x
export function leakyRelu(out: usize, x: usize, n: i32, slope: f32): void {
  const zero = f32x4.splat(0);
  const s = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + <usize>i * 4);
    v128.store(out + <usize>i * 4, v128.bitselect(v, f32x4.mul(s, v), f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + <usize>i * 4);
    store<f32>(out + <usize>i * 4, v > 0 ? v : slope * v);
  }
}

// dx = x > 0 ? dy : slope·dy
export function leakyReluBackward(dx: usize, dy: usize, x: usize, n: i32, slope: f32): void {
  const zero = f32x4.splat(0);
  const s = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i * 4;
    const g = v128.load(dy + off);
    v128.store(dx + off, v128.bitselect(g, f32x4.mul(s, g), f32x4.gt(v128.load(x + off), zero)));
  }
  for (; i < n; i++) {
    const off = <usize>i * 4;
    const g = load<f32>(dy + off);
    store<f32>(dx + off, load<f32>(x + off) > 0 ? g : slope * g);
  }
}

// SGD with momentum, PyTorch's form: g = grad + wd·p; v = μ·v + g; step = nesterov ? g + μ·v : v;
// p −= lr·step. With μ = 0 the velocity buffer is never touched (it may be empty).
export function sgdUpdate(
  param: usize, grad: usize, velocity: usize, n: i32,
  lr: f32, momentum: f32, weightDecay: f32, nesterov: bool,
): void {
  const lrv = f32x4.splat(lr);
  const mu = f32x4.splat(momentum);
  const wd = f32x4.splat(weightDecay);
  let i = 0;
  // The usual cases without a test inside the loop, 8 values a turn: plain SGD, and momentum
  // without Nesterov or decay. The same formulas, so the same bits as the general loop below.
  if (weightDecay == 0 && momentum == 0) {
    for (; i + 8 <= n; i += 8) {
      const off = <usize>i * 4;
      v128.store(param + off, f32x4.sub(v128.load(param + off), f32x4.mul(lrv, v128.load(grad + off))));
      v128.store(param + off, f32x4.sub(v128.load(param + off, 16), f32x4.mul(lrv, v128.load(grad + off, 16))), 16);
    }
  } else if (weightDecay == 0 && !nesterov) {
    for (; i + 8 <= n; i += 8) {
      const off = <usize>i * 4;
      const v0 = f32x4.add(f32x4.mul(mu, v128.load(velocity + off)), v128.load(grad + off));
      const v1 = f32x4.add(f32x4.mul(mu, v128.load(velocity + off, 16)), v128.load(grad + off, 16));
      v128.store(velocity + off, v0);
      v128.store(velocity + off, v1, 16);
      v128.store(param + off, f32x4.sub(v128.load(param + off), f32x4.mul(lrv, v0)));
      v128.store(param + off, f32x4.sub(v128.load(param + off, 16), f32x4.mul(lrv, v1)), 16);
    }
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i * 4;
    const p = v128.load(param + off);
    let g = v128.load(grad + off);
    if (weightDecay != 0) g = f32x4.add(g, f32x4.mul(wd, p));
    let step = g;
    if (momentum != 0) {
      const v = f32x4.add(f32x4.mul(mu, v128.load(velocity + off)), g);
      v128.store(velocity + off, v);
      step = nesterov ? f32x4.add(g, f32x4.mul(mu, v)) : v;
    }
    v128.store(param + off, f32x4.sub(p, f32x4.mul(lrv, step)));
  }
  for (; i < n; i++) {
    const off = <usize>i * 4;
    const p = load<f32>(param + off);
    let g = load<f32>(grad + off);
    if (weightDecay != 0) g += weightDecay * p;
    let step = g;
    if (momentum != 0) {
      const v = momentum * load<f32>(velocity + off) + g;
      store<f32>(velocity + off, v);
      step = nesterov ? g + momentum * v : v;
    }
    store<f32>(param + off, p - lr * step);
  }
}

// Plain SGD (no momentum) and Σ grad², reading the gradient from memory once: p −= lr·(grad +
// wd·p), returning Σ grad² (of the gradient as given) with exactly sumSquares' accumulators and
// order, so the sum has the same bits as sumSquares(grad, n) and the weights as sgdUpdate's.
// Blocks of SGD_BLOCK values are summed, then (still in L1) updated, while the sum is finite:
// from the first block holding a non-finite gradient on, nothing more is updated, so a weight
// that is not finite afterwards already was before (what diagnoseGradients reports).
const SGD_BLOCK: i32 = 1024;

export function sgdSumSquares(param: usize, grad: usize, n: i32, lr: f32, weightDecay: f32): f64 {
  return squares(param, grad, n, lr, weightDecay, true);
}

// Σ grad², and with `update` (a constant at each call, so each caller compiles to one branch) the
// SGD step of each block after its sum. Four independent float64 sums: one chain would wait on
// each add's latency (4 cycles) and run at a quarter of the rate. (A float32's square is exact in
// float64, so only the order of the additions differs from a plain loop.) sumSquares and
// sgdSumSquares share this one loop, so their sums have the same bits.
// @ts-ignore: decorator
@inline
function squares(param: usize, grad: usize, n: i32, lr: f32, weightDecay: f32, update: bool): f64 {
  const lrv = f32x4.splat(lr);
  const wd = f32x4.splat(weightDecay);
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  let acc2 = f64x2.splat(0);
  let acc3 = f64x2.splat(0);
  let ok = true;
  let i = 0;
  while (i + 8 <= n) {
    const b0 = i;
    const b1 = min(n & ~7, i + SGD_BLOCK);
    for (; i < b1; i += 8) {
      const off = <usize>i * 4;
      const v = v128.load(grad + off);
      const w = v128.load(grad + off, 16);
      const v0 = f64x2.promote_low_f32x4(v);
      const v1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      const w0 = f64x2.promote_low_f32x4(w);
      const w1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 0, 1));
      acc0 = f64x2.add(acc0, f64x2.mul(v0, v0));
      acc1 = f64x2.add(acc1, f64x2.mul(v1, v1));
      acc2 = f64x2.add(acc2, f64x2.mul(w0, w0));
      acc3 = f64x2.add(acc3, f64x2.mul(w1, w1));
    }
    if (!update) continue;
    if (ok) {
      // Squares of finite float32s cannot overflow float64: a non-finite sum is a non-finite gradient.
      const t = f64x2.add(f64x2.add(acc0, acc1), f64x2.add(acc2, acc3));
      ok = isFinite(f64x2.extract_lane(t, 0)) && isFinite(f64x2.extract_lane(t, 1));
    }
    if (!ok) continue;
    let j = b0;
    if (weightDecay == 0) {
      // No decay (the usual case): 16 values a turn and no test inside the loop.
      for (; j + 16 <= b1; j += 16) {
        const off = <usize>j * 4;
        v128.store(param + off, f32x4.sub(v128.load(param + off), f32x4.mul(lrv, v128.load(grad + off))));
        v128.store(param + off, f32x4.sub(v128.load(param + off, 16), f32x4.mul(lrv, v128.load(grad + off, 16))), 16);
        v128.store(param + off, f32x4.sub(v128.load(param + off, 32), f32x4.mul(lrv, v128.load(grad + off, 32))), 32);
        v128.store(param + off, f32x4.sub(v128.load(param + off, 48), f32x4.mul(lrv, v128.load(grad + off, 48))), 48);
      }
    }
    for (; j < b1; j += 4) {
      const off = <usize>j * 4;
      const p = v128.load(param + off);
      let g = v128.load(grad + off);
      if (weightDecay != 0) g = f32x4.add(g, f32x4.mul(wd, p));
      v128.store(param + off, f32x4.sub(p, f32x4.mul(lrv, g)));
    }
  }
  const s = f64x2.add(f64x2.add(acc0, acc1), f64x2.add(acc2, acc3));
  let sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  const tail = i;
  for (; i < n; i++) {
    const g = <f64>load<f32>(grad + <usize>i * 4);
    sum += g * g;
  }
  if (update && ok && isFinite(sum)) {
    for (i = tail; i < n; i++) {
      const off = <usize>i * 4;
      const p = load<f32>(param + off);
      let g = load<f32>(grad + off);
      if (weightDecay != 0) g += weightDecay * p;
      store<f32>(param + off, p - lr * g);
    }
  }
  return sum;
}

// Adam / AdamW: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/bc1) / (sqrt(v/bc2) + eps).
// Weight decay is added to g (Adam, L2) or applied as p −= lr·wd·p first (AdamW, decoupled).
export function adamUpdate(
  param: usize, grad: usize, m: usize, v: usize, n: i32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, decoupled: bool,
  bc1: f32, bc2: f32,
): void {
  const b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1), c2 = f32x4.splat(1 - beta2);
  // Same association as the JS backend: (lr/bc1)·m / (sqrt(v)·(1/sqrt(bc2)) + eps).
  const stepSize: f32 = lr / bc1, invSqrtBc2: f32 = 1 / Mathf.sqrt(bc2);
  const sv = f32x4.splat(stepSize), ib2 = f32x4.splat(invSqrtBc2);
  const ev = f32x4.splat(eps);
  const wd = f32x4.splat(weightDecay), shrink = f32x4.splat(1 - lr * weightDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i * 4;
    let p = v128.load(param + off);
    let g = v128.load(grad + off);
    if (weightDecay != 0) {
      if (decoupled) p = f32x4.mul(shrink, p);
      else g = f32x4.add(g, f32x4.mul(wd, p));
    }
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + off)), f32x4.mul(c1, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + off)), f32x4.mul(c2, f32x4.mul(g, g)));
    v128.store(m + off, mi);
    v128.store(v + off, vi);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vi), ib2), ev);
    v128.store(param + off, f32x4.sub(p, f32x4.div(f32x4.mul(sv, mi), denom)));
  }
  for (; i < n; i++) {
    const off = <usize>i * 4;
    let p = load<f32>(param + off);
    let g = load<f32>(grad + off);
    if (weightDecay != 0) {
      if (decoupled) p = (1 - lr * weightDecay) * p;
      else g += weightDecay * p;
    }
    const mi = beta1 * load<f32>(m + off) + (1 - beta1) * g;
    const vi = beta2 * load<f32>(v + off) + (1 - beta2) * g * g;
    store<f32>(m + off, mi);
    store<f32>(v + off, vi);
    store<f32>(param + off, p - (stepSize * mi) / (Mathf.sqrt(vi) * invSqrtBc2 + eps));
  }
}

// out[r, :] = src[order[r], :] for r in 0..count, rows of rowBytes bytes: a mini-batch's rows
// gathered from a dataset (bulk-memory copies; order holds u32 row indices).
export function gatherRows(out: usize, src: usize, order: usize, count: i32, rowBytes: i32): void {
  const row = <usize>rowBytes;
  for (let r = 0; r < count; r++) {
    memory.copy(out + <usize>r * row, src + <usize>load<u32>(order + <usize>r * 4) * row, row);
  }
}
