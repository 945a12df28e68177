import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { CacheKeys } from '../../lib/cache/token-digest.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { RedisServerProcess, redisServerAvailable } from '../support/redis-server.js';
import {
  closeSharedCacheApp,
  createSharedCacheApp,
  type AdapterName,
  type SharedCacheApp,
} from '../support/shared-cache.app.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

const { tokenInvalid, lackingMethods } = STATUS_TABLE;

const TOTP = 1;
const EMAIL = 3;
const KEY_PREFIX = 'hyperid:2fa:';
/** As the instances would read it from their configuration. */
const SECRET = 'shared-cache-e2e-secret-0123456789abcdef';

/** The Redis key of `token`'s entry for an app whose HyperID is at `apiUrl`. */
function redisKey(apiUrl: string, token: string): string {
  return KEY_PREFIX + new CacheKeys(SECRET, new URL(apiUrl).origin).keyOf(token);
}

async function keyWritten(instance: SharedCacheApp, apiUrl: string, token: string): Promise<void> {
  // The module writes to the shared store after answering; wait until the entry has landed.
  const key = redisKey(apiUrl, token);
  for (let attempt = 0; attempt < 500; attempt += 1) {
    if ((await instance.cache.get(key)) !== undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the shared store never received the entry for ${token}`);
}

const available = redisServerAvailable();

if (!available && process.env.CI === 'true') {
  describe('shared 2FA cache in Redis', () => {
    it('needs redis-server on PATH (.ci/run installs it with apt)', () => {
      throw new Error('redis-server is not installed, and CI=true: the Redis tests may not be skipped');
    });
  });
} else if (!available) {
  console.warn(
    'test/integrations/redis-shared-cache skipped: redis-server is not on PATH. Install it (e.g. apt-get install redis-server) to run these tests.',
  );
}

const describeWithRedis = available ? describe : describe.skip;

describeWithRedis.each<AdapterName>(['express', 'fastify'])('shared 2FA cache in Redis (%s)', (adapter) => {
  const fake = new FakeHyperIdServer();
  const redisServer = new RedisServerProcess();
  const instances: SharedCacheApp[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let first: SharedCacheApp;
  let second: SharedCacheApp;
  let queued: SharedCacheApp;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    for (const suffix of ['1', '2', '3', 'dead-1', 'dead-2', 'dead-3']) {
      fake.setToken(`allowed-${suffix}`, { auth_types: [0, TOTP] });
      fake.setToken(`lacking-${suffix}`, { auth_types: [EMAIL] });
    }
    await fake.start();
    await redisServer.start();
    const base = { adapter, apiUrl: fake.url, redisUrl: redisServer.url, secret: SECRET };
    first = await createSharedCacheApp({ ...base, failFast: true });
    second = await createSharedCacheApp({ ...base, failFast: true });
    queued = await createSharedCacheApp({ ...base, failFast: false, storeTimeoutMs: 200 });
    instances.push(first, second, queued);
  });

  afterAll(async () => {
    for (const instance of instances) await closeSharedCacheApp(instance);
    await redisServer.kill();
    await fake.stop();
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  });

  const get = (instance: SharedCacheApp, token: string) =>
    request(instance.app.getHttpServer()).get('/totp').set('Authorization', `Bearer ${token}`);

  it('lets the second instance answer from the first one lookup, without calling HyperID', async () => {
    const fromFirst = await get(first, 'allowed-1');
    expect(fromFirst.status).toBe(200);
    expect(fromFirst.body).toEqual({ types: [0, TOTP] });
    expect(fake.calls('allowed-1')).toBe(1);

    await keyWritten(first, fake.url, 'allowed-1');
    const fromSecond = await get(second, 'allowed-1');
    const fromThird = await get(queued, 'allowed-1');

    expect(fromSecond.status).toBe(200);
    expect(fromSecond.body).toEqual({ types: [0, TOTP] });
    expect(fromThird.status).toBe(200);
    expect(fake.calls('allowed-1')).toBe(1);
  });

  it('shares a lacking user answer too, and keys Redis by keyed digest, never by token', async () => {
    expect((await get(first, 'lacking-1')).status).toBe(lackingMethods.status);
    await keyWritten(first, fake.url, 'lacking-1');
    const res = await get(second, 'lacking-1');

    expect(res.status).toBe(lackingMethods.status);
    expect(res.body).toMatchObject({ required: [TOTP], missing: [TOTP] });
    expect(fake.calls('lacking-1')).toBe(1);

    const keys = await first.redis.client.keys('*');
    expect(keys.some((key) => key.endsWith(redisKey(fake.url, 'lacking-1')))).toBe(true);
    expect(keys.some((key) => key.includes('allowed-') || key.includes('lacking-'))).toBe(false);
  });

  it('never shares a refusal: an invalid token is asked about once per instance', async () => {
    expect((await get(first, 'invalid-1')).status).toBe(tokenInvalid.status);
    const res = await get(second, 'invalid-1');

    expect(res.status).toBe(tokenInvalid.status);
    expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
    expect(fake.calls('invalid-1')).toBe(2);
  });

  it('ignores a malformed entry in Redis and asks HyperID', async () => {
    await first.cache.set(redisKey(fake.url, 'lacking-2'), { authTypes: 'all', expiresAt: 'never' }, 60_000);
    const res = await get(second, 'lacking-2');

    expect(res.status).toBe(lackingMethods.status);
    expect(fake.calls('lacking-2')).toBe(1);
  });

  it('never honours a tampered entry, nor a genuine one replayed under another token’s key', async () => {
    expect((await get(first, 'allowed-3')).status).toBe(200);
    await keyWritten(first, fake.url, 'allowed-3');
    const genuine = await first.cache.get<{ authTypes: number[]; expiresAt: number; mac: string }>(
      redisKey(fake.url, 'allowed-3'),
    );
    expect(genuine?.mac).toEqual(expect.any(String));

    // Whoever can write to Redis grants a user without TOTP every method, keeping a real MAC...
    await first.cache.set(redisKey(fake.url, 'lacking-3'), { ...genuine, authTypes: [0, 1, 2, 3] }, 60_000);
    const lacking = await get(second, 'lacking-3');
    expect(lacking.status).toBe(lackingMethods.status);
    expect(fake.calls('lacking-3')).toBe(1);

    // ...or replays the genuine entry under a token HyperID does not know.
    await first.cache.set(redisKey(fake.url, 'forged-3'), genuine, 60_000);
    const forged = await get(second, 'forged-3');
    expect(forged.status).toBe(tokenInvalid.status);
    expect(fake.calls('forged-3')).toBe(1);
  });

  describe('with Redis killed', () => {
    beforeAll(async () => {
      await redisServer.kill();
      fake.resetCalls();
    });

    it.each([
      ['first', () => first],
      ['second', () => second],
      ['queueing client', () => queued],
    ])('answers every request correctly from HyperID (%s instance)', async (name, instance) => {
      const suffix = { first: 'dead-1', second: 'dead-2', 'queueing client': 'dead-3' }[name]!;

      const allowed = await get(instance(), `allowed-${suffix}`);
      const lacking = await get(instance(), `lacking-${suffix}`);
      const invalid = await get(instance(), `invalid-${suffix}`);

      expect(allowed.status).toBe(200);
      expect(allowed.body).toEqual({ types: [0, TOTP] });
      expect(lacking.status).toBe(lackingMethods.status);
      expect(lacking.body).toMatchObject({ mode: 'all', missing: [TOTP] });
      expect(invalid.status).toBe(tokenInvalid.status);
      expectHeader(invalid.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
      expect(fake.calls(`allowed-${suffix}`)).toBe(1);
      expect(fake.calls(`lacking-${suffix}`)).toBe(1);
      expect(fake.calls(`invalid-${suffix}`)).toBe(1);
    });

    it('keeps serving from memory: a repeated token makes no further HyperID call', async () => {
      const again = await get(second, 'allowed-dead-2');
      const earlier = await get(first, 'allowed-1');

      expect(again.status).toBe(200);
      expect(earlier.status).toBe(200);
      expect(fake.calls('allowed-dead-2')).toBe(1);
      expect(fake.calls('allowed-1')).toBe(0);
    });

    it('still refuses a lacking user whose answer was shared before Redis died', async () => {
      const res = await get(queued, 'lacking-1');

      expect(res.status).toBe(lackingMethods.status);
      expect(fake.calls('lacking-1')).toBe(1);
    });

    it('raised no unhandled error while Redis was gone', () => {
      expect(unhandled).toEqual([]);
    });
  });
});
