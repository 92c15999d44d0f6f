/**
 * Counter-based random numbers: the value for (seed, stream, index) does not depend on
 * the order in which values are drawn, so datasets are identical for any worker count.
 * splitmix64-style mixing on BigInt-free 32-bit halves (murmur3 finaliser twice).
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform double in [0, 1) determined by the three integers. */
export function hashUniform(seed: number, stream: number, index: number): number {
  const a = fmix32((seed ^ 0x9e3779b9) + Math.imul(stream, 0x85ebca6b));
  const hi = fmix32(a ^ fmix32(index + 0x27d4eb2f));
  const lo = fmix32(hi ^ Math.imul(index, 0x165667b1) ^ 0x5bd1e995);
  return (hi * 2 ** 21 + (lo >>> 11)) / 2 ** 53;
}

/** A small seeded sequential generator (mulberry32) for tests and non-parallel sampling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
