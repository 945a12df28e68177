import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { FakeHyperIdServer, type FakeHyperIdFault } from '../../lib/testing/index.js';
import { ADAPTERS, createStrictApp, serverOf } from '../support/e2e-app.js';
import { tokenTable } from '../support/tokens.js';

/** What a client of the guarded route sees, minus what legitimately differs between servers. */
interface Seen {
  status: number;
  contentType?: string;
  wwwAuthenticate?: string;
  retryAfter?: string;
  body: unknown;
}

// The same request, on Express and on Fastify, must get the same answer (README: "Errors and status
// codes", "Platforms").
describe('Express and Fastify answer alike', () => {
  const { tokens, token } = tokenTable('tok-parity');
  const faults: [string, FakeHyperIdFault][] = [
    ['hang', { hang: true }],
    ['reset', { reset: true }],
    ['http-500', { status: 500 }],
    ['malformed', { malformed: true }],
  ];
  const cases: [string, string, string | undefined][] = [
    ['open route', '/routes/open', undefined],
    ['no Authorization', '/routes/totp', undefined],
    ['other scheme', '/routes/totp', 'Basic dXNlcjpwYXNz'],
    ['Bearer without token', '/routes/totp', 'Bearer'],
    ['bad syntax', '/routes/totp', 'Bearer a,b'],
    ['over 8 KiB', '/routes/totp', `Bearer ${'A'.repeat(9000)}`],
    ['allowed', '/routes/totp', `Bearer ${token('totp')}`],
    ['types', '/routes/types', `Bearer ${token('emailAndUnknown')}`],
    ['token invalid', '/routes/totp', `Bearer ${token('invalid')}`],
    ['token expired', '/routes/totp', `Bearer ${token('expired')}`],
    ['access denied', '/routes/totp', `Bearer ${token('denied')}`],
    ['lacking (bare)', '/routes/bare', `Bearer ${token('none')}`],
    ['lacking (listed)', '/routes/listed', `Bearer ${token('authenticator')}`],
    ['lacking (anyOf)', '/routes/any-of', `Bearer ${token('authenticatorAndEmail')}`],
    ['lacking (allOf)', '/routes/all-of', `Bearer ${token('totp')}`],
    ['class override', '/class/overridden', `Bearer ${token('sms')}`],
    ['skipped', '/class/skipped', undefined],
    ['service temporarily unavailable', '/routes/totp', `Bearer ${token('unavailable')}`],
    ['invalid parameters', '/routes/totp', `Bearer ${token('badParameters')}`],
    ['unknown result', '/routes/totp', `Bearer ${token('unknownResult')}`],
    ...faults.map(
      ([name]) =>
        [`fault ${name}`, '/routes/totp', `Bearer ${token(`fault-${name}`)}`] as [string, string, string],
    ),
  ];

  let fake: FakeHyperIdServer;
  const apps = new Map<string, INestApplication>();

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens }).start();
    for (const [name, fault] of faults) {
      fake.setToken(token(`fault-${name}`), { auth_types: [1] }).injectFault(fault, token(`fault-${name}`));
    }
    for (const [name, adapter] of ADAPTERS) apps.set(name, await createStrictApp(adapter, fake.url));
  });

  afterAll(async () => {
    for (const app of apps.values()) await app.close();
    await fake?.stop();
  });

  async function see(adapterName: string, path: string, authorization?: string): Promise<Seen> {
    const req = request(serverOf(apps.get(adapterName)!)).get(path);
    const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
    return {
      status: res.status,
      contentType: res.headers['content-type'],
      wwwAuthenticate: res.headers['www-authenticate'],
      retryAfter: res.headers['retry-after'],
      body: res.body,
    };
  }

  it.each(cases)('%s', async (_case, path, authorization) => {
    const [express, fastify] = [
      await see('express', path, authorization),
      await see('fastify', path, authorization),
    ];
    expect(fastify).toEqual(express);
  });
});
