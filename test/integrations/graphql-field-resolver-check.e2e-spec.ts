import 'reflect-metadata';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, Get, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { Field, GraphQLModule, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { HyperIdModule, RequireTwoFactor, SkipTwoFactor, TwoFactorType } from '../../lib/index.js';
import { requireExpressIntegration } from '../support/graphql.js';
import { CapturingLogger } from '../support/log-capture.js';

// A 2FA requirement on a field resolver is enforced only with fieldResolverEnhancers: ['guards']
// (docs/graphql-and-other-contexts.md); the module says so at boot instead of letting every caller through.

@ObjectType()
class Account {
  @Field()
  id!: string;
}

@Resolver(() => Account)
class AccountResolver {
  @Query(() => Account)
  @RequireTwoFactor(TwoFactorType.Totp)
  account(): Account {
    return { id: 'a1' };
  }

  @ResolveField(() => String)
  @RequireTwoFactor(TwoFactorType.Totp)
  recoveryCodes(): string {
    return 'codes';
  }

  @ResolveField(() => String)
  nickname(): string {
    return 'nick';
  }
}

@ObjectType()
class Vault {
  @Field()
  id!: string;
}

@Resolver(() => Vault)
@RequireTwoFactor()
class VaultResolver {
  @Query(() => Vault)
  vault(): Vault {
    return { id: 'v1' };
  }

  @ResolveField(() => String)
  secret(): string {
    return 'secret';
  }

  @ResolveField(() => String)
  @SkipTwoFactor()
  label(): string {
    return 'label';
  }
}

@Controller('plain')
@RequireTwoFactor()
class PlainController {
  @Get()
  get(): string {
    return 'plain';
  }
}

const graphql = (extra: Partial<ApolloDriverConfig> = {}) =>
  GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, ...extra });

describe('start-up check of 2FA requirements on GraphQL field resolvers', () => {
  let app: INestApplication | undefined;

  beforeAll(requireExpressIntegration);

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(options: {
    imports: DynamicModule[];
    providers?: Type[];
    controllers?: Type[];
  }): Promise<CapturingLogger> {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule(options).setLogger(logger).compile();
    app = moduleRef.createNestApplication({ logger });
    await app.init();
    return logger;
  }

  const fieldResolverErrors = (logger: CapturingLogger) =>
    logger.entries.filter(
      (entry) =>
        entry.level === 'error' &&
        entry.context === 'HyperIdModule' &&
        entry.message.includes('field resolver'),
    );

  it('names a field resolver with its own requirement when guards do not run on field resolvers', async () => {
    const logger = await boot({
      imports: [HyperIdModule.forRoot({ isGlobal: true }), graphql()],
      providers: [AccountResolver],
    });
    const errors = fieldResolverErrors(logger);
    // The guarded root query is enforced anyway, and the field without a requirement needs nothing.
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain('AccountResolver.recoveryCodes');
    expect(errors[0].message).toContain("fieldResolverEnhancers: ['guards']");
  });

  it("stays silent when GraphQLModule has fieldResolverEnhancers: ['guards']", async () => {
    const logger = await boot({
      imports: [HyperIdModule.forRoot({ isGlobal: true }), graphql({ fieldResolverEnhancers: ['guards'] })],
      providers: [AccountResolver],
    });
    expect(fieldResolverErrors(logger)).toEqual([]);
  });

  it('still reports when other enhancers are enabled but guards are not', async () => {
    const logger = await boot({
      imports: [
        HyperIdModule.forRoot({ isGlobal: true }),
        graphql({ fieldResolverEnhancers: ['interceptors', 'filters'] }),
      ],
      providers: [AccountResolver],
    });
    expect(fieldResolverErrors(logger).map((entry) => entry.message)).toEqual([
      expect.stringContaining('AccountResolver.recoveryCodes'),
    ]);
  });

  describe('a requirement on the resolver class', () => {
    let logger: CapturingLogger;

    beforeAll(async () => {
      logger = await boot({
        imports: [HyperIdModule.forRoot({ isGlobal: true }), graphql()],
        providers: [VaultResolver],
      });
    });

    it('reports a field method that has no requirement of its own', () => {
      const messages = fieldResolverErrors(logger).map((entry) => entry.message);
      expect(messages.some((message) => message.includes('VaultResolver.secret'))).toBe(true);
    });

    it('does not report a field method exempted with @SkipTwoFactor()', () => {
      const messages = fieldResolverErrors(logger).map((entry) => entry.message);
      expect(messages).toHaveLength(1);
      expect(messages.some((message) => message.includes('VaultResolver.label'))).toBe(false);
    });
  });

  it('reports each resolver once when HyperIdModule is imported more than once', async () => {
    const logger = await boot({
      imports: [
        HyperIdModule.forRoot({ isGlobal: true }),
        HyperIdModule.forRoot({ timeoutMs: 1234 }),
        graphql(),
      ],
      providers: [AccountResolver],
    });
    expect(fieldResolverErrors(logger)).toHaveLength(1);
  });

  it('boots an app without GraphQL with no such log', async () => {
    const logger = await boot({
      imports: [HyperIdModule.forRoot({ isGlobal: true })],
      controllers: [PlainController],
    });
    // The logger is live: Nest's own route mapping reached it.
    expect(logger.entries.some((entry) => entry.message.includes('/plain'))).toBe(true);
    expect(logger.entries.filter((entry) => entry.level === 'error')).toEqual([]);
  });
});
