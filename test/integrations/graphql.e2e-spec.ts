import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import type { INestApplication } from '@nestjs/common';
import { GraphQLModule, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { Request, Response } from 'express';
import request from 'supertest';
import {
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorType,
  TwoFactorTypes,
} from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { requireExpressIntegration } from '../support/graphql.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

const {
  noCredentials,
  malformedToken,
  tokenInvalid,
  tokenExpired,
  lackingMethods,
  unavailable,
  badUpstream,
} = STATUS_TABLE;

// Apollo on Express only: Apollo on Fastify needs @as-integrations/fastify and Mercurius needs
// @nestjs/mercurius + mercurius, none of which are dev dependencies.

@Resolver()
class AccountResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  @Query(() => [Int])
  @RequireTwoFactor(TwoFactorType.Totp)
  myTwoFactorTypes(@TwoFactorTypes() types: TwoFactorType[]): TwoFactorType[] {
    return types;
  }

  @Query(() => String)
  @RequireTwoFactor({ anyOf: [TwoFactorType.HyperIdAuthenticator, TwoFactorType.AlternativeEmail] })
  secret(): string {
    return 'the secret';
  }

  @Mutation(() => String)
  @RequireTwoFactor(TwoFactorType.Totp)
  rotateApiKey(): string {
    return 'rotated';
  }
}

interface GqlError {
  message: string;
  path?: string[];
  extensions: { code: string; status?: number; originalError?: Record<string, unknown> };
}
interface GqlBody {
  data: Record<string, unknown> | null;
  errors?: GqlError[];
}

const contexts = [
  // Nest's Apollo driver default: the context holds `req` only.
  { name: 'default context ({ req })', context: undefined, hasResponse: false },
  // The common recipe that also hands `res` to resolvers: the guard then sets WWW-Authenticate.
  {
    name: 'context ({ req, res })',
    context: ({ req, res }: { req: Request; res: Response }) => ({ req, res }),
    hasResponse: true,
  },
] as const;

describe.each(contexts)('GraphQL (Apollo on Express), $name', ({ context, hasResponse }) => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  const gql = async (query: string, token?: string) => {
    const req = request(app.getHttpServer() as Server)
      .post('/graphql')
      .send({ query });
    if (token !== undefined) req.set('Authorization', token === '' ? 'Bearer ' : `Bearer ${token}`);
    const res = await req;
    return { res, body: res.body as GqlBody };
  };

  beforeAll(async () => {
    await requireExpressIntegration();
    fake = await new FakeHyperIdServer({
      tokens: {
        totp: { auth_types: [TwoFactorType.Totp, TwoFactorType.AlternativeEmail] },
        email: { auth_types: [TwoFactorType.AlternativeEmail] },
        none: { auth_types: [] },
        expired: { result: HyperIdResult.TokenExpired },
        down: { auth_types: [1] },
        garbled: { auth_types: [1] },
      },
    }).start();
    fake
      .injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, 'down')
      .injectFault({ malformed: true }, 'garbled');
    const moduleRef = await Test.createTestingModule({
      imports: [
        // No cache, no retries, no breaker: every request asks the fake once, so calls can be counted.
        HyperIdModule.forRoot({
          apiUrl: fake.url,
          cache: false,
          retries: 0,
          circuitBreaker: false,
          isGlobal: true,
        }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          includeStacktraceInErrorResponses: false,
          ...(context ? { context } : {}),
        }),
      ],
      providers: [AccountResolver],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  beforeEach(() => {
    fake.resetCalls();
  });

  // Without a cache nothing merges lookups in the service: the guard shares the one in flight.
  it('asks HyperID once for an operation selecting several guarded fields, even without a cache', async () => {
    const { body } = await gql('{ myTwoFactorTypes secret }', 'totp');
    expect(body.data).toEqual({ myTwoFactorTypes: [1, 3], secret: 'the secret' });
    expect(fake.calls('totp')).toBe(1);
  });

  it('answers an unguarded query without a token and without calling HyperID', async () => {
    const { res, body } = await gql('{ ping }');
    expect(res.status).toBe(200);
    expect(body).toEqual({ data: { ping: 'pong' } });
    expect(fake.calls()).toBe(0);
  });

  it('runs a guarded query for a user with the required method and hands it the types', async () => {
    const { body } = await gql('{ myTwoFactorTypes }', 'totp');
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ myTwoFactorTypes: [1, 3] });
    expect(fake.calls('totp')).toBe(1);
  });

  it('runs a guarded mutation for a user with the required method', async () => {
    const { body } = await gql('mutation { rotateApiKey }', 'totp');
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ rotateApiKey: 'rotated' });
  });

  it('honours anyOf on a query', async () => {
    const { body } = await gql('{ secret }', 'email');
    expect(body.data).toEqual({ secret: 'the secret' });
  });

  it('refuses a mutation to a user lacking the required method: FORBIDDEN, status 403 with required/missing', async () => {
    const { res, body } = await gql('mutation { rotateApiKey }', 'email');
    expect(res.status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0].path).toEqual(['rotateApiKey']);
    expect(body.errors![0].extensions).toMatchObject({
      code: 'FORBIDDEN',
      originalError: {
        statusCode: lackingMethods.status,
        error: lackingMethods.error,
        mode: 'all',
        required: [1],
        missing: [1],
      },
    });
  });

  it('refuses a query to a user with no 2FA method at all: 403 mode any', async () => {
    const { body } = await gql('{ secret }', 'none');
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'FORBIDDEN',
      originalError: { statusCode: lackingMethods.status, mode: 'any', required: [0, 3], missing: [0, 3] },
    });
  });

  it('refuses a guarded field without a token: UNAUTHENTICATED, 401, HyperID not called', async () => {
    const { res, body } = await gql('{ myTwoFactorTypes }');
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      originalError: { statusCode: noCredentials.status },
    });
    expect(fake.calls()).toBe(0);
    if (hasResponse) expectHeader(res.headers['www-authenticate'], noCredentials.wwwAuthenticate);
    else expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('refuses a malformed bearer token: BAD_REQUEST, 400, HyperID not called', async () => {
    const { res, body } = await gql('{ myTwoFactorTypes }', 'not a b64token');
    expect(body.errors![0].extensions).toMatchObject({
      code: 'BAD_REQUEST',
      originalError: { statusCode: malformedToken.status },
    });
    expect(fake.calls()).toBe(0);
    if (hasResponse) expectHeader(res.headers['www-authenticate'], malformedToken.wwwAuthenticate);
  });

  it('refuses a token HyperID calls invalid: UNAUTHENTICATED, 401', async () => {
    const { res, body } = await gql('mutation { rotateApiKey }', 'unknown-token');
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      originalError: { statusCode: tokenInvalid.status, message: tokenInvalid.message },
    });
    expect(fake.calls('unknown-token')).toBe(1);
    if (hasResponse) expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
  });

  it('refuses an expired token: 401', async () => {
    const { body } = await gql('{ myTwoFactorTypes }', 'expired');
    expect(body.errors![0].extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      originalError: { statusCode: tokenExpired.status, message: tokenExpired.message },
    });
  });

  it('fails closed with status 503 when HyperID is down', async () => {
    const { res, body } = await gql('{ myTwoFactorTypes }', 'down');
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'INTERNAL_SERVER_ERROR',
      status: unavailable.status,
      originalError: { statusCode: unavailable.status, error: unavailable.error },
    });
    if (hasResponse) expect(res.headers['retry-after']).toBe(unavailable.defaultRetryAfter);
  });

  it('fails closed with status 502 when HyperID answers garbage', async () => {
    const { body } = await gql('mutation { rotateApiKey }', 'garbled');
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'INTERNAL_SERVER_ERROR',
      status: badUpstream.status,
      originalError: { statusCode: badUpstream.status, error: badUpstream.error },
    });
  });

  it('never puts the token in an error', async () => {
    const { res } = await gql('{ myTwoFactorTypes }', 'unknown-token');
    expect(JSON.stringify(res.body)).not.toContain('unknown-token');
  });
});

describe('GraphQL (Apollo on Express), default cache', () => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    await requireExpressIntegration();
    fake = await new FakeHyperIdServer({ tokens: { totp: { auth_types: [1, 3] } } }).start();
    const moduleRef = await Test.createTestingModule({
      imports: [
        HyperIdModule.forRoot({ apiUrl: fake.url, isGlobal: true }),
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
      ],
      providers: [AccountResolver],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  // Top-level query fields resolve concurrently, so each field's guard starts before another has
  // finished: the service's single-flight is what keeps this to one HyperID call.
  it('asks HyperID once for an operation selecting several guarded fields', async () => {
    const res = await request(app.getHttpServer() as Server)
      .post('/graphql')
      .set('Authorization', 'Bearer totp')
      .send({ query: '{ myTwoFactorTypes secret }' });
    expect(res.body).toEqual({ data: { myTwoFactorTypes: [1, 3], secret: 'the secret' } });
    expect(fake.calls('totp')).toBe(1);
  });
});
