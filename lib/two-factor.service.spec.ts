import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { validateSync } from 'class-validator';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
} from './hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import { HyperIdModule } from './hyperid.module.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from './interfaces/two-factor-cache-store.interface.js';
import { FakeHyperIdServer } from './testing/index.js';
import { TwoFactorService } from './two-factor.service.js';
import { TwoFactorType } from './two-factor-type.enum.js';

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwtExpiringAt = (expSeconds: number) =>
  `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-1', exp: expSeconds })}.c2lnbmF0dXJl`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const GOOD = 'good-token';
const NONE = 'no-2fa-token';
const DENIED = 'no-scope-token';

describe('TwoFactorService', () => {
  let fake: FakeHyperIdServer;
  const opened: Array<() => Promise<void>> = [];

  async function serviceWith(options: HyperIdModuleOptions = {}): Promise<TwoFactorService> {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, retries: 0, ...options })],
    }).compile();
    await moduleRef.init();
    opened.push(() => moduleRef.close());
    return moduleRef.get(TwoFactorService);
  }

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: {
        [GOOD]: { auth_types: [TwoFactorType.HyperIdAuthenticator, TwoFactorType.AlternativeEmail] },
        [NONE]: { auth_types: [] },
        [DENIED]: { result: HyperIdResult.AccessDenied },
      },
    }).start();
  });

  beforeEach(() => {
    fake.clearFaults().resetCalls();
  });

  afterEach(async () => {
    while (opened.length > 0) await opened.pop()!();
  });

  afterAll(async () => {
    await fake.stop();
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
      expect(await service.getAvailableTypes(NONE)).toEqual({ result: 0, auth_types: [] });
    });

    it('keeps types it does not know as numbers', async () => {
      fake.setToken('future-token', { auth_types: [1, 42] });
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
      expect(fake.calls()).toBe(0);
    });

    it('a JWT whose exp has passed', async () => {
      const token = jwtExpiringAt(Math.floor(Date.now() / 1000) - 60);
      fake.setToken(token, { auth_types: [1] });
      const service = await serviceWith();
      const error = await service.getAvailableTypes(token).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HyperIdTokenExpiredError);
      expect((error as Error).message).not.toContain(token);
      expect(fake.calls()).toBe(0);
    });

    it('a JWT that expires while its answer is cached', async () => {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const token = jwtExpiringAt(exp);
      fake.setToken(token, { auth_types: [1] });
      const service = await serviceWith({ cache: { ttlMs: 60_000 } });
      expect((await service.getAvailableTypes(token)).auth_types).toEqual([1]);
      await sleep(exp * 1000 - Date.now() + 100);
      await expect(service.getAvailableTypes(token)).rejects.toBeInstanceOf(HyperIdTokenExpiredError);
      expect(fake.calls(token)).toBe(1);
    });
  });

  it('asks HyperID for a JWT that has not expired', async () => {
    const token = jwtExpiringAt(Math.floor(Date.now() / 1000) + 3600);
    fake.setToken(token, { auth_types: [2] });
    const service = await serviceWith();
    expect((await service.getAvailableTypes(token)).auth_types).toEqual([2]);
    expect(fake.calls(token)).toBe(1);
  });

  describe('errors', () => {
    it.each([
      ['an unknown token', 'unknown-token', HyperIdTokenInvalidError],
      ['a token without the scope', DENIED, HyperIdAccessDeniedError],
    ])('throws for %s, and does not cache it', async (_name, token, errorClass) => {
      const service = await serviceWith();
      await expect(service.getAvailableTypes(token)).rejects.toBeInstanceOf(errorClass);
      await expect(service.getAvailableTypes(token)).rejects.toBeInstanceOf(errorClass);
      expect(fake.calls(token)).toBe(2);
    });

    it('does not cache a transient failure: the next lookup can succeed', async () => {
      const service = await serviceWith();
      fake.injectFault({ status: 503 }, GOOD);
      await expect(service.getAvailableTypes(GOOD)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      fake.clearFaults();
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(fake.calls(GOOD)).toBe(2);
    });
  });

  describe('cache', () => {
    it('cache: false asks HyperID every time', async () => {
      const service = await serviceWith({ cache: false });
      for (let i = 0; i < 3; i += 1) await service.getAvailableTypes(GOOD);
      expect(fake.calls(GOOD)).toBe(3);
    });

    it('cache: false does not merge concurrent lookups', async () => {
      const service = await serviceWith({ cache: false });
      fake.injectFault({ latencyMs: 50 }, GOOD);
      await Promise.all(Array.from({ length: 4 }, () => service.getAvailableTypes(GOOD)));
      expect(fake.calls(GOOD)).toBe(4);
    });

    it('the default cache asks HyperID once for repeated lookups', async () => {
      const service = await serviceWith();
      for (let i = 0; i < 3; i += 1)
        expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(fake.calls(GOOD)).toBe(1);
    });

    it('merges concurrent lookups of one token into one call', async () => {
      const service = await serviceWith();
      fake.injectFault({ latencyMs: 50 }, GOOD);
      const answers = await Promise.all(Array.from({ length: 20 }, () => service.getAvailableTypes(GOOD)));
      expect(fake.calls(GOOD)).toBe(1);
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
      expect(fake.calls(GOOD)).toBe(1);
    });

    it('uses a shared store, which only ever sees digests', async () => {
      const entries = new Map<string, CachedTwoFactorTypes>();
      const store: TwoFactorCacheStore = {
        get: async (key) => entries.get(key),
        set: async (key, value) => void entries.set(key, value),
      };
      const first = await serviceWith({ cache: { store } });
      const second = await serviceWith({ cache: { store } });
      await first.getAvailableTypes(GOOD);
      expect((await second.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      expect(fake.calls(GOOD)).toBe(1);
      expect(entries.size).toBe(1);
      const [key] = entries.keys();
      expect(key).not.toContain(GOOD);
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
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
      const service = await serviceWith({ cache: { store } });
      expect((await service.getAvailableTypes(GOOD)).auth_types).toEqual([0, 3]);
      await expect(service.getAvailableTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
      expect(fake.calls()).toBe(2);
    });
  });
});
