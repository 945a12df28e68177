import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rm } from 'node:fs/promises';
import { TwoFactorType } from '../../lib/two-factor-type.enum.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';
import {
  controlChannel,
  fakeControl,
  get,
  startPlatformsApp,
  type Answer,
  type RunningUserApp,
} from '../support/user-app.js';

// Trust, installed as a user: the packed tarball in a fresh NestJS 12 ESM app
// (test/package/fixtures/trust-app) that boots, on Express and on Fastify, one app instance per
// scenario against its own FakeHyperIdServer from 'nestjs-hyperid/testing', and two instances of
// one app that share a TwoFactorCacheStore (a Map in the app's process) and a cache.secret from
// the environment. What is shown: junk tokens cost one HyperID call each, never open the breaker
// and never push a user's answer out of the cache; a refused token asked again costs nothing; a
// lookup's retries count once for the breaker; and the shared store is reused between instances
// but believed only when an entry is genuine and under its own key (docs/caching.md: the shared store's
// entries are untrusted input). The driver never imports the package: it reads call counts and
// reaches into the store through the app's HTTP control channel (the fixture's src/control.ts),
// which never answers with a token. It takes the 2FA types from the sources' enum.

const TIMEOUT = 240_000;
const ADAPTERS = ['express', 'fastify'] as const;
type Adapter = (typeof ADAPTERS)[number];
type Profile = 'flood' | 'negative' | 'bounded' | 'breaker' | 'shared-a' | 'shared-b';
type FakeName = 'flood' | 'negative' | 'bounded' | 'breaker' | 'shared';
const PROFILES: readonly Profile[] = ['flood', 'negative', 'bounded', 'breaker', 'shared-a', 'shared-b'];

interface Ready {
  control: string;
  apps: Record<Adapter, Record<Profile, string>>;
  /** `getHttpAdapter().getType()` of each app instance, by adapter. */
  platforms: Record<Adapter, string[]>;
}

/** An entry of the shared store, as `CachedTwoFactorTypes` of 'nestjs-hyperid'. */
interface StoreEntry {
  key: string;
  value: { authTypes: number[]; expiresAt: number; mac: string };
}

const EVERY_METHOD = [
  TwoFactorType.HyperIdAuthenticator,
  TwoFactorType.Totp,
  TwoFactorType.Sms,
  TwoFactorType.AlternativeEmail,
];
const USER_METHODS = [TwoFactorType.HyperIdAuthenticator, TwoFactorType.AlternativeEmail];
const { tokenInvalid, lackingMethods, unavailable } = STATUS_TABLE;

describe('trust of the packed tarball, on Express and Fastify', () => {
  let appDir: string | undefined;
  let app: RunningUserApp<Ready> | undefined;
  let ready: Ready;

  beforeAll(async () => {
    ({ dir: appDir, app } = await startPlatformsApp<Ready>('trust-app'));
    ready = app.ready;
  }, TIMEOUT);

  afterAll(async () => {
    await app?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  }, 30_000);

  const control = controlChannel(() => ready.control);
  const fakeOps = (fake: string) => fakeControl(control, fake);

  const storeOps = (store: string) => ({
    entries: async () =>
      ((await control('GET', `/store/${store}/entries`)) as { entries: StoreEntry[] }).entries,
    /** The keys the instances read from the store, oldest first. */
    lookups: async () => ((await control('GET', `/store/${store}/lookups`)) as { keys: string[] }).keys,
    copy: (from: string, to: string) => control('POST', `/store/${store}/copy`, { from, to }),
    setAuthTypes: (key: string, authTypes: number[]) =>
      control('POST', `/store/${store}/auth-types`, { key, authTypes }),
  });

  const statuses = (answers: Answer[]) => answers.map((answer) => answer.status);
  const times = <T>(count: number, value: T) => Array.from({ length: count }, () => value);

  describe.each(ADAPTERS)('on %s', (adapter) => {
    const account = (profile: Profile) => `${ready.apps[adapter][profile]}/account`;
    const fake = (name: FakeName) => fakeOps(`${adapter}-${name}`);
    const store = () => storeOps(adapter);
    const token = (name: string) => `${adapter}-${name}`;
    const ask = (profile: Profile, bearer: string) => get(account(profile), `Bearer ${bearer}`);

    /** One request per token, one after another. */
    async function sequential(profile: Profile, tokens: readonly string[]): Promise<Answer[]> {
      const answers: Answer[] = [];
      for (const t of tokens) answers.push(await ask(profile, t));
      return answers;
    }

    /** `count` distinct tokens HyperID never issued (the fake answers `TokenInvalid` to them). */
    const junk = (name: string, count: number) =>
      Array.from({ length: count }, (_, i) => token(`${name}-${i}`));

    /**
     * The store key of `bearer`, found without the app ever telling a token's key: the one entry
     * that appears in the store while instance A answers `bearer` with `status`.
     */
    async function storedKeyOf(bearer: string, status: number): Promise<string> {
      const before = new Set((await store().entries()).map((entry) => entry.key));
      const res = await ask('shared-a', bearer);
      expect(res.status).toBe(status);
      const added = (await store().entries()).filter((entry) => !before.has(entry.key));
      expect(added).toHaveLength(1);
      return added[0].key;
    }

    /** The value under `key` in the store (fails when there is none). */
    async function entryUnder(key: string): Promise<StoreEntry['value']> {
      const entry = (await store().entries()).find((candidate) => candidate.key === key);
      expect(entry).toBeDefined();
      return entry!.value;
    }

    /** Asks `bearer` on `profile`; returns the answer and the keys the instance read meanwhile. */
    async function askWatchingReads(profile: Profile, bearer: string) {
      const before = (await store().lookups()).length;
      const res = await ask(profile, bearer);
      const read = (await store().lookups()).slice(before);
      return { res, read };
    }

    it(`every app instance runs on ${adapter}`, () => {
      expect(ready.platforms[adapter]).toEqual(PROFILES.map(() => adapter));
    });

    describe('invalid tokens', () => {
      it('200 distinct invalid tokens: each answered 401 after one HyperID call, and the breaker stays closed', async () => {
        const hyperId = fake('flood');
        const tokens = junk('flood', 200);
        expect(await hyperId.calls()).toBe(0);

        const answers = await sequential('flood', tokens);
        expect(statuses(answers)).toEqual(times(200, tokenInvalid.status));
        for (const res of answers)
          expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
        expect(await hyperId.callsOf(tokens)).toEqual(times(200, 1));
        expect(await hyperId.calls()).toBe(200);

        // threshold is 3: had the refusals counted, the circuit would be open and answer 503 unasked.
        const user = token('flood-user');
        await hyperId.setToken(user, { auth_types: USER_METHODS });
        const ok = await ask('flood', user);
        expect(ok.status).toBe(200);
        expect(JSON.parse(ok.body)).toEqual({ types: USER_METHODS });
        expect(await hyperId.calls(user)).toBe(1);
        expect(await hyperId.calls()).toBe(200 + 1);
      });

      it('the same invalid token asked 5 times costs one HyperID call', async () => {
        const hyperId = fake('negative');
        const t = token('refused-again');
        expect(await hyperId.calls()).toBe(0);

        const answers = await sequential('negative', times(5, t));
        expect(statuses(answers)).toEqual(times(5, tokenInvalid.status));
        for (const res of answers)
          expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
        expect(await hyperId.calls(t)).toBe(1);
        expect(await hyperId.calls()).toBe(1);
      });

      it('200 junk tokens do not evict a cached answer (cache.maxEntries: 50)', async () => {
        const hyperId = fake('bounded');
        const user = token('bounded-user');
        await hyperId.setToken(user, { auth_types: USER_METHODS });
        expect((await ask('bounded', user)).status).toBe(200);
        expect(await hyperId.calls(user)).toBe(1);

        const tokens = junk('bounded-junk', 200);
        expect(statuses(await sequential('bounded', tokens))).toEqual(times(200, tokenInvalid.status));
        expect(await hyperId.callsOf(tokens)).toEqual(times(200, 1));

        const again = await ask('bounded', user);
        expect(again.status).toBe(200);
        expect(JSON.parse(again.body)).toEqual({ types: USER_METHODS });
        expect(await hyperId.calls(user)).toBe(1);
        expect(await hyperId.calls()).toBe(1 + 200);
      });
    });

    describe('retries: 2, circuitBreaker: { threshold: 3 }', () => {
      it('two failed lookups (3 calls each) do not open the breaker: the next user gets 200 from HyperID', async () => {
        const hyperId = fake('breaker');
        const failing = [token('unlucky-1'), token('unlucky-2')];
        for (const t of failing) await hyperId.setToken(t, { auth_types: USER_METHODS });
        await hyperId.fault({ status: 503 });

        expect(statuses(await sequential('breaker', failing))).toEqual(times(2, unavailable.status));
        expect(await hyperId.callsOf(failing)).toEqual([3, 3]);
        expect(await hyperId.calls()).toBe(6);

        // Six failed calls but two failed lookups: below the threshold, the circuit is closed.
        await hyperId.clearFaults();
        const user = token('after-outage');
        await hyperId.setToken(user, { auth_types: USER_METHODS });
        const ok = await ask('breaker', user);
        expect(ok.status).toBe(200);
        expect(JSON.parse(ok.body)).toEqual({ types: USER_METHODS });
        expect(await hyperId.calls(user)).toBe(1);
        expect(await hyperId.calls()).toBe(7);
      });
    });

    describe('two instances sharing one TwoFactorCacheStore and cache.secret', () => {
      it("the second instance reuses the first one's answer without calling HyperID", async () => {
        const hyperId = fake('shared');
        const user = token('shared-user');
        await hyperId.setToken(user, { auth_types: USER_METHODS });

        const key = await storedKeyOf(user, 200);
        expect((await entryUnder(key)).authTypes).toEqual(USER_METHODS);
        expect(await hyperId.calls(user)).toBe(1);

        const { res, read } = await askWatchingReads('shared-b', user);
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toEqual({ types: USER_METHODS });
        expect(read).toEqual([key]);
        expect(await hyperId.calls(user)).toBe(1);
        // The store holds digests and MACs only, never the token.
        expect(JSON.stringify(await store().entries())).not.toContain(user);
      });

      it('a tampered entry (every method granted to a user without 2FA) is not honoured: 403', async () => {
        const hyperId = fake('shared');
        const user = token('no-2fa-tampered');
        await hyperId.setToken(user, { auth_types: [] });

        const key = await storedKeyOf(user, lackingMethods.status);
        expect((await entryUnder(key)).authTypes).toEqual([]);
        await store().setAuthTypes(key, EVERY_METHOD);
        expect((await entryUnder(key)).authTypes).toEqual(EVERY_METHOD);

        const { res, read } = await askWatchingReads('shared-b', user);
        expect(read).toEqual([key]);
        expect(res.status).toBe(lackingMethods.status);
        expect(JSON.parse(res.body)).toMatchObject({ missing: EVERY_METHOD });
        // Instance B did not believe the entry: it asked HyperID.
        expect(await hyperId.calls(user)).toBe(2);
      });

      it('a genuine entry replayed under the key of a token HyperID does not know is not honoured: 401', async () => {
        const hyperId = fake('shared');
        const user = token('replay-source-1');
        await hyperId.setToken(user, { auth_types: USER_METHODS });
        const genuineKey = await storedKeyOf(user, 200);

        // A token HyperID never issued leaves no entry, but instance B reads its key on the way.
        const stranger = token('stranger');
        const first = await askWatchingReads('shared-b', stranger);
        expect(first.res.status).toBe(tokenInvalid.status);
        expect(first.read).toHaveLength(1);
        const [strangerKey] = first.read;
        expect(strangerKey).not.toBe(genuineKey);
        expect((await store().entries()).map((entry) => entry.key)).not.toContain(strangerKey);
        expect(await hyperId.calls(stranger)).toBe(1);

        await store().copy(genuineKey, strangerKey);
        expect(await entryUnder(strangerKey)).toEqual(await entryUnder(genuineKey));

        // Instance A has never seen the token (B remembers its refusal): it reads the replayed entry.
        const { res, read } = await askWatchingReads('shared-a', stranger);
        expect(read).toEqual([strangerKey]);
        expect(res.status).toBe(tokenInvalid.status);
        expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
        expect(await hyperId.calls(stranger)).toBe(2);
      });

      it('a genuine entry replayed under the key of a user without 2FA methods is not honoured: 403', async () => {
        const hyperId = fake('shared');
        const user = token('replay-source-2');
        await hyperId.setToken(user, { auth_types: USER_METHODS });
        const genuineKey = await storedKeyOf(user, 200);

        const bare = token('no-2fa-replayed');
        await hyperId.setToken(bare, { auth_types: [] });
        const bareKey = await storedKeyOf(bare, lackingMethods.status);
        expect(bareKey).not.toBe(genuineKey);

        await store().copy(genuineKey, bareKey);
        expect(await entryUnder(bareKey)).toEqual(await entryUnder(genuineKey));

        const { res, read } = await askWatchingReads('shared-b', bare);
        expect(read).toEqual([bareKey]);
        expect(res.status).toBe(lackingMethods.status);
        expect(JSON.parse(res.body)).toMatchObject({ missing: EVERY_METHOD });
        expect(await hyperId.calls(bare)).toBe(2);
      });
    });
  });

  it('stops cleanly on SIGTERM', async () => {
    app!.child.kill('SIGTERM');
    const [code] = await app!.exit;
    expect(code).toBe(0);
  });
});
