/**
 * A seeded source of randomness for the local runtime: the demo stream and the fake API's failure
 * injection draw from it, so a run is repeatable from its seed.
 *
 * @example
 * const random = createRandom(42);
 * random.int(6); // 0..5, the same on every run with seed 42
 */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** Shuffles `items` in place (Fisher-Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[];
}

const TWO_TO_THE_32 = 4_294_967_296;

/**
 * Creates a mulberry32 generator: 32 bits of state, a full period of 2^32, and good enough
 * statistics for simulations. Not for anything secret.
 *
 * @param seed - any safe integer; only its low 32 bits matter
 * @throws {RangeError} when `seed` is not a safe integer
 * @example
 * const a = createRandom(7);
 * const b = createRandom(7);
 * a.next() === b.next(); // true
 * a.shuffle([1, 2, 3, 4]); // a permutation, the same for seed 7 every time
 */
export const createRandom = (seed: number): Random => {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Expected \`seed\` to be a safe integer, got \`${String(seed)}\``);
  }
  let state = seed >>> 0;

  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_TO_THE_32;
  };

  const int = (maxExclusive: number): number => {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
      throw new RangeError(`Expected \`maxExclusive\` to be an integer >= 1, got \`${String(maxExclusive)}\``);
    }
    return Math.floor(next() * maxExclusive);
  };

  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new RangeError('Expected `items` to hold at least one element, got an empty list');
    return items[int(items.length)] as T;
  };

  const shuffle = <T>(items: T[]): T[] => {
    for (let index = items.length - 1; index > 0; index -= 1) {
      const other = int(index + 1);
      const held = items[index] as T;
      items[index] = items[other] as T;
      items[other] = held;
    }
    return items;
  };

  return { next, int, pick, shuffle };
};
