/**
 * Wigner 3j symbols (Racah's formula, integer angular momenta only) and the Gaunt
 * coefficients c^k(l m; l' m') of formulas.md:
 *   c^k(l m; l' m') = (-1)^m sqrt((2l+1)(2l'+1)) (l k l'; 0 0 0) (l k l'; -m (m-m') m').
 */

const FACT: number[] = [1];
for (let i = 1; i <= 40; i++) FACT.push(FACT[i - 1]! * i);

function fact(n: number): number {
  const v = FACT[n];
  if (v === undefined) throw new RangeError(`factorial argument out of range: ${n}`);
  return v;
}

/** Wigner 3j symbol (j1 j2 j3; m1 m2 m3) for integer arguments. */
export function threeJ(j1: number, j2: number, j3: number, m1: number, m2: number, m3: number): number {
  if (m1 + m2 + m3 !== 0) return 0;
  if (j3 < Math.abs(j1 - j2) || j3 > j1 + j2) return 0;
  if (Math.abs(m1) > j1 || Math.abs(m2) > j2 || Math.abs(m3) > j3) return 0;
  const delta =
    (fact(j1 + j2 - j3) * fact(j1 - j2 + j3) * fact(-j1 + j2 + j3)) / fact(j1 + j2 + j3 + 1);
  const pre = Math.sqrt(
    delta *
      fact(j1 + m1) * fact(j1 - m1) * fact(j2 + m2) * fact(j2 - m2) * fact(j3 + m3) * fact(j3 - m3),
  );
  const tMin = Math.max(0, j2 - j3 - m1, j1 - j3 + m2);
  const tMax = Math.min(j1 + j2 - j3, j1 - m1, j2 + m2);
  let sum = 0;
  for (let t = tMin; t <= tMax; t++) {
    const den =
      fact(t) * fact(j3 - j2 + t + m1) * fact(j3 - j1 + t - m2) *
      fact(j1 + j2 - j3 - t) * fact(j1 - t - m1) * fact(j2 - t + m2);
    sum += (t % 2 === 0 ? 1 : -1) / den;
  }
  const phase = (j1 - j2 - m3) % 2 === 0 ? 1 : -1;
  return phase * pre * sum;
}

/** Gaunt coefficient c^k(l m; l' m') with Condon-Shortley phases. */
export function gaunt(k: number, l: number, m: number, lp: number, mp: number): number {
  if ((l + k + lp) % 2 !== 0) return 0;
  if (k < Math.abs(l - lp) || k > l + lp) return 0;
  const phase = m % 2 === 0 ? 1 : -1;
  return (
    phase * Math.sqrt((2 * l + 1) * (2 * lp + 1)) * threeJ(l, k, lp, 0, 0, 0) * threeJ(l, k, lp, -m, m - mp, mp)
  );
}
