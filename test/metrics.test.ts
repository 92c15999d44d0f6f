import { describe, expect, it } from 'vitest';
import {
  channelStats,
  kmeans1d2,
  kst,
  mseMae,
  rfByDq,
  rMepd,
  seIntervals,
  spectralErrors,
  worstIndices,
} from '../src/ops/metrics.js';
import { spectralError } from '../src/physics/spectrum.js';

describe('spectralErrors', () => {
  it('is 0 for identical spectra and 100 % for p = 0', () => {
    const a = Float32Array.from([0, 0.25, 1, 0.5, 0.125, 0]);
    expect(Array.from(spectralErrors(a, a, 2, 3))).toEqual([0, 0]);
    const zero = new Float32Array(6);
    expect(Array.from(spectralErrors(zero, a, 2, 3))).toEqual([100, 100]);
  });

  it('matches a 3-channel hand example, row by row', () => {
    // row 0: |d| = .5 + 0 + .5 = 1, |p + a| = .5 + 2 + .5 = 3 -> 33.33 %
    // row 1: |d| = .4, |p + a| = 1.6 + .4 = 2 -> 20 %
    // row 2: all zero -> 0 (denominator 0)
    // row 3: p = -1 (negative prediction): |d| = 1.5, |p + a| = .5 -> 300 %
    const p = Float64Array.from([0.5, 1, 0, 1, 0.2, 0, 0, 0, 0, -1, 0, 0]);
    const a = Float64Array.from([0, 1, 0.5, 0.6, 0.2, 0, 0, 0, 0, 0.5, 0, 0]);
    const se = spectralErrors(p, a, 4, 3);
    expect(se[0]).toBeCloseTo(100 / 3, 12);
    expect(se[1]).toBeCloseTo(20, 12);
    expect(se[2]).toBe(0);
    expect(se[3]).toBeCloseTo(300, 12);
    expect(se[0]).toBeCloseTo(spectralError(p.subarray(0, 3), a.subarray(0, 3)), 14);
  });

  it('rejects a shape mismatch', () => {
    expect(() => spectralErrors(new Float32Array(5), new Float32Array(5), 2, 3)).toThrow(RangeError);
    expect(() => spectralErrors(new Float32Array(6), new Float32Array(3), 2, 3)).toThrow(RangeError);
  });
});

describe('seIntervals', () => {
  it('puts edge values in the upper interval and SE > 100 in I7', () => {
    const se = [0, 2.999, 3.0, 3.5, 4.0, 5.0, 5.99, 6.0, 7.0, 9.999, 10.0, 50, 150];
    const r = seIntervals(se);
    expect(r.edges).toEqual([0, 3, 4, 5, 6, 7, 10, Infinity]);
    expect(r.counts).toEqual([2, 2, 1, 2, 1, 2, 3]);
    expect(r.fractions.map((f) => f * 13)).toEqual(r.counts.map((c) => expect.closeTo(c, 12)));
    expect(r.above100).toBe(1);
  });

  it('handles empty input and rejects negative or NaN SE', () => {
    expect(seIntervals([]).counts).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(seIntervals([]).fractions).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(() => seIntervals([1, -0.5])).toThrow(RangeError);
    expect(() => seIntervals([NaN])).toThrow(RangeError);
  });
});

describe('mseMae', () => {
  it('matches a hand calculation', () => {
    // d = [0, 2, -1, 3]: MSE = (0 + 4 + 1 + 9) / 4, MAE = 6 / 4
    const r = mseMae(Float32Array.from([1, 2, 3, 4]), Float64Array.from([1, 0, 4, 1]));
    expect(r.mse).toBe(3.5);
    expect(r.mae).toBe(1.5);
  });

  it('rejects mismatched or empty input', () => {
    expect(() => mseMae([1, 2], [1])).toThrow(RangeError);
    expect(() => mseMae([], [])).toThrow(RangeError);
  });
});

describe('channelStats', () => {
  // 3 spectra x 4 channels.
  const a = Float64Array.from([
    0, 1, 0.5, 0.2,
    0, 0, 0.5, 0.4,
    0, 0.5, 0.5, 0.9,
  ]);
  const p = Float64Array.from([
    0, 0.8, 0.5, 0.4,
    0, 0.2, 0.7, 0.4,
    0, 0.5, 0.2, 0.5,
  ]);
  const s = channelStats(p, a, 3, 4);

  it('SE_c = sum_j |d| / sum_j |p + a| * 100 per channel', () => {
    expect(s.seC[0]).toBe(0); // all zero: denominator 0
    expect(s.seC[1]).toBeCloseTo((100 * 0.4) / 3.0, 12); // d = -.2, .2, 0
    expect(s.seC[2]).toBeCloseTo((100 * 0.5) / 2.9, 12); // d = 0, .2, -.3
    expect(s.seC[3]).toBeCloseTo((100 * 0.6) / 2.8, 12); // d = .2, 0, -.4
  });

  it('returns the literal signed mean and the mean |d|', () => {
    expect(Array.from(s.meanDelta).map((v) => v * 3)).toEqual([0, expect.closeTo(0, 12), expect.closeTo(-0.1, 12), expect.closeTo(-0.2, 12)]);
    expect(s.meanAbsDelta[1]).toBeCloseTo(0.4 / 3, 12);
    expect(s.meanAbsDelta[3]).toBeCloseTo(0.6 / 3, 12);
  });

  it('mu and population sigma of the reference spectra', () => {
    expect(Array.from(s.mu)).toEqual([0, 0.5, 0.5, expect.closeTo(0.5, 12)]);
    expect(s.sigma[0]).toBe(0);
    expect(s.sigma[1]).toBeCloseTo(Math.sqrt(0.5 / 3), 12);
    expect(s.sigma[2]).toBeCloseTo(0, 12);
    expect(s.sigma[3]).toBeCloseTo(Math.sqrt((0.09 + 0.01 + 0.16) / 3), 12);
  });
});

describe('kst', () => {
  it('finds the largest |Delta|, its channel and energy (lowest channel on ties)', () => {
    const energy = Float64Array.from([700, 700.5, 701, 701.5, 702]);
    const p = Float32Array.from([
      0, 0.125, 0.5, 0.25, 0, // d = 0, 0, -.4375, 0, -.125
      0.5, 0, 0, 0, 0.75, // d = .5, 0, 0, 0, .5: tie
      0, 0, 0, 0, 1, // d = .75 at the last channel
    ]);
    const a = Float32Array.from([
      0, 0.125, 0.9375, 0.25, 0.125,
      0, 0, 0, 0, 0.25,
      0, 0, 0, 0, 0.25,
    ]);
    const r = kst(p, a, 3, 5, energy);
    expect(Array.from(r.channel)).toEqual([2, 0, 4]);
    expect(Array.from(r.energy)).toEqual([701, 700, 702]);
    expect(Array.from(r.value)).toEqual([0.4375, 0.5, 0.75]);
    expect(Array.from(r.delta)).toEqual([-0.4375, 0.5, 0.75]);
  });

  it('rejects an energy axis of the wrong length', () => {
    expect(() => kst([0, 0], [0, 0], 1, 2, new Float64Array(3))).toThrow(RangeError);
  });
});

describe('kmeans1d2', () => {
  it('splits two separable groups', () => {
    const r = kmeans1d2([10, 1, 12, 2, 11, 3]);
    expect(r.centres).toEqual([2, 11]);
    expect(Array.from(r.labels)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(r.counts).toEqual([3, 3]);
    expect(r.converged).toBe(true);
  });

  it('converges away from the naive midpoint split', () => {
    // Naive split at (0 + 10) / 2 = 5 puts 5.2 with 10; centres 3 and 7.6 then
    // move the boundary to 5.3, so 5.2 joins the lower group: centres 3.44 and 10.
    const v = [0, 4, 4, 4, 5.2, 10];
    const naive = v.map((x) => (x > 5 ? 1 : 0));
    expect(naive).toEqual([0, 0, 0, 0, 1, 1]);
    const r = kmeans1d2(v);
    expect(Array.from(r.labels)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(r.centres[0]).toBeCloseTo(17.2 / 5, 12);
    expect(r.centres[1]).toBe(10);
    expect(r.counts).toEqual([5, 1]);
    expect(r.iterations).toBe(3);
    expect(r.converged).toBe(true);
  });

  it('handles equal values and rejects empty or non-finite input', () => {
    const r = kmeans1d2([3, 3, 3]);
    expect(r.counts).toEqual([3, 0]);
    expect(r.centres).toEqual([3, 3]);
    expect(() => kmeans1d2([])).toThrow(RangeError);
    expect(() => kmeans1d2([1, NaN])).toThrow(RangeError);
  });
});

describe('rMepd', () => {
  it('is count(lower-energy cluster, L3) / count(higher, L2)', () => {
    expect(rMepd(Float64Array.from([705, 706, 705.5, 720, 721, 704.8, 706.2]))).toBe(2.5);
    expect(rMepd([720, 721, 722, 704])).toBeCloseTo(1 / 3, 14);
    expect(rMepd([710, 710])).toBe(Infinity);
  });
});

describe('rfByDq', () => {
  // C4v-like: bin [-0.1, -0.05) at 47/50 = 94 % (not ok), bin [-0.05, 0] at 48/50 = 96 % (ok).
  const dq: number[] = [];
  const se: number[] = [];
  // far bin: Dq = -0.1 once (lower edge), rest -0.075; failures at 10 (exactly), 12, 50
  for (let k = 0; k < 50; k++) {
    dq.push(k === 0 ? -0.1 : -0.075);
    se.push(k < 47 ? 9.99 : [10, 12, 50][k - 47]!);
  }
  // near bin: Dq = -0.05 (lower edge) and 0 (top of the closed last bin); failures 10 and 30
  for (let k = 0; k < 50; k++) {
    dq.push(k === 0 ? -0.05 : k === 1 ? 0 : -0.025);
    se.push(k < 48 ? 1 : k === 48 ? 10 : 30);
  }

  it('bins by 0.05 eV and applies the 95 % rule', () => {
    const r = rfByDq(se, dq);
    expect(r.bins).toEqual([
      { lo: -0.1, hi: -0.05, count: 50, matches: 47, fraction: 0.94, ok: false },
      { lo: -0.05, hi: 0, count: 50, matches: 48, fraction: 0.96, ok: true },
    ]);
    expect(r.okRuns).toEqual([{ lo: -0.05, hi: 0 }]);
    expect(r.okRange).toEqual({ lo: -0.05, hi: 0 });
    expect(r.allOk).toBe(false);
    expect(r.okFraction).toBeCloseTo(0.5, 12);
  });

  it('treats exactly the level as ok and reports no range when the anchor bin fails', () => {
    // 19/20 = 95 % exactly -> ok; swap the bins' quality so the bin at Dq = 0 fails.
    const d = [...Array<number>(20).fill(-0.07), ...Array<number>(20).fill(-0.02)];
    const s = [...Array<number>(19).fill(1), 11, ...Array<number>(18).fill(1), 11, 11];
    const r = rfByDq(s, d);
    expect(r.bins.map((b) => b.ok)).toEqual([true, false]);
    expect(r.bins[0]!.fraction).toBe(0.95);
    expect(r.okRuns).toEqual([{ lo: -0.1, hi: -0.05 }]);
    expect(r.okRange).toBeNull();
    expect(r.okFraction).toBe(0);
  });

  it('bins an Oh-like set on decimal edges, with empty bins breaking runs', () => {
    const d = [0, 0.02, 0.15, 0.16, 0.2];
    const s = [1, 1, 1, 1, 1];
    const r = rfByDq(s, d);
    expect(r.bins.map((b) => [b.lo, b.hi, b.count])).toEqual([
      [0, 0.05, 2],
      [0.05, 0.1, 0],
      [0.1, 0.15, 0],
      [0.15, 0.2, 3],
    ]);
    expect(r.bins[1]!.fraction).toBeNaN();
    expect(r.okRuns).toEqual([
      { lo: 0, hi: 0.05 },
      { lo: 0.15, hi: 0.2 },
    ]);
    expect(r.okRange).toEqual({ lo: 0, hi: 0.05 });
    expect(rfByDq(s, d, { range: [0, 0.2], binWidth: 0.1 }).bins.map((b) => b.count)).toEqual([2, 3]);
  });

  it('rejects mismatched lengths and Dq outside an explicit range', () => {
    expect(() => rfByDq([1], [0, 0])).toThrow(RangeError);
    expect(() => rfByDq([1], [0.3], { range: [0, 0.2] })).toThrow(RangeError);
  });
});

describe('worstIndices', () => {
  it('returns the k largest SE, descending, NaN first and ties by index', () => {
    const se = Float64Array.from([1, 5, 3, 5, NaN, 0]);
    expect(worstIndices(se, 3)).toEqual([4, 1, 3]);
    expect(worstIndices(se, 0)).toEqual([]);
    expect(worstIndices(se, 10)).toEqual([4, 1, 3, 2, 0, 5]);
    expect(worstIndices([2, 9, 4], 2)).toEqual([1, 2]);
  });
});
