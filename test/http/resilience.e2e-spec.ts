import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, createStrictApp, serverOf } from '../support/e2e-app.js';
import { STATUS_TABLE } from '../support/status-table.js';
import { tokenTable } from '../support/tokens.js';

const { tokenInvalid, lackingMethods, unavailable } = STATUS_TABLE;

// How many HyperID calls a guarded request costs with retries and the cache (README: Options; docs/reliability.md,
// docs/caching.md).
describe.each(ADAPTERS)('HyperID calls per request (%s)', (adapterName, adapter) => {
  const { tokens, token } = tokenTable(`tok-resilience-${adapterName}`);
  let fake: FakeHyperIdServer;
  let app: INestApplication | undefined;

  const get = (user: string) =>
    request(serverOf(app!)).get('/routes/totp').set('Authorization', `Bearer ${user}`);

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens }).start();
  });

  afterEach(async () => {
    fake.clearFaults().resetCalls();
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await fake?.stop();
  });

  it('retries transient failures (service temporarily unavailable, 5xx) `retries` times, then answers 503', async () => {
    app = await createStrictApp(adapter, fake.url, { retries: 2 });
    expect((await get(token('unavailable'))).status).toBe(unavailable.status);
    expect(fake.calls(token('unavailable'))).toBe(3);

    const flaky = token('flaky-500');
    fake.setToken(flaky, { auth_types: [1] }).injectFault({ status: 500 }, flaky);
    expect((await get(flaky)).status).toBe(unavailable.status);
    expect(fake.calls(flaky)).toBe(3);
  });

  it('never retries answers about the token or unusable answers', async () => {
    app = await createStrictApp(adapter, fake.url, { retries: 2 });
    for (const user of ['invalid', 'expired', 'denied', 'badParameters', 'unknownResult', 'sms']) {
      await get(token(user));
      expect([user, fake.calls(token(user))]).toEqual([user, 1]);
    }
  });

  it('a retry that succeeds lets the request through', async () => {
    app = await createStrictApp(adapter, fake.url, { retries: 10 });
    const user = token('eventually');
    // A third of the attempts fail: with 11 attempts the request is let through (all failing: ~2e-6).
    fake.setToken(user, { auth_types: [1] }).injectFault({ status: 503, probability: 0.3 }, user);
    expect((await get(user)).status).toBe(200);
    expect(fake.calls(user)).toBeGreaterThanOrEqual(1);
  });

  it('with the default cache, a success and a refusal of the token are reused; HyperID’s failures are not', async () => {
    app = await createStrictApp(adapter, fake.url, { cache: {} });
    const user = token('cached');
    fake.setToken(user, { auth_types: [1] });
    expect((await get(user)).status).toBe(200);
    expect((await get(user)).status).toBe(200);
    expect(fake.calls(user)).toBe(1);

    // A lacking user is a success too: cached, and still refused the second time.
    expect((await get(token('sms'))).status).toBe(lackingMethods.status);
    expect((await get(token('sms'))).status).toBe(lackingMethods.status);
    expect(fake.calls(token('sms'))).toBe(1);

    // An invalid token is refused again from memory (cache.negativeTtlMs), without a call.
    expect((await get(token('invalid'))).status).toBe(tokenInvalid.status);
    expect((await get(token('invalid'))).status).toBe(tokenInvalid.status);
    expect(fake.calls(token('invalid'))).toBe(1);

    for (const failing of ['unavailable', 'badParameters']) {
      await get(token(failing));
      await get(token(failing));
      expect([failing, fake.calls(token(failing))]).toEqual([failing, 2]);
    }
  });

  it('with the cache, concurrent requests with one token share one HyperID call', async () => {
    app = await createStrictApp(adapter, fake.url, { cache: {} });
    const user = token('concurrent-cached');
    fake.setToken(user, { auth_types: [1] }).injectFault({ latencyMs: 150 }, user);
    const answers = await Promise.all([get(user), get(user), get(user)]);
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200]);
    expect(fake.calls(user)).toBe(1);
  });

  it('with cache: false, concurrent requests each ask HyperID', async () => {
    app = await createStrictApp(adapter, fake.url, { cache: false });
    const user = token('concurrent-uncached');
    fake.setToken(user, { auth_types: [1] }).injectFault({ latencyMs: 150 }, user);
    const answers = await Promise.all([get(user), get(user), get(user)]);
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200]);
    expect(fake.calls(user)).toBe(3);
  });
});
