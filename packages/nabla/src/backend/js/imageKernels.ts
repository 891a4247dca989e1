/**
 * The JS backend's image kernels: im2col/col2im, pooling and batch-norm loops over NCHW buffers.
 * The contracts (shapes, what is added and what is overwritten) are in backend.ts; these are
 * plain loops, with the one optimisation that the valid range of each window row is computed
 * once instead of testing every index against the padding.
 *
 * Sizes: N batch, C channels, H × W input, KH × KW window, SH/SW stride, PH/PW zero padding,
 * OH × OW output.
 */

/** Output length of a window of size k, stride s, padding p over an input of length len. */
export function outSize(len: number, k: number, s: number, p: number): number {
  return Math.floor((len + 2 * p - k) / s) + 1;
}

/** First output index o whose input index o·s − p + u is ≥ 0. */
function firstValid(u: number, s: number, p: number): number {
  return u >= p ? 0 : Math.ceil((p - u) / s);
}

/** One past the last output index o (below out) whose input index o·s − p + u is < len. */
function endValid(u: number, s: number, p: number, len: number, out: number): number {
  // o·s − p + u ≤ len − 1  ⇔  o ≤ (len − 1 + p − u) / s
  const last = Math.floor((len - 1 + p - u) / s);
  return Math.max(0, Math.min(out, last + 1));
}

export function im2col(
  cols: Float32Array, x: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const plane = h * w;
  const ohw = oh * ow;
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const xBase = (b * c + ch) * plane;
      for (let u = 0; u < kh; u++) {
        const oh0 = firstValid(u, sh, ph);
        const oh1 = endValid(u, sh, ph, h, oh);
        for (let v = 0; v < kw; v++, row++) {
          const ow0 = firstValid(v, sw, pw);
          const ow1 = endValid(v, sw, pw, w, ow);
          const o = row * ohw;
          for (let i = 0; i < oh; i++) {
            const rowOut = o + i * ow;
            if (i < oh0 || i >= oh1 || ow0 >= ow1) {
              cols.fill(0, rowOut, rowOut + ow);
              continue;
            }
            const src = xBase + (i * sh - ph + u) * w - pw + v;
            for (let j = 0; j < ow0; j++) cols[rowOut + j] = 0;
            if (sw === 1) {
              for (let j = ow0; j < ow1; j++) cols[rowOut + j] = x[src + j];
            } else {
              for (let j = ow0; j < ow1; j++) cols[rowOut + j] = x[src + j * sw];
            }
            for (let j = ow1; j < ow; j++) cols[rowOut + j] = 0;
          }
        }
      }
    }
  }
}

export function col2im(
  dx: Float32Array, cols: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const plane = h * w;
  const ohw = oh * ow;
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const xBase = (b * c + ch) * plane;
      for (let u = 0; u < kh; u++) {
        const oh0 = firstValid(u, sh, ph);
        const oh1 = endValid(u, sh, ph, h, oh);
        for (let v = 0; v < kw; v++, row++) {
          const ow0 = firstValid(v, sw, pw);
          const ow1 = endValid(v, sw, pw, w, ow);
          const o = row * ohw;
          for (let i = oh0; i < oh1; i++) {
            const rowIn = o + i * ow;
            const dst = xBase + (i * sh - ph + u) * w - pw + v;
            for (let j = ow0; j < ow1; j++) dx[dst + j * sw] += cols[rowIn + j];
          }
        }
      }
    }
  }
}

export function addChannelBias(out: Float32Array, x: Float32Array, bias: Float32Array, n: number, c: number, s: number): void {
  for (let b = 0, o = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const v = bias[ch];
      for (let k = 0; k < s; k++, o++) out[o] = x[o] + v;
    }
  }
}

export function sumChannels(out: Float32Array, x: Float32Array, n: number, c: number, s: number, beta: number): void {
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let k = 0; k < s; k++) sum += x[o + k];
    }
    out[ch] = beta === 0 ? sum : beta * out[ch] + sum;
  }
}

export function maxPool(
  y: Float32Array, x: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  for (let p = 0, o = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - ph);
      const r1 = Math.min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = Math.max(0, j * sw - pw);
        const c1 = Math.min(w, j * sw - pw + kw);
        let best = -Infinity;
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const v = x[base + r * w + q];
            if (v > best) best = v;
          }
        }
        y[o] = best;
      }
    }
  }
}

export function maxPoolBackward(
  dx: Float32Array, dy: Float32Array, x: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  dx.fill(0, 0, n * c * h * w);
  for (let p = 0, o = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - ph);
      const r1 = Math.min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = Math.max(0, j * sw - pw);
        const c1 = Math.min(w, j * sw - pw + kw);
        // Same scan and strict > as the forward, so the same (first) maximum is chosen.
        let best = -Infinity;
        let at = base + r0 * w + c0;
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const v = x[base + r * w + q];
            if (v > best) {
              best = v;
              at = base + r * w + q;
            }
          }
        }
        dx[at] += dy[o];
      }
    }
  }
}

export function avgPool(
  y: Float32Array, x: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const inv = 1 / (kh * kw);
  for (let p = 0, o = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - ph);
      const r1 = Math.min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = Math.max(0, j * sw - pw);
        const c1 = Math.min(w, j * sw - pw + kw);
        let sum = 0;
        for (let r = r0; r < r1; r++) for (let q = c0; q < c1; q++) sum += x[base + r * w + q];
        y[o] = sum * inv;
      }
    }
  }
}

export function avgPoolBackward(
  dx: Float32Array, dy: Float32Array,
  n: number, c: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const inv = 1 / (kh * kw);
  dx.fill(0, 0, n * c * h * w);
  for (let p = 0, o = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - ph);
      const r1 = Math.min(h, i * sh - ph + kh);
      for (let j = 0; j < ow; j++, o++) {
        const c0 = Math.max(0, j * sw - pw);
        const c1 = Math.min(w, j * sw - pw + kw);
        const g = dy[o] * inv;
        for (let r = r0; r < r1; r++) for (let q = c0; q < c1; q++) dx[base + r * w + q] += g;
      }
    }
  }
}

export function batchNormStats(mean: Float32Array, variance: Float32Array, x: Float32Array, n: number, c: number, s: number): void {
  const m = n * s;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let k = 0; k < s; k++) sum += x[o + k];
    }
    const mu = sum / m;
    // Two passes: Σ(x − μ)² never cancels catastrophically the way Σx² − Mμ² can.
    let sq = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const d = x[o + k] - mu;
        sq += d * d;
      }
    }
    mean[ch] = mu;
    variance[ch] = sq / m;
  }
}

export function batchNormNormalize(
  y: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, beta: Float32Array,
  n: number, c: number, s: number, relu = false,
): void {
  for (let b = 0, o = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      // y = x·scale + shift, with scale = γ·invStd and shift = β − μ·scale folded per channel;
      // through a ReLU, the float32 value's relu as the relu kernel takes it (v > 0 ? v : 0).
      const scale = gamma[ch] * invStd[ch];
      const shift = beta[ch] - mean[ch] * scale;
      if (!relu) {
        for (let k = 0; k < s; k++, o++) y[o] = x[o] * scale + shift;
        continue;
      }
      for (let k = 0; k < s; k++, o++) {
        const v = Math.fround(x[o] * scale + shift);
        y[o] = v > 0 ? v : 0;
      }
    }
  }
}

export function batchNormBackward(
  dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
  dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array,
  n: number, c: number, s: number, batchStats: boolean, reluBeta?: Float32Array,
): void {
  const m = n * s;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch];
    const is = invStd[ch];
    // Through a following ReLU: y recomputed exactly as batchNormNormalize stores it.
    const yScale = gamma[ch] * is;
    const yShift = reluBeta ? reluBeta[ch] - mu * yScale : 0;
    const g = (o: number): number => (!reluBeta || Math.fround(x[o] * yScale + yShift) > 0 ? dy[o] : 0);
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const gk = g(o + k);
        sumDy += gk;
        sumDyXhat += gk * (x[o + k] - mu) * is;
      }
    }
    dgamma[ch] += sumDyXhat;
    dbeta[ch] += sumDy;
    const scale = gamma[ch] * is;
    if (!batchStats) {
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * s;
        for (let k = 0; k < s; k++) dx[o + k] = scale * g(o + k);
      }
      continue;
    }
    // dx = γ·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)): the mean and the variance both depend on
    // every x of the channel, which removes the two projections.
    const meanDy = sumDy / m;
    const meanDyXhat = sumDyXhat / m;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const xhat = (x[o + k] - mu) * is;
        dx[o + k] = scale * (g(o + k) - meanDy - xhat * meanDyXhat);
      }
    }
  }
}
