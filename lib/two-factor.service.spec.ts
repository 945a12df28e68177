import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { validateSync } from 'class-validator';
import { HyperIdClient } from './client/hyperid.client.js';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
} from './errors/hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import { HyperIdModule } from './hyperid.module.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from './interfaces/two-factor-cache-store.interface.js';
import {
  HyperIdTestingController,
  InMemoryHyperIdClient,
  type HyperIdTestingAnswer,
} from './testing/in-memory-hyperid.client.js';
import { TwoFactorService } from './two-factor.service.js';
import { TwoFactorType } from './two-factor-type.enum.js';

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwtExpiringAt = (expSeconds: number) =>
  `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-1', exp: expSeconds })}.c2lnbmF0dXJl`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Lets every pending promise chain run (a lookup reaches the client, or joins one in flight). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const GOOD = 'good-token';
/** As an app would read it from its configuration. */
const SECRET = 'x'.repeat(40);
const NONE = 'no-2fa-token';
const DENIED = 'no-scope-token';

/** What the in-memory HyperID answers at the start of every test. */
const TOKENS: Record<string, HyperIdTestingAnswer> = {
  [GOOD]: [TwoFactorType.HyperIdAuthenticator, TwoFactorType.AlternativeEmail],
  [NONE]: [],
  [DENIED]: HyperIdResult.AccessDenied,
};

/** Never called (HyperIdClient is overridden); a closed loopback port if it ever were. */
const API_URL = 'http://127.0.0.1:9';

describe('TwoFactorService', () => {
  let controller: HyperIdTestingController;
  let client: InMemoryHyperIdClient;
  const opened: Array<() => Promise<void>> = [];

  /** The real module (cache and all) on this test's in-memory HyperID; every call shares it. */
  async function serviceWith(options: HyperIdModuleOptions = {}): Promise<TwoFactorService> {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: API_URL, ...options })],
    })
      .overrideProvider(HyperIdClient)
      .useValue(client)
      .compile();
    await moduleRef.init();
    opened.push(() => moduleRef.close());
    return moduleRef.get(TwoFactorService);
  }

  beforeEach(() => {
    controller = new HyperIdTestingController(TOKENS);
    client = new InMemoryHyperIdClient(controller);
  });

  afterEach(async () => {
    controller.release();
    while (opened.length > 0) await opened.pop()!();
  });

  describe('the DTO', () => {
    it('mirrors the wire: result Success and the auth_types', async () => {
      const service = await serviceWith();
      const dto = await service.getAvailableTypes(GOOD);
      expect(dto).toBeInstanceOf(TwoFactorTypesResponseDto);
      expect(dto).toEqual({ result: HyperIdResult.Success, auth_types: [0, 3] });
      expect(Object.keys(dto).sort()).toEqual(['auth_types', 'result']);
      expect(validateSync(dto)).toEqual([]);
    });

    it('is a success with no types for a user without 2FA', async () => {
      const service = await serviceWith();
      expect(await service.getAvailableTypes(NONE)).toEqual({
        result: HyperIdResult.Success,
        auth_types: [],
      });
    });

    it('keeps types it does not know as numbers', async () => {
      controller.setToken('future-token', [1, 42]);
      const service = await serviceWith();
      expect((await service.getAvailableTypes('future-token')).auth_types).toEqual([1, 42]);
    });
  });

  describe('tokens refused without calling HyperID', () => {
    it.each([
      ['empty', ''],
      ['with a space', 'abc def'],
      ['with a quote', 'abc"def'],
      ['prefixed with Bearer', 'Bearer abc'],
      ['with a newline', 'abc\r\nX-Injected: 1'],
      ['over 8 KiB', 'a'.repeat(8 * 1024 + 1)],
    ])('a malformed token (%s)', async (_name, token) => {
      const service = await serviceWith();
      const error = await service.getAvailableTypes(token).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HyperIdTokenInvalidError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect((error as Error).message).toBe('The access token is not a well-formed bearer token');
      expect(controller.calls()).toBe(0);
    });

    it('a JWT whose exp has passed', async () => {
      const token = jwtExpiringAt(Math.floor(Date.now() / 1000) - 60);
      controller.setToken(token, [1]);
      const service = await serviceWith();
      const error = await service.getAvailableTypes(token).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HyperIdTokenExpiredError);
      expect((error as Error).message).toBe('The access token has expired (its exp claim has passed)');
      expect(controller.calls()).toBe(0);
    });

    it('a JWT that expires while its answer is cached', async () => {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const token = jwtExpiringAt(exp);
      controller.setToken(token, [1]);
      const service = await serviceWith({ cache: { ttlMs: 60_000 } });
      expect((await service.getAvailableTypes(token)).auth_types).toEqual([1]);
      await sleep(exp * 1000 - Date.now() + 100);
      await expect(service.getAvailableTypes(token)).rejects.toBeInstanceOf(HyperIdTokenExpiredError);
      expect(controller.calls(token)).toBe(1);
    });
  });

  describe('a JWT at its exp', () => {
    /** Runs `fn` with the clock standing still at `now`. */
    async function at<T>(now: number, fn: () => Promise<T>): Promise<T> {
      const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
      try {
        return await fn();
      } finally {
        clock.mockRestore();
      }
    }

    it('is refused at the very millisecond of its exp, without calling HyperID', async () => {
      const exp = Math.floor(Date.now() / 1000) + 600;
      const token = jwtExpiringAt(exp);
      controller.setToken(token, [1]);
      const service = await serviceWith();
      const error = await at(exp * 1000, () => service.getAvailableTypes(token).catch((e: unknown) => e));
      expect(error).toBeInstanceOf(HyperIdTokenExpiredError);
      expect(controller.calls()).toBe(0);
    });

    it('is looked up one millisecond before its exp, and its answer lasts no longer', async () => {
      const exp = Math.floor(Date.now() / 1000) + 600;
      const token = jwtExpiringAt(exp);
      controller.setToken(token, [1]);
      const service = await serviceWith({ cache: false });
      const answer = await at(exp * 1000 - 1, () => Promise.resolve(service.resolve(token)));
      expect(answer.authTypes).toEqual([1]);
      expect(answer.expiresAt).toBe(exp * 1000);
      expect(controller.calls(token)).toBe(1);
    });
  });

  it('without a cache, keeps an answer valid for the default 30 s (what a request may reuse)', async () => {
    const service = await serviceWith({ cache: false });
    const before = Date.now();
    const answer = await service.resolve(GOOD);
    const after = Date.now();
    expect(answer.key).toBe(service.keyOf(GOOD));
    expect(answer.expiresAt).toBeGreaterThanOrEqual(before + 30_000);
    expect(answer.expiresAt).toBeLessThanOrEqual(after + 30_000);
  });

  it('asks HyperID for a JWT that has not expired', async () => {
    const token = jwtExpiringAt(Math.floor(Date.now() / 1000) + 3600);
    controller.setToken(token, [2]);
    const service = await serviceWith();
    expect((await service.getAvailableTypes(token)).auth_types).toEqual([2]);
    expect(controller.calls(token)).toBe(1);
  });

  describe('errors', () => {
    it.each([
      ['an unknown token', 'unknown-token', HyperIdTokenInvalidError],
      ['a token without the scope', DENIED, HyperIdAccessDeniedError],
    ])('throws for %s, and remembers the refusal: 5 lookups, 1 call', async (_name, token, errorClass) => {
      const service = await serviceWith();
      for (let i = 0; i < 5; i += 1) {
        await expect(service.getAvailableTypes(token)).rejects.toBeInstanceOf(errorClass);
      }
      expect(controller.calls(token)).toBe(1);
    });

    it('remembers an expired token’s refusal too', async () => {
      controller.setToken('expired-token', HyperIdResult.TokenExpired);
      const service = await serviceWith();
      for (let i = 0; i < 3; i += 1) {
        await expect(service.getAvailableTypes('expired-token')).rejects.toBeInstanceOf(
          HyperIdTokenExpiredError,
        );
      }
      expect(controller.calls('expired-token')).toBe(1);
    });

    it.each([
      ['negativeTtlMs: 0', { cache: { negativeTtlMs: 0 } }],
      ['cache: false', { cache: false as const }],
    ])('asks HyperID again for a refused token with %s', async (_name, options) => {
      const service = await serviceWith(options);
      for (let i = 0; i < 3; i += 1) {
        await expect(service.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
          HyperIdTokenInvalidError,
        );
      }
      expect(controller.calls('unknown-token')).toBe(3);
    });

    it('forgets a refusal after negativeTtlMs', async () => {
      const service = await serviceWith({ cache: { negativeTtlMs: 50 } });
      await expect(service.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
      await sleep(80);
      await expect(service.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
      expect(controller.calls('unknown-token')).toBe(2);
    });

    it('200 refused tokens do not evict a cached answer (maxEntries: 50)', async () => {
      const service = await serviceWith({ cache: { maxEntries: 50 } });
      await service.getAvailableTypes(GOOD);
      for (let i = 0; i < 200; i += 1) {
        await expect(service.getAvailableTypes(`junk-${i}`)).rejects.toBeInstanceOf(HyperIdTokenInvalidError);
      }
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('200 lookups in flight do not evict a cached answer (maxEntries: 50)', async () => {
      const service = await serviceWith({ cache: { maxEntries: 50 } });
      await service.getAvailableTypes(GOOD);
      controller.hold((token) => token.startsWith('slow-junk-'));
      const junk = Array.from({ length: 200 }, (_, i) =>
        service.getAvailableTypes(`slow-junk-${i}`).catch((error: unknown) => error),
      );
      await settle();
      expect(controller.held).toBe(200);
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(controller.calls(GOOD)).toBe(1);
      controller.release();
      await Promise.all(junk);
    });

    it('does not remember a transient failure: the next lookup can succeed', async () => {
      const service = await serviceWith();
      controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable);
      await expect(service.getAvailableTypes(GOOD)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      controller.setToken(GOOD, TOKENS[GOOD]);
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(controller.calls(GOOD)).toBe(2);
    });
  });

  describe('cache', () => {
    it('cache: false asks HyperID every time', async () => {
      const service = await serviceWith({ cache: false });
      for (let i = 0; i < 3; i += 1) await service.getAvailableTypes(GOOD);
      expect(controller.calls(GOOD)).toBe(3);
    });

    it('cache: false does not merge concurrent lookups', async () => {
      const service = await serviceWith({ cache: false });
      controller.hold();
      const lookups = Array.from({ length: 4 }, () => service.getAvailableTypes(GOOD));
      await settle();
      expect(controller.held).toBe(4);
      controller.release();
      await Promise.all(lookups);
      expect(controller.calls(GOOD)).toBe(4);
    });

    it('the default cache asks HyperID once for repeated lookups', async () => {
      const service = await serviceWith();
      for (let i = 0; i < 3; i += 1)
        expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('merges concurrent lookups of one token into one call', async () => {
      const service = await serviceWith();
      controller.hold();
      const lookups = Array.from({ length: 20 }, () => service.getAvailableTypes(GOOD));
      await settle();
      expect(controller.held).toBe(1);
      controller.release();
      const answers = await Promise.all(lookups);
      expect(controller.calls(GOOD)).toBe(1);
      for (const answer of answers) expect(answer.auth_types).toEqual([0, 3]);
      expect(new Set(answers).size).toBe(20);
    });

    it('hands out a fresh DTO: changing one does not change the cache', async () => {
      const service = await serviceWith();
      const first = await service.getAvailableTypes(GOOD);
      first.auth_types.push(TwoFactorType.Totp);
      first.auth_types[0] = TwoFactorType.Sms;
      first.result = HyperIdResult.TokenInvalid;
      const second = await service.getAvailableTypes(GOOD);
      expect(second).toEqual({ result: HyperIdResult.Success, auth_types: [0, 3] });
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('uses a shared store, which only ever sees keyed digests of the token', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
      };
      const first = await serviceWith({ cache: { store, secret: SECRET } });
      const second = await serviceWith({ cache: { store, secret: SECRET } });
      await first.getAvailableTypes(GOOD);
      expect((await second.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(controller.calls(GOOD)).toBe(1);
      expect(entries.size).toBe(1);
      const [[key, value]] = entries;
      expect(key).not.toContain(GOOD);
      expect(key).not.toBe(createHash('sha256').update(GOOD).digest('base64url'));
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(value)).not.toContain(GOOD);
    });

    it('never believes a tampered entry, nor a genuine one replayed under another token’s key', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
      };
      const writer = await serviceWith({ cache: { store, secret: SECRET } });
      await writer.getAvailableTypes(GOOD);
      const [[goodKey, genuine]] = entries;

      // The attacker can write the store: give the user without 2FA every method...
      const reader = await serviceWith({ cache: { store, secret: SECRET } });
      const noneKey = reader.keyOf(NONE);
      entries.set(noneKey, { ...genuine, authTypes: [0, 1, 2, 3] });
      expect((await reader.getAvailableTypes(NONE)).auth_types).toEqual([]);
      // ...or replay GOOD's genuine entry under an unknown token's key.
      const junkKey = reader.keyOf('unknown-token');
      entries.set(junkKey, genuine);
      await expect(reader.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
      // ...or extend a genuine entry's life.
      entries.set(goodKey, { ...genuine, expiresAt: genuine.expiresAt + 86_400_000 });
      const third = await serviceWith({ cache: { store, secret: SECRET } });
      await third.getAvailableTypes(GOOD);
      expect(controller.calls(NONE)).toBe(1);
      expect(controller.calls('unknown-token')).toBe(1);
      expect(controller.calls(GOOD)).toBe(2);
    });

    it('never reads the entries of another secret or another apiUrl', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
      };
      const first = await serviceWith({ cache: { store, secret: SECRET } });
      await first.getAvailableTypes(GOOD);
      const otherSecret = await serviceWith({ cache: { store, secret: `${SECRET}-other` } });
      await otherSecret.getAvailableTypes(GOOD);
      const otherOrigin = await serviceWith({
        apiUrl: API_URL.replace('127.0.0.1', 'localhost'),
        cache: { store, secret: SECRET },
      });
      await otherOrigin.getAvailableTypes(GOOD);
      expect(controller.calls(GOOD)).toBe(3);
      expect(entries.size).toBe(3);
    });

    it('falls back to HyperID when the shared store fails, never to allowing', async () => {
      const store: TwoFactorCacheStore = {
        get: async () => {
          throw new Error('redis down');
        },
        set: async () => {
          throw new Error('redis down');
        },
      };
      const service = await serviceWith({ cache: { store, secret: SECRET } });
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      await expect(service.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
      expect(controller.calls()).toBe(2);
    });
  });

  describe('invalidate()', () => {
    it('forgets an answer in memory and in the shared store: the next lookup asks HyperID', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
        delete: async (key) => void entries.delete(key),
      };
      const service = await serviceWith({ cache: { store, secret: SECRET } });
      await service.getAvailableTypes(GOOD);
      expect(entries.size).toBe(1);
      controller.setToken(GOOD, [TwoFactorType.Totp]);
      await service.invalidate(GOOD);
      expect(entries.size).toBe(0);
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([TwoFactorType.Totp]);
      expect(controller.calls(GOOD)).toBe(2);
    });

    it('forgets a refusal too', async () => {
      const service = await serviceWith();
      await expect(service.getAvailableTypes('late-token')).rejects.toBeInstanceOf(HyperIdTokenInvalidError);
      controller.setToken('late-token', [1]);
      await service.invalidate('late-token');
      expect((await service.getAvailableTypes('late-token')).auth_types).toEqual([1]);
      expect(controller.calls('late-token')).toBe(2);
    });

    it('ignores what is not a string, and forgets nothing else', async () => {
      const service = await serviceWith();
      await service.getAvailableTypes(GOOD);
      await expect(service.invalidate(undefined as unknown as string)).resolves.toBeUndefined();
      await expect(service.invalidate(42 as unknown as string)).resolves.toBeUndefined();
      await service.getAvailableTypes(GOOD);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('is harmless without a cache, or for a token never seen', async () => {
      await expect((await serviceWith({ cache: false })).invalidate(GOOD)).resolves.toBeUndefined();
      await expect((await serviceWith()).invalidate('never-seen')).resolves.toBeUndefined();
    });
  });
});
