/** The tokens the fake HyperID knows in the benches; each user has 2FA methods [0, 3]. */
export const BENCH_TOKENS = {
  /** The one user of the warm-cache comparison. */
  warm: 'bench-warm-user',
  /** The many users of the cached-vs-naive comparison. */
  users: (count: number): string[] => Array.from({ length: count }, (_, i) => `bench-user-${i}`),
  /** Tokens never seen before, one per single-flight round. */
  fresh: (round: number): string => `bench-fresh-${round}`,
  /** The cold-path scenario's tokens, one per request: the `i`th of a `run`. */
  cold: (run: string, i: number): string => `bench-cold-${run}-${i}`,
  all(): string[] {
    return [
      this.warm,
      ...this.users(USER_COUNT),
      ...Array.from({ length: FRESH_ROUNDS }, (_, i) => this.fresh(i)),
    ];
  },
};

/** How many distinct users the cached-vs-naive comparison cycles through. */
export const USER_COUNT = 200;
/** How many fresh tokens the single-flight scenario tries (each must cost one HyperID call). */
export const FRESH_ROUNDS = 5;
