import KeyvRedis from '@keyv/redis';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CacheManagerTwoFactorStore } from '../../lib/cache/index.js';
import { HyperIdModule, RequireTwoFactor, TwoFactorType, TwoFactorTypes } from '../../lib/index.js';

@Controller()
export class SharedCacheController {
  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp(@TwoFactorTypes() types: TwoFactorType[]) {
    return { types };
  }
}

export type AdapterName = 'express' | 'fastify';

export interface SharedCacheAppOptions {
  adapter: AdapterName;
  apiUrl: string;
  redisUrl: string;
  /**
   * true: the recommended client, which fails commands at once while Redis is unreachable.
   * false: @keyv/redis's defaults, whose offline queue parks commands until Redis is back; the
   * adapter's timeout has to cut them short.
   */
  failFast: boolean;
  storeTimeoutMs?: number;
  /** `cache.secret`: the same on every instance that shares the store. */
  secret: string;
}

export interface SharedCacheApp {
  app: INestApplication;
  /** The app's cache-manager cache (the one HyperID's answers are shared through). */
  cache: Cache;
  redis: KeyvRedis<unknown>;
}

/** One instance of an app whose HyperID answers are shared through Redis. */
export async function createSharedCacheApp(options: SharedCacheAppOptions): Promise<SharedCacheApp> {
  const redis = options.failFast
    ? new KeyvRedis({ url: options.redisUrl, disableOfflineQueue: true })
    : new KeyvRedis(options.redisUrl);
  const moduleRef = await Test.createTestingModule({
    imports: [
      HyperIdModule.forRootAsync({
        isGlobal: true,
        imports: [CacheModule.register({ stores: [new Keyv({ store: redis })] })],
        inject: [CACHE_MANAGER],
        useFactory: (cache: Cache) => ({
          apiUrl: options.apiUrl,
          retries: 0,
          cache: {
            store: new CacheManagerTwoFactorStore(cache, { timeoutMs: options.storeTimeoutMs }),
            secret: options.secret,
          },
        }),
      }),
    ],
    controllers: [SharedCacheController],
  }).compile();

  const app =
    options.adapter === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
      : moduleRef.createNestApplication(new ExpressAdapter(), { logger: false });
  await app.init();
  if (options.adapter === 'fastify')
    await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return { app, cache: app.get<Cache>(CACHE_MANAGER), redis };
}

/** Closes an instance even when Redis is gone (a client with queued commands would wait forever). */
export async function closeSharedCacheApp({ app, redis }: SharedCacheApp): Promise<void> {
  if (redis.client.isOpen) await redis.client.destroy();
  await app.close();
}
