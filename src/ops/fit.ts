/**
 * Per-pixel fitting of measured spectra (pure numerics; the forward model is passed in).
 *
 * Model of a measured spectrum m (box-normalised on the 501-channel grid, NaN where not
 * covered):  m ~ alpha * y(p) + beta  over the covered channels, where y(p) is the forward
 * model's spectrum for the nine parameters p (the network, or the simulator for --refine),
 * and alpha, beta absorb what box normalisation of a partial or background-affected
 * spectrum leaves (alpha ~ 1, beta ~ 0 for a clean full-window spectrum).
 *
 * 1. Starts: a library of L parameter sets (quasi-random within the bounds, fixed
 *    parameters at their values) is predicted once; every pixel takes its S nearest library
 *    spectra (masked sum of squares, one matrix product) as starts. Or the caller's initial
 *    parameters (one start; used by the simulator refinement).
 * 2. Levenberg-Marquardt on all starts of all pixels at once, in normalised coordinates
 *    z = (p - lower) / (upper - lower) projected onto [0, 1] (the bounds). The Jacobian is
 *    taken by forward differences of the forward model, batched: one model call evaluates
 *    (free parameters) extra rows per start. The network is piecewise linear in its FES
 *    features, so a forward difference is nearly exact; forward mode is not available in
 *    tfjs and reverse mode would need one pass per channel (501), so this is the cheap
 *    exact-enough Jacobian. alpha and beta enter the normal equations as two more linear
 *    unknowns and are re-solved in closed form at every evaluated point.
 * 3. After `halveAt` iterations only the best start of each pixel goes on (successive
 *    halving): several starts explore, one converges.
 * 4. Uncertainties at the optimum: covariance = s^2 (J^T J)^-1 with s^2 = RSS / (covered
 *    channels - free - 2), the parameter block of the inverse (alpha, beta marginalised).
 *    A parameter is flagged at a bound when z < 1e-3 or z > 1 - 1e-3, undetermined when the
 *    normal matrix is singular there or its sigma exceeds the bound span.
 */
import { PARAM_NAMES } from '../physics/ions.js';
import { FIT_FLAG, type FitMaps, PARAM_FLAG } from './fit-types.js';
import { hashUniform } from '../physics/random.js';

const P = PARAM_NAMES.length;

/** rows x 9 parameters (physical units) -> rows x channels spectra. */
export type Forward = (params: Float32Array, rows: number) => Promise<Float32Array>;

export interface FitSetup {
  /** 9 lower and upper bounds (physical units) */
  lower: ArrayLike<number>;
  upper: ArrayLike<number>;
  /** 9 values: a number fixes the parameter, NaN leaves it free */
  fixed: ArrayLike<number>;
}

export interface FitOptions {
  /** starts per pixel (default 3) */
  starts?: number;
  /** Levenberg-Marquardt iterations (default 12) */
  iterations?: number;
  /** iteration after which only the best start of each pixel continues (default ceil(iterations / 3)) */
  halveAt?: number;
  /** library size for the starts (default 4096) */
  library?: number;
  /** seed of the library (default 1) */
  seed?: number;
  /** matrix product for the library search (default: plain loops) */
  matmul?: MatMul;
  /** a library predicted beforehand (predictLibrary; e.g. shared with the energy-shift search) */
  librarySet?: LibrarySet;
  /**
   * initial parameters (n x initialStarts x 9, pixel-major): the starts, instead of the library;
   * with `librarySet` also given, `starts` nearest library entries are added to them
   */
  initial?: Float32Array;
  /** starts per pixel in `initial` (default 1) */
  initialStarts?: number;
  /** starts per forward call (default 2048; the Jacobian call has (free + 1) x that) */
  chunk?: number;
  /** forward calls in flight at once (default 2, e.g. two worker threads) */
  concurrency?: number;
  /**
   * start diversity: the starts of a pixel are picked from its `starts` x 8 nearest library
   * spectra, best first, skipping any within this normalised distance (RMS over the free
   * parameters) of a start already picked; 0 = simply the nearest (default 0.15)
   */
  diversity?: number;
  /**
   * library starts replaced by the best ones with Ds and Dt reversed in sign (default 1; at most
   * starts - 1): elongated and compressed octahedra give similar spectra
   */
  mirror?: number;
  /**
   * a background shape on the model grid (channels values, e.g. ops/edge-step.ts), added to the
   * model with a third linear coefficient: m ~ alpha y + beta + gamma step
   */
  edgeStep?: ArrayLike<number>;
  /** minimum covered channels for a pixel to be fitted (default 20) */
  minChannels?: number;
  /** forward-difference step in normalised coordinates (default 1e-3) */
  step?: number;
  onProgress?: (phase: 'library' | 'starts' | 'iterate' | 'uncertainty', done: number, total: number) => void;
}

export interface FitReport {
  pixels: number;
  fitted: number;
  starts: number;
  iterations: number;
  library: number;
  /** model rows evaluated (forward calls x rows) */
  forwardRows: number;
  free: string[];
}

const DEFAULTS = { mirror: 1, diversity: 0.15, starts: 3, iterations: 12, library: 4096, seed: 1, chunk: 2048, concurrency: 2, minChannels: 20, step: 1e-3 };
const BOUND_TOL = 1e-3;

/**
 * fitSpectra over blocks of at most `block` pixels (the optimiser's state grows with pixels x
 * starts x channels; blocks bound it), assembled into one result. The library (built once, or
 * `librarySet`) is shared by all blocks; `onBlock(done, total)` reports progress in pixels.
 */
export async function fitSpectraBlocks(
  measured: Float32Array,
  n: number,
  channels: number,
  setup: FitSetup,
  forward: Forward,
  options: FitOptions & { block?: number; onBlock?: (done: number, total: number) => void } = {},
): Promise<{ maps: FitMaps; report: FitReport; startParams: Float32Array }> {
  const block = Math.max(1, options.block ?? 10_000);
  if (n <= block) return fitSpectra(measured, n, channels, setup, forward, options);
  const librarySet = options.librarySet ?? (options.initial ? undefined : await predictLibrary(setup, options.library ?? DEFAULTS.library, options.seed ?? DEFAULTS.seed, forward));
  const C = channels;
  const maps = emptyMaps(n, C);
  let startParams: Float32Array | null = null;
  const reports: FitReport[] = [];
  for (let b0 = 0; b0 < n; b0 += block) {
    const m = Math.min(block, n - b0);
    const initial = options.initial && options.initial.subarray((b0 * (options.initialStarts ?? 1)) * P, ((b0 + m) * (options.initialStarts ?? 1)) * P);
    const r = await fitSpectra(measured.subarray(b0 * C, (b0 + m) * C), m, C, setup, forward, {
      ...options,
      ...(librarySet ? { librarySet } : {}),
      ...(initial ? { initial } : {}),
    });
    copyMaps(r.maps, maps, b0);
    const S = r.report.starts;
    startParams ??= new Float32Array(n * S * P).fill(NaN);
    startParams.set(r.startParams, b0 * S * P);
    reports.push(r.report);
    options.onBlock?.(b0 + m, n);
  }
  const first = reports[0] as FitReport;
  const report: FitReport = {
    ...first,
    pixels: n,
    fitted: reports.reduce((a, r) => a + r.fitted, 0),
    iterations: Math.max(...reports.map((r) => r.iterations)),
    forwardRows: reports.reduce((a, r) => a + r.forwardRows, 0),
  };
  return { maps, report, startParams: startParams as Float32Array };
}

/** Copies all pixels of `src` into `dst` from pixel `at` on. */
function copyMaps(src: FitMaps, dst: FitMaps, at: number): void {
  const C = src.channels;
  dst.params.set(src.params, at * P);
  dst.sigma.set(src.sigma, at * P);
  dst.paramFlags.set(src.paramFlags, at * P);
  dst.se.set(src.se, at);
  dst.flags.set(src.flags, at);
  dst.fitted.set(src.fitted, at * C);
  dst.measured.set(src.measured, at * C);
  dst.bestStart.set(src.bestStart, at);
}

/** Fits n measured spectra (n x channels; NaN where a channel is not covered). */
export async function fitSpectra(
  measured: Float32Array,
  n: number,
  channels: number,
  setup: FitSetup,
  forward: Forward,
  options: FitOptions = {},
): Promise<{ maps: FitMaps; report: FitReport; startParams: Float32Array }> {
  const o = { ...DEFAULTS, ...stripUndefined(options) };
  const C = channels;
  const lower = Float64Array.from({ length: P }, (_, k) => setup.lower[k] as number);
  const span = Float64Array.from({ length: P }, (_, k) => (setup.upper[k] as number) - (lower[k] as number));
  const fixedVal = Float64Array.from({ length: P }, (_, k) => setup.fixed[k] as number);
  const free: number[] = [];
  for (let k = 0; k < P; k++) {
    if (Number.isNaN(fixedVal[k] as number)) {
      if (!((span[k] as number) > 0)) throw new RangeError(`fit: the bounds of ${PARAM_NAMES[k]} are empty`);
      free.push(k);
    }
  }
  const F = free.length;
  const bg = options.edgeStep ?? null;
  if (bg && bg.length !== channels) throw new RangeError(`fit: the step background has ${bg.length} values, expected ${channels}`);
  const NL = bg ? 3 : 2;
  const K = F + NL;
  const maps = emptyMaps(n, C);
  maps.measured.set(measured.subarray(0, n * C));
  let forwardRows = 0;
  const fwd: Forward = async (params, rows) => {
    forwardRows += rows;
    return forward(params, rows);
  };

  // usable pixels
  const usable: number[] = [];
  for (let i = 0; i < n; i++) {
    let cov = 0;
    for (let c = 0; c < C; c++) if (!Number.isNaN(measured[i * C + c] as number)) cov++;
    if (cov >= Math.max(o.minChannels, K + 1)) {
      usable.push(i);
      if (cov < C) maps.flags[i] = FIT_FLAG.PARTIAL;
    } else maps.flags[i] = FIT_FLAG.NOT_FITTED;
  }
  const nu = usable.length;
  const toParams = (z: Float64Array, zo: number, out: Float32Array, po: number): void => {
    for (let k = 0; k < P; k++) out[po + k] = fixedVal[k] as number;
    for (let f = 0; f < F; f++) {
      const k = free[f] as number;
      out[po + k] = (lower[k] as number) + (z[zo + f] as number) * (span[k] as number);
    }
  };

  // 1. starts (normalised coordinates of the free parameters)
  // initial starts (the caller's) and library starts (nearest library spectra), per pixel
  const SI = options.initial ? Math.max(1, options.initialStarts ?? 1) : 0;
  const useLibrary = !options.initial || (options.librarySet !== undefined && o.starts > 0);
  let SL = 0;
  let nearest: Int32Array | null = null;
  let zl: Float64Array | null = null;
  if (useLibrary) {
    const lib = options.librarySet ?? (await predictLibrary(setup, o.library, o.seed, fwd, o.onProgress));
    const L = lib.size;
    SL = Math.max(1, Math.min(o.starts, L));
    zl = new Float64Array(L * F);
    for (let l = 0; l < L; l++) {
      for (let f = 0; f < F; f++) {
        const k = free[f] as number;
        zl[l * F + f] = clamp01(((lib.params[l * P + k] as number) - (lower[k] as number)) / (span[k] as number));
      }
    }
    const pool = o.diversity > 0 && SL > 1 ? Math.min(L, SL * DIVERSE_POOL) : SL;
    const near = nearestLibrary(measured, usable, C, lib.spectra, L, pool, (d, t) => o.onProgress?.('starts', d, t), options.matmul);
    nearest = pool === SL ? near : diverseStarts(near, nu, pool, SL, zl, F, o.diversity);
  }
  const S = SI + SL;
  // tetragonal sign ambiguity: elongation and compression (Ds, Dt -> -Ds, -Dt) give similar
  // spectra, and the library's nearest spectra often all lie on the wrong side
  const mirrorIdx = [1, 2].map((k) => free.indexOf(k)).filter((f) => f >= 0);
  const mirrored = mirrorIdx.length > 0 && SL > 1 ? Math.min(o.mirror, SL - 1) : 0;
  const mirror = (f: number, z: number): number => {
    const k = free[f] as number;
    return clamp01((-((lower[k] as number) + z * (span[k] as number)) - (lower[k] as number)) / (span[k] as number));
  };
  const z0 = new Float64Array(nu * S * F);
  usable.forEach((i, u) => {
    for (let s = 0; s < SI; s++) {
      for (let f = 0; f < F; f++) {
        const k = free[f] as number;
        const v = ((options.initial![(i * SI + s) * P + k] as number) - (lower[k] as number)) / (span[k] as number);
        z0[(u * S + s) * F + f] = Number.isFinite(v) ? clamp01(v) : 0.5;
      }
    }
    // the last `mirrored` library starts: the best ones with the tetragonal field reversed
    const plain = SL - mirrored;
    for (let s = 0; s < SL; s++) {
      const l = nearest![u * SL + (s < plain ? s : s - plain)] as number;
      const o = (u * S + SI + s) * F;
      z0.set(zl!.subarray(l * F, (l + 1) * F), o);
      if (s >= plain) for (const f of mirrorIdx) z0[o + f] = mirror(f, z0[o + f] as number);
    }
  });

  // 2. Levenberg-Marquardt over all rows (pixel u, start s) -> row u * S + s
  const R = nu * S;
  const st = {
    z: z0,
    cost: new Float64Array(R).fill(Infinity),
    alpha: new Float64Array(R),
    beta: new Float64Array(R),
    gamma: new Float64Array(R),
    lambda: new Float64Array(R).fill(1e-2),
    active: new Uint8Array(R).fill(1),
    needJ: new Uint8Array(R).fill(1),
    A: new Float64Array(R * K * K),
    g: new Float64Array(R * K),
    y: new Float32Array(R * C),
  };
  const mOf = (r: number): Float32Array => {
    const i = usable[Math.floor(r / S)] as number;
    return measured.subarray(i * C, (i + 1) * C);
  };
  const chunk = Math.max(1, o.chunk);
  const conc = Math.max(1, o.concurrency);

  // evaluate rows at z (or at candidates), returning the predicted spectra per row
  const evaluate = async (rows: number[], z: Float64Array, sink: (r: number, y: Float32Array) => void): Promise<void> => {
    await forChunks(rows, chunk, conc, async (part) => {
      const pp = new Float32Array(part.length * P);
      part.forEach((r, j) => toParams(z, r * F, pp, j * P));
      const y = await fwd(pp, part.length);
      part.forEach((r, j) => sink(r, y.subarray(j * C, (j + 1) * C)));
    });
  };
  const jacobian = async (rows: number[]): Promise<void> => {
    const h = o.step;
    await forChunks(rows, Math.max(1, Math.floor(chunk / Math.max(F, 1))), conc, async (part) => {
      const pp = new Float32Array(part.length * F * P);
      const zz = new Float64Array(F);
      const hs = new Float64Array(part.length * F);
      part.forEach((r, j) => {
        for (let f = 0; f < F; f++) {
          zz.set(st.z.subarray(r * F, (r + 1) * F));
          const zf = zz[f] as number;
          const hh = zf + h <= 1 ? h : -h;
          zz[f] = zf + hh;
          hs[j * F + f] = hh;
          toParams(zz, 0, pp, (j * F + f) * P);
        }
      });
      const yk = F > 0 ? await fwd(pp, part.length * F) : new Float32Array(0);
      part.forEach((r, j) => normalEquations(r, mOf(r), st.y.subarray(r * C, (r + 1) * C), yk.subarray(j * F * C, (j + 1) * F * C), hs.subarray(j * F, (j + 1) * F)));
    });
  };
  const normalEquations = (r: number, m: Float32Array, y: Float32Array, yk: Float32Array, hs: Float64Array): void => {
    const a = st.alpha[r] as number;
    const b = st.beta[r] as number;
    const gm = st.gamma[r] as number;
    const A = st.A.subarray(r * K * K, (r + 1) * K * K);
    const g = st.g.subarray(r * K, (r + 1) * K);
    A.fill(0);
    g.fill(0);
    const col = new Float64Array(K);
    for (let c = 0; c < C; c++) {
      const mc = m[c] as number;
      if (Number.isNaN(mc)) continue;
      const yc = y[c] as number;
      for (let f = 0; f < F; f++) col[f] = (a * ((yk[f * C + c] as number) - yc)) / (hs[f] as number);
      col[F] = yc;
      col[F + 1] = 1;
      const sc = bg ? (bg[c] as number) : 0;
      if (bg) col[F + 2] = sc;
      const res = mc - a * yc - b - gm * sc;
      for (let p = 0; p < K; p++) {
        const cp = col[p] as number;
        g[p] = (g[p] as number) + cp * res;
        for (let q = 0; q <= p; q++) A[p * K + q] = (A[p * K + q] as number) + cp * (col[q] as number);
      }
    }
    for (let p = 0; p < K; p++) for (let q = 0; q < p; q++) A[q * K + p] = A[p * K + q] as number;
  };
  const setPoint = (r: number, y: Float32Array): number => {
    const fit = linearFit(mOf(r), y, bg);
    st.alpha[r] = fit.alpha;
    st.beta[r] = fit.beta;
    st.gamma[r] = fit.gamma;
    st.y.set(y, r * C);
    return fit.rss;
  };

  const allRows = Array.from({ length: R }, (_, r) => r);
  await evaluate(allRows, st.z, (r, y) => {
    st.cost[r] = setPoint(r, y);
  });
  const halveAt = Math.max(0, Math.min(o.iterations, options.halveAt ?? Math.ceil(o.iterations / 3)));
  const zc = new Float64Array(R * F);
  const sys = new Float64Array(K * K);
  const rhs = new Float64Array(K);
  let iterationsRun = 0;
  for (let it = 0; it < o.iterations; it++) {
    if (it === halveAt && S > 1) keepBestStart(st.cost, st.active, nu, S);
    const act = allRows.filter((r) => st.active[r] === 1);
    if (act.length === 0) break;
    iterationsRun = it + 1;
    o.onProgress?.('iterate', it, o.iterations);
    await jacobian(act.filter((r) => st.needJ[r] === 1));
    for (const r of act) {
      st.needJ[r] = 0;
      const A = st.A.subarray(r * K * K, (r + 1) * K * K);
      const lam = st.lambda[r] as number;
      let maxDiag = 0;
      for (let p = 0; p < K; p++) maxDiag = Math.max(maxDiag, A[p * K + p] as number);
      for (let p = 0; p < K * K; p++) sys[p] = A[p] as number;
      for (let p = 0; p < K; p++) sys[p * K + p] = (sys[p * K + p] as number) * (1 + lam) + lam * 1e-6 * maxDiag + 1e-12;
      rhs.set(st.g.subarray(r * K, (r + 1) * K));
      if (!choleskySolve(sys, rhs, K)) rhs.fill(0);
      for (let f = 0; f < F; f++) zc[r * F + f] = clamp01((st.z[r * F + f] as number) + (rhs[f] as number));
    }
    await evaluate(act, zc, (r, y) => {
      const fit = linearFit(mOf(r), y, bg);
      const old = st.cost[r] as number;
      if (fit.rss < old) {
        st.z.set(zc.subarray(r * F, (r + 1) * F), r * F);
        st.cost[r] = fit.rss;
        st.alpha[r] = fit.alpha;
        st.beta[r] = fit.beta;
        st.gamma[r] = fit.gamma;
        st.y.set(y, r * C);
        st.lambda[r] = Math.max(1e-7, (st.lambda[r] as number) / 3);
        st.needJ[r] = 1;
        if (old - fit.rss < 1e-9 * old) st.active[r] = 0;
      } else {
        st.lambda[r] = (st.lambda[r] as number) * 4;
        if ((st.lambda[r] as number) > 1e8) st.active[r] = 0;
      }
    });
  }
  o.onProgress?.('iterate', o.iterations, o.iterations);

  // 3. best start per pixel; Jacobian at the final point for the uncertainties
  const best = new Int32Array(nu);
  for (let u = 0; u < nu; u++) {
    let b = u * S;
    for (let s = 1; s < S; s++) if ((st.cost[u * S + s] as number) < (st.cost[b] as number)) b = u * S + s;
    best[u] = b;
  }
  o.onProgress?.('uncertainty', 0, nu);
  await jacobian(Array.from(best).filter((r) => st.needJ[r] === 1));
  o.onProgress?.('uncertainty', nu, nu);
  const inv = new Float64Array(K * K);
  for (let u = 0; u < nu; u++) {
    const r = best[u] as number;
    const i = usable[u] as number;
    const m = mOf(r);
    const y = st.y.subarray(r * C, (r + 1) * C);
    const a = st.alpha[r] as number;
    const b = st.beta[r] as number;
    const gm = st.gamma[r] as number;
    let cov = 0;
    let num = 0;
    let den = 0;
    const fitted = maps.fitted.subarray(i * C, (i + 1) * C);
    for (let c = 0; c < C; c++) {
      const f = a * (y[c] as number) + b + (bg ? gm * (bg[c] as number) : 0);
      fitted[c] = f;
      const mc = m[c] as number;
      if (Number.isNaN(mc)) continue;
      cov++;
      num += Math.abs(f - mc);
      den += Math.abs(f + mc);
    }
    maps.se[i] = den > 0 ? (100 * num) / den : 0;
    maps.bestStart[i] = r - u * S;
    const pp = new Float32Array(P);
    toParams(st.z, r * F, pp, 0);
    maps.params.set(pp, i * P);
    const dof = Math.max(1, cov - K);
    const s2 = (st.cost[r] as number) / dof;
    const A = st.A.subarray(r * K * K, (r + 1) * K * K);
    const ok = invertSpd(A, inv, K);
    let flags = maps.flags[i] as number;
    for (let k = 0; k < P; k++) {
      const fi = free.indexOf(k);
      if (fi < 0) {
        maps.sigma[i * P + k] = 0;
        maps.paramFlags[i * P + k] = PARAM_FLAG.FIXED;
        continue;
      }
      let pf = 0;
      const zf = st.z[r * F + fi] as number;
      if (zf < BOUND_TOL) pf |= PARAM_FLAG.AT_LOWER;
      if (zf > 1 - BOUND_TOL) pf |= PARAM_FLAG.AT_UPPER;
      const v = ok ? (inv[fi * K + fi] as number) * s2 : NaN;
      const sig = v >= 0 ? Math.sqrt(v) * (span[k] as number) : NaN;
      if (!Number.isFinite(sig) || sig > (span[k] as number)) {
        pf |= PARAM_FLAG.UNDETERMINED;
        maps.sigma[i * P + k] = Number.isFinite(sig) ? sig : NaN;
      } else maps.sigma[i * P + k] = sig;
      if (pf & (PARAM_FLAG.AT_LOWER | PARAM_FLAG.AT_UPPER)) flags |= FIT_FLAG.AT_BOUND;
      if (pf & PARAM_FLAG.UNDETERMINED) flags |= FIT_FLAG.UNDETERMINED;
      maps.paramFlags[i * P + k] = pf;
    }
    maps.flags[i] = flags;
  }
  // the end point of every start (n x S x 9), e.g. as starts of a simulator refinement
  const startParams = new Float32Array(n * S * P).fill(NaN);
  usable.forEach((i, u) => {
    for (let s = 0; s < S; s++) toParams(st.z, (u * S + s) * F, startParams, (i * S + s) * P);
  });
  return {
    maps,
    startParams,
    report: { pixels: n, fitted: nu, starts: S, iterations: iterationsRun, library: useLibrary ? (options.librarySet?.size ?? o.library) : 0, forwardRows, free: free.map((k) => PARAM_NAMES[k] as string) },
  };
}

export interface LibrarySet {
  size: number;
  /** size x 9 physical parameters */
  params: Float32Array;
  /** size x channels predicted spectra */
  spectra: Float32Array;
}

/** Quasi-random parameter sets within the bounds (fixed parameters at their values), and their spectra. */
export async function predictLibrary(
  setup: FitSetup,
  size: number,
  seed: number,
  forward: Forward,
  onProgress?: FitOptions['onProgress'],
): Promise<LibrarySet> {
  const params = new Float32Array(size * P);
  for (let l = 0; l < size; l++) {
    for (let k = 0; k < P; k++) {
      const fx = setup.fixed[k] as number;
      const lo = setup.lower[k] as number;
      params[l * P + k] = Number.isNaN(fx) ? lo + hashUniform(seed, k, l) * ((setup.upper[k] as number) - lo) : fx;
    }
  }
  onProgress?.('library', 0, size);
  const spectra = await forward(params, size);
  onProgress?.('library', size, size);
  return { size, params, spectra };
}

/** Empty maps for n pixels: NaN values, NOT_FITTED flags are set by the caller. */
export function emptyMaps(n: number, C: number): FitMaps {
  return {
    n,
    channels: C,
    params: new Float32Array(n * P).fill(NaN),
    sigma: new Float32Array(n * P).fill(NaN),
    paramFlags: new Uint8Array(n * P),
    se: new Float32Array(n).fill(NaN),
    flags: new Uint16Array(n),
    fitted: new Float32Array(n * C).fill(NaN),
    measured: new Float32Array(n * C).fill(NaN),
    bestStart: new Int16Array(n).fill(-1),
  };
}

/**
 * Least-squares alpha, beta (and gamma with a step background) of m ~ alpha y + beta + gamma
 * step over the non-NaN channels of m, and the residual sum of squares.
 */
export function linearFit(m: ArrayLike<number>, y: ArrayLike<number>, step: ArrayLike<number> | null): { alpha: number; beta: number; gamma: number; rss: number } {
  if (!step) return { ...linearScale(m, y), gamma: 0 };
  const A = new Float64Array(9);
  const g = new Float64Array(3);
  const v = new Float64Array(3);
  for (let c = 0; c < m.length; c++) {
    const mc = m[c] as number;
    if (Number.isNaN(mc)) continue;
    v[0] = y[c] as number;
    v[1] = 1;
    v[2] = step[c] as number;
    for (let p = 0; p < 3; p++) {
      g[p] = (g[p] as number) + (v[p] as number) * mc;
      for (let q = 0; q < 3; q++) A[p * 3 + q] = (A[p * 3 + q] as number) + (v[p] as number) * (v[q] as number);
    }
  }
  const inv = new Float64Array(9);
  if (!invertSpd(A, inv, 3)) return { ...linearScale(m, y), gamma: 0 };
  const x = [0, 1, 2].map((p) => (inv[p * 3] as number) * (g[0] as number) + (inv[p * 3 + 1] as number) * (g[1] as number) + (inv[p * 3 + 2] as number) * (g[2] as number));
  const [alpha, beta, gamma] = x as [number, number, number];
  let rss = 0;
  for (let c = 0; c < m.length; c++) {
    const mc = m[c] as number;
    if (Number.isNaN(mc)) continue;
    rss += (mc - alpha * (y[c] as number) - beta - gamma * (step[c] as number)) ** 2;
  }
  return { alpha, beta, gamma, rss: Number.isFinite(rss) ? rss : Infinity };
}

/** Least-squares alpha, beta of m ~ alpha y + beta over the non-NaN channels of m, and the residual sum of squares. */
export function linearScale(m: ArrayLike<number>, y: ArrayLike<number>): { alpha: number; beta: number; rss: number } {
  let nn = 0;
  let sy = 0;
  let sm = 0;
  let syy = 0;
  let sym = 0;
  let smm = 0;
  for (let c = 0; c < m.length; c++) {
    const mc = m[c] as number;
    if (Number.isNaN(mc)) continue;
    const yc = y[c] as number;
    nn++;
    sy += yc;
    sm += mc;
    syy += yc * yc;
    sym += yc * mc;
    smm += mc * mc;
  }
  const det = nn * syy - sy * sy;
  let alpha = 0;
  let beta = nn > 0 ? sm / nn : 0;
  if (det > 1e-12 * Math.max(1, nn * syy)) {
    alpha = (nn * sym - sy * sm) / det;
    beta = (sm - alpha * sy) / nn;
  }
  // rss = sum (m - a y - b)^2, expanded
  const rss = Math.max(0, smm + alpha * alpha * syy + nn * beta * beta - 2 * alpha * sym - 2 * beta * sm + 2 * alpha * beta * sy);
  return { alpha, beta, rss: Number.isFinite(rss) ? rss : Infinity };
}

/** a (rows x inner) times b (inner x cols), row-major; e.g. tf.matMul on the wasm backend (ops/matmul.ts). */
export type MatMul = (a: Float32Array, rows: number, inner: number, b: Float32Array, cols: number) => Float32Array;

/** Plain-loop matrix product (the default; the CLI passes a faster one). */
export const jsMatMul: MatMul = (a, rows, inner, b, cols) => {
  const out = new Float32Array(rows * cols);
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let k = 0; k < inner; k++) {
      const v = a[r * inner + k] as number;
      if (v === 0) continue;
      const o = k * cols;
      for (let c = 0; c < cols; c++) acc[c] = (acc[c] as number) + v * (b[o + c] as number);
    }
    out.set(acc, r * cols);
  }
  return out;
};

/**
 * For every usable pixel, the indices of its `S` nearest library spectra (masked sum of
 * squared differences), best first: n_usable x S. d(i, l) = sum_c w (m - y_l)^2 =
 * sum w m^2 - 2 (W.M) Y^T + W (Y^2)^T: two matrix products per block of pixels (one when no
 * pixel of the block has an uncovered channel: then the last term is sum_c y_l^2).
 */
export function nearestLibrary(
  measured: Float32Array,
  usable: readonly number[],
  C: number,
  lib: Float32Array,
  L: number,
  S: number,
  onProgress?: (done: number, total: number) => void,
  matmul: MatMul = jsMatMul,
  block = 1024,
): Int32Array {
  const libT = new Float32Array(C * L); // C x L: plain-layout products
  const libT2 = new Float32Array(C * L);
  const libSq = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    let s = 0;
    for (let c = 0; c < C; c++) {
      const v = lib[l * C + c] as number;
      libT[c * L + l] = v;
      libT2[c * L + l] = v * v;
      s += v * v;
    }
    libSq[l] = s;
  }
  const out = new Int32Array(usable.length * S);
  const bestD = new Float64Array(S);
  for (let u0 = 0; u0 < usable.length; u0 += block) {
    const rows = Math.min(block, usable.length - u0);
    const M = new Float32Array(rows * C);
    let partial = false;
    for (let j = 0; j < rows; j++) {
      const i = usable[u0 + j] as number;
      for (let c = 0; c < C; c++) {
        const v = measured[i * C + c] as number;
        if (Number.isNaN(v)) partial = true;
        else M[j * C + c] = v;
      }
    }
    const cross = matmul(M, rows, C, libT, L);
    let sq: Float32Array | null = null;
    if (partial) {
      const W = new Float32Array(rows * C);
      for (let j = 0; j < rows; j++) {
        const i = usable[u0 + j] as number;
        for (let c = 0; c < C; c++) W[j * C + c] = Number.isNaN(measured[i * C + c] as number) ? 0 : 1;
      }
      sq = matmul(W, rows, C, libT2, L);
    }
    for (let j = 0; j < rows; j++) {
      const o = (u0 + j) * S;
      bestD.fill(Infinity);
      for (let s = 0; s < S; s++) out[o + s] = 0;
      for (let l = 0; l < L; l++) {
        const d = (sq ? (sq[j * L + l] as number) : (libSq[l] as number)) - 2 * (cross[j * L + l] as number);
        if (!(d < (bestD[S - 1] as number))) continue;
        let s = S - 1;
        while (s > 0 && d < (bestD[s - 1] as number)) {
          bestD[s] = bestD[s - 1] as number;
          out[o + s] = out[o + s - 1] as number;
          s--;
        }
        bestD[s] = d;
        out[o + s] = l;
      }
    }
    onProgress?.(u0 + rows, usable.length);
  }
  return out;
}

/** Candidates examined per start by the diversity rule. */
const DIVERSE_POOL = 8;

/**
 * From `pool` candidates per pixel (best first), `S` starts: greedily the best candidate at
 * least `minDist` (RMS over the free normalised parameters) from those already picked; the
 * remaining slots, if any, with the best candidates not yet picked.
 */
function diverseStarts(near: Int32Array, nu: number, pool: number, S: number, zl: Float64Array, F: number, minDist: number): Int32Array {
  const out = new Int32Array(nu * S);
  const picked: number[] = [];
  for (let u = 0; u < nu; u++) {
    picked.length = 0;
    const cand = near.subarray(u * pool, (u + 1) * pool);
    for (const l of cand) {
      if (picked.length === S) break;
      const far = picked.every((q) => {
        let d = 0;
        for (let f = 0; f < F; f++) d += ((zl[l * F + f] as number) - (zl[q * F + f] as number)) ** 2;
        return Math.sqrt(d / Math.max(F, 1)) >= minDist;
      });
      if (far) picked.push(l);
    }
    for (const l of cand) {
      if (picked.length === S) break;
      if (!picked.includes(l)) picked.push(l);
    }
    out.set(picked, u * S);
  }
  return out;
}

function keepBestStart(cost: Float64Array, active: Uint8Array, nu: number, S: number): void {
  for (let u = 0; u < nu; u++) {
    let b = u * S;
    for (let s = 1; s < S; s++) if ((cost[u * S + s] as number) < (cost[b] as number)) b = u * S + s;
    for (let s = 0; s < S; s++) if (u * S + s !== b) active[u * S + s] = 0;
  }
}

/** Cholesky factor in place (lower triangle of A <- L); the smallest pivot, 0 if not positive definite. */
function choleskyFactor(A: Float64Array, K: number): number {
  let minPivot = Infinity;
  for (let j = 0; j < K; j++) {
    let d = A[j * K + j] as number;
    for (let k = 0; k < j; k++) d -= (A[j * K + k] as number) ** 2;
    if (!(d > 0)) return 0;
    const l = Math.sqrt(d);
    minPivot = Math.min(minPivot, l);
    A[j * K + j] = l;
    for (let i = j + 1; i < K; i++) {
      let s = A[i * K + j] as number;
      for (let k = 0; k < j; k++) s -= (A[i * K + k] as number) * (A[j * K + k] as number);
      A[i * K + j] = s / l;
    }
  }
  return minPivot;
}

/** b <- (L L^T)^-1 b with L from choleskyFactor. */
function choleskySubstitute(L: Float64Array, b: Float64Array, K: number): void {
  for (let i = 0; i < K; i++) {
    let s = b[i] as number;
    for (let k = 0; k < i; k++) s -= (L[i * K + k] as number) * (b[k] as number);
    b[i] = s / (L[i * K + i] as number);
  }
  for (let i = K - 1; i >= 0; i--) {
    let s = b[i] as number;
    for (let k = i + 1; k < K; k++) s -= (L[k * K + i] as number) * (b[k] as number);
    b[i] = s / (L[i * K + i] as number);
  }
}

/** Solves A x = b in place (b <- x) for a symmetric positive definite K x K A (overwritten). */
export function choleskySolve(A: Float64Array, b: Float64Array, K: number): boolean {
  if (choleskyFactor(A, K) === 0) return false;
  choleskySubstitute(A, b, K);
  return true;
}

/**
 * Inverse of a symmetric positive semi-definite K x K matrix, via Cholesky of the matrix
 * scaled to unit diagonal; false (out NaN) when it is singular to working precision
 * (a pivot of the scaled factor below 1e-6, i.e. a condition number above about 1e12).
 */
export function invertSpd(A: ArrayLike<number>, out: Float64Array, K: number): boolean {
  const d = new Float64Array(K);
  for (let p = 0; p < K; p++) {
    const v = A[p * K + p] as number;
    if (!(v > 0)) {
      out.fill(NaN);
      return false;
    }
    d[p] = 1 / Math.sqrt(v);
  }
  const L = new Float64Array(K * K);
  for (let p = 0; p < K; p++) for (let q = 0; q < K; q++) L[p * K + q] = (A[p * K + q] as number) * (d[p] as number) * (d[q] as number);
  if (!(choleskyFactor(L, K) > 1e-6)) {
    out.fill(NaN);
    return false;
  }
  const e = new Float64Array(K);
  for (let q = 0; q < K; q++) {
    e.fill(0);
    e[q] = 1;
    choleskySubstitute(L, e, K);
    for (let p = 0; p < K; p++) out[p * K + q] = (e[p] as number) * (d[p] as number) * (d[q] as number);
  }
  return true;
}

async function forChunks(rows: readonly number[], size: number, concurrency: number, fn: (part: number[]) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const part = rows.slice(next, next + size);
      next += size;
      await fn(part);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.ceil(rows.length / size)) }, worker));
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
