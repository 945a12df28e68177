import type { Server } from 'node:http';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { APP_GUARD } from '@nestjs/core';
import type { DynamicModule, INestApplication, LoggerService, Provider } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { HyperIdModule, TwoFactorGuard, type HyperIdModuleOptions } from '../../lib/index.js';
import { AppClient, type AppAnswer } from './app-client.js';
import { E2E_CONTROLLERS } from './two-factor.controllers.js';

export type AdapterName = 'express' | 'fastify';

/** The adapters every e2e suite runs on, for `describe.each`. */
export const ADAPTERS: [AdapterName, () => AbstractHttpAdapter][] = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
];

/** Options that make every outcome deterministic: one attempt, no cache, no breaker, short timeout. */
export function strictOptions(apiUrl: string, overrides: HyperIdModuleOptions = {}): HyperIdModuleOptions {
  return { apiUrl, cache: false, retries: 0, timeoutMs: 300, circuitBreaker: false, ...overrides };
}

export interface E2eAppOptions {
  adapter: () => AbstractHttpAdapter;
  /** `HyperIdModule.forRoot(...)` by default; pass any registration instead. */
  hyperId: DynamicModule;
  /** Also register `TwoFactorGuard` as `APP_GUARD`. */
  globalGuard?: boolean;
  logger?: LoggerService;
  providers?: Provider[];
}

/** A guarded Nest app on the given adapter, initialised and ready for supertest. */
export async function createE2eApp(options: E2eAppOptions): Promise<INestApplication> {
  const providers: Provider[] = [...(options.providers ?? [])];
  if (options.globalGuard) providers.push({ provide: APP_GUARD, useClass: TwoFactorGuard });
  const builder = Test.createTestingModule({
    imports: [options.hyperId],
    controllers: E2E_CONTROLLERS,
    providers,
  });
  if (options.logger) builder.setLogger(options.logger);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication(options.adapter());
  if (options.logger) app.useLogger(options.logger);
  await app.init();
  if (app.getHttpAdapter().getType() === 'fastify') {
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  }
  return app;
}

/** `createE2eApp` with `HyperIdModule.forRoot(strictOptions(apiUrl, overrides))`. */
export function createStrictApp(
  adapter: () => AbstractHttpAdapter,
  apiUrl: string,
  overrides: HyperIdModuleOptions = {},
  extra: Omit<E2eAppOptions, 'adapter' | 'hyperId'> = {},
): Promise<INestApplication> {
  return createE2eApp({
    adapter,
    hyperId: HyperIdModule.forRoot(strictOptions(apiUrl, overrides)),
    ...extra,
  });
}

/** An app of {@link createE2eApp} that listens on 127.0.0.1, and a keep-alive client for it. */
export interface ListeningE2eApp {
  app: INestApplication;
  client: AppClient;
  /** GET the TOTP-guarded route, `Bearer <token>` (no Authorization header without a token). */
  get(token?: string): Promise<AppAnswer>;
  /** Closes the client and the app. */
  close(): Promise<void>;
}

/** `createE2eApp`, listening on an ephemeral port of 127.0.0.1 for a real HTTP client. */
export async function listenE2eApp(options: E2eAppOptions): Promise<ListeningE2eApp> {
  const app = await createE2eApp(options);
  const client = await AppClient.listen(app);
  return {
    app,
    client,
    get: (token) => client.get('/routes/totp', token === undefined ? undefined : `Bearer ${token}`),
    close: async () => {
      client.close();
      await app.close();
    },
  };
}

/** The app's HTTP server, typed for supertest. */
export function serverOf(app: INestApplication): Server {
  return app.getHttpServer() as Server;
}
