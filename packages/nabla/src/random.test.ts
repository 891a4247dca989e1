// Rng tests: reproducible streams, exact resumption from a saved state, the moments of the
// distributions, and shuffles that are permutations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './random.ts';

function stream(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

test('the same seed gives the same stream; different seeds give different streams', () => {
  assert.deepEqual(stream(new Rng(42), 1000), stream(new Rng(42), 1000));
  const seeds = [0, 1, 2, 42, 2 ** 32 - 1, -1];
  const firsts = seeds.map((s) => stream(new Rng(s), 4).join(','));
  // -1 and 2^32 − 1 are the same 32-bit seed; every other pair differs.
  assert.equal(firsts[4], firsts[5]);
  assert.equal(new Set(firsts.slice(0, 5)).size, 5);
  // Small seeds are well mixed: seed 0 does not give a stuck all-zero state.
  assert.ok(stream(new Rng(0), 8).every((v) => v !== 0));
});

test('nextUint32 is an unsigned 32-bit integer; uniform is in [0, 1); int(n) is in [0, n)', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 10_000; i++) {
    const u32 = rng.nextUint32();
    assert.ok(Number.isInteger(u32) && u32 >= 0 && u32 < 2 ** 32);
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    const k = rng.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
});

test('getState / setState resumes exactly, including a pending second normal of a Box-Muller pair', () => {
  const rng = new Rng(9);
  stream(rng, 5);
  rng.normal(); // leaves the pair's second value pending
  const state = rng.getState();
  const expected = [rng.normal(), rng.normal(), rng.uniform(), rng.nextUint32(), rng.normal()];
  const other = new Rng(12345);
  other.setState(state);
  assert.deepEqual([other.normal(), other.normal(), other.uniform(), other.nextUint32(), other.normal()], expected);
  // And restoring the original in place rewinds it.
  rng.setState(state);
  assert.equal(rng.normal(), expected[0]);
  // getState is a copy: changing it does not change the generator.
  const s = rng.getState();
  s[0] = 0;
  assert.notDeepEqual(rng.getState(), s);
});

test('a saved state survives JSON (checkpoints store it as text)', () => {
  for (const pending of [false, true]) {
    const rng = new Rng(4);
    if (pending) rng.normal();
    const json = JSON.stringify(rng.getState());
    const expected = [rng.normal(), rng.normal(), rng.uniform()];
    const restored = new Rng(0);
    restored.setState(JSON.parse(json));
    const got = [restored.normal(), restored.normal(), restored.uniform()];
    assert.deepEqual(got, expected, `pending normal: ${pending}`);
    assert.ok(got.every((v) => typeof v === 'number' && Number.isFinite(v)));
  }
});

test('normal() has mean ≈ 0 and variance ≈ 1 over 1e5 samples; uniform() mean ≈ 1/2, variance ≈ 1/12', () => {
  const rng = new Rng(2024);
  const n = 100_000;
  let s = 0;
  let s2 = 0;
  let s4 = 0;
  let within1 = 0;
  for (let i = 0; i < n; i++) {
    const v = rng.normal();
    s += v;
    s2 += v * v;
    s4 += v ** 4;
    if (Math.abs(v) < 1) within1++;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  // Standard errors: mean 1/sqrt(n) ≈ 0.0032, variance sqrt(2/n) ≈ 0.0045; allow ~4σ.
  assert.ok(Math.abs(mean) < 0.013, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.018, `variance ${variance}`);
  assert.ok(Math.abs(s4 / n - 3) < 0.1, `fourth moment ${s4 / n} (3 for a Gaussian)`);
  assert.ok(Math.abs(within1 / n - 0.6827) < 0.006, `P(|x| < 1) = ${within1 / n}`);

  // Both values of each Box-Muller pair are used, and they must be independent: consecutive
  // samples are uncorrelated (standard error 1/sqrt(n) ≈ 0.0032).
  let prev = rng.normal();
  let lag = 0;
  for (let i = 0; i < n; i++) {
    const v = rng.normal();
    lag += prev * v;
    prev = v;
  }
  assert.ok(Math.abs(lag / n) < 0.015, `lag-1 correlation ${lag / n}`);

  let u = 0;
  let u2 = 0;
  for (let i = 0; i < n; i++) {
    const v = rng.uniform();
    u += v;
    u2 += v * v;
  }
  assert.ok(Math.abs(u / n - 0.5) < 0.004, `uniform mean ${u / n}`);
  assert.ok(Math.abs(u2 / n - (u / n) ** 2 - 1 / 12) < 0.002);
});

test('shuffle is an in-place permutation, seeded, and visits every arrangement of 3 evenly', () => {
  const rng = new Rng(5);
  for (const n of [0, 1, 2, 10, 1000]) {
    const a = Uint32Array.from({ length: n }, (_, i) => i);
    const out = rng.shuffle(a);
    assert.equal(out, a, 'shuffles in place and returns its argument');
    assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  }
  const shuffled = (seed: number) => Array.from(new Rng(seed).shuffle(Float64Array.from({ length: 50 }, (_, i) => i)));
  assert.deepEqual(shuffled(1), shuffled(1));
  assert.notDeepEqual(shuffled(1), shuffled(2));
  assert.notDeepEqual(shuffled(1), Array.from({ length: 50 }, (_, i) => i));
  // Fisher-Yates is uniform: each of the 6 orders of [0, 1, 2] comes up ≈ 1/6 of the time.
  const counts = new Map<string, number>();
  const trials = 60_000;
  for (let t = 0; t < trials; t++) {
    const key = Array.from(rng.shuffle(Int32Array.of(0, 1, 2))).join('');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [key, c] of counts) assert.ok(Math.abs(c / trials - 1 / 6) < 0.01, `${key}: ${c / trials}`);
});
