import { describe, expect, it } from 'vitest';
import { applyQ, applyQt, eigenProject, symmetricEigen, tql, tridiagonalize } from '../src/physics/eigen.js';
import { mulberry32 } from '../src/physics/random.js';

// ---------- helpers ----------


function randomSymmetric(n: number, seed: number): Float64Array {
  const rnd = mulberry32(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = 2 * rnd() - 1;
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  return a;
}

function randomBlock(n: number, k: number, seed: number): Float64Array {
  const rnd = mulberry32(seed);
  const u = new Float64Array(n * k);
  for (let i = 0; i < u.length; i++) u[i] = 2 * rnd() - 1;
  return u;
}

/** Random orthogonal n x n matrix (row-major) as a product of n random Householder reflections. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const rnd = mulberry32(seed);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const v = new Float64Array(n);
  for (let step = 0; step < n; step++) {
    let vv = 0;
    for (let i = 0; i < n; i++) {
      v[i] = 2 * rnd() - 1;
      vv += v[i]! * v[i]!;
    }
    // q <- (I - 2 v v^T / v.v) q
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += v[i]! * q[i * n + j]!;
      s *= 2 / vv;
      for (let i = 0; i < n; i++) q[i * n + j] = q[i * n + j]! - s * v[i]!;
    }
  }
  return q;
}

/** Q diag(lambda) Q^T. */
function withSpectrum(q: Float64Array, lambda: number[]): Float64Array {
  const n = lambda.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let f = 0; f < n; f++) s += q[i * n + f]! * lambda[f]! * q[j * n + f]!;
      a[i * n + j] = s;
    }
  }
  return a;
}

/** ||a||_F, scaled so that it neither overflows nor underflows. */
function frobenius(a: Float64Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  if (m === 0) return 0;
  let s = 0;
  for (const x of a) s += (x / m) ** 2;
  return m * Math.sqrt(s);
}

/** max_f max_i |(A v_f - lambda_f v_f)_i| */
function maxResidual(a: Float64Array, n: number, values: Float64Array, vectors: Float64Array): number {
  let worst = 0;
  for (let f = 0; f < n; f++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * vectors[j * n + f]!;
      worst = Math.max(worst, Math.abs(s - values[f]! * vectors[i * n + f]!));
    }
  }
  return worst;
}

/** max |V^T V - I| */
function maxOrthogonalityError(vectors: Float64Array, n: number): number {
  let worst = 0;
  for (let f = 0; f < n; f++) {
    for (let g = 0; g < n; g++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += vectors[i * n + f]! * vectors[i * n + g]!;
      worst = Math.max(worst, Math.abs(s - (f === g ? 1 : 0)));
    }
  }
  return worst;
}

function expectAscending(values: Float64Array): void {
  for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
}

function expectValuesClose(got: Float64Array, want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  const sorted = [...want].sort((x, y) => x - y);
  for (let i = 0; i < sorted.length; i++) expect(Math.abs(got[i]! - sorted[i]!)).toBeLessThan(tol);
}

/** Full check of symmetricEigen on `a`: ascending, residual, orthogonality. Returns the result. */
function checkDecomposition(a: Float64Array, n: number, residualTol = 1e-10, orthTol = 1e-12) {
  const copy = a.slice();
  const res = symmetricEigen(a, n);
  expect(Array.from(a)).toEqual(Array.from(copy)); // input untouched
  expect(res.values.length).toBe(n);
  expect(res.vectors.length).toBe(n * n);
  expectAscending(res.values);
  expect(maxResidual(a, n, res.values, res.vectors)).toBeLessThanOrEqual(residualTol * frobenius(a));
  expect(maxOrthogonalityError(res.vectors, n)).toBeLessThan(orthTol * Math.max(n, 1));
  return res;
}

// ---------- (1) analytic cases ----------

describe('symmetricEigen: analytic cases', () => {
  it('n = 0 and n = 1', () => {
    const r0 = symmetricEigen(new Float64Array(0), 0);
    expect(r0.values.length).toBe(0);
    expect(r0.vectors.length).toBe(0);
    const r1 = symmetricEigen(Float64Array.of(-3.5), 1);
    expect(Array.from(r1.values)).toEqual([-3.5]);
    expect(Array.from(r1.vectors)).toEqual([1]);
    const p1 = eigenProject(Float64Array.of(2), 1, Float64Array.of(3, -4), 2);
    expect(Array.from(p1.values)).toEqual([2]);
    expect(Array.from(p1.proj)).toEqual([3, -4]);
    const p0 = eigenProject(new Float64Array(0), 0, new Float64Array(0), 5);
    expect(p0.values.length).toBe(0);
    expect(p0.proj.length).toBe(0);
  });

  it('2 x 2 matrices: closed-form eigenvalues and eigenvectors (1e-14)', () => {
    const cases: [number, number, number][] = [
      [2, 1, 2],
      [1, 0, -1],
      [0, 1e-8, 0],
      [5, -3, 1],
      [1e3, 1e-3, 1e3 + 1e-6],
    ];
    for (const [p, q, r] of cases) {
      const a = Float64Array.of(p, q, q, r);
      const res = checkDecomposition(a, 2);
      const mean = (p + r) / 2;
      const rad = Math.hypot((p - r) / 2, q);
      const scale = Math.abs(mean) + rad;
      expect(Math.abs(res.values[0]! - (mean - rad))).toBeLessThan(1e-14 * scale);
      expect(Math.abs(res.values[1]! - (mean + rad))).toBeLessThan(1e-14 * scale);
    }
  });

  it('diagonal matrices: eigenvalues are the sorted diagonal, eigenvectors unit vectors (exact)', () => {
    const diag = [3, -1, 7, 0, -1, 2.5, 1e-300, -4e5];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((x, i) => (a[i * n + i] = x));
    const res = checkDecomposition(a, n);
    expect(Array.from(res.values)).toEqual([...diag].sort((x, y) => x - y));
    for (let f = 0; f < n; f++) {
      // column f has a single +-1 at a position whose diagonal entry is values[f]
      let count = 0;
      for (let i = 0; i < n; i++) {
        const x = res.vectors[i * n + f]!;
        if (x !== 0) {
          count++;
          expect(Math.abs(x)).toBe(1);
          expect(diag[i]).toBe(res.values[f]);
        }
      }
      expect(count).toBe(1);
    }
  });

  it('tridiag(-1, 2, -1): eigenvalues 2 - 2 cos(k pi / (n+1)) to 1e-13, eigenvectors sin(i k pi/(n+1))', () => {
    for (const n of [3, 10, 64, 150]) {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        a[i * n + i] = 2;
        if (i > 0) {
          a[i * n + i - 1] = -1;
          a[(i - 1) * n + i] = -1;
        }
      }
      const res = checkDecomposition(a, n);
      for (let k = 1; k <= n; k++) {
        const exact = 2 - 2 * Math.cos((k * Math.PI) / (n + 1));
        expect(Math.abs(res.values[k - 1]! - exact)).toBeLessThan(1e-13);
        // eigenvector, up to sign: sqrt(2/(n+1)) sin(i k pi/(n+1)), i = 1..n
        const c = Math.sqrt(2 / (n + 1));
        let dot = 0;
        for (let i = 0; i < n; i++) dot += res.vectors[i * n + k - 1]! * c * Math.sin(((i + 1) * k * Math.PI) / (n + 1));
        expect(Math.abs(Math.abs(dot) - 1)).toBeLessThan(1e-10);
      }
      // trace identity
      let sum = 0;
      for (const x of res.values) sum += x;
      expect(Math.abs(sum - 2 * n)).toBeLessThan(1e-12 * n);
    }
  });

  it('heavily degenerate spectrum Q diag(1,1,1,2,2,3) Q^T and a 40 x 40 one with multiplicities 20/15/5', () => {
    const spec6 = [1, 1, 1, 2, 2, 3];
    const a6 = withSpectrum(randomOrthogonal(6, 11), spec6);
    const r6 = checkDecomposition(a6, 6);
    expectValuesClose(r6.values, spec6, 1e-14 * 6);

    const spec40 = [...Array(20).fill(-1.5), ...Array(15).fill(0.25), ...Array(5).fill(4)] as number[];
    const a40 = withSpectrum(randomOrthogonal(40, 12), spec40);
    const r40 = checkDecomposition(a40, 40);
    expectValuesClose(r40.values, spec40, 1e-13 * 40);
  });

  it('all-ones matrix: eigenvalues {0 (n-1 times), n}; top eigenvector is (1,...,1)/sqrt(n)', () => {
    for (const n of [1, 2, 7, 33]) {
      const a = new Float64Array(n * n).fill(1);
      const res = checkDecomposition(a, n);
      const want = [...(Array(n - 1).fill(0) as number[]), n];
      expectValuesClose(res.values, want, 1e-13 * n);
      for (let i = 0; i < n; i++) expect(Math.abs(Math.abs(res.vectors[i * n + n - 1]!) - 1 / Math.sqrt(n))).toBeLessThan(1e-13);
    }
  });

  it('Wilkinson W+ matrices (n = 21, 41): near-degenerate pairs, residual and orthogonality', () => {
    for (const n of [21, 41]) {
      const h = (n - 1) / 2;
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        a[i * n + i] = Math.abs(h - i);
        if (i > 0) {
          a[i * n + i - 1] = 1;
          a[(i - 1) * n + i] = 1;
        }
      }
      const res = checkDecomposition(a, n);
      // the two largest eigenvalues agree to many digits (W21+: 10.746194182903...) but have orthogonal vectors
      expect(res.values[n - 1]! - res.values[n - 2]!).toBeLessThan(1e-12);
      if (n === 21) expect(Math.abs(res.values[20]! - 10.746194182903393)).toBeLessThan(1e-12);
    }
  });

  it('block-diagonal matrix under a random permutation (tridiagonal form splits), n = 90', () => {
    const n = 90;
    const sizes = [40, 1, 30, 19];
    const rnd = mulberry32(4242);
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const a = new Float64Array(n * n);
    let off = 0;
    sizes.forEach((m, b) => {
      const blk = randomSymmetric(m, 300 + b);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) a[perm[off + i]! * n + perm[off + j]!] = blk[i * m + j]!;
      }
      off += m;
    });
    const res = checkDecomposition(a, n);
    // spectrum = union of the block spectra
    const want: number[] = [];
    sizes.forEach((m, b) => want.push(...symmetricEigen(randomSymmetric(m, 300 + b), m).values));
    expectValuesClose(res.values, want, 1e-13 * n);
  });

  it('zero matrix and a matrix with huge/tiny scale', () => {
    const z = checkDecomposition(new Float64Array(25), 5);
    expect(Array.from(z.values)).toEqual([0, 0, 0, 0, 0]);
    for (const scale of [1e-200, 1e200]) {
      const base = randomSymmetric(12, 99);
      const ref = symmetricEigen(base, 12).values;
      const scaled = base.map((x) => x * scale);
      const res = checkDecomposition(scaled, 12);
      for (let i = 0; i < 12; i++) expect(Math.abs(res.values[i]! / scale - ref[i]!)).toBeLessThan(1e-13 * 12);
    }
  });
});

// ---------- (2) random symmetric matrices ----------

describe('symmetricEigen: random symmetric matrices', () => {
  for (const n of [1, 2, 5, 50, 200]) {
    it(`n = ${n}: residual < 1e-10 ||A||, |V^T V - I| < 1e-12 n, trace and sum of squares to 1e-12`, () => {
      const a = randomSymmetric(n, 1234 + n);
      const res = checkDecomposition(a, n);
      let trace = 0;
      for (let i = 0; i < n; i++) trace += a[i * n + i]!;
      let sum = 0;
      let sumSq = 0;
      for (const x of res.values) {
        sum += x;
        sumSq += x * x;
      }
      const fro2 = frobenius(a) ** 2;
      // trace relative to ||A||_F (the trace itself can be ~0 by cancellation)
      expect(Math.abs(sum - trace)).toBeLessThan(1e-12 * Math.max(Math.abs(trace), Math.sqrt(fro2)));
      expect(Math.abs(sumSq - fro2)).toBeLessThan(1e-12 * fro2);
    });
  }
});

// ---------- (3) eigenProject vs symmetricEigen ----------

describe('eigenProject', () => {
  const cases: { name: string; n: number; make: () => Float64Array }[] = [
    { name: 'random n = 50', n: 50, make: () => randomSymmetric(50, 7) },
    { name: 'random n = 200', n: 200, make: () => randomSymmetric(200, 8) },
    {
      name: 'degenerate n = 30 (multiplicities 10/10/6/4)',
      n: 30,
      make: () =>
        withSpectrum(randomOrthogonal(30, 9), [
          ...(Array(10).fill(0.5) as number[]),
          ...(Array(10).fill(-2) as number[]),
          ...(Array(6).fill(3) as number[]),
          ...(Array(4).fill(3.5) as number[]),
        ]),
    },
  ];
  for (const { name, n, make } of cases) for (const k of [7, 40]) {
    it(`${name}, k = ${k}: cluster sums of proj^2 match V^T v to 1e-10; sum_f proj^2 = |v|^2`, () => {
      const a = make();
      const vs = randomBlock(n, k, 555 + n);
      const aCopy = a.slice();
      const vsCopy = vs.slice();
      const { values, proj } = eigenProject(a, n, vs, k);
      expect(Array.from(a)).toEqual(Array.from(aCopy));
      expect(Array.from(vs)).toEqual(Array.from(vsCopy));
      expectAscending(values);
      const full = symmetricEigen(a, n);
      for (let f = 0; f < n; f++) expect(Math.abs(values[f]! - full.values[f]!)).toBeLessThan(1e-12 * frobenius(a));

      // reference projections (V^T v)[f][j]
      const ref = new Float64Array(n * k);
      for (let f = 0; f < n; f++) {
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += full.vectors[i * n + f]! * vs[i * k + j]!;
          ref[f * k + j] = s;
        }
      }
      // clusters of eigenvalues within 1e-9 (consecutive in ascending order)
      let clusters = 0;
      for (let start = 0; start < n; ) {
        let end = start + 1;
        while (end < n && full.values[end]! - full.values[end - 1]! <= 1e-9) end++;
        clusters++;
        for (let j = 0; j < k; j++) {
          let got = 0;
          let want = 0;
          for (let f = start; f < end; f++) {
            got += proj[f * k + j]! ** 2;
            want += ref[f * k + j]! ** 2;
          }
          expect(Math.abs(got - want)).toBeLessThan(1e-10);
        }
        start = end;
      }
      if (name.startsWith('degenerate')) expect(clusters).toBe(4);
      for (let j = 0; j < k; j++) {
        let total = 0;
        let norm2 = 0;
        for (let f = 0; f < n; f++) total += proj[f * k + j]! ** 2;
        for (let i = 0; i < n; i++) norm2 += vs[i * k + j]! ** 2;
        expect(Math.abs(total - norm2)).toBeLessThan(1e-12 * norm2 * n);
      }
    });
  }
});

// ---------- (4) tridiagonalize / applyQ / applyQt / tql building blocks ----------

describe('building blocks', () => {
  it('applyQ(applyQt(u)) = u and applyQt(applyQ(u)) = u to 1e-13', () => {
    for (const n of [1, 2, 3, 17, 120]) {
      const w = randomSymmetric(n, 31 + n);
      tridiagonalize(w, n);
      const k = 5;
      const u0 = randomBlock(n, k, 77 + n);
      const u = u0.slice();
      applyQt(w, n, u, k);
      if (n > 2) {
        // it is a non-trivial transformation
        let moved = 0;
        for (let i = 0; i < u.length; i++) moved = Math.max(moved, Math.abs(u[i]! - u0[i]!));
        expect(moved).toBeGreaterThan(1e-3);
      }
      applyQ(w, n, u, k);
      for (let i = 0; i < u.length; i++) expect(Math.abs(u[i]! - u0[i]!)).toBeLessThan(1e-13 * n);
      applyQ(w, n, u, k);
      applyQt(w, n, u, k);
      for (let i = 0; i < u.length; i++) expect(Math.abs(u[i]! - u0[i]!)).toBeLessThan(1e-13 * n);
    }
  });

  it('Q T Q^T reproduces A (1e-13 ||A||), Q orthogonal, e[0] = 0', () => {
    for (const n of [2, 3, 4, 40]) {
      const a = randomSymmetric(n, 500 + n);
      const w = a.slice();
      const { d, e } = tridiagonalize(w, n);
      expect(e[0]).toBe(0);
      // Q = Q I (component-major block with k = n: column j of the block is Q e_j)
      const q = new Float64Array(n * n);
      for (let i = 0; i < n; i++) q[i * n + i] = 1;
      applyQ(w, n, q, n);
      expect(maxOrthogonalityError(q, n)).toBeLessThan(1e-13 * n);
      const norm = frobenius(a);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          // (Q T Q^T)_ij = sum_r Q_ir (T Q^T)_rj, T tridiagonal with T[r][r-1] = e[r]
          let s = 0;
          for (let r = 0; r < n; r++) {
            let tq = d[r]! * q[j * n + r]!;
            if (r > 0) tq += e[r]! * q[j * n + r - 1]!;
            if (r + 1 < n) tq += e[r + 1]! * q[j * n + r + 1]!;
            s += q[i * n + r]! * tq;
          }
          expect(Math.abs(s - a[i * n + j]!)).toBeLessThan(1e-13 * norm);
        }
      }
    }
  });

  it('tql on a given tridiagonal: eigenvalues and rotated block u[f] = z_f . u', () => {
    // T = tridiag(1, 0, 1) of size n: eigenvalues 2 cos(k pi/(n+1)); with u = I, u becomes Z^T.
    const n = 12;
    const d = new Float64Array(n);
    const e = new Float64Array(n);
    for (let i = 1; i < n; i++) e[i] = 1;
    const u = new Float64Array(n * n);
    for (let i = 0; i < n; i++) u[i * n + i] = 1;
    tql(d, e, u, n);
    const got = Array.from(d).sort((x, y) => x - y);
    const want = Array.from({ length: n }, (_, k) => 2 * Math.cos(((k + 1) * Math.PI) / (n + 1))).sort((x, y) => x - y);
    for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-14 * n);
    // row f of u is an eigenvector of T for d[f]
    for (let f = 0; f < n; f++) {
      for (let i = 0; i < n; i++) {
        let tz = 0;
        if (i > 0) tz += u[f * n + i - 1]!;
        if (i + 1 < n) tz += u[f * n + i + 1]!;
        expect(Math.abs(tz - d[f]! * u[f * n + i]!)).toBeLessThan(1e-13 * n);
      }
    }
  });

  it('tql with k = 40 vectors (perfect-shift path) and k = 3: u[f] = z_f . u against analytic z_f', () => {
    // T = tridiag(1, 0, 1), n = 25: d = 2 cos(m pi/(n+1)), z_m[i] = sqrt(2/(n+1)) sin((i+1) m pi/(n+1)).
    const n = 25;
    for (const k of [3, 40]) {
      const d = new Float64Array(n);
      const e = new Float64Array(n);
      for (let i = 1; i < n; i++) e[i] = 1;
      const u0 = randomBlock(n, k, 4000 + k);
      const u = u0.slice();
      tql(d, e, u, k);
      const seen = new Set<number>();
      for (let f = 0; f < n; f++) {
        const m = Math.round((Math.acos(Math.max(-1, Math.min(1, d[f]! / 2))) * (n + 1)) / Math.PI);
        expect(Math.abs(d[f]! - 2 * Math.cos((m * Math.PI) / (n + 1)))).toBeLessThan(1e-14 * n);
        seen.add(m);
        const z = Array.from({ length: n }, (_, i) => Math.sqrt(2 / (n + 1)) * Math.sin(((i + 1) * m * Math.PI) / (n + 1)));
        let sign = 0;
        for (let j = 0; j < k; j++) {
          let want = 0;
          for (let i = 0; i < n; i++) want += z[i]! * u0[i * k + j]!;
          if (sign === 0 && Math.abs(want) > 0.1) sign = Math.sign(u[f * k + j]! * want);
          expect(Math.abs(Math.abs(u[f * k + j]!) - Math.abs(want))).toBeLessThan(1e-12 * n);
          if (sign !== 0) expect(Math.abs(u[f * k + j]! - sign * want)).toBeLessThan(1e-12 * n);
        }
        expect(sign).not.toBe(0);
      }
      expect(seen.size).toBe(n); // every eigenvalue found exactly once
    }
  });

  it('errors carry codes', () => {
    const bad = Float64Array.of(1, NaN, NaN, 1);
    expect(() => symmetricEigen(bad, 2)).toThrow(expect.objectContaining({ code: 'EIGEN_NOT_FINITE' }));
    expect(() => eigenProject(bad, 2, new Float64Array(2), 1)).toThrow(
      expect.objectContaining({ code: 'EIGEN_NOT_FINITE' }),
    );
    expect(() => tql(Float64Array.of(1, Infinity), Float64Array.of(0, 1), null, 0)).toThrow(
      expect.objectContaining({ code: 'EIGEN_NOT_FINITE' }),
    );
    expect(() => symmetricEigen(new Float64Array(3), 2)).toThrow(expect.objectContaining({ code: 'EIGEN_BAD_ARGUMENT' }));
  });
});
