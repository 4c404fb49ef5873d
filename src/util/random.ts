/**
 * faceops' one seeded pseudo-random generator. Training must be repeatable: the same seed gives the
 * same shuffles, augmentations and random VGG16 weights on every machine, which Math.random cannot
 * promise. Its numbers feed backbone fingerprints and cached features, so they must never change
 * (test/unit/util/random.test.ts pins them).
 */

/**
 * mulberry32 (Tommy Ettinger): 32 bits of state, fast, and statistically adequate for shuffling,
 * augmentation draws and initial weights. Only the low 32 bits of the seed count.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle of 0..length-1 with a seeded generator. */
export function seededPermutation(length: number, seed: number): number[] {
  const random = seededRandom(seed);
  const order = Array.from({ length }, (_, index) => index);
  for (let index = length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [order[index], order[other]] = [order[other] as number, order[index] as number];
  }
  return order;
}
