import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Inject, Injectable, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HyperIdModule, type HyperIdModuleOptions, type HyperIdOptionsFactory } from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, createE2eApp, strictOptions, serverOf } from '../support/e2e-app.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';
import { tokenTable } from '../support/tokens.js';

const HYPERID_URL = 'e2e:hyperid-url';

/** Stands in for an app's ConfigModule: provides HyperID's URL to an async factory. */
@Module({})
class UrlConfigModule {
  static register(url: string): DynamicModule {
    return {
      module: UrlConfigModule,
      providers: [{ provide: HYPERID_URL, useValue: url }],
      exports: [HYPERID_URL],
    };
  }
}

@Injectable()
class HyperIdConfig implements HyperIdOptionsFactory {
  constructor(@Inject(HYPERID_URL) private readonly url: string) {}

  createHyperIdOptions(): HyperIdModuleOptions {
    return strictOptions(this.url);
  }
}

// The same guarded app, registered every way a user can: the answers must not depend on it.
describe.each(ADAPTERS)('registration (%s)', (adapterName, adapter) => {
  const { tokens, token } = tokenTable(`tok-registration-${adapterName}`);
  let fake: FakeHyperIdServer;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens }).start();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await fake?.stop();
  });

  it.each<[string, (url: string) => DynamicModule]>([
    ['forRoot', (url) => HyperIdModule.forRoot(strictOptions(url))],
    ['forRoot with isGlobal', (url) => HyperIdModule.forRoot({ ...strictOptions(url), isGlobal: true })],
    [
      'forRootAsync with useFactory',
      (url) =>
        HyperIdModule.forRootAsync({
          imports: [UrlConfigModule.register(url)],
          inject: [HYPERID_URL],
          useFactory: (injectedUrl: string) => Promise.resolve(strictOptions(injectedUrl)),
        }),
    ],
    [
      'forRootAsync with useClass',
      (url) =>
        HyperIdModule.forRootAsync({ imports: [UrlConfigModule.register(url)], useClass: HyperIdConfig }),
    ],
  ])(
    '%s: the guarded app answers as the status table says and asks the configured HyperID',
    async (registration, hyperId) => {
      app = await createE2eApp({ adapter, hyperId: hyperId(fake.url) });
      const server = serverOf(app);
      const user = token(`totp-${registration.replace(/\W+/g, '-')}`);
      fake.setToken(user, { auth_types: [1] });

      const allowed = await request(server).get('/routes/totp').set('Authorization', `Bearer ${user}`);
      expect(allowed.status).toBe(200);
      expect(fake.calls(user)).toBe(1);

      // cache: false reached the module: the second request asks again.
      await request(server).get('/routes/totp').set('Authorization', `Bearer ${user}`);
      expect(fake.calls(user)).toBe(2);

      const refused = await request(server)
        .get('/routes/totp')
        .set('Authorization', `Bearer ${token('sms')}`);
      expect(refused.status).toBe(STATUS_TABLE.lackingMethods.status);
      expect(refused.body).toMatchObject({ mode: 'all', required: [1], missing: [1] });

      const anonymous = await request(server).get('/routes/totp');
      expect(anonymous.status).toBe(STATUS_TABLE.noCredentials.status);
      expectHeader(anonymous.headers['www-authenticate'], STATUS_TABLE.noCredentials.wwwAuthenticate);

      expect((await request(server).get('/routes/open')).status).toBe(200);
    },
  );
});
