// Forked by the bench runner with --expose-gc: pushes many distinct tokens through the 2FA cache
// and reports how many entries it holds and how much the process grew.
import { BENCH_MEMORY } from './memory.js';
import { serveParent } from './worker.js';

/** The parts of the package's internal TwoFactorCache and CacheKeys this bench drives. */
interface TwoFactorCacheLike {
  readonly size: number;
  get(
    key: string,
    accessToken: string,
    load: (accessToken: string) => Promise<readonly number[]>,
  ): Promise<unknown>;
}
interface CacheKeysLike {
  keyOf(accessToken: string): string;
}
type TwoFactorCacheClass = new (
  options: { ttlMs: number; maxEntries: number; negativeTtlMs: number },
  keys: CacheKeysLike,
) => TwoFactorCacheLike;
type CacheKeysClass = new (secret: string | undefined, apiOrigin: string) => CacheKeysLike;

// The cache is not public API (the package exports no cache statistics), so it is loaded from the
// built package's files, next to its entry point; they are the classes TwoFactorService uses.
const entry = import.meta.resolve('nestjs-hyperid');
const { TwoFactorCache } = (await import(new URL('./cache/two-factor.cache.js', entry).href)) as {
  TwoFactorCache: TwoFactorCacheClass;
};
const { CacheKeys } = (await import(new URL('./cache/token-digest.js', entry).href)) as {
  CacheKeys: CacheKeysClass;
};

const gc = (globalThis as { gc?: () => void }).gc;
const settle = async () => {
  for (let i = 0; i < 3; i += 1) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
};

// As TwoFactorService builds them with a memory-only cache: keys are the tokens' SHA-256 digests.
const keys = new CacheKeys(undefined, 'http://127.0.0.1');
const cache = new TwoFactorCache(
  { ttlMs: 30_000, maxEntries: BENCH_MEMORY.maxEntries, negativeTtlMs: 0 },
  keys,
);
const answer = [0, 3];
const load = async () => answer;

await settle();
const before = process.memoryUsage();
let peakRss = before.rss;
for (let i = 0; i < BENCH_MEMORY.tokens; i += 1) {
  const token = `memory-bench-token-${i}-${'x'.repeat(40)}`;
  await cache.get(keys.keyOf(token), token, load);
  if (i % 50_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
}
await settle();
const after = process.memoryUsage();
peakRss = Math.max(peakRss, after.rss);

serveParent(
  {
    entries: cache.size,
    rssBefore: before.rss,
    rssAfter: after.rss,
    peakRss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    gcExposed: gc !== undefined,
  },
  async () => ({}),
);
process.on('SIGTERM', () => process.exit(0));
