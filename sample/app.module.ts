import { Module } from '@nestjs/common';
import { HyperIdModule, type HyperIdModuleOptions } from 'nestjs-hyperid';
import type { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { AccountController } from './account.controller.js';
import { DEMO_HYPERID, DemoHyperIdModule } from './demo-hyperid.module.js';
import { hyperIdApiUrl } from './hyperid-env.js';

/** An optional integer from the environment; unset means "use the module's default". */
function intFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  // Not a number → NaN, which HyperIdModule refuses at boot with a message naming the option.
  return raw === undefined || raw === '' ? undefined : Number(raw);
}

@Module({
  imports: [
    // The usual pattern: options built from the environment when the app boots. Here the factory
    // also gets the embedded fake HyperID, used only when HYPERID_API_URL is unset or blank (and
    // never in production: DemoHyperIdModule refuses to boot there).
    HyperIdModule.forRootAsync({
      isGlobal: true,
      imports: [DemoHyperIdModule],
      inject: [DEMO_HYPERID],
      useFactory: (demo: FakeHyperIdServer | null): HyperIdModuleOptions => ({
        apiUrl: hyperIdApiUrl() ?? demo?.url,
        timeoutMs: intFromEnv('HYPERID_TIMEOUT_MS'),
        retries: intFromEnv('HYPERID_RETRIES'),
      }),
    }),
  ],
  controllers: [AccountController],
})
export class AppModule {}
