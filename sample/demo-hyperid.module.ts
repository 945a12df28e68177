import { Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { DEMO_TOKENS } from './demo-tokens.js';

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
 * Starts a fake HyperID in this process when `HYPERID_API_URL` is unset, so the sample runs with no
 * HyperID account and no network. A real app has no such module: it only sets `apiUrl` (or keeps
 * the default, HyperID's production API).
 */
@Module({
  providers: [
    {
      provide: DEMO_HYPERID,
      useFactory: async (): Promise<FakeHyperIdServer | null> => {
        if (process.env.HYPERID_API_URL) return null;
        const fake = await new FakeHyperIdServer({ tokens: DEMO_TOKENS }).start();
        new Logger('DemoHyperId').log(`HYPERID_API_URL is unset: embedded fake HyperID on ${fake.url}`);
        return fake;
      },
    },
    DemoHyperIdShutdown,
  ],
  exports: [DEMO_HYPERID],
})
export class DemoHyperIdModule {}
