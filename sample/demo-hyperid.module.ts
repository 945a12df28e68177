import { Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { DEMO_TOKENS } from './demo-tokens.js';
import { hyperIdApiUrl, isProduction, MISSING_API_URL_IN_PRODUCTION } from './hyperid-env.js';

/** The embedded fake HyperID, or null when `HYPERID_API_URL` points at a real one. */
export const DEMO_HYPERID = Symbol('sample:demo-hyperid');

/** Stops the embedded fake HyperID when the app shuts down (Ctrl-C, SIGTERM, `app.close()`). */
@Injectable()
class DemoHyperIdShutdown implements OnApplicationShutdown {
  constructor(@Inject(DEMO_HYPERID) private readonly fake: FakeHyperIdServer | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.fake?.stop();
  }
}

/**
 * Says, at warning level and impossible to miss, that the app trusts a fake: a demo that ends up
 * deployed by mistake should shout about it in every log it writes at start-up.
 */
function warnDemoMode(url: string): void {
  const logger = new Logger('DemoHyperId');
  const rule = '*'.repeat(78);
  for (const line of [
    rule,
    'DEMO MODE: HYPERID_API_URL is not set, so this app uses an embedded FAKE HyperID',
    `on ${url} that accepts the public demo tokens of sample/demo-tokens.ts: anyone`,
    'holding one passes the two-factor checks. NEVER use this in production: set',
    'HYPERID_API_URL to a real HyperID (with NODE_ENV=production the sample refuses to',
    'start without it).',
    rule,
  ]) {
    logger.warn(line);
  }
}

/**
 * Starts a fake HyperID in this process when `HYPERID_API_URL` is unset, so the sample runs with no
 * HyperID account and no network. A real app has no such module: it only sets `apiUrl` (or keeps
 * the default, HyperID's production API).
 */
@Module({
  providers: [
    {
      provide: DEMO_HYPERID,
      useFactory: async (): Promise<FakeHyperIdServer | null> => {
        if (hyperIdApiUrl() !== undefined) return null;
        // main.ts refuses first; this also covers anything else that boots AppModule.
        if (isProduction()) throw new Error(MISSING_API_URL_IN_PRODUCTION);
        const fake = await new FakeHyperIdServer({ tokens: DEMO_TOKENS }).start();
        warnDemoMode(fake.url);
        return fake;
      },
    },
    DemoHyperIdShutdown,
  ],
  exports: [DEMO_HYPERID],
})
export class DemoHyperIdModule {}
