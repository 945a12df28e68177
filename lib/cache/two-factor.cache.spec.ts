import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import { HyperIdError } from '../hyperid.errors.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from '../interfaces/two-factor-cache-store.interface.js';
import { TwoFactorCache } from './two-factor.cache.js';
import { tokenDigest } from './token-digest.js';

const TOKEN = 'secret-access-token.with.parts';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise whose settling the test controls. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A loader that counts its calls and answers `answer` (or what `answer` returns). */
function countingLoader(answer: number[] | ((token: string) => Promise<number[]>) = [0, 3]) {
  const calls: string[] = [];
  const load = async (token: string) => {
    calls.push(token);
    return typeof answer === 'function' ? answer(token) : [...answer];
  };
  return { load, calls };
}

/** A shared store kept in a Map, recording every key it is asked about. */
class MapStore implements TwoFactorCacheStore {
  readonly entries = new Map<string, unknown>();
  readonly gets: string[] = [];
  readonly sets: Array<{ key: string; value: CachedTwoFactorTypes; ttlMs: number }> = [];

  async get(key: string): Promise<CachedTwoFactorTypes | undefined> {
    this.gets.push(key);
    return this.entries.get(key) as CachedTwoFactorTypes | undefined;
  }

  async set(key: string, value: CachedTwoFactorTypes, ttlMs: number): Promise<void> {
    this.sets.push({ key, value, ttlMs });
    this.entries.set(key, value);
  }
}

const logged: string[] = [];
const captureLogger: LoggerService = {
  log: (message: unknown) => void logged.push(String(message)),
  warn: (message: unknown) => void logged.push(String(message)),
  error: (message: unknown) => void logged.push(String(message)),
};

beforeAll(() => Logger.overrideLogger(captureLogger));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
beforeEach(() => {
  logged.length = 0;
});

describe('TwoFactorCache', () => {
  describe('single flight', () => {
    it('shares one load between concurrent lookups of one token', async () => {
      const cache = new TwoFactorCache(30_000, 100);
      const answer = deferred<number[]>();
      const { load, calls } = countingLoader(() => answer.promise);
      const lookups = Array.from({ length: 25 }, () => cache.get(TOKEN, load));
      answer.resolve([1, 2]);
      const results = await Promise.all(lookups);
      expect(calls).toEqual([TOKEN]);
      for (const result of results) expect(result).toEqual([1, 2]);
    });

    it('shares a failure too, and every waiter sees it', async () => {
      const cache = new TwoFactorCache(30_000, 100);
      const answer = deferred<number[]>();
      const { load, calls } = countingLoader(() => answer.promise);
      const lookups = Array.from({ length: 10 }, () => cache.get(TOKEN, load));
      const failure = new Error('HyperID said no');
      answer.reject(failure);
      const outcomes = await Promise.allSettled(lookups);
      expect(calls).toHaveLength(1);
      for (const outcome of outcomes) expect(outcome).toEqual({ status: 'rejected', reason: failure });
    });

    it('loads different tokens separately', async () => {
      const cache = new TwoFactorCache(30_000, 100);
      const { load, calls } = countingLoader(async (token) => (token === 'a' ? [0] : [3]));
      const [a, b] = await Promise.all([cache.get('a', load), cache.get('b', load)]);
      expect(a).toEqual([0]);
      expect(b).toEqual([3]);
      expect(calls.sort()).toEqual(['a', 'b']);
    });
  });

  describe('what is cached', () => {
    it('reuses a success within the TTL', async () => {
      const cache = new TwoFactorCache(30_000, 100);
      const { load, calls } = countingLoader([0, 3]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 3]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 3]);
      expect(calls).toHaveLength(1);
      expect(cache.size).toBe(1);
    });

    it('never caches a failure: the next lookup asks again', async () => {
      const cache = new TwoFactorCache(30_000, 100);
      let attempt = 0;
      const { load, calls } = countingLoader(async () => {
        attempt += 1;
        if (attempt === 1) throw new Error('transient');
        return [1];
      });
      await expect(cache.get(TOKEN, load)).rejects.toThrow('transient');
      expect(cache.size).toBe(0);
      expect(await cache.get(TOKEN, load)).toEqual([1]);
      expect(calls).toHaveLength(2);
    });

    it('asks again once the TTL has run out', async () => {
      const cache = new TwoFactorCache(40, 100);
      const { load, calls } = countingLoader([2]);
      await cache.get(TOKEN, load);
      await sleep(150);
      await cache.get(TOKEN, load);
      expect(calls).toHaveLength(2);
    });

    it('caps the TTL by notAfter (the JWT exp)', async () => {
      const cache = new TwoFactorCache(60_000, 100);
      const { load, calls } = countingLoader([2]);
      await cache.get(TOKEN, load, Date.now() + 40);
      await sleep(150);
      await cache.get(TOKEN, load, Date.now() + 60_000);
      expect(calls).toHaveLength(2);
    });

    it('writes expiresAt = notAfter to the store when notAfter comes before the TTL', async () => {
      const store = new MapStore();
      const cache = new TwoFactorCache(60_000, 100, store);
      const notAfter = Date.now() + 5_000;
      await cache.get(TOKEN, countingLoader([1]).load, notAfter);
      expect(store.sets).toHaveLength(1);
      expect(store.sets[0].value).toEqual({ authTypes: [1], expiresAt: notAfter });
      expect(store.sets[0].ttlMs).toBeGreaterThan(0);
      expect(store.sets[0].ttlMs).toBeLessThanOrEqual(5_000);
    });

    it('writes expiresAt = now + TTL when notAfter is later', async () => {
      const store = new MapStore();
      const cache = new TwoFactorCache(1_000, 100, store);
      const before = Date.now();
      await cache.get(TOKEN, countingLoader([1]).load, Date.now() + 3_600_000);
      const after = Date.now();
      const { value, ttlMs } = store.sets[0];
      expect(value.expiresAt).toBeGreaterThanOrEqual(before + 1_000);
      expect(value.expiresAt).toBeLessThanOrEqual(after + 1_000);
      expect(ttlMs).toBeLessThanOrEqual(1_000);
    });

    it('holds at most maxEntries tokens, dropping the least recently used', async () => {
      const cache = new TwoFactorCache(60_000, 3);
      const { load, calls } = countingLoader([0]);
      for (const token of ['t1', 't2', 't3', 't4', 't5']) await cache.get(token, load);
      expect(cache.size).toBe(3);
      calls.length = 0;
      await cache.get('t5', load);
      await cache.get('t3', load);
      expect(calls).toEqual([]);
      await cache.get('t1', load);
      expect(calls).toEqual(['t1']);
      expect(cache.size).toBe(3);
    });
  });

  describe('a full cache', () => {
    it('does not fail a lookup whose in-flight entry gets evicted with anything but a HyperIdError', async () => {
      // maxEntries 1: B's answer takes the only slot while A is still being loaded.
      const cache = new TwoFactorCache(30_000, 1);
      const answerA = deferred<number[]>();
      const a = cache.get('A', () => answerA.promise);
      const b = cache.get('B', async () => [2]);
      expect(await b).toEqual([2]);
      answerA.resolve([1]);
      const [outcome] = await Promise.allSettled([a]);
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(HyperIdError);
      } else {
        expect(outcome.value).toEqual([1]);
      }
    });
  });

  describe('shared store (L2)', () => {
    it('serves an entry from the store without loading, then from memory', async () => {
      const store = new MapStore();
      store.entries.set(tokenDigest(TOKEN), { authTypes: [0, 1, 99], expiresAt: Date.now() + 60_000 });
      const cache = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([3]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 1, 99]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 1, 99]);
      expect(calls).toEqual([]);
      expect(store.gets).toHaveLength(1);
    });

    it('lets a second instance reuse what the first one loaded', async () => {
      const store = new MapStore();
      const first = new TwoFactorCache(30_000, 100, store);
      const second = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([0, 3]);
      await first.get(TOKEN, load);
      expect(await second.get(TOKEN, load)).toEqual([0, 3]);
      expect(calls).toHaveLength(1);
    });

    it('ignores an expired entry of the store and loads', async () => {
      const store = new MapStore();
      store.entries.set(tokenDigest(TOKEN), { authTypes: [0], expiresAt: Date.now() - 1 });
      const cache = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([3]);
      expect(await cache.get(TOKEN, load)).toEqual([3]);
      expect(calls).toHaveLength(1);
    });

    it('does not write a failure to the store', async () => {
      const store = new MapStore();
      const cache = new TwoFactorCache(30_000, 100, store);
      await expect(
        cache.get(TOKEN, async () => {
          throw new Error('nope');
        }),
      ).rejects.toThrow('nope');
      expect(store.sets).toEqual([]);
    });

    it.each([
      ['null', null],
      ['a string', 'authTypes'],
      ['an array', [0, 1]],
      ['no authTypes', { expiresAt: Date.now() + 60_000 }],
      ['authTypes not an array', { authTypes: '0,1', expiresAt: Date.now() + 60_000 }],
      ['fractional types', { authTypes: [1.5], expiresAt: Date.now() + 60_000 }],
      ['string types', { authTypes: ['1'], expiresAt: Date.now() + 60_000 }],
      ['too many types', { authTypes: Array.from({ length: 257 }, () => 0), expiresAt: Date.now() + 60_000 }],
      ['no expiresAt', { authTypes: [0] }],
      ['expiresAt as a string', { authTypes: [0], expiresAt: String(Date.now() + 60_000) }],
      ['expiresAt NaN', { authTypes: [0], expiresAt: Number.NaN }],
      ['expiresAt Infinity', { authTypes: [0], expiresAt: Number.POSITIVE_INFINITY }],
    ])('treats garbage from the store (%s) as a miss and loads', async (_name, garbage) => {
      const store = new MapStore();
      store.entries.set(tokenDigest(TOKEN), garbage);
      const cache = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([3]);
      expect(await cache.get(TOKEN, load)).toEqual([3]);
      expect(calls).toHaveLength(1);
    });

    it.each([
      [
        'rejects',
        {
          get: () => Promise.reject(new Error('ECONNREFUSED')),
          set: () => Promise.reject(new Error('ECONNREFUSED')),
        },
      ],
      [
        'throws synchronously',
        {
          get: () => {
            throw new Error('store is broken');
          },
          set: () => {
            throw new Error('store is broken');
          },
        },
      ],
    ])('degrades to loading when the store %s, and still caches in memory', async (_name, store) => {
      const cache = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([0, 3]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 3]);
      expect(await cache.get(TOKEN, load)).toEqual([0, 3]);
      expect(calls).toHaveLength(1);
      await sleep(10);
      expect(logged.some((line) => /store failed on read/.test(line))).toBe(true);
      expect(logged.some((line) => /store failed on write/.test(line))).toBe(true);
    });

    it('does not let a store that never answers a write hold up the lookup', async () => {
      const store: TwoFactorCacheStore = {
        get: async () => undefined,
        set: () => new Promise<void>(() => undefined),
      };
      const cache = new TwoFactorCache(30_000, 100, store);
      expect(await cache.get(TOKEN, countingLoader([1]).load)).toEqual([1]);
    });

    it('keeps a store entry about to expire in memory no longer than it lives', async () => {
      // The entry has 1 ms left when read; a clock tick between the read and the TTL computation
      // must not turn it into an entry without TTL.
      const base = Date.now();
      const store = new MapStore();
      store.entries.set(tokenDigest(TOKEN), { authTypes: [0], expiresAt: base + 1 });
      const clock = jest.spyOn(Date, 'now');
      clock.mockReturnValueOnce(base).mockReturnValueOnce(base + 1);
      const cache = new TwoFactorCache(30_000, 100, store);
      const { load, calls } = countingLoader([3]);
      try {
        expect(await cache.get(TOKEN, load)).toEqual([0]);
      } finally {
        clock.mockRestore();
      }
      await sleep(50);
      expect(await cache.get(TOKEN, load)).toEqual([3]);
      expect(calls).toHaveLength(1);
    });
  });

  describe('keys are digests', () => {
    it('uses the SHA-256 of the token (base64url) as the key, never the token', async () => {
      const store = new MapStore();
      const cache = new TwoFactorCache(30_000, 100, store);
      await cache.get(TOKEN, countingLoader([1]).load);
      const expected = createHash('sha256').update(TOKEN).digest('base64url');
      expect(store.gets).toEqual([expected]);
      expect(store.sets.map((set) => set.key)).toEqual([expected]);
      expect(tokenDigest(TOKEN)).toBe(expected);
    });

    it('never hands the token to the store, in keys or values', async () => {
      const seen: unknown[] = [];
      const store: TwoFactorCacheStore = {
        get: async (key) => {
          seen.push(key);
          return undefined;
        },
        set: async (key, value, ttlMs) => {
          seen.push(key, value, ttlMs);
        },
      };
      const cache = new TwoFactorCache(30_000, 100, store);
      await cache.get(TOKEN, countingLoader([1]).load);
      expect(seen.length).toBeGreaterThan(0);
      expect(JSON.stringify(seen)).not.toContain(TOKEN);
      expect(JSON.stringify(seen)).not.toContain('secret');
    });

    it('never logs the token when the store fails', async () => {
      const store: TwoFactorCacheStore = {
        get: async (key) => {
          throw new Error(`cannot read ${key}`);
        },
        set: async () => {
          throw new Error('cannot write');
        },
      };
      const cache = new TwoFactorCache(30_000, 100, store);
      await cache.get(TOKEN, countingLoader([1]).load);
      await sleep(10);
      expect(logged.length).toBeGreaterThan(0);
      for (const line of logged) expect(line).not.toContain(TOKEN);
    });
  });
});
