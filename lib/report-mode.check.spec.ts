import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Injectable,
  type DynamicModule,
  type LoggerService,
  type Provider,
  type Type,
} from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { LOGGER_CONTEXT } from './hyperid.constants.js';
import { HyperIdModule } from './hyperid.module.js';
import { ReportModeCheck } from './report-mode.check.js';
import { RequireTwoFactor, SkipTwoFactor } from './require-two-factor.decorator.js';
import { HyperIdTestingModule } from './testing/hyperid-testing.module.js';
import { TwoFactorType } from './two-factor-type.enum.js';

const { HyperIdAuthenticator, Totp, Sms } = TwoFactorType;

/** The start-up warning of docs/rollout.md's "Report mode", up to the list of requirements. */
const WARNING =
  'Report mode, NOT enforced: these 2FA requirements let every caller through and only record ' +
  'the refusals they would make: ';

/** What the warning calls a class's requirement. */
const forClass = (name: string) => `${name} (every route without its own requirement)`;

@Controller('accounts')
class AccountsController {
  @RequireTwoFactor({ allOf: [Totp], enforce: 'report' })
  reported(): void {}

  @RequireTwoFactor({ allOf: [Totp], enforce: 'enforce' })
  enforced(): void {}

  /** The module's `enforce` option decides. */
  @RequireTwoFactor(Totp)
  byDefault(): void {}

  @SkipTwoFactor()
  skipped(): void {}

  open(): void {}
}

@Controller('transfers')
@RequireTwoFactor({ anyOf: [Totp, Sms], enforce: 'report' })
class TransfersController {
  list(): void {}

  @RequireTwoFactor({ allOf: [HyperIdAuthenticator], enforce: 'enforce' })
  create(): void {}
}

/** The module's `enforce` option decides for the class; one method reports of its own. */
@Controller('admin')
@RequireTwoFactor(HyperIdAuthenticator)
class AdminController {
  @SkipTwoFactor()
  health(): void {}

  @RequireTwoFactor({ allOf: [Totp], enforce: 'report' })
  audit(): void {}
}

/** Enforces whatever the module says. */
@Controller('strict')
@RequireTwoFactor({ allOf: [Totp], enforce: 'enforce' })
class StrictController {
  handle(): void {}

  @SkipTwoFactor()
  ping(): void {}
}

/** A provider with a guarded handler, as a WebSocket gateway is. */
@Injectable()
class EventsGateway {
  @RequireTwoFactor({ anyOf: [Totp], enforce: 'report' })
  onMessage(): void {}
}

/** Serves a handler it inherits. */
class AuditingBase {
  @RequireTwoFactor({ allOf: [Totp], enforce: 'report' })
  export(): void {}
}

@Controller('reports')
class ReportsController extends AuditingBase {}

/** Keeps what the app logs, message and context apart. */
class Capture implements LoggerService {
  readonly entries: Array<{ level: string; message: unknown; context: unknown }> = [];

  log(message: unknown, context?: unknown): void {
    this.entries.push({ level: 'log', message, context });
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.entries.push({ level: 'error', message, context: rest.at(-1) });
  }
  warn(message: unknown, context?: unknown): void {
    this.entries.push({ level: 'warn', message, context });
  }
  debug(message: unknown, context?: unknown): void {
    this.entries.push({ level: 'debug', message, context });
  }
  verbose(message: unknown, context?: unknown): void {
    this.entries.push({ level: 'verbose', message, context });
  }

  /** The entries that speak of report mode at all. */
  aboutReportMode(): Array<{ level: string; message: unknown; context: unknown }> {
    return this.entries.filter((entry) => /report mode/i.test(String(entry.message)));
  }
}

describe('ReportModeCheck', () => {
  const modules: TestingModule[] = [];

  afterEach(async () => {
    for (const moduleRef of modules.splice(0)) await moduleRef.close();
  });

  /** Boots an app (onApplicationBootstrap included) and returns what it logged. */
  async function boot(
    imports: DynamicModule[],
    controllers: Type[] = [],
    providers: Provider[] = [],
  ): Promise<{ capture: Capture; moduleRef: TestingModule }> {
    const capture = new Capture();
    const moduleRef = await Test.createTestingModule({ imports, controllers, providers })
      .setLogger(capture)
      .compile();
    modules.push(moduleRef);
    await moduleRef.init();
    return { capture, moduleRef };
  }

  it('warns once, naming Class.method for a method’s requirement and the class for a class’s', async () => {
    const { capture } = await boot(
      [HyperIdTestingModule.forRoot()],
      [AccountsController, TransfersController, AdminController, StrictController],
      [EventsGateway],
    );
    expect(capture.aboutReportMode()).toEqual([
      {
        level: 'warn',
        message:
          WARNING +
          [
            'AccountsController.reported',
            forClass('TransfersController'),
            'AdminController.audit',
            'EventsGateway.onMessage',
          ].join(', '),
        context: LOGGER_CONTEXT,
      },
    ]);
  });

  it('warns of nothing when no requirement is in report mode', async () => {
    const { capture } = await boot([HyperIdTestingModule.forRoot()], [StrictController], [EventsGateway]);
    // The gateway's requirement reports; without it, nothing does.
    expect(capture.aboutReportMode()).toHaveLength(1);
    const { capture: quiet } = await boot([HyperIdTestingModule.forRoot()], [StrictController]);
    expect(quiet.aboutReportMode()).toEqual([]);
    expect(quiet.entries.filter((entry) => entry.level === 'warn')).toEqual([]);
  });

  it('the module’s enforce: report lists every requirement without its own enforce', async () => {
    const { capture } = await boot(
      [HyperIdTestingModule.forRoot({ enforce: 'report' })],
      [AccountsController, TransfersController, AdminController, StrictController],
    );
    expect(capture.aboutReportMode().map((entry) => entry.message)).toEqual([
      WARNING +
        [
          'AccountsController.reported',
          'AccountsController.byDefault',
          forClass('TransfersController'),
          'AdminController.audit',
          forClass('AdminController'),
        ].join(', '),
    ]);
  });

  it('HyperIdModule registers it too', async () => {
    const { capture } = await boot([HyperIdModule.forRoot({ cache: false })], [TransfersController]);
    expect(capture.aboutReportMode()).toEqual([
      { level: 'warn', message: WARNING + forClass('TransfersController'), context: LOGGER_CONTEXT },
    ]);
  });

  it('one warning per app, however often the module is imported, and however often the app boots', async () => {
    const { capture, moduleRef } = await boot(
      [HyperIdModule.forRoot({ cache: false }), HyperIdTestingModule.forRoot()],
      [AccountsController],
    );
    const checks = moduleRef.get(ReportModeCheck, { strict: false, each: true });
    expect(checks).toHaveLength(2);
    for (const check of checks) check.onApplicationBootstrap();
    expect(capture.aboutReportMode().map((entry) => entry.message)).toEqual([
      WARNING + 'AccountsController.reported',
    ]);
  });

  it('names a class registered twice once, and a handler after the class that serves it', async () => {
    const { capture } = await boot(
      [HyperIdTestingModule.forRoot()],
      [AccountsController, ReportsController],
      [AccountsController],
    );
    expect(capture.aboutReportMode().map((entry) => entry.message)).toEqual([
      WARNING + 'AccountsController.reported, ReportsController.export',
    ]);
  });

  it('passes over providers that are not objects with a prototype', async () => {
    const { capture } = await boot(
      [HyperIdTestingModule.forRoot()],
      [],
      [
        { provide: 'a number', useValue: 42 },
        { provide: 'nothing', useValue: null },
        { provide: 'a factory of nothing', useFactory: () => undefined },
        { provide: 'a function', useValue: () => undefined },
        { provide: 'a bare object', useValue: Object.create(null) as object },
        EventsGateway,
      ],
    );
    expect(capture.aboutReportMode().map((entry) => entry.message)).toEqual([
      WARNING + 'EventsGateway.onMessage',
    ]);
  });
});
