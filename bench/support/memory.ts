/** The memory scenario: how many distinct tokens go through a cache of how many entries. */
export const BENCH_MEMORY = { tokens: 1_000_000, maxEntries: 10_000 };
