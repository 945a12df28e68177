import 'reflect-metadata';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TwoFactorType } from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { DocModules } from '../support/doc-modules.js';
import { freePort } from '../support/free-port.js';
import { STATUS_TABLE } from '../support/status-table.js';

// The example of docs/websockets.md (the blocks marked `websocket-app-module` and `websocket-main`),
// run as a user would paste it: written to modules of their own inside the repository, so that
// 'nestjs-hyperid' resolves to the built dist/ through the package's exports map. main.ts serves the
// gateway over `ws`; the same module without it serves socket.io, Nest's default adapter.

const modules = new DocModules('websocket-docs');

const { noCredentials, lackingMethods } = STATUS_TABLE;
const TOKENS = {
  'docs-totp': { auth_types: [TwoFactorType.Totp] },
  'docs-sms': { auth_types: [TwoFactorType.Sms] },
};

type Frame = { event: string; data: unknown };

/** A `ws` connection to `port` that answers each message with the next frame it receives. */
async function wsClient(port: number, authorization?: string) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  const waiting: Array<(frame: Frame) => void> = [];
  socket.on('message', (raw: Buffer) => waiting.shift()?.(JSON.parse(raw.toString('utf8')) as Frame));
  await once(socket, 'open');
  return {
    send: (event: string) =>
      new Promise<Frame>((resolve) => {
        waiting.push(resolve);
        socket.send(JSON.stringify({ event, data: {} }));
      }),
    close: () => socket.close(),
  };
}

describe('docs/websockets.md example', () => {
  const previous = { apiUrl: process.env.HYPERID_API_URL, port: process.env.PORT };
  let fake: FakeHyperIdServer;
  let wsApp: INestApplication;
  let ioApp: INestApplication;
  let AppModule: new () => object;

  beforeAll(async () => {
    const appModule = await modules.write('docs/websockets.md', 'websocket-app-module', 'app.module.ts');
    const main = await modules.write('docs/websockets.md', 'websocket-main', 'main.ts');

    fake = await new FakeHyperIdServer({ tokens: TOKENS }).start();
    // The blocks read HYPERID_API_URL when app.module.ts is imported (its @Module decorator runs
    // then), and PORT when bootstrap() listens.
    process.env.HYPERID_API_URL = fake.url;
    process.env.PORT = String(await freePort());
    Logger.overrideLogger(false);
    ({ AppModule } = (await import(appModule)) as { AppModule: new () => object });
    const { bootstrap } = (await import(main)) as {
      bootstrap: () => Promise<INestApplication>;
    };
    wsApp = await bootstrap();
  });

  afterAll(async () => {
    await wsApp?.close();
    await ioApp?.close();
    await fake?.stop();
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
    for (const [name, value] of [
      ['HYPERID_API_URL', previous.apiUrl],
      ['PORT', previous.port],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await modules.remove();
  });

  it('main.ts serves the gateway over ws: the handshake’s token is checked, ping needs none', async () => {
    const port = Number(process.env.PORT);
    const allowed = await wsClient(port, 'Bearer docs-totp');
    const lacking = await wsClient(port, 'Bearer docs-sms');
    const anonymous = await wsClient(port);
    try {
      expect(await allowed.send('account')).toEqual({
        event: 'account',
        data: { twoFactorTypes: [TwoFactorType.Totp] },
      });
      expect(await lacking.send('account')).toEqual({
        event: 'exception',
        data: expect.objectContaining({
          statusCode: lackingMethods.status,
          mode: 'all',
          required: [TwoFactorType.Totp],
          missing: [TwoFactorType.Totp],
        }),
      });
      expect(await anonymous.send('account')).toEqual({
        event: 'exception',
        data: expect.objectContaining({
          statusCode: noCredentials.status,
          wwwAuthenticate: noCredentials.wwwAuthenticate,
        }),
      });
      expect(await anonymous.send('ping')).toEqual({ event: 'pong', data: {} });
      expect(fake.calls('docs-totp')).toBe(1);
    } finally {
      for (const client of [allowed, lacking, anonymous]) client.close();
    }
  });

  it('the same module serves socket.io with nothing else set up, reading auth.token', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    ioApp = moduleRef.createNestApplication();
    await ioApp.listen(0, '127.0.0.1');
    const { port } = (ioApp.getHttpServer() as Server).address() as AddressInfo;
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { token: 'docs-totp' },
    });
    try {
      const account = new Promise<unknown>((resolve) => socket.once('account', resolve));
      socket.emit('account');
      expect(await account).toEqual({ twoFactorTypes: [TwoFactorType.Totp] });
    } finally {
      socket.disconnect();
    }
  });
});
