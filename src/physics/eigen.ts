// Dense real-symmetric eigensolver: Householder tridiagonalisation + implicit QL with Wilkinson shifts.
//
// Conventions (shared by every function in this file):
// - Matrices are row-major Float64Array of length n*n. Only the LOWER triangle (a[i*n + j], j <= i) of
//   the input is read by `tridiagonalize`; full symmetric storage is what callers are expected to pass.
// - "k vectors, component-major" means an n x k row-major block u with u[i*k + j] = component i of
//   vector j, so a plane rotation or a Householder update touches contiguous rows of length k.
// - Tridiagonal form T: d[i] = T[i][i]; e[i] = T[i][i-1] for i >= 1, e[0] = 0 (sub-diagonal stored
//   "below" its row, as in EISPACK tred2/tql2).
// - A = Q T Q^T, with Q = P_{n-1} ... P_2 P_1 where P_i = I - v_i v_i^T / H_i is the reflection built at
//   step i (i = n-1 down to 1); v_i is supported on components 0..i-1.
// - After `tridiagonalize`, row i of `a` holds v_i in a[i*n + 0 .. i*n + i-1] and H_i in a[i*n + i]
//   (H_i = 0 means "no reflection"); everything else in `a` is garbage.
// - Errors are Error objects with a string `code` property: 'EIGEN_BAD_ARGUMENT', 'EIGEN_NOT_FINITE',
//   'EIGEN_NO_CONVERGENCE'.

const EPS = 2.220446049250313e-16;
const MAX_QL_ITERATIONS = 60;

function eigenError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function checkDim(n: number, fn: string): void {
  if (!Number.isInteger(n) || n < 0) throw eigenError('EIGEN_BAD_ARGUMENT', `${fn}: n must be a non-negative integer, got ${n}`);
}

function checkMatrix(a: Float64Array, n: number, fn: string): void {
  checkDim(n, fn);
  if (a.length < n * n) {
    throw eigenError('EIGEN_BAD_ARGUMENT', `${fn}: matrix has length ${a.length}, need n*n = ${n * n}`);
  }
}

function checkVectors(u: Float64Array, n: number, k: number, fn: string): void {
  if (!Number.isInteger(k) || k < 0) throw eigenError('EIGEN_BAD_ARGUMENT', `${fn}: k must be a non-negative integer, got ${k}`);
  if (u.length < n * k) {
    throw eigenError('EIGEN_BAD_ARGUMENT', `${fn}: vector block has length ${u.length}, need n*k = ${n * k}`);
  }
}

/** Throws EIGEN_NOT_FINITE unless the lower triangle of the n x n matrix is finite. */
function checkFinite(a: Float64Array, n: number, fn: string): void {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let acc = 0;
    // x - x is 0 for finite x and NaN for NaN/Infinity, so one NaN test per row suffices.
    for (let j = 0; j <= i; j++) {
      const x = a[ri + j]!;
      acc += x - x;
    }
    if (acc !== 0) throw eigenError('EIGEN_NOT_FINITE', `${fn}: matrix row ${i} contains a non-finite entry`);
  }
}

/** sqrt(x^2 + y^2) without destructive overflow/underflow. */
function pythag(x: number, y: number): number {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  if (ax > ay) {
    const t = ay / ax;
    return ax * Math.sqrt(1 + t * t);
  }
  if (ay === 0) return 0;
  const t = ax / ay;
  return ay * Math.sqrt(1 + t * t);
}

/**
 * Householder reduction of the symmetric n x n row-major matrix `a` (full storage; only the lower
 * triangle is read) to tridiagonal form, in place: on return `a` holds the Householder vectors needed by
 * applyQt/applyQ (row i: v_i in columns 0..i-1, H_i on the diagonal) and is otherwise garbage.
 * d (length n) = diagonal, e (length n) = sub-diagonal with e[i] = T[i][i-1] and e[0] = 0.
 * Cost 4/3 n^3 flops.
 */
export function tridiagonalize(a: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  checkMatrix(a, n, 'tridiagonalize');
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { d, e };
  const p = new Float64Array(n); // p = A v / H, then q = p - K v

  for (let i = n - 1; i >= 1; i--) {
    const ri = i * n; // row i: x = a[ri .. ri+i-1] is the part of column i above... (lower triangle row i)
    d[i] = a[ri + i]!;
    if (i === 1) {
      e[1] = a[ri]!;
      a[ri + 1] = 0;
      continue;
    }
    // Scale x to avoid under/overflow in the norm.
    let scale = 0;
    for (let c = 0; c < i; c++) scale += Math.abs(a[ri + c]!);
    if (scale === 0) {
      e[i] = 0;
      a[ri + i] = 0;
      continue;
    }
    const inv = 1 / scale;
    let h = 0;
    for (let c = 0; c < i; c++) {
      const x = a[ri + c]! * inv;
      a[ri + c] = x;
      h += x * x;
    }
    const l = i - 1;
    const f = a[ri + l]!;
    const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
    e[i] = scale * g;
    h -= f * g; // H = |v|^2 / 2
    a[ri + l] = f - g; // v = x - g e_l, stored in place of x

    // p = A v over the leading i x i block, using only its lower triangle: row r contributes
    // A[r][c] v[c] to p[r] and A[r][c] v[r] to p[c] for c < r.
    for (let r = 0; r < i; r++) p[r] = 0;
    for (let r = 0; r < i; r++) {
      const rr = r * n;
      const vr = a[ri + r]!;
      let s0 = 0;
      let s1 = 0;
      let c = 0;
      for (; c + 1 < r; c += 2) {
        const a0 = a[rr + c]!;
        const a1 = a[rr + c + 1]!;
        s0 += a0 * a[ri + c]!;
        s1 += a1 * a[ri + c + 1]!;
        p[c] = p[c]! + a0 * vr;
        p[c + 1] = p[c + 1]! + a1 * vr;
      }
      for (; c < r; c++) {
        const a0 = a[rr + c]!;
        s0 += a0 * a[ri + c]!;
        p[c] = p[c]! + a0 * vr;
      }
      p[r] = p[r]! + s0 + s1 + a[rr + r]! * vr;
    }
    const invh = 1 / h;
    let kk = 0;
    for (let r = 0; r < i; r++) {
      const pr = p[r]! * invh;
      p[r] = pr;
      kk += a[ri + r]! * pr;
    }
    kk *= 0.5 * invh;
    for (let r = 0; r < i; r++) p[r] = p[r]! - kk * a[ri + r]!;
    // A -= v q^T + q v^T on the lower triangle of the leading block.
    for (let r = 0; r < i; r++) {
      const rr = r * n;
      const vr = a[ri + r]!;
      const qr = p[r]!;
      for (let c = 0; c <= r; c++) {
        a[rr + c] = a[rr + c]! - (vr * p[c]! + qr * a[ri + c]!);
      }
    }
    a[ri + i] = h;
  }
  d[0] = a[0]!;
  a[0] = 0;
  return { d, e };
}

/** Applies P_i = I - v_i v_i^T / H_i to the n x k component-major block u (w: scratch, length >= k):
 * w = v^T u / H, u -= v w, four rows of u per pass. */
function applyReflection(a: Float64Array, n: number, i: number, u: Float64Array, k: number, w: Float64Array): void {
  const ri = i * n;
  const h = a[ri + i]!;
  if (h === 0) return;
  for (let j = 0; j < k; j++) w[j] = 0;
  let r = 0;
  for (; r + 3 < i; r += 4) {
    const v0 = a[ri + r]!, v1 = a[ri + r + 1]!, v2 = a[ri + r + 2]!, v3 = a[ri + r + 3]!;
    const o0 = r * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let j = 0; j < k; j++) {
      w[j] = w[j]! + v0 * u[o0 + j]! + v1 * u[o1 + j]! + v2 * u[o2 + j]! + v3 * u[o3 + j]!;
    }
  }
  for (; r < i; r++) {
    const v0 = a[ri + r]!;
    const o0 = r * k;
    for (let j = 0; j < k; j++) w[j] = w[j]! + v0 * u[o0 + j]!;
  }
  const invh = 1 / h;
  for (let j = 0; j < k; j++) w[j] = w[j]! * invh;
  r = 0;
  for (; r + 3 < i; r += 4) {
    const v0 = a[ri + r]!, v1 = a[ri + r + 1]!, v2 = a[ri + r + 2]!, v3 = a[ri + r + 3]!;
    const o0 = r * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let j = 0; j < k; j++) {
      const wj = w[j]!;
      u[o0 + j] = u[o0 + j]! - v0 * wj;
      u[o1 + j] = u[o1 + j]! - v1 * wj;
      u[o2 + j] = u[o2 + j]! - v2 * wj;
      u[o3 + j] = u[o3 + j]! - v3 * wj;
    }
  }
  for (; r < i; r++) {
    const v0 = a[ri + r]!;
    const o0 = r * k;
    for (let j = 0; j < k; j++) u[o0 + j] = u[o0 + j]! - v0 * w[j]!;
  }
}

/** u <- Q^T u for k vectors stored component-major: u[i*k + j] is component i of vector j. A = Q T Q^T.
 * `a` must be the output of tridiagonalize. Cost 2 n^2 k flops. */
export function applyQt(a: Float64Array, n: number, u: Float64Array, k: number): void {
  checkMatrix(a, n, 'applyQt');
  checkVectors(u, n, k, 'applyQt');
  if (n < 2 || k === 0) return;
  const w = new Float64Array(k);
  // Q^T = P_1 P_2 ... P_{n-1}: apply P_{n-1} first.
  for (let i = n - 1; i >= 1; i--) applyReflection(a, n, i, u, k, w);
}

/** u <- Q u, same storage. Cost 2 n^2 k flops. */
export function applyQ(a: Float64Array, n: number, u: Float64Array, k: number): void {
  checkMatrix(a, n, 'applyQ');
  checkVectors(u, n, k, 'applyQ');
  if (n < 2 || k === 0) return;
  const w = new Float64Array(k);
  // Q = P_{n-1} ... P_2 P_1: apply P_1 first.
  for (let i = 1; i < n; i++) applyReflection(a, n, i, u, k, w);
}

/**
 * Applies the plane rotations of one QL sweep to the n x k block u, in the order i = hi, hi-1, ..., lo;
 * rotation i acts on rows (i, i+1): row_{i+1} <- s row_i + c row_{i+1}, row_i <- c row_i - s row_{i+1}.
 * Four consecutive rotations are fused so each element of the five rows involved is loaded and stored once.
 */
function applyRotations(u: Float64Array, k: number, cs: Float64Array, ss: Float64Array, hi: number, lo: number): void {
  let i = hi;
  for (; i - 3 >= lo; i -= 4) {
    const c0 = cs[i]!, s0 = ss[i]!;
    const c1 = cs[i - 1]!, s1 = ss[i - 1]!;
    const c2 = cs[i - 2]!, s2 = ss[i - 2]!;
    const c3 = cs[i - 3]!, s3 = ss[i - 3]!;
    const o4 = (i + 1) * k;
    const o3 = o4 - k;
    const o2 = o3 - k;
    const o1 = o2 - k;
    const o0 = o1 - k;
    for (let j = 0; j < k; j++) {
      const x4 = u[o4 + j]!;
      let x3 = u[o3 + j]!;
      u[o4 + j] = s0 * x3 + c0 * x4;
      x3 = c0 * x3 - s0 * x4;
      let x2 = u[o2 + j]!;
      u[o3 + j] = s1 * x2 + c1 * x3;
      x2 = c1 * x2 - s1 * x3;
      let x1 = u[o1 + j]!;
      u[o2 + j] = s2 * x1 + c2 * x2;
      x1 = c2 * x1 - s2 * x2;
      const x0 = u[o0 + j]!;
      u[o1 + j] = s3 * x0 + c3 * x1;
      u[o0 + j] = c3 * x0 - s3 * x1;
    }
  }
  for (; i >= lo; i--) {
    const c = cs[i]!, s = ss[i]!;
    const oi = i * k;
    const oi1 = oi + k;
    for (let j = 0; j < k; j++) {
      const x = u[oi + j]!;
      const y = u[oi1 + j]!;
      u[oi1 + j] = s * x + c * y;
      u[oi + j] = c * x - s * y;
    }
  }
}

/**
 * Implicit QL on the tridiagonal (d, e) in place (e as produced by tridiagonalize: e[i] = T[i][i-1],
 * e[0] ignored; e is destroyed): d becomes the eigenvalues (in no particular order). If u is given
 * (n x k component-major as above), every plane rotation is applied so that on return
 * u[f*k + j] = z_f . u_j, where z_f is the tridiagonal matrix's eigenvector for d[f]. Deflation uses
 * |e| <= eps * ||T||_inf (the accuracy the Householder reduction delivers anyway).
 * Throws an Error with code 'EIGEN_NO_CONVERGENCE' if more than 60 iterations for one eigenvalue,
 * 'EIGEN_NOT_FINITE' if d or e contains NaN or Infinity.
 */
export function tql(d: Float64Array, e: Float64Array, u: Float64Array | null, k: number): void {
  const n = d.length;
  if (e.length < n) throw eigenError('EIGEN_BAD_ARGUMENT', `tql: e has length ${e.length}, need ${n}`);
  if (u !== null) checkVectors(u, n, k, 'tql');
  if (n === 0) return;
  // Renumber so that e[i] couples i and i+1; e[n-1] = 0.
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let tnorm = 0;
  for (let i = 0; i < n; i++) {
    const t = Math.abs(d[i]!) + Math.abs(e[i]!) + (i > 0 ? Math.abs(e[i - 1]!) : 0);
    if (!(t <= Number.MAX_VALUE)) throw eigenError('EIGEN_NOT_FINITE', `tql: non-finite entry at index ${i}`);
    if (t > tnorm) tnorm = t;
  }
  if (tnorm === 0) return;
  const tol = TOLF * EPS * tnorm;
  const rot = u !== null && k > 0 ? u : null;
  let shifts: Float64Array | null = null;
  if (rot !== null && PERFECT) {
    shifts = d.slice();
    qlIterate(shifts, e.slice(), null, 0, tol, null, null);
    shifts.sort();
  }
  qlIterate(d, e, rot, k, tol, shifts, shifts === null ? null : new Uint8Array(n));
}
export let PERFECT = true; export let TOLF = 1; export function setTol(x: number): void { TOLF = x; }
export function setPerfect(x: boolean): void { PERFECT = x; }
export const STATS = { iters: 0, fails: 0 };

/** Nearest entry of the sorted `pool` to x among those not flagged in `used`; -1 if none. */
function nearestUnused(pool: Float64Array, used: Uint8Array, x: number): number {
  const n = pool.length;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pool[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  let a = lo - 1;
  let b = lo;
  while (a >= 0 && used[a] !== 0) a--;
  while (b < n && used[b] !== 0) b++;
  if (a < 0) return b < n ? b : -1;
  if (b >= n) return a;
  return x - pool[a]! <= pool[b]! - x ? a : b;
}

function qlIterate(
  d: Float64Array,
  e: Float64Array,
  rot: Float64Array | null,
  k: number,
  tol: number,
  shifts: Float64Array | null,
  used: Uint8Array | null,
): void {
  const n = d.length;
  const cs = new Float64Array(n); // rotations of the current sweep, plane (i, i+1)
  const ss = new Float64Array(n);

  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      while (m < n - 1 && Math.abs(e[m]!) > tol) m++;
      if (m === l) break;
      if (++iter > MAX_QL_ITERATIONS) {
        throw eigenError(
          'EIGEN_NO_CONVERGENCE',
          `tql: no convergence for eigenvalue ${l} after ${MAX_QL_ITERATIONS} iterations (n = ${n})`,
        );
      }
      STATS.iters++;
      // Wilkinson shift: eigenvalue of the leading 2x2 block of the unreduced block l..m closer to d[l].
      const el = e[l]!;
      let g = (d[l + 1]! - d[l]!) / (2 * el);
      let r = pythag(g, 1);
      let sigma = d[l]! - el / (g + (g >= 0 ? r : -r));
      if (shifts !== null && used !== null && iter === 1) {
        const j = nearestUnused(shifts, used, sigma);
        if (j >= 0) sigma = shifts[j]!;
      }
      g = d[m]! - sigma;
      let s = 1;
      let c = 1;
      let p = 0;
      let underflow = false;
      let iLast = m;
      // Chase the bulge from the bottom of the block up with Givens rotations in planes (i, i+1).
      for (let i = m - 1; i >= l; i--) {
        const ei = e[i]!;
        const f = s * ei;
        const b = c * ei;
        r = pythag(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the block splits at i+1; undo the pending shift and restart.
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        cs[i] = c;
        ss[i] = s;
        iLast = i;
      }
      if (rot !== null && iLast <= m - 1) applyRotations(rot, k, cs, ss, m - 1, iLast);
      if (underflow) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
      if (iter === 1 && shifts !== null && Math.abs(g) > tol) { STATS.fails++; (STATS as any).r ??= []; (STATS as any).r.push(Math.abs(g) / tol); }
    }
    if (shifts !== null && used !== null) {
      const j = nearestUnused(shifts, used, d[l]!);
      if (j >= 0) used[j] = 1;
    }
  }
}

/** Index permutation sorting d ascending (stable). */
function ascendingOrder(d: Float64Array): Int32Array {
  const n = d.length;
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((x, y) => d[x]! - d[y]! || x - y);
  return Int32Array.from(idx);
}

/** Q^T formed explicitly (n x n row-major) from the reflections stored in `a`: Q^T = P_1 P_2 ... P_{n-1},
 * built as M <- M P_j = M - (M v)(v^T / H) for j = 1..n-1. Before step j, M = diag(M', I) with M' of size
 * j-1, so only the leading j x j block is touched (4/3 n^3 flops in total). Four rows per pass. */
function formQt(a: Float64Array, n: number, z: Float64Array): void {
  z.fill(0);
  for (let i = 0; i < n; i++) z[i * n + i] = 1;
  for (let j = 1; j < n; j++) {
    const rj = j * n;
    const h = a[rj + j]!;
    if (h === 0) continue;
    const invh = 1 / h;
    let r = 0;
    for (; r + 3 < j; r += 4) {
      const o0 = r * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      let t0 = 0, t1 = 0, t2 = 0, t3 = 0;
      for (let c = 0; c < j; c++) {
        const vc = a[rj + c]!;
        t0 += z[o0 + c]! * vc;
        t1 += z[o1 + c]! * vc;
        t2 += z[o2 + c]! * vc;
        t3 += z[o3 + c]! * vc;
      }
      t0 *= invh;
      t1 *= invh;
      t2 *= invh;
      t3 *= invh;
      for (let c = 0; c < j; c++) {
        const vc = a[rj + c]!;
        z[o0 + c] = z[o0 + c]! - t0 * vc;
        z[o1 + c] = z[o1 + c]! - t1 * vc;
        z[o2 + c] = z[o2 + c]! - t2 * vc;
        z[o3 + c] = z[o3 + c]! - t3 * vc;
      }
    }
    for (; r < j; r++) {
      const o0 = r * n;
      let t0 = 0;
      for (let c = 0; c < j; c++) t0 += z[o0 + c]! * a[rj + c]!;
      t0 *= invh;
      for (let c = 0; c < j; c++) z[o0 + c] = z[o0 + c]! - t0 * a[rj + c]!;
    }
  }
}

/** Full decomposition: values ascending; vectors row-major n x n with column f the eigenvector of
 * values[f] (vectors[i*n + f]). Does not modify `a` (copy it). */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  checkMatrix(a, n, 'symmetricEigen');
  checkFinite(a, n, 'symmetricEigen');
  const w = a.slice(0, n * n);
  const { d, e } = tridiagonalize(w, n);
  // z = Q^T; after tql, z[f*n + j] = z_f . (Q^T e_j) = (Q z_f)_j = component j of eigenvector f.
  const z = new Float64Array(n * n);
  formQt(w, n, z);
  tql(d, e, z, n);
  const order = ascendingOrder(d);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let f = 0; f < n; f++) {
    const src = order[f]!;
    values[f] = d[src]!;
    const zr = src * n;
    for (let i = 0; i < n; i++) vectors[i * n + f] = z[zr + i]!;
  }
  return { values, vectors };
}

/**
 * Eigenvalues and projections without forming eigenvectors: for the k vectors vs (n x k component-major),
 * returns values ASCENDING and proj (n x k) with proj[f*k + j] = <eigvec f | v_j> (eigenvector of
 * values[f]; the sign of each eigenvector is arbitrary, so only proj^2 summed over a degenerate cluster
 * is basis-independent). Cost 4/3 n^3 + O(n^2 k). Does not modify `a` or `vs`.
 */
export function eigenProject(
  a: Float64Array,
  n: number,
  vs: Float64Array,
  k: number,
): { values: Float64Array; proj: Float64Array } {
  checkMatrix(a, n, 'eigenProject');
  checkVectors(vs, n, k, 'eigenProject');
  checkFinite(a, n, 'eigenProject');
  const w = a.slice(0, n * n);
  const { d, e } = tridiagonalize(w, n);
  const u = vs.slice(0, n * k);
  applyQt(w, n, u, k); // u = Q^T v, then tql makes u[f] = z_f . Q^T v = (Q z_f) . v
  tql(d, e, u, k);
  const order = ascendingOrder(d);
  const values = new Float64Array(n);
  const proj = new Float64Array(n * k);
  for (let f = 0; f < n; f++) {
    const src = order[f]!;
    values[f] = d[src]!;
    proj.set(u.subarray(src * k, src * k + k), f * k);
  }
  return { values, proj };
}
