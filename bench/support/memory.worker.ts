// Forked by the bench runner with --expose-gc: pushes many distinct tokens through the 2FA cache
// and reports how many entries it holds and how much the process grew.
import { BENCH_MEMORY } from './memory.js';
import { serveParent } from './worker.js';

/** The part of the package's internal TwoFactorCache this bench drives. */
interface TwoFactorCacheLike {
  readonly size: number;
  get(accessToken: string, load: (accessToken: string) => Promise<number[]>): Promise<number[]>;
}
type TwoFactorCacheClass = new (ttlMs: number, maxEntries: number) => TwoFactorCacheLike;

// The cache is not public API (the package exports no cache statistics), so it is loaded from the
// built package's files, next to its entry point; it is the same class TwoFactorService uses.
const entry = import.meta.resolve('nestjs-hyperid');
const { TwoFactorCache } = (await import(new URL('./cache/two-factor.cache.js', entry).href)) as {
  TwoFactorCache: TwoFactorCacheClass;
};

const gc = (globalThis as { gc?: () => void }).gc;
const settle = async () => {
  for (let i = 0; i < 3; i += 1) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
};

const cache = new TwoFactorCache(30_000, BENCH_MEMORY.maxEntries);
const answer = [0, 3];
const load = async () => answer;

await settle();
const before = process.memoryUsage();
let peakRss = before.rss;
for (let i = 0; i < BENCH_MEMORY.tokens; i += 1) {
  await cache.get(`memory-bench-token-${i}-${'x'.repeat(40)}`, load);
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
