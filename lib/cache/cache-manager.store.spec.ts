import 'reflect-metadata';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CacheManagerTwoFactorStore } from './cache-manager.store.js';
import { TwoFactorCache } from './two-factor.cache.js';
import { tokenDigest } from './token-digest.js';

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

describe('CacheManagerTwoFactorStore', () => {
  // The failure cases make the module log warnings; they are expected here.
  beforeAll(() => Logger.overrideLogger(false));

  it('reads back what it wrote, under the default key prefix', async () => {
    const cache = createCache();
    const store = new CacheManagerTwoFactorStore(cache);
    const entry = { authTypes: [0, 3], expiresAt: Date.now() + 60_000 };

    await store.set('digest-1', entry, 60_000);

    expect(await store.get('digest-1')).toEqual(entry);
    expect(await cache.get('hyperid:2fa:digest-1')).toEqual(entry);
    expect(await cache.get('digest-1')).toBeUndefined();
  });

  it('uses a custom key prefix, so two prefixes do not see each other', async () => {
    const cache = createCache();
    const a = new CacheManagerTwoFactorStore(cache, { keyPrefix: 'app-a:' });
    const b = new CacheManagerTwoFactorStore(cache, { keyPrefix: 'app-b:' });

    await a.set('k', { authTypes: [1], expiresAt: Date.now() + 60_000 }, 60_000);

    expect(await cache.get('app-a:k')).toMatchObject({ authTypes: [1] });
    expect(await b.get('k')).toBeUndefined();
  });

  it('answers undefined for a key it never wrote', async () => {
    expect(await new CacheManagerTwoFactorStore(createCache()).get('missing')).toBeUndefined();
  });

  it('passes the TTL on to the cache', async () => {
    const cache = createCache();
    const store = new CacheManagerTwoFactorStore(cache);
    const before = Date.now();

    await store.set('short', { authTypes: [2], expiresAt: before + 5_000 }, 5_000);
    await store.set('gone', { authTypes: [2], expiresAt: before + 1 }, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));

    const expires = await cache.ttl('hyperid:2fa:short');
    expect(expires).toBeGreaterThanOrEqual(before + 5_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(await store.get('gone')).toBeUndefined();
  });

  it('lets two TwoFactorCache instances (two app instances) share one lookup', async () => {
    const shared = createCache({ stores: [new Keyv()] });
    let loads = 0;
    const load = async () => {
      loads += 1;
      return [0, 3];
    };
    const first = new TwoFactorCache(30_000, 100, new CacheManagerTwoFactorStore(shared));
    const second = new TwoFactorCache(30_000, 100, new CacheManagerTwoFactorStore(shared));

    expect(await first.get('token-a', load)).toEqual([0, 3]);
    // The write to the shared store is not awaited by the lookup; wait until it has landed.
    const key = `hyperid:2fa:${tokenDigest('token-a')}`;
    while ((await shared.get(key)) === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(await second.get('token-a', load)).toEqual([0, 3]);

    expect(loads).toBe(1);
    expect(JSON.stringify(await shared.get(key))).not.toContain('token-a');
  });

  it('rejects a write the storage refuses, and the lookup still answers from HyperID', async () => {
    const store = new CacheManagerTwoFactorStore(cacheOver(brokenStorage('throw')));
    await expect(store.set('k', { authTypes: [1], expiresAt: Date.now() + 1_000 }, 1_000)).rejects.toThrow(
      'storage is down',
    );

    let loads = 0;
    const cache = new TwoFactorCache(30_000, 100, store);
    const answer = await cache.get('token-b', async () => {
      loads += 1;
      return [1];
    });
    expect(answer).toEqual([1]);
    expect(loads).toBe(1);
  });

  it('gives up on a storage that never answers, and the lookup still answers from HyperID', async () => {
    const store = new CacheManagerTwoFactorStore(cacheOver(brokenStorage('hang')), { timeoutMs: 30 });
    await expect(store.get('k')).rejects.toThrow('cache read took longer than 30 ms');
    await expect(store.set('k', { authTypes: [], expiresAt: Date.now() + 1_000 }, 1_000)).rejects.toThrow(
      'cache write took longer than 30 ms',
    );

    let loads = 0;
    const cache = new TwoFactorCache(30_000, 100, store);
    const answer = await cache.get('token-c', async () => {
      loads += 1;
      return [0];
    });
    expect(answer).toEqual([0]);
    expect(loads).toBe(1);
  });

  it('refuses a timeout that is not a positive number', () => {
    expect(() => new CacheManagerTwoFactorStore(createCache(), { timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new CacheManagerTwoFactorStore(createCache(), { timeoutMs: Number.NaN })).toThrow(
      /timeoutMs must be a positive number/,
    );
  });
});
