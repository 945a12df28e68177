import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpModule, HttpService } from '@nestjs/axios';
import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { HyperIdClient } from './client/hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS } from './hyperid.constants.js';
import type { HyperIdOptionsFactory } from './hyperid.module-definition.js';
import { HyperIdModule } from './hyperid.module.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import { FakeHyperIdServer } from './testing/index.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import { TwoFactorService } from './two-factor.service.js';

const TOKEN = 'module-token';

/** A stand-in for @nestjs/config's ConfigService: values by key. */
@Injectable()
class SettingsService {
  constructor(@Inject('SETTINGS') private readonly values: Record<string, unknown>) {}
  get<T>(key: string): T {
    return this.values[key] as T;
  }
}

@Module({})
class SettingsModule {
  static forValues(values: Record<string, unknown>): DynamicModule {
    return {
      module: SettingsModule,
      providers: [{ provide: 'SETTINGS', useValue: values }, SettingsService],
      exports: [SettingsService],
    };
  }
}

@Injectable()
class HyperIdSettings implements HyperIdOptionsFactory {
  constructor(private readonly settings: SettingsService) {}
  createHyperIdOptions(): HyperIdModuleOptions {
    return { apiUrl: this.settings.get('HYPERID_URL'), timeoutMs: this.settings.get('HYPERID_TIMEOUT') };
  }
}

/** A provider of a feature module that needs TwoFactorService. */
@Injectable()
class AccountService {
  constructor(readonly twoFactor: TwoFactorService) {}
}

@Module({ providers: [AccountService], exports: [AccountService] })
class AccountModule {}

describe('HyperIdModule', () => {
  let fake: FakeHyperIdServer;
  let moduleRef: TestingModule | undefined;

  const compile = async (...imports: Array<DynamicModule | typeof AccountModule>) => {
    moduleRef = await Test.createTestingModule({ imports }).compile();
    await moduleRef.init();
    return moduleRef;
  };

  /** Proves the module talks to the fake: the options reached the client. */
  const expectWorking = async (ref: TestingModule) => {
    const answer = await ref.get(TwoFactorService).getAvailableTypes(TOKEN);
    expect(answer.auth_types).toEqual([1, 3]);
    expect(fake.calls(TOKEN)).toBeGreaterThan(0);
  };

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [1, 3] } } }).start();
  });

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    fake.resetCalls();
  });

  afterAll(async () => {
    await fake.stop();
  });

  describe('forRoot', () => {
    it('provides TwoFactorService and TwoFactorGuard with the options given', async () => {
      const ref = await compile(HyperIdModule.forRoot({ apiUrl: fake.url, timeoutMs: 1234 }));
      expect(ref.get(TwoFactorService)).toBeInstanceOf(TwoFactorService);
      expect(ref.get(TwoFactorGuard)).toBeInstanceOf(TwoFactorGuard);
      const options = ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS);
      expect(options.apiUrl.origin).toBe(fake.url);
      expect(options.timeoutMs).toBe(1234);
      expect(options.retries).toBe(2);
      await expectWorking(ref);
    });

    it('fills in defaults for empty options', async () => {
      const ref = await compile(HyperIdModule.forRoot({}));
      const options = ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS);
      expect(options.apiUrl.href).toBe('https://api.hypersecureid.com/');
      expect(options.cache).toMatchObject({ ttlMs: 30_000, maxEntries: 10_000 });
    });

    it('is not global by default', () => {
      expect(HyperIdModule.forRoot({}).global).toBe(false);
      expect(HyperIdModule.forRoot({ isGlobal: true }).global).toBe(true);
    });

    it('does not pass isGlobal on as an option', async () => {
      const ref = await compile(HyperIdModule.forRoot({ apiUrl: fake.url, isGlobal: true }));
      expect(Object.keys(ref.get(HYPERID_RESOLVED_OPTIONS))).not.toContain('isGlobal');
    });
  });

  describe('forRootAsync', () => {
    it('useFactory with imports and inject', async () => {
      const ref = await compile(
        HyperIdModule.forRootAsync({
          imports: [SettingsModule.forValues({ HYPERID_URL: fake.url, HYPERID_RETRIES: 0 })],
          inject: [SettingsService],
          useFactory: (settings: SettingsService) => ({
            apiUrl: settings.get<string>('HYPERID_URL'),
            retries: settings.get<number>('HYPERID_RETRIES'),
          }),
        }),
      );
      expect(ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS).retries).toBe(0);
      await expectWorking(ref);
    });

    it('useFactory returning a promise', async () => {
      const ref = await compile(
        HyperIdModule.forRootAsync({
          useFactory: async () => {
            await new Promise((resolve) => setTimeout(resolve, 5));
            return { apiUrl: fake.url, cache: false as const };
          },
        }),
      );
      expect(ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS).cache).toBe(false);
      await expectWorking(ref);
    });

    it('useClass: a class with createHyperIdOptions(), with its own dependencies', async () => {
      const ref = await compile(
        HyperIdModule.forRootAsync({
          imports: [SettingsModule.forValues({ HYPERID_URL: fake.url, HYPERID_TIMEOUT: 4321 })],
          useClass: HyperIdSettings,
        }),
      );
      expect(ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS).timeoutMs).toBe(4321);
      await expectWorking(ref);
    });

    it('useExisting: a factory provided by an imported module', async () => {
      @Module({
        imports: [SettingsModule.forValues({ HYPERID_URL: fake.url, HYPERID_TIMEOUT: 2222 })],
        providers: [HyperIdSettings],
        exports: [HyperIdSettings],
      })
      class HyperIdSettingsModule {}

      const ref = await compile(
        HyperIdModule.forRootAsync({ imports: [HyperIdSettingsModule], useExisting: HyperIdSettings }),
      );
      expect(ref.get<ResolvedHyperIdOptions>(HYPERID_RESOLVED_OPTIONS).timeoutMs).toBe(2222);
      await expectWorking(ref);
    });

    it('reads isGlobal at the top level', () => {
      expect(HyperIdModule.forRootAsync({ useFactory: () => ({}) }).global).toBe(false);
      expect(HyperIdModule.forRootAsync({ isGlobal: true, useFactory: () => ({}) }).global).toBe(true);
    });

    it('does not let a factory make the module global: isGlobal there is an unknown option', async () => {
      await expect(
        compile(
          HyperIdModule.forRootAsync({ useFactory: () => ({ isGlobal: true }) as HyperIdModuleOptions }),
        ),
      ).rejects.toThrow(/invalid option "isGlobal": unknown option/);
    });
  });

  describe('isGlobal', () => {
    it('true: a feature module that does not import HyperIdModule can inject TwoFactorService', async () => {
      const ref = await compile(HyperIdModule.forRoot({ apiUrl: fake.url, isGlobal: true }), AccountModule);
      expect(ref.get(AccountService).twoFactor).toBe(ref.get(TwoFactorService));
    });

    it('true with forRootAsync too', async () => {
      const ref = await compile(
        HyperIdModule.forRootAsync({ isGlobal: true, useFactory: () => ({ apiUrl: fake.url }) }),
        AccountModule,
      );
      expect(ref.get(AccountService).twoFactor).toBeInstanceOf(TwoFactorService);
    });

    it.each([
      ['false', { isGlobal: false }],
      ['omitted', {}],
    ])('%s: such a feature module cannot', async (_name, extras) => {
      await expect(
        compile(HyperIdModule.forRoot({ apiUrl: fake.url, ...extras }), AccountModule),
      ).rejects.toThrow(/AccountService|TwoFactorService/);
    });

    it('false: a feature module that imports HyperIdModule can', async () => {
      @Module({ imports: [HyperIdModule.forRoot({ apiUrl: fake.url })], providers: [AccountService] })
      class ImportingModule {}
      const ref = await compile(ImportingModule);
      expect(ref.get(AccountService).twoFactor).toBeInstanceOf(TwoFactorService);
    });
  });

  describe('what it exports', () => {
    it('keeps the HTTP client private to the module', async () => {
      @Injectable()
      class Snoop {
        constructor(readonly client: HyperIdClient) {}
      }
      @Module({ imports: [HyperIdModule.forRoot({ apiUrl: fake.url })], providers: [Snoop] })
      class SnoopModule {}
      await expect(compile(SnoopModule as never)).rejects.toThrow(/HyperIdClient/);
    });

    it('uses its own axios instance: the app’s HttpModule interceptors never see the token', async () => {
      const ref = await compile(
        HyperIdModule.forRoot({ apiUrl: fake.url, cache: false }),
        HttpModule.register({}),
      );
      const seen: unknown[] = [];
      ref.get(HttpService).axiosRef.interceptors.request.use((config) => {
        seen.push(config.headers);
        return config;
      });
      await expectWorking(ref);
      expect(seen).toEqual([]);
    });
  });

  describe('invalid options stop start-up with a message naming the option', () => {
    it.each([
      [{ apiUrl: 'http://hyperid.example.com' }, 'apiUrl'],
      [{ apiUrl: 'nonsense' }, 'apiUrl'],
      [{ timeoutMs: -1 }, 'timeoutMs'],
      [{ retries: 1.5 }, 'retries'],
      [{ cache: { ttlMs: -5 } }, 'cache.ttlMs'],
      [{ circuitBreaker: { threshold: 0 } }, 'circuitBreaker.threshold'],
      [{ timeout: 100 }, 'timeout'],
      [{ cache: { secert: 'x'.repeat(32) } }, 'cache.secert'],
      [{ cache: { store: { get: async () => undefined, set: async () => undefined } } }, 'cache.secret'],
      [{ apiUrl: 'http://hyperid.localhost:4931' }, 'apiUrl'],
    ])('forRoot(%p)', async (options, name) => {
      await expect(compile(HyperIdModule.forRoot(options as HyperIdModuleOptions))).rejects.toThrow(
        `invalid option "${name}"`,
      );
    });

    it('forRootAsync with a factory returning a bad option', async () => {
      await expect(
        compile(
          HyperIdModule.forRootAsync({
            imports: [SettingsModule.forValues({ HYPERID_URL: 'https://u:p@api.hypersecureid.com' })],
            inject: [SettingsService],
            useFactory: (settings: SettingsService) => ({ apiUrl: settings.get<string>('HYPERID_URL') }),
          }),
        ),
      ).rejects.toThrow(/invalid option "apiUrl": credentials/);
    });

    it('forRootAsync useClass returning a bad option', async () => {
      await expect(
        compile(
          HyperIdModule.forRootAsync({
            imports: [SettingsModule.forValues({ HYPERID_URL: fake.url, HYPERID_TIMEOUT: 'soon' })],
            useClass: HyperIdSettings,
          }),
        ),
      ).rejects.toThrow(/invalid option "timeoutMs".*got "soon"/);
    });
  });

  describe('start-up warnings', () => {
    async function bootLogs(options: HyperIdModuleOptions): Promise<string[]> {
      const lines: string[] = [];
      const record = (message: unknown) => void lines.push(String(message));
      const moduleRef = await Test.createTestingModule({ imports: [HyperIdModule.forRoot(options)] })
        .setLogger({ log: () => undefined, warn: record, error: record })
        .compile();
      await moduleRef.close();
      return lines;
    }

    it('warns once about a cache TTL above five minutes', async () => {
      const lines = await bootLogs({ apiUrl: fake.url, cache: { ttlMs: 600_000 } });
      expect(lines.filter((line) => line.includes('cache.ttlMs is 600000 ms'))).toHaveLength(1);
    });

    it('says nothing about the default TTL', async () => {
      expect(await bootLogs({ apiUrl: fake.url })).toEqual([]);
    });
  });
});
