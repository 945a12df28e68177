import 'reflect-metadata';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication, WebSocketAdapter } from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import {
  HyperIdModule,
  RequireTwoFactor,
  TwoFactorType,
  VerifiedTwoFactorTypes,
  keepUpgradeRequests,
  type TwoFactorWsError,
} from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, strictOptions } from '../support/e2e-app.js';
import { CapturingLogger, captureProcessOutput, type CapturedLine } from '../support/log-capture.js';
import { STATUS_TABLE, expectHeader, type ExpectedAnswer } from '../support/status-table.js';
import { jwtLike, tokenTable } from '../support/tokens.js';

const { noCredentials, malformedToken, tokenInvalid, tokenExpired, lackingMethods, unavailable } =
  STATUS_TABLE;

/** How many times each handler body ran, per app. */
type Runs = { open: number; totp: number };

function gatewayCounting(runs: Runs) {
  @WebSocketGateway()
  class AccountGateway {
    @SubscribeMessage('open')
    open() {
      runs.open += 1;
      return { event: 'open', data: { ok: true } };
    }

    @SubscribeMessage('totp')
    @RequireTwoFactor(TwoFactorType.Totp)
    totp(@MessageBody() _body: unknown, @VerifiedTwoFactorTypes() types: TwoFactorType[]) {
      runs.totp += 1;
      return { event: 'totp', data: { types } };
    }
  }
  return AccountGateway;
}

/** What a message got back: the gateway's reply, or the `exception` Nest sent instead. */
type Outcome = { reply: unknown } | { exception: TwoFactorWsError };

interface Handshake {
  /** The whole `Authorization` header of the handshake. */
  authorization?: string;
  /** socket.io's `auth: { token }`. */
  authToken?: string;
}

interface TestClient {
  /** Sends `event` with `body`, and waits for the reply event or an `exception`. */
  send(event: string, body?: unknown): Promise<Outcome>;
  close(): void;
}

interface Transport {
  /** The app's WebSocket adapter, as the app's main.ts would set it. */
  adapter(app: INestApplication): WebSocketAdapter;
  /** Opens a connection with `handshake`; every frame the server sends is added to `frames`. */
  connect(port: number, handshake: Handshake, frames: string[]): Promise<TestClient>;
  /** Whether the transport has socket.io's `auth` payload. */
  authPayload: boolean;
}

/** Rejects after a while, so a message left unanswered fails its test with a clear message. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to ${what}`)), 5000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const SOCKET_IO: Transport = {
  adapter: (app) => new IoAdapter(app),
  authPayload: true,
  async connect(port, handshake, frames) {
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      extraHeaders: handshake.authorization === undefined ? {} : { authorization: handshake.authorization },
      auth: handshake.authToken === undefined ? {} : { token: handshake.authToken },
    });
    socket.io.on('open', () =>
      socket.io.engine.on('packet', (packet) => frames.push(JSON.stringify(packet))),
    );
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }),
      'the connection',
    );
    return {
      send: (event, body) =>
        within(
          new Promise<Outcome>((resolve) => {
            const onReply = (reply: unknown) => {
              socket.off('exception', onException);
              resolve({ reply });
            };
            const onException = (exception: TwoFactorWsError) => {
              socket.off(event, onReply);
              resolve({ exception });
            };
            socket.once(event, onReply);
            socket.once('exception', onException);
            socket.emit(event, body);
          }),
          event,
        ),
      close: () => void socket.disconnect(),
    };
  },
};

const WS: Transport = {
  adapter: (app) => keepUpgradeRequests(new WsAdapter(app)),
  authPayload: false,
  async connect(port, handshake, frames) {
    const headers: Record<string, string> =
      handshake.authorization === undefined ? {} : { authorization: handshake.authorization };
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers });
    const waiting: Array<(frame: { event: string; data: unknown }) => void> = [];
    socket.on('message', (raw: Buffer) => {
      const text = raw.toString('utf8');
      frames.push(text);
      waiting.shift()?.(JSON.parse(text) as { event: string; data: unknown });
    });
    await within(once(socket, 'open'), 'the connection');
    return {
      send: (event, body) =>
        within(
          new Promise<Outcome>((resolve) => {
            waiting.push((frame) =>
              resolve(
                frame.event === 'exception'
                  ? { exception: frame.data as TwoFactorWsError }
                  : { reply: frame.data },
              ),
            );
            socket.send(JSON.stringify({ event, data: body }));
          }),
          event,
        ),
      close: () => socket.close(),
    };
  },
};

const TRANSPORTS: [string, Transport][] = [
  ['socket.io', SOCKET_IO],
  ['ws', WS],
];

/**
 * Expects `outcome` to be the refusal the status table gives on a route, as a WebSocket client
 * receives it: status, `error`, the challenge and Retry-After of the HTTP answer, and `extra`.
 */
function expectRefusal(outcome: Outcome, answer: ExpectedAnswer, extra: Record<string, unknown> = {}): void {
  expect(outcome).toEqual({
    exception: expect.objectContaining({
      status: 'error',
      statusCode: answer.status,
      error: answer.error,
      message: answer.message ?? expect.any(String),
      ...extra,
    }),
  });
  const { exception } = outcome as { exception: TwoFactorWsError };
  expectHeader(exception.wwwAuthenticate, answer.wwwAuthenticate);
  expectHeader(
    exception.retryAfter === undefined ? undefined : String(exception.retryAfter),
    answer.retryAfter,
  );
  const known = ['status', 'statusCode', 'error', 'message', 'wwwAuthenticate', 'retryAfter'];
  expect(Object.keys(exception).filter((key) => !known.includes(key))).toEqual(Object.keys(extra));
}

describe.each(ADAPTERS)('WebSocket gateways hosted by %s', (adapterName, httpAdapter) => {
  describe.each(TRANSPORTS)('%s', (transportName, transport) => {
    const { tokens, token } = tokenTable(`ws-${adapterName}-${transportName}-secret-4d3c2b1a`);
    const runs: Runs = { open: 0, totp: 0 };
    const frames: string[] = [];
    const output: CapturedLine[] = [];
    const logger = new CapturingLogger(output);
    const clients: TestClient[] = [];
    const jwts: string[] = [];
    let restoreOutput: () => void;
    let fake: FakeHyperIdServer;
    let app: INestApplication;
    let port: number;

    const connect = async (handshake: Handshake) => {
      const client = await transport.connect(port, handshake, frames);
      clients.push(client);
      return client;
    };
    const bearer = (user: string): Handshake => ({ authorization: `Bearer ${token(user)}` });

    beforeAll(async () => {
      restoreOutput = captureProcessOutput(output);
      fake = await new FakeHyperIdServer({ tokens }).start();
      fake.setToken(token('down'), { auth_types: [1] }).injectFault({ status: 500 }, token('down'));
      app = await startApp(httpAdapter, transport, fake.url, runs, logger);
      port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
    });

    afterAll(async () => {
      for (const client of clients) client.close();
      await app?.close();
      await fake?.stop();
      restoreOutput?.();
    });

    beforeEach(() => {
      fake.resetCalls();
      runs.open = 0;
      runs.totp = 0;
    });

    it('runs an unguarded handler without a token', async () => {
      const client = await connect({});
      expect(await client.send('open')).toEqual({ reply: { ok: true } });
      expect(runs.open).toBe(1);
      expect(fake.calls()).toBe(0);
    });

    it('allows a user with the required method, read from the handshake: one lookup per connection', async () => {
      const client = await connect(bearer('totp'));
      expect(await client.send('totp')).toEqual({ reply: { types: [TwoFactorType.Totp] } });
      expect(await client.send('totp', { more: true })).toEqual({ reply: { types: [TwoFactorType.Totp] } });
      expect(runs.totp).toBe(2);
      expect(fake.calls(token('totp'))).toBe(1);
      const again = await connect(bearer('totp'));
      expect(await again.send('totp')).toEqual({ reply: { types: [TwoFactorType.Totp] } });
      expect(fake.calls(token('totp'))).toBe(2);
    });

    it('refuses a user lacking the required method with mode, required and missing; the handler never runs', async () => {
      const client = await connect(bearer('sms'));
      expectRefusal(await client.send('totp'), lackingMethods, {
        mode: 'all',
        required: [TwoFactorType.Totp],
        missing: [TwoFactorType.Totp],
      });
      expect(runs.totp).toBe(0);
    });

    it('refuses a token HyperID does not know', async () => {
      const client = await connect(bearer('not-a-user'));
      expectRefusal(await client.send('totp'), tokenInvalid);
      expect(fake.calls(token('not-a-user'))).toBe(1);
      expect(runs.totp).toBe(0);
    });

    it('fails closed when HyperID is down, with the Retry-After of a 503', async () => {
      const client = await connect(bearer('down'));
      expectRefusal(await client.send('totp'), unavailable);
      expect(runs.totp).toBe(0);
    });

    it('refuses a connection without a token, though the message body carries one; HyperID not asked', async () => {
      const client = await connect({});
      expectRefusal(await client.send('totp', { token: token('totp') }), noCredentials);
      const basic = await connect({ authorization: `Basic ${token('totp')}` });
      expectRefusal(await basic.send('totp'), noCredentials);
      const malformed = await connect({ authorization: 'Bearer not@a-token' });
      expectRefusal(await malformed.send('totp'), malformedToken);
      expect(fake.calls()).toBe(0);
      expect(runs.totp).toBe(0);
    });

    // socket.io only: a `ws` handshake has no payload beside its headers.
    if (transport.authPayload) {
      it('reads socket.io’s auth.token when there is no header', async () => {
        const client = await connect({ authToken: token('totp') });
        expect(await client.send('totp')).toEqual({ reply: { types: [TwoFactorType.Totp] } });
        const lacking = await connect({ authToken: token('sms') });
        expectRefusal(await lacking.send('totp'), lackingMethods, {
          mode: 'all',
          required: [TwoFactorType.Totp],
          missing: [TwoFactorType.Totp],
        });
      });
    }

    it('refuses the next message of a connection whose token has expired meanwhile', async () => {
      const exp = Math.ceil(Date.now() / 1000) + 1;
      const jwt = jwtLike(exp, `ws-${adapterName}-${transportName}-secret-jwt`);
      jwts.push(jwt);
      fake.setToken(jwt, { auth_types: [TwoFactorType.Totp] });
      const client = await connect({ authorization: `Bearer ${jwt}` });
      expect(await client.send('totp')).toEqual({ reply: { types: [TwoFactorType.Totp] } });
      await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
      expectRefusal(await client.send('totp'), tokenExpired);
      expect(runs.totp).toBe(1);
      expect(fake.calls(jwt)).toBe(1);
    });

    it('never sends or logs a token', () => {
      const secrets = [...Object.keys(tokens), token('not-a-user'), ...jwts];
      expect(frames.length).toBeGreaterThan(10);
      expect(frames.filter((frame) => frame.includes('exception')).length).toBeGreaterThan(5);
      expect(frames.filter((frame) => secrets.some((secret) => frame.includes(secret)))).toEqual([]);
      expect(output.filter((line) => secrets.some((secret) => line.text.includes(secret)))).toEqual([]);
    });
  });
});

async function startApp(
  httpAdapter: () => AbstractHttpAdapter,
  transport: Transport,
  apiUrl: string,
  runs: Runs,
  logger: CapturingLogger,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [HyperIdModule.forRoot(strictOptions(apiUrl))],
    providers: [gatewayCounting(runs)],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication(httpAdapter(), { logger });
  app.useWebSocketAdapter(transport.adapter(app));
  await app.listen(0, '127.0.0.1');
  return app;
}
