// Dense real-symmetric eigensolver: Householder tridiagonalisation + implicit QL with Wilkinson shifts
// (plus precomputed "perfect" shifts when many vectors are carried). Plain TypeScript on Float64Array.
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
/** Normwise deflation threshold, in units of eps ||T||_inf. */
const DEFLATION_FACTOR = 8;
/** Minimum number of vectors carried through tql for the perfect-shift pre-pass to pay off. */
const PERFECT_SHIFT_MIN_K = 32;

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
 * Builds the reflection P_i that annihilates row i left of the sub-diagonal (columns 0..i-2), from the
 * current (final) row i. Sets d[i], e[i]; overwrites a[i*n + 0..i-1] with v_i (scaled by 1/sum|x|, which
 * leaves v v^T / H unchanged) and a[i*n + i] with H_i = |v_i|^2 / 2. Returns H_i (0: no reflection).
 */
function householder(a: Float64Array, n: number, i: number, d: Float64Array, e: Float64Array): number {
  const ri = i * n;
  d[i] = a[ri + i]!;
  if (i === 1) {
    e[1] = a[ri]!;
    a[ri + 1] = 0;
    return 0;
  }
  let scale = 0;
  for (let c = 0; c < i; c++) scale += Math.abs(a[ri + c]!);
  if (scale === 0) {
    e[i] = 0;
    a[ri + i] = 0;
    return 0;
  }
  const inv = 1 / scale;
  let h = 0;
  for (let c = 0; c < i; c++) {
    const x = a[ri + c]! * inv;
    a[ri + c] = x;
    h += x * x;
  }
  const f = a[ri + i - 1]!;
  const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
  e[i] = scale * g;
  h -= f * g;
  a[ri + i - 1] = f - g; // v = x - g e_{i-1}
  a[ri + i] = h;
  return h;
}

/** p[0..i-1] = B v with B the leading i x i block of `a` (lower triangle only) and v = a[i*n + 0..i-1]. */
function symv(a: Float64Array, n: number, i: number, p: Float64Array): void {
  const ri = i * n;
  for (let r = 0; r < i; r++) p[r] = 0;
  for (let r = 0; r < i; r++) {
    const rr = r * n;
    const vr = a[ri + r]!;
    let s0 = 0;
    let s1 = 0;
    let c = 0;
    for (; c + 1 < r; c += 2) {
      const x0 = a[rr + c]!;
      const x1 = a[rr + c + 1]!;
      s0 += x0 * a[ri + c]!;
      s1 += x1 * a[ri + c + 1]!;
      p[c] = p[c]! + x0 * vr;
      p[c + 1] = p[c + 1]! + x1 * vr;
    }
    if (c < r) {
      const x0 = a[rr + c]!;
      s0 += x0 * a[ri + c]!;
      p[c] = p[c]! + x0 * vr;
    }
    p[r] = p[r]! + s0 + s1 + a[rr + r]! * vr;
  }
}

/**
 * Householder reduction of the symmetric n x n row-major matrix `a` (full storage; only the lower
 * triangle is read) to tridiagonal form, in place: on return `a` holds the Householder vectors needed by
 * applyQt/applyQ (row i: v_i in columns 0..i-1, H_i on the diagonal) and is otherwise garbage.
 * d (length n) = diagonal, e (length n) = sub-diagonal with e[i] = T[i][i-1] and e[0] = 0.
 *
 * Step i (i = n-1 down to 2) reflects row/column i with P_i and applies the symmetric rank-2 update
 * p = B v / H, K = v.p / 2H, q = p - K v, B -= v q^T + q v^T to the lower triangle of the leading
 * i x i block B. The update of each row is fused with the product B' v' needed by the next step (whose
 * vector v' comes from the last row of B, updated first), so B is swept once per step. 4/3 n^3 flops.
 */
export function tridiagonalize(a: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  checkMatrix(a, n, 'tridiagonalize');
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { d, e };
  const p = new Float64Array(n); // B v for the current step (accumulated during the previous step)
  const q = new Float64Array(n); // q = p / H - K v
  const sacc = new Float64Array(4);

  let h = n > 1 ? householder(a, n, n - 1, d, e) : 0;
  if (h !== 0) symv(a, n, n - 1, p);
  for (let i = n - 1; i >= 1; i--) {
    const m = i - 1; // next step
    if (h === 0) {
      // No reflection at step i: row m is already final.
      if (m >= 1) {
        h = householder(a, n, m, d, e);
        if (h !== 0) symv(a, n, m, p);
      }
      continue;
    }
    const ri = i * n;
    const invh = 1 / h;
    let kk = 0;
    for (let r = 0; r < i; r++) {
      const pr = p[r]! * invh;
      q[r] = pr;
      kk += a[ri + r]! * pr;
    }
    kk *= 0.5 * invh;
    for (let r = 0; r < i; r++) q[r] = q[r]! - kk * a[ri + r]!;

    // Row m (the last row of B) first: it defines the next reflection.
    {
      const rm = m * n;
      const vr = a[ri + m]!;
      const qr = q[m]!;
      for (let c = 0; c <= m; c++) a[rm + c] = a[rm + c]! - (vr * q[c]! + qr * a[ri + c]!);
    }
    h = m >= 1 ? householder(a, n, m, d, e) : 0;
    if (h === 0) {
      for (let r = 0; r < m; r++) {
        const rr = r * n;
        const vr = a[ri + r]!;
        const qr = q[r]!;
        for (let c = 0; c <= r; c++) a[rr + c] = a[rr + c]! - (vr * q[c]! + qr * a[ri + c]!);
      }
      continue;
    }
    // Rows 0..m-1: rank-2 update of step i fused with p = B' v' for step m (v' = row m), four rows
    // (r..r+3) per pass so that q, v, v' and p are loaded once for all four.
    const rm = m * n;
    for (let r = 0; r < m; r++) p[r] = 0;
    let r = 0;
    for (; r + 3 < m; r += 4) {
      const r0 = r * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      const v0 = a[ri + r]!, v1 = a[ri + r + 1]!, v2 = a[ri + r + 2]!, v3 = a[ri + r + 3]!;
      const q0 = q[r]!, q1 = q[r + 1]!, q2 = q[r + 2]!, q3 = q[r + 3]!;
      const w0 = a[rm + r]!, w1 = a[rm + r + 1]!, w2 = a[rm + r + 2]!, w3 = a[rm + r + 3]!;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let c = 0; c < r; c++) {
        const qc = q[c]!;
        const vc = a[ri + c]!;
        const wc = a[rm + c]!;
        const x0 = a[r0 + c]! - (v0 * qc + q0 * vc);
        const x1 = a[r1 + c]! - (v1 * qc + q1 * vc);
        const x2 = a[r2 + c]! - (v2 * qc + q2 * vc);
        const x3 = a[r3 + c]! - (v3 * qc + q3 * vc);
        a[r0 + c] = x0;
        a[r1 + c] = x1;
        a[r2 + c] = x2;
        a[r3 + c] = x3;
        s0 += x0 * wc;
        s1 += x1 * wc;
        s2 += x2 * wc;
        s3 += x3 * wc;
        p[c] = p[c]! + x0 * w0 + x1 * w1 + x2 * w2 + x3 * w3;
      }
      sacc[0] = s0;
      sacc[1] = s1;
      sacc[2] = s2;
      sacc[3] = s3;
      // Triangular tail: rows r+t, columns r..r+t.
      for (let t = 0; t < 4; t++) {
        const rt = r0 + t * n;
        const vt = a[ri + r + t]!;
        const qt = q[r + t]!;
        const wt = a[rm + r + t]!;
        let st = sacc[t]!;
        for (let c = r; c < r + t; c++) {
          const x = a[rt + c]! - (vt * q[c]! + qt * a[ri + c]!);
          a[rt + c] = x;
          st += x * a[rm + c]!;
          p[c] = p[c]! + x * wt;
        }
        const xd = a[rt + r + t]! - 2 * vt * qt;
        a[rt + r + t] = xd;
        p[r + t] = p[r + t]! + st + xd * wt;
      }
    }
    for (; r < m; r++) {
      const rr = r * n;
      const vr = a[ri + r]!;
      const qr = q[r]!;
      const wr = a[rm + r]!;
      let s0 = 0;
      for (let c = 0; c < r; c++) {
        const x0 = a[rr + c]! - (vr * q[c]! + qr * a[ri + c]!);
        a[rr + c] = x0;
        s0 += x0 * a[rm + c]!;
        p[c] = p[c]! + x0 * wr;
      }
      const xd = a[rr + r]! - 2 * vr * qr;
      a[rr + r] = xd;
      p[r] = p[r]! + s0 + xd * wr;
    }
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

/**
 * u <- P_y P_x u (P_x first) for the n x k component-major block u. With w_x = v_x^T u / H_x and
 * w_y = (v_y^T u - (v_y.v_x) w_x) / H_y, P_y P_x u = u - v_x w_x - v_y w_y: one read pass and one update
 * pass over u for two reflections (|ix - iy| = 1), four rows at a time. wx, wy: scratch, length >= k.
 */
function applyReflectionPair(
  a: Float64Array,
  n: number,
  ix: number,
  iy: number,
  u: Float64Array,
  k: number,
  wx: Float64Array,
  wy: Float64Array,
): void {
  const ox = ix * n;
  const oy = iy * n;
  const hx = a[ox + ix]!;
  const hy = a[oy + iy]!;
  // H = 0 marks "no reflection"; its row may then hold a non-reflector value, which a zero w neutralises.
  const ihx = hx === 0 ? 0 : 1 / hx;
  const ihy = hy === 0 ? 0 : 1 / hy;
  if (ihx === 0 && ihy === 0) return;
  const lmin = ix < iy ? ix : iy; // common support 0..lmin-1; the longer vector has one more entry
  const olong = ix < iy ? oy : ox;
  const wlong = ix < iy ? wy : wx;
  let gamma = 0;
  for (let c = 0; c < lmin; c++) gamma += a[ox + c]! * a[oy + c]!;
  for (let j = 0; j < k; j++) {
    wx[j] = 0;
    wy[j] = 0;
  }
  let r = 0;
  for (; r + 3 < lmin; r += 4) {
    const x0 = a[ox + r]!, x1 = a[ox + r + 1]!, x2 = a[ox + r + 2]!, x3 = a[ox + r + 3]!;
    const y0 = a[oy + r]!, y1 = a[oy + r + 1]!, y2 = a[oy + r + 2]!, y3 = a[oy + r + 3]!;
    const o0 = r * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let j = 0; j < k; j++) {
      const u0 = u[o0 + j]!, u1 = u[o1 + j]!, u2 = u[o2 + j]!, u3 = u[o3 + j]!;
      wx[j] = wx[j]! + x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3;
      wy[j] = wy[j]! + y0 * u0 + y1 * u1 + y2 * u2 + y3 * u3;
    }
  }
  for (; r < lmin; r++) {
    const x0 = a[ox + r]!;
    const y0 = a[oy + r]!;
    const o0 = r * k;
    for (let j = 0; j < k; j++) {
      const u0 = u[o0 + j]!;
      wx[j] = wx[j]! + x0 * u0;
      wy[j] = wy[j]! + y0 * u0;
    }
  }
  const vl = a[olong + lmin]!;
  const ol = lmin * k;
  for (let j = 0; j < k; j++) wlong[j] = wlong[j]! + vl * u[ol + j]!;
  for (let j = 0; j < k; j++) {
    const t = wx[j]! * ihx;
    wx[j] = t;
    wy[j] = (wy[j]! - gamma * t) * ihy;
  }
  r = 0;
  for (; r + 3 < lmin; r += 4) {
    const x0 = a[ox + r]!, x1 = a[ox + r + 1]!, x2 = a[ox + r + 2]!, x3 = a[ox + r + 3]!;
    const y0 = a[oy + r]!, y1 = a[oy + r + 1]!, y2 = a[oy + r + 2]!, y3 = a[oy + r + 3]!;
    const o0 = r * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let j = 0; j < k; j++) {
      const sx = wx[j]!;
      const sy = wy[j]!;
      u[o0 + j] = u[o0 + j]! - (x0 * sx + y0 * sy);
      u[o1 + j] = u[o1 + j]! - (x1 * sx + y1 * sy);
      u[o2 + j] = u[o2 + j]! - (x2 * sx + y2 * sy);
      u[o3 + j] = u[o3 + j]! - (x3 * sx + y3 * sy);
    }
  }
  for (; r < lmin; r++) {
    const x0 = a[ox + r]!;
    const y0 = a[oy + r]!;
    const o0 = r * k;
    for (let j = 0; j < k; j++) u[o0 + j] = u[o0 + j]! - (x0 * wx[j]! + y0 * wy[j]!);
  }
  for (let j = 0; j < k; j++) u[ol + j] = u[ol + j]! - vl * wlong[j]!;
}

/** u <- Q^T u for k vectors stored component-major: u[i*k + j] is component i of vector j. A = Q T Q^T.
 * `a` must be the output of tridiagonalize. Cost 2 n^2 k flops. */
export function applyQt(a: Float64Array, n: number, u: Float64Array, k: number): void {
  checkMatrix(a, n, 'applyQt');
  checkVectors(u, n, k, 'applyQt');
  if (n < 2 || k === 0) return;
  const wx = new Float64Array(k);
  const wy = new Float64Array(k);
  // Q^T = P_1 P_2 ... P_{n-1}: apply P_{n-1} first. P_1 is always the identity (H_1 = 0).
  let i = n - 1;
  for (; i >= 3; i -= 2) applyReflectionPair(a, n, i, i - 1, u, k, wx, wy);
  if (i === 2) applyReflection(a, n, 2, u, k, wx);
}

/** u <- Q u, same storage. Cost 2 n^2 k flops. */
export function applyQ(a: Float64Array, n: number, u: Float64Array, k: number): void {
  checkMatrix(a, n, 'applyQ');
  checkVectors(u, n, k, 'applyQ');
  if (n < 2 || k === 0) return;
  const wx = new Float64Array(k);
  const wy = new Float64Array(k);
  // Q = P_{n-1} ... P_2 P_1: apply P_1 first; P_1 is always the identity (H_1 = 0).
  let i = 2;
  for (; i + 1 < n; i += 2) applyReflectionPair(a, n, i, i + 1, u, k, wx, wy);
  if (i < n) applyReflection(a, n, i, u, k, wx);
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
 * u[f*k + j] = z_f . u_j, where z_f is the tridiagonal matrix's eigenvector for d[f].
 *
 * Deflation: |e_i| <= 8 eps ||T||_inf (normwise, like EISPACK tql2; a backward error well below what the
 * Householder reduction already commits). Shifts: Wilkinson (eigenvalue of the leading 2x2 of the
 * unreduced block closer to its top entry). When u has at least PERFECT_SHIFT_MIN_K columns, the
 * eigenvalues are first computed without vectors (O(n^2)), and the first iteration for each eigenvalue
 * uses the precomputed eigenvalue nearest to the Wilkinson shift ("perfect shift"), which usually
 * deflates in one sweep and so roughly halves the rotation work on u; later iterations are Wilkinson.
 *
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
  // Scale by a power of two (exact) if ||T|| is extreme, so that the rotations can use sqrt(f^2 + g^2).
  let scale = 1;
  if (tnorm > 2 ** 200 || tnorm < 2 ** -200) {
    const ex = Math.max(-1000, Math.min(1000, Math.round(Math.log2(tnorm))));
    scale = 2 ** -ex;
    for (let i = 0; i < n; i++) {
      d[i] = d[i]! * scale;
      e[i] = e[i]! * scale;
    }
    tnorm *= scale;
  }
  const tol = DEFLATION_FACTOR * EPS * tnorm;
  const rot = u !== null && k > 0 ? u : null;
  let shifts: Float64Array | null = null;
  let used: Uint8Array | null = null;
  if (rot !== null && k >= PERFECT_SHIFT_MIN_K && n > 2) {
    shifts = d.slice();
    qlIterate(shifts, e.slice(), null, 0, tol, null, null);
    shifts.sort();
    used = new Uint8Array(n);
  }
  qlIterate(d, e, rot, k, tol, shifts, used);
  if (scale !== 1) {
    const inv = 1 / scale;
    for (let i = 0; i < n; i++) d[i] = d[i]! * inv;
  }
}

/** Index of the entry of the sorted `pool` nearest to x among those with used[i] = 0; -1 if none. */
function nearestUnused(pool: Float64Array, used: Uint8Array, x: number): number {
  const n = pool.length;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pool[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  let below = lo - 1;
  let above = lo;
  while (below >= 0 && used[below] !== 0) below--;
  while (above < n && used[above] !== 0) above++;
  if (below < 0) return above < n ? above : -1;
  if (above >= n) return below;
  return x - pool[below]! <= pool[above]! - x ? below : above;
}

/**
 * QL iterations on (d, e) with e[i] coupling i and i+1 (e[n-1] = 0), |d|, |e| <= ~1e200.
 * shifts/used: sorted eigenvalues of (d, e) and their consumption flags, or null for Wilkinson only.
 */
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
      // Wilkinson shift sigma: eigenvalue of [[d_l, e_l], [e_l, d_l+1]] closer to d_l.
      const el = e[l]!;
      let g = (d[l + 1]! - d[l]!) / (2 * el);
      let r = pythag(g, 1);
      let sigma = d[l]! - el / (g + (g >= 0 ? r : -r));
      if (used !== null && shifts !== null && iter === 1) {
        const j = nearestUnused(shifts, used, sigma);
        if (j >= 0) sigma = shifts[j]!;
      }
      g = d[m]! - sigma;
      let s = 1;
      let c = 1;
      let p = 0;
      let underflow = false;
      let iLast = m;
      // Chase the bulge from the bottom of the block up with rotations in planes (i, i+1).
      for (let i = m - 1; i >= l; i--) {
        const ei = e[i]!;
        const f = s * ei;
        const b = c * ei;
        r = Math.sqrt(f * f + g * g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the block splits at i+1; undo the pending shift and restart.
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          underflow = true;
          break;
        }
        const ir = 1 / r;
        s = f * ir;
        c = g * ir;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        cs[i] = c;
        ss[i] = s;
        iLast = i;
      }
      if (rot !== null && iLast < m) applyRotations(rot, k, cs, ss, m - 1, iLast);
      if (underflow) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
    if (used !== null && shifts !== null) {
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

/**
 * Q^T formed explicitly (n x n row-major) from the reflections stored in `a`: Q^T = P_1 P_2 ... P_{n-1},
 * built as M <- M P_j = M - (M v_j)(v_j^T / H_j) for j = 1..n-1. Before step j, M = diag(M', I) with M'
 * of size j-1, so only the leading j x j block is touched (4/3 n^3 flops in total).
 *
 * Reflections are applied in pairs (j, j+1): for a row z of M, with t1 = (z.v_j)/H_j and
 * t2 = (z.v_{j+1} - t1 v_j.v_{j+1})/H_{j+1}, z P_j P_{j+1} = z - t1 v_j - t2 v_{j+1}; so each pair costs
 * one read pass (two dot products) and one update pass per row, four rows at a time.
 */
function formQt(a: Float64Array, n: number, z: Float64Array): void {
  z.fill(0);
  for (let i = 0; i < n; i++) z[i * n + i] = 1;
  let j = 1;
  for (; j + 1 < n; j += 2) {
    const ra = j * n; // v_j: a[ra + c], c < j
    const rb = ra + n; // v_{j+1}: a[rb + c], c <= j
    const ha = a[ra + j]!;
    const hb = a[rb + j + 1]!;
    const iha = ha === 0 ? 0 : 1 / ha;
    const ihb = hb === 0 ? 0 : 1 / hb;
    if (iha === 0 && ihb === 0) continue;
    let gamma = 0;
    if (iha !== 0) for (let c = 0; c < j; c++) gamma += a[ra + c]! * a[rb + c]!;
    const vbj = a[rb + j]!;
    // Rows r < j: z[r][j] = 0 before the pair.
    let r = 0;
    for (; r + 3 < j; r += 4) {
      const o0 = r * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let c = 0; c < j; c++) {
        const va = a[ra + c]!;
        const vb = a[rb + c]!;
        const z0 = z[o0 + c]!, z1 = z[o1 + c]!, z2 = z[o2 + c]!, z3 = z[o3 + c]!;
        a0 += z0 * va;
        a1 += z1 * va;
        a2 += z2 * va;
        a3 += z3 * va;
        b0 += z0 * vb;
        b1 += z1 * vb;
        b2 += z2 * vb;
        b3 += z3 * vb;
      }
      const ta0 = a0 * iha, ta1 = a1 * iha, ta2 = a2 * iha, ta3 = a3 * iha;
      const tb0 = (b0 - ta0 * gamma) * ihb;
      const tb1 = (b1 - ta1 * gamma) * ihb;
      const tb2 = (b2 - ta2 * gamma) * ihb;
      const tb3 = (b3 - ta3 * gamma) * ihb;
      for (let c = 0; c < j; c++) {
        const va = a[ra + c]!;
        const vb = a[rb + c]!;
        z[o0 + c] = z[o0 + c]! - (ta0 * va + tb0 * vb);
        z[o1 + c] = z[o1 + c]! - (ta1 * va + tb1 * vb);
        z[o2 + c] = z[o2 + c]! - (ta2 * va + tb2 * vb);
        z[o3 + c] = z[o3 + c]! - (ta3 * va + tb3 * vb);
      }
      z[o0 + j] = -tb0 * vbj;
      z[o1 + j] = -tb1 * vbj;
      z[o2 + j] = -tb2 * vbj;
      z[o3 + j] = -tb3 * vbj;
    }
    for (; r < j; r++) {
      const o0 = r * n;
      let a0 = 0;
      let b0 = 0;
      for (let c = 0; c < j; c++) {
        const z0 = z[o0 + c]!;
        a0 += z0 * a[ra + c]!;
        b0 += z0 * a[rb + c]!;
      }
      const ta0 = a0 * iha;
      const tb0 = (b0 - ta0 * gamma) * ihb;
      for (let c = 0; c < j; c++) z[o0 + c] = z[o0 + c]! - (ta0 * a[ra + c]! + tb0 * a[rb + c]!);
      z[o0 + j] = -tb0 * vbj;
    }
    // Row j is e_j after P_j; P_{j+1} gives e_j - (v_{j+1}[j] / H_{j+1}) v_{j+1}.
    const tb = vbj * ihb;
    const oj = j * n;
    for (let c = 0; c < j; c++) z[oj + c] = -tb * a[rb + c]!;
    z[oj + j] = 1 - tb * vbj;
  }
  if (j < n) {
    // Unpaired last reflection P_j (j = n-1).
    const rj = j * n;
    const h = a[rj + j]!;
    if (h !== 0) {
      const invh = 1 / h;
      for (let r = 0; r < j; r++) {
        const o0 = r * n;
        let t0 = 0;
        for (let c = 0; c < j; c++) t0 += z[o0 + c]! * a[rj + c]!;
        t0 *= invh;
        for (let c = 0; c < j; c++) z[o0 + c] = z[o0 + c]! - t0 * a[rj + c]!;
      }
    }
  }
}

/** Full decomposition: values ascending; vectors row-major n x n with column f the (unit, arbitrary
 * sign) eigenvector of values[f] (vectors[i*n + f]). Does not modify `a` (copy it). Only the lower
 * triangle of `a` is read. Throws EIGEN_NOT_FINITE on NaN/Infinity entries. About 6 n^3 flops
 * (4/3 reduction + 4/3 forming Q^T + ~3.3 n^3 for the rotations with perfect shifts). */
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
 * is basis-independent). Cost 4/3 n^3 + O(n^2 k) (2 n^2 k for Q^T v, 3-6 n^2 k for the rotations).
 * Does not modify `a` or `vs`; only the lower triangle of `a` is read. Throws EIGEN_NOT_FINITE on
 * NaN/Infinity entries of `a`.
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
