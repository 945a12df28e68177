import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { CachedTwoFactorTypes } from '../interfaces/two-factor-cache-store.interface.js';
import { CacheManagerTwoFactorStore, type CacheManagerLike } from './cache-manager.store.js';
import { CacheKeys } from './token-digest.js';
import { TwoFactorCache, type TwoFactorLoader } from './two-factor.cache.js';

const SECRET = 'a-cache-secret-of-at-least-32-characters';
const OTHER_SECRET = 'another-cache-secret-of-32-characters!!';
const ORIGIN = 'https://api.hypersecureid.com';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Keyv storage adapter (a dependency, not the code under test) that fails in a chosen way. */
function brokenStorage(mode: 'throw' | 'hang') {
  const fail = (): Promise<never> =>
    mode === 'throw' ? Promise.reject(new Error('storage is down')) : new Promise<never>(() => undefined);
  return { get: fail, set: fail, delete: fail, clear: fail };
}

function cacheOver(storage: ReturnType<typeof brokenStorage>): Cache {
  const keyv = new Keyv({ store: storage });
  keyv.throwOnErrors = true;
  return createCache({ stores: [keyv] });
}

/** An entry as a TwoFactorCache with `SECRET` writes it. */
function entry(
  key: string,
  authTypes: number[] = [0, 3],
  expiresAt = Date.now() + 60_000,
): CachedTwoFactorTypes {
  return { authTypes, expiresAt, mac: new CacheKeys(SECRET, ORIGIN).macOf(key, authTypes, expiresAt) };
}

/** A TwoFactorCache over `store`, as TwoFactorService builds one, with the key it uses for a token. */
function twoFactorCache(store: CacheManagerTwoFactorStore, secret = SECRET) {
  const keys = new CacheKeys(secret, ORIGIN);
  const cache = new TwoFactorCache(
    { ttlMs: 30_000, maxEntries: 100, negativeTtlMs: 10_000, store, secret },
    keys,
  );
  return {
    keys,
    cache,
    get: (token: string, load: TwoFactorLoader) => cache.get(keys.keyOf(token), token, load),
    invalidate: (token: string) => cache.invalidate(keys.keyOf(token)),
  };
}

function countingLoader(answer: number[]) {
  const calls: string[] = [];
  const load: TwoFactorLoader = async (token) => {
    calls.push(token);
    return [...answer];
  };
  return { load, calls };
}

/** Waits until the write a lookup started (not awaited by the lookup) has landed in `cache`. */
async function landed(cache: Cache, key: string): Promise<void> {
  for (let i = 0; i < 100 && (await cache.get(key)) === undefined; i += 1) await sleep(1);
}

const logged: string[] = [];
const captureLogger: LoggerService = {
  log: (message: unknown) => void logged.push(String(message)),
  warn: (message: unknown) => void logged.push(String(message)),
  error: (message: unknown) => void logged.push(String(message)),
};

describe('CacheManagerTwoFactorStore', () => {
  // The failure cases make the module log warnings; they are expected here.
  beforeAll(() => Logger.overrideLogger(captureLogger));
  afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
  beforeEach(() => {
    logged.length = 0;
  });

  describe('the adapter', () => {
    it('reads back what it wrote, mac included, under the default key prefix', async () => {
      const cache = createCache();
      const store = new CacheManagerTwoFactorStore(cache);
      const value = entry('key-1');

      await store.set('key-1', value, 60_000);

      expect(await store.get('key-1')).toEqual(value);
      expect(await cache.get('hyperid:2fa:key-1')).toEqual(value);
      expect(await cache.get('key-1')).toBeUndefined();
    });

    it('uses a custom key prefix, so two prefixes do not see each other', async () => {
      const cache = createCache();
      const a = new CacheManagerTwoFactorStore(cache, { keyPrefix: 'app-a:' });
      const b = new CacheManagerTwoFactorStore(cache, { keyPrefix: 'app-b:' });

      await a.set('k', entry('k', [1]), 60_000);

      expect(await cache.get('app-a:k')).toMatchObject({ authTypes: [1] });
      expect(await b.get('k')).toBeUndefined();
    });

    it('accepts an empty key prefix', async () => {
      const cache = createCache();
      const store = new CacheManagerTwoFactorStore(cache, { keyPrefix: '' });
      await store.set('k', entry('k'), 60_000);
      expect(await cache.get('k')).toMatchObject({ authTypes: [0, 3] });
    });

    it('answers undefined for a key it never wrote', async () => {
      expect(await new CacheManagerTwoFactorStore(createCache()).get('missing')).toBeUndefined();
    });

    it('hands back what the cache holds as it is (the module, not the adapter, checks it)', async () => {
      const cache = createCache();
      await cache.set('hyperid:2fa:k', { authTypes: 'garbage' });
      expect(await new CacheManagerTwoFactorStore(cache).get('k')).toEqual({ authTypes: 'garbage' });
    });

    it('passes the TTL on to the cache', async () => {
      const cache = createCache();
      const store = new CacheManagerTwoFactorStore(cache);
      const before = Date.now();

      await store.set('short', entry('short', [2], before + 5_000), 5_000);
      await store.set('gone', entry('gone', [2], before + 1), 1);
      await sleep(20);

      const expires = await cache.ttl('hyperid:2fa:short');
      expect(expires).toBeGreaterThanOrEqual(before + 5_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 5_000);
      expect(await store.get('gone')).toBeUndefined();
    });

    it('deletes the entry under the prefixed key', async () => {
      const cache = createCache();
      const store = new CacheManagerTwoFactorStore(cache, { keyPrefix: 'p:' });
      await store.set('k', entry('k'), 60_000);
      await store.set('other', entry('other'), 60_000);

      await store.delete('k');

      expect(await cache.get('p:k')).toBeUndefined();
      expect(await store.get('k')).toBeUndefined();
      expect(await store.get('other')).toMatchObject({ authTypes: [0, 3] });
    });

    it('calls del with the prefixed key', async () => {
      const deleted: string[] = [];
      const fake: CacheManagerLike = {
        get: async () => undefined,
        set: async () => true,
        del: async (key) => {
          deleted.push(key);
          return true;
        },
      };
      await new CacheManagerTwoFactorStore(fake).delete('k1');
      await new CacheManagerTwoFactorStore(fake, { keyPrefix: 'x:' }).delete('k2');
      expect(deleted).toEqual(['hyperid:2fa:k1', 'x:k2']);
    });

    it('passes on the errors of a storage that fails (cache-manager itself turns a failed read into a miss)', async () => {
      const store = new CacheManagerTwoFactorStore(cacheOver(brokenStorage('throw')));
      expect(await store.get('k')).toBeUndefined();
      await expect(store.set('k', entry('k'), 1_000)).rejects.toThrow('storage is down');
      await expect(store.delete('k')).rejects.toThrow('storage is down');
    });

    it('passes on the errors of a cache whose reads fail', async () => {
      const failing = async (): Promise<never> => {
        throw new Error('ECONNREFUSED');
      };
      const store = new CacheManagerTwoFactorStore({ get: failing, set: failing, del: failing });
      await expect(store.get('k')).rejects.toThrow('ECONNREFUSED');
      await expect(store.set('k', entry('k'), 1_000)).rejects.toThrow('ECONNREFUSED');
      await expect(store.delete('k')).rejects.toThrow('ECONNREFUSED');
    });

    it('gives up on a storage that never answers, after timeoutMs, for reads, writes and deletes', async () => {
      const store = new CacheManagerTwoFactorStore(cacheOver(brokenStorage('hang')), { timeoutMs: 30 });
      const started = Date.now();
      await expect(store.get('k')).rejects.toThrow('cache read took longer than 30 ms');
      await expect(store.set('k', entry('k'), 1_000)).rejects.toThrow('cache write took longer than 30 ms');
      await expect(store.delete('k')).rejects.toThrow('cache delete took longer than 30 ms');
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(85);
      expect(elapsed).toBeLessThan(1_000);
    });

    it('does not turn a late failure of an abandoned operation into an unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const late = <T>(): Promise<T> =>
          new Promise<T>((_, reject) => setTimeout(() => reject(new Error('late failure')), 40));
        const fake: CacheManagerLike = { get: late, set: late, del: late };
        const store = new CacheManagerTwoFactorStore(fake, { timeoutMs: 10 });
        await expect(store.get('k')).rejects.toThrow('took longer than 10 ms');
        await expect(store.set('k', entry('k'), 1_000)).rejects.toThrow('took longer than 10 ms');
        await expect(store.delete('k')).rejects.toThrow('took longer than 10 ms');
        await sleep(80);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      expect(unhandled).toEqual([]);
    });

    it.each([
      ['0', 0],
      ['negative', -5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
    ])('refuses a timeout that is not a positive number (%s)', (_name, timeoutMs) => {
      expect(() => new CacheManagerTwoFactorStore(createCache(), { timeoutMs })).toThrow(RangeError);
      expect(() => new CacheManagerTwoFactorStore(createCache(), { timeoutMs })).toThrow(
        /timeoutMs must be a positive number/,
      );
    });

    it('refuses a key prefix that is not a string', () => {
      expect(
        () => new CacheManagerTwoFactorStore(createCache(), { keyPrefix: 42 as unknown as string }),
      ).toThrow(TypeError);
    });
  });

  describe('under TwoFactorCache', () => {
    it('lets two TwoFactorCache instances (two app instances) share one lookup', async () => {
      const shared = createCache({ stores: [new Keyv()] });
      const { load, calls } = countingLoader([0, 3]);
      const first = twoFactorCache(new CacheManagerTwoFactorStore(shared));
      const second = twoFactorCache(new CacheManagerTwoFactorStore(shared));

      expect((await first.get('token-a', load)).authTypes).toEqual([0, 3]);
      const key = `hyperid:2fa:${first.keys.keyOf('token-a')}`;
      await landed(shared, key);
      expect((await second.get('token-a', load)).authTypes).toEqual([0, 3]);

      expect(calls).toHaveLength(1);
      const stored = await shared.get<CachedTwoFactorTypes>(key);
      expect(stored).toMatchObject({ authTypes: [0, 3], mac: expect.any(String) });
      expect(JSON.stringify(stored)).not.toContain('token-a');
      expect(logged).toEqual([]);
    });

    it('does not share entries with an instance of another secret', async () => {
      const shared = createCache({ stores: [new Keyv()] });
      const { load, calls } = countingLoader([0, 3]);
      const first = twoFactorCache(new CacheManagerTwoFactorStore(shared));
      await first.get('token-a', load);
      await landed(shared, `hyperid:2fa:${first.keys.keyOf('token-a')}`);

      await twoFactorCache(new CacheManagerTwoFactorStore(shared), OTHER_SECRET).get('token-a', load);
      expect(calls).toHaveLength(2);
    });

    it('ignores an entry changed in the shared cache, and loads', async () => {
      const shared = createCache({ stores: [new Keyv()] });
      const { load, calls } = countingLoader([0]);
      const first = twoFactorCache(new CacheManagerTwoFactorStore(shared));
      await first.get('token-a', load);
      const key = `hyperid:2fa:${first.keys.keyOf('token-a')}`;
      await landed(shared, key);
      const stored = await shared.get<CachedTwoFactorTypes>(key);
      await shared.set(key, { ...stored, authTypes: [0, 1, 2, 3] });

      const answer = await twoFactorCache(new CacheManagerTwoFactorStore(shared)).get('token-a', load);
      expect(answer.authTypes).toEqual([0]);
      expect(calls).toHaveLength(2);
      expect(logged.some((line) => /failed the integrity check/.test(line))).toBe(true);
    });

    it('invalidate() deletes the entry from the shared cache, so the other instance loads again', async () => {
      const shared = createCache({ stores: [new Keyv()] });
      const { load, calls } = countingLoader([0, 3]);
      const first = twoFactorCache(new CacheManagerTwoFactorStore(shared));
      await first.get('token-a', load);
      const key = `hyperid:2fa:${first.keys.keyOf('token-a')}`;
      await landed(shared, key);

      await first.invalidate('token-a');

      expect(await shared.get(key)).toBeUndefined();
      await twoFactorCache(new CacheManagerTwoFactorStore(shared)).get('token-a', load);
      expect(calls).toHaveLength(2);
    });

    it('answers from HyperID when the storage fails', async () => {
      const { get } = twoFactorCache(new CacheManagerTwoFactorStore(cacheOver(brokenStorage('throw'))));
      const { load, calls } = countingLoader([1]);
      expect((await get('token-b', load)).authTypes).toEqual([1]);
      expect(calls).toHaveLength(1);
    });

    it('answers from HyperID when the storage never answers, within the adapter’s timeout', async () => {
      const store = new CacheManagerTwoFactorStore(cacheOver(brokenStorage('hang')), { timeoutMs: 30 });
      const { get, invalidate } = twoFactorCache(store);
      const { load, calls } = countingLoader([0]);
      const started = Date.now();
      expect((await get('token-c', load)).authTypes).toEqual([0]);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(calls).toHaveLength(1);
      await expect(invalidate('token-c')).rejects.toThrow('cache delete took longer than 30 ms');
    });
  });
});
