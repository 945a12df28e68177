import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rm } from 'node:fs/promises';
import { HyperIdResult } from '../../lib/hyperid-result.enum.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';
import {
  controlChannel,
  fakeControl,
  get,
  request,
  startPlatformsApp,
  type Answer,
  type RunningUserApp,
} from '../support/user-app.js';

// Acceptance, installed as a user: the packed tarball in a fresh NestJS 12 ESM app
// (test/package/fixtures/acceptance-app) that boots, on Express and on Fastify, one app instance
// per HyperID configuration, each against its own FakeHyperIdServer from 'nestjs-hyperid/testing'.
// The driver never imports the package: it reads call counts and injects faults through the app's
// HTTP control channel (see the fixture's src/control.ts). It takes only the result codes from the
// sources' enum, to name the answers it sets. Same expectations on both adapters.

const TIMEOUT = 240_000;
const ADAPTERS = ['express', 'fastify'] as const;
type Adapter = (typeof ADAPTERS)[number];
type Profile = 'cached' | 'uncached' | 'retrying' | 'breaker';

interface Ready {
  control: string;
  apps: Record<Adapter, Record<Profile, string>>;
  /** `getHttpAdapter().getType()` of each app instance, by adapter. */
  platforms: Record<Adapter, string[]>;
  fakes: Record<string, string>;
}

describe('acceptance of the packed tarball, on Express and Fastify', () => {
  let appDir: string | undefined;
  let app: RunningUserApp<Ready> | undefined;
  let ready: Ready;

  beforeAll(async () => {
    ({ dir: appDir, app } = await startPlatformsApp<Ready>('acceptance-app'));
    ready = app.ready;
  }, TIMEOUT);

  afterAll(async () => {
    await app?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  }, 30_000);

  const control = controlChannel(() => ready.control);
  const fakeOps = (fake: string) => fakeControl(control, fake);

  const statuses = (answers: Answer[]) => answers.map((answer) => answer.status);

  describe.each(ADAPTERS)('on %s', (adapter) => {
    const account = (profile: Profile) => `${ready.apps[adapter][profile]}/account`;
    const fake = (profile: Profile | 'redirect-target') => fakeOps(`${adapter}-${profile}`);
    const token = (name: string) => `${adapter}-${name}`;

    /** `count` requests with `bearer`, one after another. */
    async function sequential(url: string, bearer: string, count: number): Promise<Answer[]> {
      const answers: Answer[] = [];
      for (let i = 0; i < count; i += 1) answers.push(await get(url, `Bearer ${bearer}`));
      return answers;
    }

    /** `count` requests with `bearer`, all at once. */
    const concurrent = (url: string, bearer: string, count: number) =>
      Promise.all(Array.from({ length: count }, () => get(url, `Bearer ${bearer}`)));

    it(`every app instance runs on ${adapter}`, () => {
      expect(ready.platforms[adapter]).toEqual(
        ['cached', 'uncached', 'retrying', 'breaker'].map(() => adapter),
      );
    });

    describe('the default cache (docs/caching.md)', () => {
      it('20 concurrent requests with one fresh token make exactly 1 HyperID call', async () => {
        const t = token('concurrent');
        await fake('cached').setToken(t, { auth_types: [0, 3] });
        // Slow answers, so the 20 lookups are all in flight at once and must share one call.
        await fake('cached').fault({ latencyMs: 300 }, t);
        expect(await fake('cached').calls(t)).toBe(0);

        const answers = await concurrent(account('cached'), t, 20);
        expect(statuses(answers)).toEqual(Array.from({ length: 20 }, () => 200));
        expect(answers.map((answer) => JSON.parse(answer.body))).toEqual(
          Array.from({ length: 20 }, () => ({ types: [0, 3] })),
        );
        expect(await fake('cached').calls(t)).toBe(1);
      });

      it('50 sequential requests with one fresh token make 1 HyperID call', async () => {
        const t = token('sequential');
        await fake('cached').setToken(t, { auth_types: [1] });
        expect(await fake('cached').calls(t)).toBe(0);

        const answers = await sequential(account('cached'), t, 50);
        expect(statuses(answers)).toEqual(Array.from({ length: 50 }, () => 200));
        expect(await fake('cached').calls(t)).toBe(1);
      });

      it('with cache: false, 50 sequential requests make 50 HyperID calls', async () => {
        const t = token('uncached-sequential');
        await fake('uncached').setToken(t, { auth_types: [1] });

        const answers = await sequential(account('uncached'), t, 50);
        expect(statuses(answers)).toEqual(Array.from({ length: 50 }, () => 200));
        expect(await fake('uncached').calls(t)).toBe(50);
      });

      it('with cache: false, concurrent lookups are not merged (20 requests, 20 calls)', async () => {
        const t = token('uncached-concurrent');
        await fake('uncached').setToken(t, { auth_types: [1] });
        await fake('uncached').fault({ latencyMs: 300 }, t);

        const answers = await concurrent(account('uncached'), t, 20);
        expect(statuses(answers)).toEqual(Array.from({ length: 20 }, () => 200));
        expect(await fake('uncached').calls(t)).toBe(20);
      });
    });

    describe('retries: 2, cache: false, no breaker (docs/reliability.md)', () => {
      const cases: Array<{
        what: string;
        arrange: (t: string) => Promise<unknown>;
        status: number;
        calls: number;
        check?: (res: Answer) => void;
      }> = [
        {
          what: 'service temporarily unavailable (transient: retried twice)',
          arrange: (t) =>
            fake('retrying').setToken(t, { result: HyperIdResult.ServiceTemporarilyUnavailable }),
          status: STATUS_TABLE.unavailable.status,
          calls: 3,
          check: (res) => expectHeader(res.headers['retry-after'], STATUS_TABLE.unavailable.retryAfter),
        },
        {
          what: 'invalid parameters (not retried)',
          arrange: (t) => fake('retrying').setToken(t, { result: HyperIdResult.InvalidParameters }),
          status: STATUS_TABLE.badUpstream.status,
          calls: 1,
        },
        {
          what: 'token expired (not retried)',
          arrange: (t) => fake('retrying').setToken(t, { result: HyperIdResult.TokenExpired }),
          status: STATUS_TABLE.tokenExpired.status,
          calls: 1,
          check: (res) =>
            expectHeader(res.headers['www-authenticate'], STATUS_TABLE.tokenExpired.wwwAuthenticate),
        },
        {
          what: 'a 302 redirect to another server (never followed)',
          arrange: async (t) => {
            await fake('retrying').setToken(t, { auth_types: [0] });
            const target = ready.fakes[`${adapter}-redirect-target`];
            return fake('retrying').fault({ redirectTo: `${target}/2fa/types/get` }, t);
          },
          status: STATUS_TABLE.badUpstream.status,
          calls: 1,
        },
        {
          what: 'an answer over 64 KiB',
          arrange: (t) => fake('retrying').fault({ oversizedBytes: 200_000 }, t),
          status: STATUS_TABLE.badUpstream.status,
          calls: 1,
        },
      ];

      it.each(cases.map((c, i) => [c.what, i] as const))(
        '%s: the right status and call count, then a healthy token still gets 200',
        async (_what, index) => {
          const { arrange, status, calls, check } = cases[index];
          const t = token(`failing-${index}`);
          await arrange(t);

          const res = await get(account('retrying'), `Bearer ${t}`);
          expect(res.status).toBe(status);
          expect(res.body).not.toContain(t);
          check?.(res);
          expect(await fake('retrying').calls(t)).toBe(calls);

          const healthy = token(`healthy-after-${index}`);
          await fake('retrying').setToken(healthy, { auth_types: [3] });
          const ok = await get(account('retrying'), `Bearer ${healthy}`);
          expect(ok.status).toBe(200);
          expect(JSON.parse(ok.body)).toEqual({ types: [3] });
          expect(await fake('retrying').calls(healthy)).toBe(1);
        },
      );

      it('the redirect target never received a request, so never the token', async () => {
        const target = fake('redirect-target');
        expect(await target.calls()).toBe(0);
        // The target is up and counts what reaches it: the zero above is not a dead server's.
        const direct = await request('POST', `${ready.fakes[`${adapter}-redirect-target`]}/2fa/types/get`, {
          headers: { authorization: 'Bearer probe' },
          body: '{}',
        });
        expect(direct.status).toBe(200);
        expect(await target.calls()).toBe(1);
      });
    });

    describe('circuitBreaker: { threshold: 3 }, retries: 0, cache: false (docs/reliability.md: Circuit breaker)', () => {
      it('opens after 3 transient failures, then answers 503 with Retry-After without calling HyperID', async () => {
        const t = token('flaky');
        const breaker = fake('breaker');
        await breaker.setToken(t, { auth_types: [0] });
        await breaker.fault({ status: 500 }, t);

        const failures = await sequential(account('breaker'), t, 3);
        expect(statuses(failures)).toEqual(Array(3).fill(STATUS_TABLE.unavailable.status));
        expect(await breaker.calls(t)).toBe(3);

        // HyperID is healthy again, but the open circuit must not ask it.
        await breaker.clearFaults();
        const refused = await get(account('breaker'), `Bearer ${t}`);
        expect(refused.status).toBe(STATUS_TABLE.unavailable.status);
        expectHeader(refused.headers['retry-after'], STATUS_TABLE.unavailable.retryAfter);
        expect(await breaker.calls(t)).toBe(3);
        expect(await breaker.calls()).toBe(3);
      });
    });
  });

  it('stops cleanly on SIGTERM', async () => {
    app!.child.kill('SIGTERM');
    const [code] = await app!.exit;
    expect(code).toBe(0);
  });
});
