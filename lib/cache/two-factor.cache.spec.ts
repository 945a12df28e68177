import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from '../errors/hyperid.errors.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from '../interfaces/two-factor-cache-store.interface.js';
import { CacheKeys, tokenDigest } from './token-digest.js';
import { TwoFactorCache, type TwoFactorAnswer, type TwoFactorLoader } from './two-factor.cache.js';

const TOKEN = 'secret-access-token.with.parts';
const SECRET = 'a-cache-secret-of-at-least-32-characters';
const OTHER_SECRET = 'another-cache-secret-of-32-characters!!';
const ORIGIN = 'https://api.hypersecureid.com';
const OTHER_ORIGIN = 'https://api.sandbox.hypersecureid.com';
const INTEGRITY_WARNING = /failed the integrity check/;

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

/** A loader that records the tokens it is asked about and answers `answer` (or what it returns). */
function countingLoader(answer: number[] | ((token: string) => Promise<readonly number[]>) = [0, 3]) {
  const calls: string[] = [];
  const load: TwoFactorLoader = async (token) => {
    calls.push(token);
    return typeof answer === 'function' ? answer(token) : [...answer];
  };
  return { load, calls };
}

/** A loader that records its calls and always fails with `error`. */
function failingLoader(error: unknown) {
  const calls: string[] = [];
  const load: TwoFactorLoader = async (token) => {
    calls.push(token);
    throw error;
  };
  return { load, calls };
}

/** A shared store kept in a Map, recording what it is asked. */
class MapStore implements TwoFactorCacheStore {
  readonly entries = new Map<string, unknown>();
  readonly gets: string[] = [];
  readonly sets: Array<{ key: string; value: CachedTwoFactorTypes; ttlMs: number }> = [];
  readonly deletes: string[] = [];

  async get(key: string): Promise<CachedTwoFactorTypes | undefined> {
    this.gets.push(key);
    return this.entries.get(key) as CachedTwoFactorTypes | undefined;
  }

  async set(key: string, value: CachedTwoFactorTypes, ttlMs: number): Promise<void> {
    this.sets.push({ key, value, ttlMs });
    this.entries.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.deletes.push(key);
    this.entries.delete(key);
  }
}

interface Setup {
  ttlMs?: number;
  maxEntries?: number;
  negativeTtlMs?: number;
  store?: TwoFactorCacheStore;
  secret?: string;
  origin?: string;
}

/** A cache as TwoFactorService builds one, with the keys it asks under. */
function setUp(setup: Setup = {}) {
  const { ttlMs = 30_000, maxEntries = 100, negativeTtlMs = 10_000, store, origin = ORIGIN } = setup;
  const secret = setup.secret ?? (store ? SECRET : undefined);
  const keys = new CacheKeys(secret, origin);
  const cache = new TwoFactorCache({ ttlMs, maxEntries, negativeTtlMs, store, secret }, keys);
  const get = (token: string, load: TwoFactorLoader, notAfter?: number): Promise<TwoFactorAnswer> =>
    cache.get(keys.keyOf(token), token, load, notAfter);
  const peek = (token: string) => cache.peek(keys.keyOf(token));
  const invalidate = (token: string) => cache.invalidate(keys.keyOf(token));
  return { cache, keys, get, peek, invalidate };
}

/** An entry as a cache with `keys` writes it. */
function genuineEntry(
  keys: CacheKeys,
  key: string,
  authTypes: number[] = [0, 3],
  expiresAt = Date.now() + 60_000,
): CachedTwoFactorTypes {
  return { authTypes, expiresAt, mac: keys.macOf(key, authTypes, expiresAt) };
}

const logged: string[] = [];
const captureLogger: LoggerService = {
  log: (message: unknown) => void logged.push(String(message)),
  warn: (message: unknown) => void logged.push(String(message)),
  error: (message: unknown) => void logged.push(String(message)),
};
const integrityWarnings = () => logged.filter((line) => INTEGRITY_WARNING.test(line));

beforeAll(() => Logger.overrideLogger(captureLogger));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
beforeEach(() => {
  logged.length = 0;
});

describe('TwoFactorCache', () => {
  describe('answers', () => {
    it('answers with the key, the types and an expiry of now + ttlMs', async () => {
      const { keys, get } = setUp({ ttlMs: 30_000 });
      const before = Date.now();
      const answer = await get(TOKEN, countingLoader([0, 3, 99]).load);
      const after = Date.now();
      expect(answer.key).toBe(keys.keyOf(TOKEN));
      expect(answer.key).toBe(tokenDigest(TOKEN));
      expect(answer.authTypes).toEqual([0, 3, 99]);
      expect(answer.expiresAt).toBeGreaterThanOrEqual(before + 30_000);
      expect(answer.expiresAt).toBeLessThanOrEqual(after + 30_000);
    });

    it('hands the loader the token itself', async () => {
      const { get } = setUp();
      const { load, calls } = countingLoader();
      await get(TOKEN, load);
      expect(calls).toEqual([TOKEN]);
    });
  });

  describe('single flight', () => {
    it('shares one load between concurrent lookups of one token', async () => {
      const { get } = setUp();
      const answer = deferred<number[]>();
      const { load, calls } = countingLoader(() => answer.promise);
      const lookups = Array.from({ length: 25 }, () => get(TOKEN, load));
      answer.resolve([1, 2]);
      const results = await Promise.all(lookups);
      expect(calls).toEqual([TOKEN]);
      for (const result of results) expect(result.authTypes).toEqual([1, 2]);
    });

    it.each([
      ['HyperID is unavailable', new HyperIdServiceUnavailableError('HyperID is down')],
      ['the token is refused', new HyperIdTokenInvalidError()],
      ['anything else fails', new Error('boom')],
    ])('shares a failure too (%s), and every waiter sees it', async (_name, failure) => {
      const { get } = setUp();
      const answer = deferred<number[]>();
      const { load, calls } = countingLoader(() => answer.promise);
      const lookups = Array.from({ length: 10 }, () => get(TOKEN, load));
      answer.reject(failure);
      const outcomes = await Promise.allSettled(lookups);
      expect(calls).toHaveLength(1);
      for (const outcome of outcomes) expect(outcome).toEqual({ status: 'rejected', reason: failure });
    });

    it('forgets the lookup once it settled: after a transient failure, the next get loads again', async () => {
      const { get, peek } = setUp();
      let attempt = 0;
      const { load, calls } = countingLoader(async () => {
        attempt += 1;
        if (attempt === 1) throw new HyperIdServiceUnavailableError('transient');
        return [1];
      });
      await expect(get(TOKEN, load)).rejects.toThrow('transient');
      expect(peek(TOKEN)).toBeUndefined();
      expect((await get(TOKEN, load)).authTypes).toEqual([1]);
      expect(calls).toHaveLength(2);
      // ...and the success is then served from memory.
      expect((await get(TOKEN, load)).authTypes).toEqual([1]);
      expect(calls).toHaveLength(2);
    });

    it('loads different tokens separately', async () => {
      const { get } = setUp();
      const { load, calls } = countingLoader(async (token) => (token === 'a' ? [0] : [3]));
      const [a, b] = await Promise.all([get('a', load), get('b', load)]);
      expect(a.authTypes).toEqual([0]);
      expect(b.authTypes).toEqual([3]);
      expect(a.key).not.toBe(b.key);
      expect(calls.sort()).toEqual(['a', 'b']);
    });
  });

  describe('TTL', () => {
    it('reuses a success within the TTL, and peek() sees it', async () => {
      const { cache, get, peek } = setUp();
      const { load, calls } = countingLoader([0, 3]);
      const first = await get(TOKEN, load);
      expect(await get(TOKEN, load)).toEqual(first);
      expect(peek(TOKEN)).toEqual(first);
      expect(calls).toHaveLength(1);
      expect(cache.size).toBe(1);
    });

    it('peek() answers undefined for a token never looked up', () => {
      const { peek } = setUp();
      expect(peek(TOKEN)).toBeUndefined();
    });

    it('forgets an answer once ttlMs has run out', async () => {
      const { get, peek } = setUp({ ttlMs: 30 });
      const { load, calls } = countingLoader([2]);
      await get(TOKEN, load);
      expect(peek(TOKEN)).toBeDefined();
      await sleep(80);
      expect(peek(TOKEN)).toBeUndefined();
      await get(TOKEN, load);
      expect(calls).toHaveLength(2);
    });

    it('caps the expiry by notAfter (the JWT exp)', async () => {
      const { get, peek } = setUp({ ttlMs: 60_000 });
      const { load, calls } = countingLoader([2]);
      const notAfter = Date.now() + 30;
      expect((await get(TOKEN, load, notAfter)).expiresAt).toBe(notAfter);
      expect(peek(TOKEN)).toBeDefined();
      await sleep(80);
      expect(peek(TOKEN)).toBeUndefined();
      await get(TOKEN, load, Date.now() + 60_000);
      expect(calls).toHaveLength(2);
    });

    it('keeps the TTL when notAfter is later', async () => {
      const { get } = setUp({ ttlMs: 1_000 });
      const before = Date.now();
      const answer = await get(TOKEN, countingLoader([2]).load, Date.now() + 3_600_000);
      expect(answer.expiresAt).toBeGreaterThanOrEqual(before + 1_000);
      expect(answer.expiresAt).toBeLessThanOrEqual(Date.now() + 1_000);
    });

    it.each([
      ['is now', 0],
      ['has passed', -1_000],
    ])('does not keep an answer whose notAfter %s', async (_name, offset) => {
      // A TTL of 0 or less must not turn into an entry without TTL. The clock stands still during
      // the lookup, so that "now" is exactly notAfter.
      const { get, peek } = setUp({ ttlMs: 60_000 });
      const { load, calls } = countingLoader([2]);
      const now = Date.now();
      const notAfter = now + offset;
      const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
      try {
        expect((await get(TOKEN, load, notAfter)).expiresAt).toBe(notAfter);
      } finally {
        clock.mockRestore();
      }
      await sleep(20);
      expect(peek(TOKEN)).toBeUndefined();
      await get(TOKEN, load, notAfter);
      expect(calls).toHaveLength(2);
    });

    it('holds at most maxEntries answers, dropping the least recently used', async () => {
      const { cache, get } = setUp({ ttlMs: 60_000, maxEntries: 3 });
      const { load, calls } = countingLoader([0]);
      for (const token of ['t1', 't2', 't3', 't4', 't5']) await get(token, load);
      expect(cache.size).toBe(3);
      calls.length = 0;
      await get('t5', load);
      await get('t3', load);
      expect(calls).toEqual([]);
      await get('t1', load);
      expect(calls).toEqual(['t1']);
      expect(cache.size).toBe(3);
    });
  });

  describe('negative cache', () => {
    it('asks HyperID once about an invalid token asked about five times', async () => {
      const { cache, get, peek } = setUp();
      const refusal = new HyperIdTokenInvalidError();
      const { load, calls } = failingLoader(refusal);
      for (let i = 0; i < 5; i += 1) await expect(get(TOKEN, load)).rejects.toBe(refusal);
      expect(calls).toHaveLength(1);
      // A refusal is not an answer.
      expect(peek(TOKEN)).toBeUndefined();
      expect(cache.size).toBe(0);
    });

    it.each([
      ['an expired token', new HyperIdTokenExpiredError()],
      ['an access denial', new HyperIdAccessDeniedError()],
    ])('remembers %s too', async (_name, refusal) => {
      const { get } = setUp();
      const { load, calls } = failingLoader(refusal);
      await expect(get(TOKEN, load)).rejects.toBe(refusal);
      await expect(get(TOKEN, load)).rejects.toBe(refusal);
      expect(calls).toHaveLength(1);
    });

    it.each([
      ['unavailable', new HyperIdServiceUnavailableError('HyperID is down')],
      ['rate limited', new HyperIdRateLimitedError('slow down')],
      ['circuit open', new HyperIdCircuitOpenError('breaker open')],
      ['busy', new HyperIdBusyError('bulkhead full')],
      ['an upstream error', new HyperIdUpstreamError('malformed answer')],
      ['an invalid request', new HyperIdInvalidRequestError()],
      ['a plain Error', new Error('boom')],
    ])(
      'never remembers a failure that is not a refusal (%s): the next get loads again',
      async (_name, error) => {
        const { get } = setUp();
        const { load, calls } = failingLoader(error);
        await expect(get(TOKEN, load)).rejects.toBe(error);
        await expect(get(TOKEN, load)).rejects.toBe(error);
        expect(calls).toHaveLength(2);
      },
    );

    it('remembers nothing with negativeTtlMs 0', async () => {
      const { get } = setUp({ negativeTtlMs: 0 });
      const { load, calls } = failingLoader(new HyperIdTokenInvalidError());
      for (let i = 0; i < 3; i += 1) await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(3);
    });

    it('forgets a refusal after negativeTtlMs', async () => {
      const { get } = setUp({ negativeTtlMs: 30 });
      const { load, calls } = failingLoader(new HyperIdTokenInvalidError());
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(1);
      await sleep(80);
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(2);
    });

    it('caps how long a refusal is remembered by notAfter', async () => {
      const { get } = setUp({ negativeTtlMs: 60_000 });
      const { load, calls } = failingLoader(new HyperIdAccessDeniedError());
      const notAfter = Date.now() + 30;
      await expect(get(TOKEN, load, notAfter)).rejects.toThrow(HyperIdAccessDeniedError);
      await expect(get(TOKEN, load, notAfter)).rejects.toThrow(HyperIdAccessDeniedError);
      expect(calls).toHaveLength(1);
      await sleep(80);
      await expect(get(TOKEN, load, notAfter)).rejects.toThrow(HyperIdAccessDeniedError);
      expect(calls).toHaveLength(2);
    });

    it.each([
      ['is now', 0],
      ['has passed', -1],
    ])('does not remember a refusal whose notAfter %s', async (_name, offset) => {
      const { get } = setUp({ negativeTtlMs: 60_000 });
      const { load, calls } = failingLoader(new HyperIdTokenInvalidError());
      const now = Date.now();
      const notAfter = now + offset;
      const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
      try {
        await expect(get(TOKEN, load, notAfter)).rejects.toThrow(HyperIdTokenInvalidError);
      } finally {
        clock.mockRestore();
      }
      await sleep(20);
      await expect(get(TOKEN, load, notAfter)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(2);
    });

    it('never writes a refusal to the shared store', async () => {
      const store = new MapStore();
      const { get } = setUp({ store });
      await expect(get(TOKEN, failingLoader(new HyperIdTokenInvalidError()).load)).rejects.toThrow(
        HyperIdTokenInvalidError,
      );
      await expect(
        get('other', failingLoader(new HyperIdServiceUnavailableError('down')).load),
      ).rejects.toThrow('down');
      expect(store.sets).toEqual([]);
    });

    it('does not let a flood of refused tokens evict a user’s answer', async () => {
      const { cache, get, peek } = setUp({ maxEntries: 50 });
      const { load: loadGood } = countingLoader([0, 3]);
      const good = await get('good-token', loadGood);
      const { load, calls } = failingLoader(new HyperIdTokenInvalidError());
      for (let i = 0; i < 200; i += 1) {
        await expect(get(`junk-${i}`, load)).rejects.toThrow(HyperIdTokenInvalidError);
      }
      expect(calls).toHaveLength(200);
      expect(peek('good-token')).toEqual(good);
      expect(cache.size).toBe(1);
      // The latest maxEntries refusals are remembered, in an LRU of their own.
      for (let i = 150; i < 200; i += 1) {
        await expect(get(`junk-${i}`, load)).rejects.toThrow(HyperIdTokenInvalidError);
      }
      expect(calls).toHaveLength(200);
    });

    it('does not let a flood of lookups in flight evict a user’s answer', async () => {
      const { cache, get, peek } = setUp({ maxEntries: 50 });
      const good = await get('good-token', countingLoader([0, 3]).load);
      const hang = deferred<number[]>();
      const { load, calls } = countingLoader(() => hang.promise);
      const pending = Array.from({ length: 200 }, (_, i) => get(`pending-${i}`, load));
      await sleep(0);
      expect(calls).toHaveLength(200);
      expect(peek('good-token')).toEqual(good);
      expect(cache.size).toBe(1);
      // They are all still in flight: a second get of each joins its lookup.
      const joined = get('pending-0', load);
      expect(calls).toHaveLength(200);
      hang.reject(new HyperIdServiceUnavailableError('HyperID is down'));
      const outcomes = await Promise.allSettled([...pending, joined]);
      expect(outcomes.every((outcome) => outcome.status === 'rejected')).toBe(true);
      expect(peek('good-token')).toEqual(good);
    });
  });

  describe('shared store', () => {
    describe('keys', () => {
      it('asks and writes under the HMAC key, never the token nor its plain SHA-256', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        await get(TOKEN, countingLoader([1]).load);
        const key = keys.keyOf(TOKEN);
        expect(store.gets).toEqual([key]);
        expect(store.sets.map((set) => set.key)).toEqual([key]);
        expect(key).not.toBe(tokenDigest(TOKEN));
        expect(key).not.toContain(TOKEN);
      });

      it('uses other keys for another secret and for another API origin', async () => {
        const store = new MapStore();
        await setUp({ store }).get(TOKEN, countingLoader([1]).load);
        await setUp({ store, secret: OTHER_SECRET }).get(TOKEN, countingLoader([1]).load);
        await setUp({ store, origin: OTHER_ORIGIN }).get(TOKEN, countingLoader([1]).load);
        expect(new Set(store.gets).size).toBe(3);
        expect(store.entries.size).toBe(3);
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
          delete: async (key) => {
            seen.push(key);
          },
        };
        const { get, invalidate } = setUp({ store });
        await get(TOKEN, countingLoader([1]).load);
        await invalidate(TOKEN);
        expect(seen).toHaveLength(5);
        expect(JSON.stringify(seen)).not.toContain(TOKEN);
        expect(JSON.stringify(seen)).not.toContain(SECRET);
      });
    });

    describe('genuine entries', () => {
      it('writes the types, the expiry and their MAC, for the entry’s lifetime', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store, ttlMs: 60_000 });
        const notAfter = Date.now() + 5_000;
        const answer = await get(TOKEN, countingLoader([1, 3]).load, notAfter);
        expect(store.sets).toHaveLength(1);
        const [{ key, value, ttlMs }] = store.sets;
        expect(key).toBe(answer.key);
        expect(value).toEqual({
          authTypes: [1, 3],
          expiresAt: notAfter,
          mac: keys.macOf(key, [1, 3], notAfter),
        });
        expect(keys.verify(key, value.authTypes, value.expiresAt, value.mac)).toBe(true);
        expect(ttlMs).toBeGreaterThan(4_000);
        expect(ttlMs).toBeLessThanOrEqual(5_000);
      });

      it('writes an answer that expires as it is written with the shortest store TTL, 1 ms', async () => {
        const store = new MapStore();
        const { get } = setUp({ store, ttlMs: 60_000 });
        const now = Date.now();
        const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
        try {
          await get(TOKEN, countingLoader([1]).load, now);
        } finally {
          clock.mockRestore();
        }
        expect(store.sets.map((set) => set.ttlMs)).toEqual([1]);
      });

      it('never writes back what it read from the store', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, genuineEntry(keys, key, [0, 1]));
        expect((await get(TOKEN, countingLoader([3]).load)).authTypes).toEqual([0, 1]);
        await sleep(0);
        expect(store.sets).toEqual([]);
      });

      it('honours a genuine entry of 256 types, the most an answer may hold', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        const many = Array.from({ length: 256 }, (_, i) => i);
        store.entries.set(key, genuineEntry(keys, key, many));
        const { load, calls } = countingLoader([3]);
        expect((await get(TOKEN, load)).authTypes).toEqual(many);
        expect(calls).toEqual([]);
        expect(integrityWarnings()).toEqual([]);
      });

      it('writes expiresAt = now + ttlMs when notAfter is later', async () => {
        const store = new MapStore();
        const { get } = setUp({ store, ttlMs: 1_000 });
        const before = Date.now();
        await get(TOKEN, countingLoader([1]).load, Date.now() + 3_600_000);
        const { value, ttlMs } = store.sets[0];
        expect(value.expiresAt).toBeGreaterThanOrEqual(before + 1_000);
        expect(value.expiresAt).toBeLessThanOrEqual(Date.now() + 1_000);
        expect(ttlMs).toBeLessThanOrEqual(1_000);
      });

      it('lets a second instance (same secret, same origin) reuse what the first loaded', async () => {
        const store = new MapStore();
        const first = setUp({ store });
        const second = setUp({ store });
        const { load, calls } = countingLoader([0, 3]);
        await first.get(TOKEN, load);
        const answer = await second.get(TOKEN, load);
        expect(answer.authTypes).toEqual([0, 3]);
        expect(answer.key).toBe(first.keys.keyOf(TOKEN));
        expect(calls).toHaveLength(1);
        expect(integrityWarnings()).toEqual([]);
      });

      it('serves an entry from the store without loading, then from memory', async () => {
        const store = new MapStore();
        const { keys, get, peek } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, genuineEntry(keys, key, [0, 1, 99]));
        const { load, calls } = countingLoader([3]);
        expect((await get(TOKEN, load)).authTypes).toEqual([0, 1, 99]);
        expect(peek(TOKEN)?.authTypes).toEqual([0, 1, 99]);
        expect((await get(TOKEN, load)).authTypes).toEqual([0, 1, 99]);
        expect(calls).toEqual([]);
        expect(store.gets).toHaveLength(1);
      });

      it('does not take an instance of another origin to the entries of this one', async () => {
        const store = new MapStore();
        const { load, calls } = countingLoader([0, 3]);
        await setUp({ store }).get(TOKEN, load);
        await setUp({ store, origin: OTHER_ORIGIN }).get(TOKEN, load);
        expect(calls).toHaveLength(2);
      });

      it('caps a store hit’s expiry in memory by notAfter, even when the entry lives longer', async () => {
        const store = new MapStore();
        const { keys, get, peek } = setUp({ store, ttlMs: 60_000 });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, genuineEntry(keys, key, [2], Date.now() + 3_600_000));
        const notAfter = Date.now() + 30;
        const answer = await get(TOKEN, countingLoader([9]).load, notAfter);
        expect(answer.authTypes).toEqual([2]);
        expect(answer.expiresAt).toBe(notAfter);
        expect(peek(TOKEN)).toBeDefined();
        await sleep(80);
        expect(peek(TOKEN)).toBeUndefined();
      });

      it('caps a store hit’s expiry in memory by ttlMs, even when the entry lives longer', async () => {
        const store = new MapStore();
        const { keys, get, peek } = setUp({ store, ttlMs: 30 });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, genuineEntry(keys, key, [2], Date.now() + 3_600_000));
        const before = Date.now();
        const answer = await get(TOKEN, countingLoader([9]).load);
        expect(answer.authTypes).toEqual([2]);
        expect(answer.expiresAt).toBeLessThanOrEqual(Date.now() + 30);
        expect(answer.expiresAt).toBeGreaterThanOrEqual(before + 30);
        expect(peek(TOKEN)).toBeDefined();
        await sleep(80);
        expect(peek(TOKEN)).toBeUndefined();
        await get(TOKEN, countingLoader([9]).load);
        expect(store.gets).toHaveLength(2);
      });

      it('keeps a store hit no longer than the entry says when that comes first', async () => {
        const store = new MapStore();
        const { keys, get, peek } = setUp({ store, ttlMs: 60_000 });
        const key = keys.keyOf(TOKEN);
        const expiresAt = Date.now() + 30;
        store.entries.set(key, genuineEntry(keys, key, [2], expiresAt));
        expect((await get(TOKEN, countingLoader([9]).load)).expiresAt).toBe(expiresAt);
        await sleep(80);
        expect(peek(TOKEN)).toBeUndefined();
      });

      it('ignores a genuine entry that has expired, quietly', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, genuineEntry(keys, key, [0], Date.now() - 1));
        const { load, calls } = countingLoader([3]);
        expect((await get(TOKEN, load)).authTypes).toEqual([3]);
        expect(calls).toHaveLength(1);
        expect(integrityWarnings()).toEqual([]);
      });

      it('ignores a genuine entry that expires exactly now', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        const now = Date.now();
        store.entries.set(key, genuineEntry(keys, key, [0], now));
        const { load, calls } = countingLoader([3]);
        const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
        try {
          expect((await get(TOKEN, load)).authTypes).toEqual([3]);
        } finally {
          clock.mockRestore();
        }
        expect(calls).toHaveLength(1);
      });
    });

    describe('entries that are not genuine', () => {
      /** Makes the entry the store holds under `key`, given the keys of the cache that will read it. */
      type Forge = (keys: CacheKeys, key: string) => unknown;
      const far = () => Date.now() + 3_600_000;
      const signed = (keys: CacheKeys, key: string, authTypes: number[], expiresAt: number) =>
        keys.macOf(key, authTypes, expiresAt);

      it.each<[string, Forge]>([
        ['types changed', (keys, key) => ({ ...genuineEntry(keys, key, [0, 3]), authTypes: [0] })],
        ['a type added', (keys, key) => ({ ...genuineEntry(keys, key, [0]), authTypes: [0, 3] })],
        ['types reordered', (keys, key) => ({ ...genuineEntry(keys, key, [0, 3]), authTypes: [3, 0] })],
        [
          'expiresAt extended',
          (keys, key) => {
            const entry = genuineEntry(keys, key, [0, 3], Date.now() + 60_000);
            return { ...entry, expiresAt: entry.expiresAt + 3_600_000 };
          },
        ],
        ['mac garbage', (keys, key) => ({ ...genuineEntry(keys, key), mac: 'garbage' })],
        [
          'mac of the right length, one character changed',
          (keys, key) => {
            const entry = genuineEntry(keys, key);
            return { ...entry, mac: (entry.mac[0] === 'A' ? 'B' : 'A') + entry.mac.slice(1) };
          },
        ],
        ['mac empty', (keys, key) => ({ ...genuineEntry(keys, key), mac: '' })],
        ['mac missing', () => ({ authTypes: [0, 3], expiresAt: far() })],
        ['mac a number', () => ({ authTypes: [0, 3], expiresAt: far(), mac: 42 })],
        ['mac null', () => ({ authTypes: [0, 3], expiresAt: far(), mac: null })],
        ['a number', () => 42],
        ['a string', () => 'authTypes'],
        ['an array', () => [0, 3]],
        ['an empty object', () => ({})],
        ['a boolean', () => true],
        ['no authTypes', (keys, key) => ({ expiresAt: far(), mac: signed(keys, key, [], far()) })],
        [
          // '0,3' would pass the MAC check of [0, 3]: only the shape check stops it.
          'authTypes a string',
          (keys, key) => {
            const expiresAt = far();
            return { authTypes: '0,3', expiresAt, mac: signed(keys, key, [0, 3], expiresAt) };
          },
        ],
        [
          'authTypes of strings, with a MAC that matches their text',
          (keys, key) => {
            const expiresAt = far();
            return { authTypes: ['0', '3'], expiresAt, mac: signed(keys, key, [0, 3], expiresAt) };
          },
        ],
        ['authTypes with a float, correctly signed', (keys, key) => genuineEntry(keys, key, [0, 1.5], far())],
        ['authTypes with NaN, correctly signed', (keys, key) => genuineEntry(keys, key, [Number.NaN], far())],
        [
          'authTypes with an unsafe integer, correctly signed',
          (keys, key) => genuineEntry(keys, key, [2 ** 60], far()),
        ],
        [
          'authTypes of 257 items, correctly signed',
          (keys, key) =>
            genuineEntry(
              keys,
              key,
              Array.from({ length: 257 }, () => 0),
              far(),
            ),
        ],
        [
          'authTypes null',
          (keys, key) => ({ authTypes: null, expiresAt: far(), mac: signed(keys, key, [], far()) }),
        ],
        ['no expiresAt', (keys, key) => ({ authTypes: [0], mac: signed(keys, key, [0], far()) })],
        [
          'expiresAt a string, with a MAC that matches its text',
          (keys, key) => {
            const expiresAt = far();
            return { authTypes: [0], expiresAt: String(expiresAt), mac: signed(keys, key, [0], expiresAt) };
          },
        ],
        ['expiresAt NaN, correctly signed', (keys, key) => genuineEntry(keys, key, [0], Number.NaN)],
        [
          'expiresAt Infinity, correctly signed',
          (keys, key) => genuineEntry(keys, key, [0], Number.POSITIVE_INFINITY),
        ],
        [
          'written with another secret',
          (_keys, key) => genuineEntry(new CacheKeys(OTHER_SECRET, ORIGIN), key),
        ],
        [
          'a genuine entry of another token, moved under this key',
          (keys) => genuineEntry(keys, keys.keyOf('another-users-token'), [0, 1, 2, 3]),
        ],
      ])('never honours an entry that is not genuine (%s): loads, and warns', async (_name, forge) => {
        const store = new MapStore();
        const { keys, get, peek } = setUp({ store });
        const key = keys.keyOf(TOKEN);
        store.entries.set(key, forge(keys, key));
        const { load, calls } = countingLoader([7]);
        const answer = await get(TOKEN, load);
        expect(answer.authTypes).toEqual([7]);
        expect(calls).toEqual([TOKEN]);
        expect(peek(TOKEN)?.authTypes).toEqual([7]);
        expect(integrityWarnings()).toHaveLength(1);
        // What the cache wrote in its place is genuine.
        const written = store.entries.get(key) as CachedTwoFactorTypes;
        expect(keys.verify(key, written.authTypes, written.expiresAt, written.mac)).toBe(true);
        expect(written.authTypes).toEqual([7]);
      });

      it('treats null from the store as no entry at all: loads, without a warning', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        store.entries.set(keys.keyOf(TOKEN), null);
        const { load, calls } = countingLoader([7]);
        expect((await get(TOKEN, load)).authTypes).toEqual([7]);
        expect(calls).toHaveLength(1);
        expect(integrityWarnings()).toEqual([]);
      });

      it('warns again once a full minute has passed, not a millisecond sooner', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const forge = (token: string) => {
          const key = keys.keyOf(token);
          store.entries.set(key, { ...genuineEntry(keys, key), mac: 'forged' });
        };
        const { load } = countingLoader([1]);
        const start = Date.now();
        const clock = jest.spyOn(Date, 'now');
        try {
          for (const [token, at] of [
            ['forged-a', start],
            ['forged-b', start + 59_999],
            ['forged-c', start + 60_000],
          ] as const) {
            forge(token);
            clock.mockReturnValue(at);
            await get(token, load);
          }
        } finally {
          clock.mockRestore();
        }
        expect(integrityWarnings()).toHaveLength(2);
        expect(integrityWarnings()[1]).toMatch(/Ignored 2 shared 2FA cache entries /);
      });

      it('does not take an entry under the plain SHA-256 of the token (what the old cache wrote)', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        store.entries.set(tokenDigest(TOKEN), genuineEntry(keys, tokenDigest(TOKEN), [0, 1, 2, 3]));
        store.entries.set(`legacy:${tokenDigest(TOKEN)}`, { authTypes: [0, 1, 2, 3], expiresAt: far() });
        const { load, calls } = countingLoader([7]);
        expect((await get(TOKEN, load)).authTypes).toEqual([7]);
        expect(calls).toHaveLength(1);
      });

      it('warns once a minute at most, counting the entries it ignored', async () => {
        const store = new MapStore();
        const { keys, get } = setUp({ store });
        const tokens = Array.from({ length: 50 }, (_, i) => `forged-${i}`);
        for (const token of tokens) {
          const key = keys.keyOf(token);
          store.entries.set(key, { ...genuineEntry(keys, key), mac: 'forged' });
        }
        const { load, calls } = countingLoader([1]);
        for (const token of tokens) expect((await get(token, load)).authTypes).toEqual([1]);
        expect(calls).toHaveLength(50);
        expect(integrityWarnings()).toHaveLength(1);
        expect(integrityWarnings()[0]).toMatch(/Ignored 1 shared 2FA cache entry /);

        // A minute later, the next one is reported with the 49 kept quiet meanwhile.
        const realNow = Date.now.bind(Date);
        const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 61_000);
        try {
          const key = keys.keyOf('forged-late');
          store.entries.set(key, { ...genuineEntry(keys, key), mac: 'forged' });
          await get('forged-late', load);
        } finally {
          clock.mockRestore();
        }
        expect(integrityWarnings()).toHaveLength(2);
        expect(integrityWarnings()[1]).toMatch(/Ignored 50 shared 2FA cache entries /);
      });
    });

    describe('a failing store', () => {
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
        const { get } = setUp({ store });
        const { load, calls } = countingLoader([0, 3]);
        expect((await get(TOKEN, load)).authTypes).toEqual([0, 3]);
        expect((await get(TOKEN, load)).authTypes).toEqual([0, 3]);
        expect(calls).toHaveLength(1);
        await sleep(10);
        expect(logged.some((line) => /store failed on read/.test(line))).toBe(true);
        expect(logged.some((line) => /store failed on write/.test(line))).toBe(true);
      });

      it('asks HyperID when the store has not answered a read within a second, and says so', async () => {
        const store: TwoFactorCacheStore = {
          get: () => new Promise<undefined>(() => undefined),
          set: async () => undefined,
        };
        const { get } = setUp({ store });
        const { load, calls } = countingLoader([1]);
        const started = Date.now();
        expect((await get(TOKEN, load)).authTypes).toEqual([1]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(990);
        expect(calls).toHaveLength(1);
        expect(logged).toEqual([
          'Shared 2FA cache store failed on read; asking HyperID: cache read took longer than 1000 ms',
        ]);
      });

      it('says what a store that fails with something other than an Error failed with', async () => {
        const store: TwoFactorCacheStore = {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
          get: () => Promise.reject('ECONNRESET'),
          set: async () => undefined,
        };
        const { get } = setUp({ store });
        await get(TOKEN, countingLoader([1]).load);
        expect(logged).toEqual(['Shared 2FA cache store failed on read; asking HyperID: ECONNRESET']);
      });

      it('logs nothing without a shared store', async () => {
        const { get } = setUp();
        await get(TOKEN, countingLoader([1]).load);
        await expect(get('refused', failingLoader(new HyperIdTokenInvalidError()).load)).rejects.toThrow(
          HyperIdTokenInvalidError,
        );
        expect(logged).toEqual([]);
      });

      it('does not let a store that never answers a write hold up the lookup', async () => {
        const store: TwoFactorCacheStore = {
          get: async () => undefined,
          set: () => new Promise<void>(() => undefined),
        };
        const { get } = setUp({ store });
        expect((await get(TOKEN, countingLoader([1]).load)).authTypes).toEqual([1]);
      });

      it('never logs the token when the store fails or holds forged entries', async () => {
        const store: TwoFactorCacheStore = {
          get: async (key) => {
            if (key.length > 0) throw new Error(`cannot read ${key}`);
            return undefined;
          },
          set: async (key) => {
            throw new Error(`cannot write ${key}`);
          },
          delete: async (key) => {
            throw new Error(`cannot delete ${key}`);
          },
        };
        const { get, invalidate } = setUp({ store });
        await get(TOKEN, countingLoader([1]).load);
        await expect(invalidate(TOKEN)).rejects.toThrow('cannot delete');

        const forging = new MapStore();
        const other = setUp({ store: forging });
        forging.entries.set(other.keys.keyOf(TOKEN), {
          authTypes: [0],
          expiresAt: Date.now() + 60_000,
          mac: TOKEN,
        });
        await other.get(TOKEN, countingLoader([1]).load);
        await sleep(10);

        expect(logged.length).toBeGreaterThanOrEqual(4);
        for (const line of logged) {
          expect(line).not.toContain(TOKEN);
          expect(line).not.toContain(SECRET);
        }
      });
    });
  });

  describe('invalidate', () => {
    it('forgets an answer', async () => {
      const { cache, get, peek, invalidate } = setUp();
      const { load, calls } = countingLoader([1]);
      await get(TOKEN, load);
      await invalidate(TOKEN);
      expect(peek(TOKEN)).toBeUndefined();
      expect(cache.size).toBe(0);
      await get(TOKEN, load);
      expect(calls).toHaveLength(2);
    });

    it('forgets a refusal', async () => {
      const { get, invalidate } = setUp();
      const { load, calls } = failingLoader(new HyperIdTokenInvalidError());
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(1);
      await invalidate(TOKEN);
      await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
      expect(calls).toHaveLength(2);
    });

    it('leaves other tokens alone', async () => {
      const { get, peek, invalidate } = setUp();
      await get(TOKEN, countingLoader([1]).load);
      await get('other', countingLoader([2]).load);
      await invalidate(TOKEN);
      expect(peek('other')?.authTypes).toEqual([2]);
    });

    it('deletes the entry from the shared store, so another instance loads again', async () => {
      const store = new MapStore();
      const first = setUp({ store });
      const { load, calls } = countingLoader([1]);
      await first.get(TOKEN, load);
      await first.invalidate(TOKEN);
      expect(store.deletes).toEqual([first.keys.keyOf(TOKEN)]);
      expect(store.entries.size).toBe(0);
      await setUp({ store }).get(TOKEN, load);
      expect(calls).toHaveLength(2);
    });

    it('works with a store that has no delete()', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
      };
      const { get, peek, invalidate } = setUp({ store });
      await get(TOKEN, countingLoader([1]).load);
      await expect(invalidate(TOKEN)).resolves.toBeUndefined();
      expect(peek(TOKEN)).toBeUndefined();
    });

    it('rejects when the store fails to delete, having forgotten the token in memory anyway', async () => {
      const store = new MapStore();
      store.delete = async () => {
        throw new Error('store is down');
      };
      const { get, peek, invalidate } = setUp({ store });
      await get(TOKEN, countingLoader([1]).load);
      await expect(invalidate(TOKEN)).rejects.toThrow('store is down');
      expect(peek(TOKEN)).toBeUndefined();
      expect(logged.some((line) => /store failed on delete/.test(line))).toBe(true);
    });

    it('serves, but does not keep, the answer of a lookup invalidated while in flight', async () => {
      const { get, peek, invalidate } = setUp();
      const answer = deferred<number[]>();
      const { load, calls } = countingLoader(() => answer.promise);
      const lookup = get(TOKEN, load);
      await sleep(0);
      await invalidate(TOKEN);
      answer.resolve([1]);
      expect((await lookup).authTypes).toEqual([1]);
      expect(peek(TOKEN)).toBeUndefined();
      await get(TOKEN, countingLoader([2]).load);
      expect(calls).toHaveLength(1);
      expect(peek(TOKEN)?.authTypes).toEqual([2]);
    });

    it('does not remember the refusal of a lookup invalidated while in flight', async () => {
      const { get, invalidate } = setUp();
      const answer = deferred<number[]>();
      const refusal = new HyperIdTokenInvalidError();
      const lookup = get(TOKEN, countingLoader(() => answer.promise).load);
      await invalidate(TOKEN);
      answer.reject(refusal);
      await expect(lookup).rejects.toBe(refusal);
      const { load, calls } = countingLoader([2]);
      expect((await get(TOKEN, load)).authTypes).toEqual([2]);
      expect(calls).toHaveLength(1);
    });

    it('starts a new lookup after invalidating one in flight, which the old one does not disturb', async () => {
      const { get, peek, invalidate } = setUp();
      const oldAnswer = deferred<number[]>();
      const newAnswer = deferred<number[]>();
      const { load, calls } = countingLoader(() =>
        calls.length === 1 ? oldAnswer.promise : newAnswer.promise,
      );
      const old = get(TOKEN, load);
      await sleep(0);
      await invalidate(TOKEN);
      const fresh = get(TOKEN, load);
      await sleep(0);
      expect(calls).toHaveLength(2);
      oldAnswer.resolve([1]);
      expect((await old).authTypes).toEqual([1]);
      // The new lookup is still the one in flight: a get joins it rather than loading again.
      const joined = get(TOKEN, load);
      expect(calls).toHaveLength(2);
      newAnswer.resolve([2]);
      expect((await fresh).authTypes).toEqual([2]);
      expect((await joined).authTypes).toEqual([2]);
      expect(peek(TOKEN)?.authTypes).toEqual([2]);
    });

    it('does not let a lookup invalidated while in flight write its answer to the shared store', async () => {
      // The old answer must not come back through the store: invalidate() exists so that the next
      // lookup (here or on another instance) asks HyperID.
      const store = new MapStore();
      const { get, invalidate } = setUp({ store });
      const answer = deferred<number[]>();
      const lookup = get(TOKEN, countingLoader(() => answer.promise).load);
      await sleep(0);
      await invalidate(TOKEN);
      answer.resolve([1]);
      expect((await lookup).authTypes).toEqual([1]);
      await sleep(0);
      const { load, calls } = countingLoader([2]);
      expect((await setUp({ store }).get(TOKEN, load)).authTypes).toEqual([2]);
      expect(calls).toHaveLength(1);
    });

    it('does not let a lookup that read the store during invalidate() keep the old answer', async () => {
      // invalidate() clears memory, then waits for the store's delete; a lookup in between must not
      // put the entry being deleted back into memory.
      const store = new MapStore();
      const slowDelete = deferred<void>();
      const { get, peek, invalidate } = setUp({ store });
      await get(TOKEN, countingLoader([1]).load);
      store.delete = async (key) => {
        store.deletes.push(key);
        await slowDelete.promise;
        store.entries.delete(key);
      };
      const invalidating = invalidate(TOKEN);
      const during = get(TOKEN, countingLoader([2]).load);
      await sleep(0);
      slowDelete.resolve();
      await invalidating;
      await during;
      expect(peek(TOKEN)?.authTypes).not.toEqual([1]);
    });
  });
});

describe('what TwoFactorCache counts (hyperid.cache.lookups)', () => {
  /** A reader the test pulls from on demand. */
  class PullReader extends MetricReader {
    constructor() {
      super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
    }
    protected override async onForceFlush(): Promise<void> {}
    protected override async onShutdown(): Promise<void> {}
  }

  const reader = new PullReader();
  let before: Record<string, number> = {};

  /** The lookups counted so far, by result. */
  async function counted(): Promise<Record<string, number>> {
    const { resourceMetrics } = await reader.collect();
    const counts: Record<string, number> = {};
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== 'hyperid.cache.lookups') continue;
        for (const point of metric.dataPoints) {
          counts[String(point.attributes['hyperid.cache.result'])] = point.value as number;
        }
      }
    }
    return counts;
  }

  /** The lookups counted since the test began, by result (results not counted left out). */
  async function countedHere(): Promise<Record<string, number>> {
    const now = await counted();
    const delta: Record<string, number> = {};
    for (const [result, count] of Object.entries(now)) {
      if (count !== (before[result] ?? 0)) delta[result] = count - (before[result] ?? 0);
    }
    return delta;
  }

  beforeAll(async () => {
    // The module loads the API on its own; wait until it has, as an app's first request would.
    await import('@opentelemetry/api');
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  });

  afterAll(() => metrics.disable());

  beforeEach(async () => {
    before = await counted();
  });

  it('a miss when HyperID is asked, a hit when memory answers (get or peek)', async () => {
    const { get, peek } = setUp();
    const { load } = countingLoader([1]);
    await get(TOKEN, load);
    await get(TOKEN, load);
    peek(TOKEN);
    peek('never-seen');
    expect(await countedHere()).toEqual({ miss: 1, hit: 2 });
  });

  it('coalesced for a lookup that joins one in flight', async () => {
    const { get } = setUp();
    const answer = deferred<number[]>();
    const { load } = countingLoader(() => answer.promise);
    const lookups = [get(TOKEN, load), get(TOKEN, load), get(TOKEN, load)];
    answer.resolve([1]);
    await Promise.all(lookups);
    expect(await countedHere()).toEqual({ miss: 1, coalesced: 2 });
  });

  it('refusal_hit for a refusal served from memory', async () => {
    const { get } = setUp();
    const { load } = failingLoader(new HyperIdTokenInvalidError());
    await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
    await expect(get(TOKEN, load)).rejects.toThrow(HyperIdTokenInvalidError);
    expect(await countedHere()).toEqual({ miss: 1, refusal_hit: 1 });
  });

  it('shared_hit for an answer the shared store held, and no miss', async () => {
    const store = new MapStore();
    const { keys, get } = setUp({ store });
    const key = keys.keyOf(TOKEN);
    store.entries.set(key, genuineEntry(keys, key, [2]));
    await get(TOKEN, countingLoader([3]).load);
    expect(await countedHere()).toEqual({ shared_hit: 1 });
  });
});
