import 'reflect-metadata';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  Catch,
  Controller,
  HttpException,
  type ExecutionContext,
  type INestMicroservice,
  type RpcExceptionFilter,
} from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import {
  ClientProxyFactory,
  MessagePattern,
  Payload,
  Transport,
  type ClientProxy,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom, throwError, type Observable } from 'rxjs';
import {
  HyperIdModule,
  RequireTwoFactor,
  TwoFactorGuard,
  TwoFactorType,
  type HyperIdModuleOptions,
} from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { STATUS_TABLE } from '../support/status-table.js';

const { noCredentials, malformedToken, tokenInvalid, lackingMethods, unavailable } = STATUS_TABLE;

interface Message {
  token?: unknown;
}

/** How many times each handler body ran, per app. */
type Runs = { open: number; secret: number; totp: number };

function controllerCounting(runs: Runs) {
  @Controller()
  class AccountHandlers {
    @MessagePattern('open')
    open() {
      runs.open += 1;
      return { ok: true };
    }

    @MessagePattern('secret')
    @RequireTwoFactor()
    secret(@Payload() _message: Message) {
      runs.secret += 1;
      return { secret: 42 };
    }

    @MessagePattern('totp')
    @RequireTwoFactor(TwoFactorType.Totp)
    totp(@Payload() _message: Message) {
      runs.totp += 1;
      return { totp: true };
    }
  }
  return AccountHandlers;
}

/**
 * Nest answers every non-RpcException in a microservice as a bare "Internal server error"; this
 * filter, as an app would register it, hands the HTTP status and body of the guard's answer to
 * the client so the tests can tell 401, 403 and 503 apart.
 */
@Catch(HttpException)
class HttpToRpcFilter implements RpcExceptionFilter<HttpException> {
  catch(exception: HttpException): Observable<never> {
    const body = exception.getResponse();
    return throwError(() => ({
      status: 'error',
      statusCode: exception.getStatus(),
      ...(typeof body === 'object' ? body : { message: body }),
    }));
  }
}

const tokenExtractor = (context: ExecutionContext) => {
  const token = context.switchToRpc().getData<Message>().token;
  return typeof token === 'string' ? token : undefined;
};

async function startMicroservice(options: HyperIdModuleOptions, runs: Runs) {
  const moduleRef = await Test.createTestingModule({
    imports: [HyperIdModule.forRoot({ ...options, isGlobal: true })],
    controllers: [controllerCounting(runs)],
  }).compile();
  const app = moduleRef.createNestMicroservice<MicroserviceOptions>({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: 0 },
    logger: false,
  });
  app.useGlobalFilters(new HttpToRpcFilter());
  await app.listen();
  const { port } = app.unwrap<NetServer>().address() as AddressInfo;
  const client = ClientProxyFactory.create({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
  });
  await client.connect();
  return { app, client };
}

async function settle(client: ClientProxy, pattern: string, message: Message) {
  try {
    return { ok: true as const, value: await firstValueFrom(client.send<unknown>(pattern, message)) };
  } catch (error) {
    return { ok: false as const, error: error as Record<string, unknown> };
  }
}

describe('microservices (TCP)', () => {
  let fake: FakeHyperIdServer;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: { totp: { auth_types: [1, 3] }, email: { auth_types: [3] }, none: { auth_types: [] } },
    }).start();
    fake.setToken('down', { auth_types: [1] }).injectFault({ status: 500 }, 'down');
  });

  afterAll(async () => {
    await fake?.stop();
  });

  beforeEach(() => {
    fake.resetCalls();
  });

  describe('without tokenExtractor', () => {
    const runs: Runs = { open: 0, secret: 0, totp: 0 };
    let app: INestMicroservice;
    let client: ClientProxy;

    beforeAll(async () => {
      ({ app, client } = await startMicroservice({ apiUrl: fake.url, cache: false }, runs));
    });

    afterAll(async () => {
      await client?.close();
      await app?.close();
    });

    it('serves a handler without a requirement', async () => {
      const outcome = await settle(client, 'open', {});
      expect(outcome).toEqual({ ok: true, value: { ok: true } });
      expect(runs.open).toBe(1);
    });

    it('refuses a guarded handler even with a valid token in the message: it never runs, HyperID is not asked', async () => {
      const bare = await settle(client, 'secret', { token: 'totp' });
      const typed = await settle(client, 'totp', { token: 'totp' });
      for (const outcome of [bare, typed]) {
        expect(outcome.ok).toBe(false);
        expect(outcome).toMatchObject({
          error: { statusCode: 403, message: 'Two-factor authentication cannot be verified in this context' },
        });
      }
      expect(runs.secret).toBe(0);
      expect(runs.totp).toBe(0);
      expect(fake.calls()).toBe(0);
    });

    it('refuses a "ws" context as well (the guard as the app resolves it, given a ws execution context)', async () => {
      const guard = app.get(TwoFactorGuard, { strict: false });
      const Handlers = controllerCounting(runs);
      const context = new ExecutionContextHost([{}, { token: 'totp' }], Handlers, Handlers.prototype.secret);
      context.setType('ws');
      // A socket without a handshake to read (websocket.e2e-spec.ts runs real gateways): a WsException.
      await expect(guard.canActivate(context)).rejects.toMatchObject({ error: { statusCode: 403 } });
      expect(fake.calls()).toBe(0);
    });
  });

  describe('with tokenExtractor reading the message', () => {
    const runs: Runs = { open: 0, secret: 0, totp: 0 };
    let app: INestMicroservice;
    let client: ClientProxy;

    beforeAll(async () => {
      ({ app, client } = await startMicroservice(
        { apiUrl: fake.url, cache: false, retries: 0, circuitBreaker: false, tokenExtractor },
        runs,
      ));
    });

    afterAll(async () => {
      await client?.close();
      await app?.close();
    });

    beforeEach(() => {
      runs.secret = 0;
      runs.totp = 0;
    });

    it('runs a guarded handler for a user with the required method, after one HyperID call', async () => {
      expect(await settle(client, 'totp', { token: 'totp' })).toEqual({ ok: true, value: { totp: true } });
      expect(await settle(client, 'secret', { token: 'email' })).toEqual({ ok: true, value: { secret: 42 } });
      expect(runs).toMatchObject({ totp: 1, secret: 1 });
      expect(fake.calls('totp')).toBe(1);
      expect(fake.calls('email')).toBe(1);
    });

    it('refuses a user lacking the required method with 403 required/missing; the handler never runs', async () => {
      expect(await settle(client, 'totp', { token: 'email' })).toMatchObject({
        ok: false,
        error: { statusCode: lackingMethods.status, mode: 'all', required: [1], missing: [1] },
      });
      expect(await settle(client, 'secret', { token: 'none' })).toMatchObject({
        ok: false,
        error: { statusCode: lackingMethods.status, mode: 'any', missing: [0, 1, 2, 3] },
      });
      expect(runs).toMatchObject({ totp: 0, secret: 0 });
    });

    it('refuses a message without a token with 401, and a malformed one with 400, without asking HyperID', async () => {
      expect(await settle(client, 'totp', {})).toMatchObject({
        ok: false,
        error: { statusCode: noCredentials.status },
      });
      expect(await settle(client, 'totp', { token: 'not a token' })).toMatchObject({
        ok: false,
        error: { statusCode: malformedToken.status },
      });
      expect(await settle(client, 'totp', { token: 12345 })).toMatchObject({
        ok: false,
        error: { statusCode: noCredentials.status },
      });
      expect(runs.totp).toBe(0);
      expect(fake.calls()).toBe(0);
    });

    it('refuses a token HyperID rejects with 401, and fails closed with 503 when HyperID is down', async () => {
      expect(await settle(client, 'secret', { token: 'unknown' })).toMatchObject({
        ok: false,
        error: { statusCode: tokenInvalid.status, message: tokenInvalid.message },
      });
      expect(await settle(client, 'secret', { token: 'down' })).toMatchObject({
        ok: false,
        error: { statusCode: unavailable.status },
      });
      expect(runs.secret).toBe(0);
    });
  });
});
