import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Post,
  Put,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import {
  ApiForbiddenResponse,
  ApiOkResponse,
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
} from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import request from 'supertest';
import {
  HyperIdModule,
  RequireTwoFactor as RootRequireTwoFactor,
  TwoFactorType,
  type HyperIdModuleOptions,
} from '../../lib/index.js';
import { RequireTwoFactor, SkipTwoFactor, createRequireTwoFactor } from '../../lib/swagger/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, serverOf, strictOptions } from '../support/e2e-app.js';
import { tokenTable } from '../support/tokens.js';

// nestjs-hyperid/swagger: the document SwaggerModule.createDocument() builds for a test app is a
// valid OpenAPI 3 document, documents exactly the routes the guard guards (checked against the
// running app, route by route), and its schemas describe the guard's live answers (checked with
// Ajv, which @seriousme/openapi-schema-validator brings).

const { HyperIdAuthenticator, Totp, Sms, AlternativeEmail } = TwoFactorType;
const ALL = [HyperIdAuthenticator, Totp, Sms, AlternativeEmail];
const GUARD_STATUSES = ['400', '401', '403', '502', '503'];
const EXTENSION = 'x-hyperid-2fa';

const RequireTwoFactorNamed = createRequireTwoFactor({ securityName: 'hyperid' });
/** A `when` condition: the requirement applies to requests with an `x-amount` header only. */
const bigAmount = (context: ExecutionContext) =>
  context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers['x-amount'] !== undefined;

@Controller('methods')
class MethodsController {
  @Get('public') open() {}
  @Get('any') @RequireTwoFactor() any() {}
  // Above the route decorator: the order of decorators does not matter.
  @RequireTwoFactor(Totp) @Get('totp') totp() {}
  @Post('all') @RequireTwoFactor(HyperIdAuthenticator, AlternativeEmail) all() {}
  @Put('any-of') @HttpCode(204) @RequireTwoFactor({ anyOf: [Totp, Sms] }) anyOf() {}
  @Delete('all-of') @RequireTwoFactor({ allOf: [Totp, Sms] }) allOf() {}
  @Get('own-docs')
  @ApiOkResponse({ description: 'The account' })
  @ApiForbiddenResponse({ description: 'Not your account' })
  @RequireTwoFactor(Sms)
  ownDocs() {}
  @Get('named') @RequireTwoFactorNamed(AlternativeEmail) named() {}
  @Get('report') @RequireTwoFactor({ allOf: [Totp], enforce: 'report' }) report() {}
  @Get('when') @RequireTwoFactor({ anyOf: [Sms], when: bigAmount }) when() {}
}

@Controller('class')
@RequireTwoFactor(Totp)
class GuardedController {
  @Get('inherits') inherits() {}
  @Post('overrides') @RequireTwoFactor({ anyOf: [Sms, AlternativeEmail] }) overrides() {}
  // The root entry point's decorator on the method: its requirement wins, documented by the class's.
  @Get('overrides-root') @RootRequireTwoFactor(HyperIdAuthenticator) overridesRoot() {}
  @Get('skipped') @SkipTwoFactor() skipped() {}
  helper() {
    return 'not a route';
  }
}

@Controller('open')
class OpenController {
  @Get() list() {}
}

/**
 * What each operation of the app must document. `guarded`: the requirement, the bearer
 * requirement and the guard's answers; `conditional`: the same with an optional bearer requirement
 * (a `when` condition); `report`: the requirement only (report mode refuses nothing); `open`: nothing.
 */
interface Expected {
  kind: 'guarded' | 'conditional' | 'report' | 'open';
  requirement?: { mode: 'all' | 'any'; required: TwoFactorType[] };
  success: string;
  security?: string;
}
const guarded = (mode: 'all' | 'any', required: TwoFactorType[], success = '200', security = 'bearer') =>
  ({ kind: 'guarded', requirement: { mode, required }, success, security }) satisfies Expected;
const open = { kind: 'open', success: '200' } satisfies Expected;

const EXPECTED: Record<string, Expected> = {
  'get /methods/public': open,
  'get /methods/any': guarded('any', ALL),
  'get /methods/totp': guarded('all', [Totp]),
  'post /methods/all': guarded('all', [HyperIdAuthenticator, AlternativeEmail], '201'),
  'put /methods/any-of': guarded('any', [Totp, Sms], '204'),
  'delete /methods/all-of': guarded('all', [Totp, Sms]),
  'get /methods/own-docs': guarded('all', [Sms]),
  'get /methods/named': guarded('all', [AlternativeEmail], '200', 'hyperid'),
  'get /methods/report': { kind: 'report', requirement: { mode: 'all', required: [Totp] }, success: '200' },
  'get /methods/when': { ...guarded('any', [Sms]), kind: 'conditional' },
  'get /class/inherits': guarded('all', [Totp]),
  'post /class/overrides': guarded('any', [Sms, AlternativeEmail], '201'),
  'get /class/overrides-root': guarded('all', [HyperIdAuthenticator]),
  'get /class/skipped': open,
  'get /open': open,
};

type Operation = {
  security?: Record<string, string[]>[];
  responses: Record<string, ResponseObject>;
  [EXTENSION]?: unknown;
};
type ResponseObject = {
  description: string;
  headers?: Record<string, { required?: boolean; schema: object }>;
  content?: Record<string, { schema: SchemaObject }>;
};
type SchemaObject = { anyOf?: SchemaObject[]; required?: string[]; [key: string]: unknown };

function operations(document: OpenAPIObject): Map<string, Operation> {
  const found = new Map<string, Operation>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
      found.set(`${method} ${path}`, operation);
    }
  }
  return found;
}

function buildDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('test')
    .addBearerAuth()
    .addBearerAuth(undefined, 'hyperid')
    .build();
  return SwaggerModule.createDocument(app, config);
}

async function createApp(
  adapter: () => AbstractHttpAdapter,
  options: HyperIdModuleOptions,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [HyperIdModule.forRoot(options)],
    controllers: [MethodsController, GuardedController, OpenController],
  }).compile();
  const app = moduleRef.createNestApplication(adapter(), { logger: false });
  await app.init();
  if (app.getHttpAdapter().getType() === 'fastify') {
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  }
  return app;
}

/** Sends `method path` with `Authorization: Bearer <token>` (no header without a token). */
function send(app: INestApplication, key: string, authorization?: string) {
  const [method, path] = key.split(' ') as ['get' | 'post' | 'put' | 'delete', string];
  const req = request(serverOf(app))[method](path);
  return authorization === undefined ? req : req.set('Authorization', authorization);
}

// Not strict: OpenAPI keywords (`example`, `x-enumNames`) are not JSON Schema's.
const ajv = new Ajv({
  strict: false,
  allErrors: true,
  formats: { 'uri-reference': (value: string) => URL.canParse(value, 'https://app.invalid') },
});

/** Expects `value` to match `schema`, whose `$ref`s point into `document`'s components. */
function expectValid(document: OpenAPIObject, schema: object, value: unknown): void {
  const validate = ajv.compile({ allOf: [schema], components: document.components });
  const valid = validate(value);
  expect({ valid, errors: validate.errors ?? null, value }).toEqual({ valid: true, errors: null, value });
}

/** `schema`, or the component it refers to. */
function resolve(document: OpenAPIObject, schema: SchemaObject): SchemaObject {
  const ref = schema.$ref as string | undefined;
  if (ref === undefined) return schema;
  const name = ref.replace('#/components/schemas/', '');
  return document.components!.schemas![name] as SchemaObject;
}

/** The branch of an `anyOf` body schema that describes `body`: the one naming `missing` or not. */
function branchFor(
  document: OpenAPIObject,
  schema: SchemaObject,
  body: Record<string, unknown>,
): SchemaObject {
  const branches = (schema.anyOf ?? [schema]).map((branch) => resolve(document, branch));
  const matching = branches.filter((branch) => branch.required?.includes('missing') === 'missing' in body);
  expect(matching).toHaveLength(1);
  return matching[0];
}

describe.each(ADAPTERS)(
  'the OpenAPI document of nestjs-hyperid/swagger routes (%s)',
  (adapterName, adapter) => {
    const { tokens, token } = tokenTable(`tok-swagger-${adapterName}`);
    let fake: FakeHyperIdServer;
    let app: INestApplication;
    let stepUpApp: INestApplication;
    let document: OpenAPIObject;
    let ops: Map<string, Operation>;

    beforeAll(async () => {
      fake = await new FakeHyperIdServer({ tokens }).start();
      app = await createApp(adapter, strictOptions(fake.url));
      stepUpApp = await createApp(
        adapter,
        strictOptions(fake.url, { stepUp: {}, enrollmentUrl: '/settings/security' }),
      );
      document = buildDocument(app);
      ops = operations(document);
    });

    afterAll(async () => {
      await app?.close();
      await stepUpApp?.close();
      await fake?.stop();
    });

    it('is a valid OpenAPI document', async () => {
      const result = await new Validator().validate(document as unknown as Record<string, unknown>);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
    });

    it('has one operation per route of the app, and no other', () => {
      expect([...ops.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
    });

    describe.each(Object.entries(EXPECTED))('%s', (key, expected) => {
      const operation = () => ops.get(key)!;
      const { requirement } = expected;

      if (expected.kind === 'guarded' || expected.kind === 'conditional') {
        const conditional = expected.kind === 'conditional';
        it(`documents the guard: ${requirement!.mode} of [${requirement!.required.join(', ')}]`, () => {
          expect(operation()[EXTENSION]).toEqual(
            conditional ? { ...requirement, conditional: true } : requirement,
          );
          // A `when` condition may exempt a request: the bearer requirement is then optional.
          const bearer = { [expected.security!]: [] };
          expect(operation().security).toEqual(conditional ? [bearer, {}] : [bearer]);
          expect(Object.keys(operation().responses).sort()).toEqual(
            [...GUARD_STATUSES, expected.success].sort(),
          );
        });

        it('is guarded at run time as documented: 401 without a token, 403 naming the requirement', async () => {
          const amount = conditional ? { 'x-amount': '1000' } : {};
          expect((await send(app, key).set(amount)).status).toBe(401);
          const refused = await send(app, key, `Bearer ${token('none')}`).set(amount);
          expect(refused.status).toBe(403);
          expect({ mode: refused.body.mode, required: refused.body.required }).toEqual(requirement);
          if (conditional) expect((await send(app, key)).status).toBe(Number(expected.success));
        });
      } else {
        it(
          expected.kind === 'report' ? 'documents the requirement in report mode only' : 'documents no guard',
          () => {
            expect(operation()[EXTENSION]).toEqual(
              expected.kind === 'report' ? { ...requirement, enforce: 'report' } : undefined,
            );
            expect(operation().security).toBeUndefined();
            expect(Object.keys(operation().responses)).toEqual([expected.success]);
          },
        );

        it('refuses no request at run time', async () => {
          expect((await send(app, key)).status).toBe(Number(expected.success));
          expect((await send(app, key, `Bearer ${token('none')}`)).status).toBe(Number(expected.success));
        });
      }
    });

    it("keeps the route's own responses as written, and adds no success it documents itself", () => {
      const { responses } = ops.get('get /methods/own-docs')!;
      expect(responses['200']).toEqual({ description: 'The account' });
      expect(responses['403']).toEqual({ description: 'Not your account' });
      expect(responses['401'].content?.['application/json'].schema).toBeDefined();
    });

    it('names each TwoFactorType in the 403 body, by number and by name, in one component', () => {
      const schema = ops.get('get /methods/any')!.responses['403'].content!['application/json'].schema;
      expect(schema.anyOf).toEqual([
        { $ref: '#/components/schemas/HyperIdTwoFactorRequiredBody' },
        { $ref: '#/components/schemas/HyperIdErrorBody' },
      ]);
      const body = resolve(document, schema.anyOf![0]);
      const properties = body.properties as Record<string, { items: Record<string, unknown> }>;
      for (const field of ['required', 'missing']) {
        expect(properties[field].items.enum).toEqual(ALL);
        expect(properties[field].items['x-enumNames']).toEqual(ALL.map((type) => TwoFactorType[type]));
      }
    });

    // Each answer of the guard, validated against what the document says of its status.
    // (Every row has all three entries: jest takes a callback with more parameters as `done`-style.)
    const ANSWERS: [situation: string, authorization: string | undefined, stepUp: boolean][] = [
      ['no Authorization header', undefined, false],
      ['Bearer with no token', 'Bearer ', false],
      ['an invalid token', 'Bearer invalid', false],
      ['an expired token', 'Bearer expired', false],
      ['a token without the scope', 'Bearer denied', false],
      ['a user without the methods', 'Bearer none', false],
      ['a user without the methods, with step-up answers and an enrollment URL', 'Bearer none', true],
      ['HyperID refusing the parameters', 'Bearer badParameters', false],
      ['an unknown result code', 'Bearer unknownResult', false],
      ['HyperID unavailable', 'Bearer unavailable', false],
    ];
    const answered = new Set<string>();

    it.each(ANSWERS)(
      '%s: the answer matches its documented status, body and headers',
      async (_, auth, stepUp) => {
        const key = 'get /methods/totp';
        const authorization = auth?.replace(/^Bearer (\w+)$/, (_m, user: string) => `Bearer ${token(user)}`);
        const res = await send(stepUp ? stepUpApp : app, key, authorization);
        const documented = ops.get(key)!.responses[String(res.status)];
        expect(GUARD_STATUSES).toContain(String(res.status));
        answered.add(String(res.status));

        const { schema } = documented.content!['application/json'];
        expectValid(document, schema, res.body);
        // Every field of the body is one the schema that describes it names.
        const branch = branchFor(document, schema, res.body);
        expectValid(document, branch, res.body);
        const undocumented = Object.keys(res.body).filter(
          (field) => !(field in (branch.properties as object)),
        );
        expect(undocumented).toEqual([]);
        if (stepUp) expect(res.body.enrollment_url).toBe('/settings/security');
        for (const name of ['www-authenticate', 'retry-after']) {
          const header = Object.entries(documented.headers ?? {}).find(
            ([header]) => header.toLowerCase() === name,
          )?.[1];
          const value = res.headers[name] as string | undefined;
          if (value === undefined) {
            expect({ name, required: header?.required ?? false }).toEqual({ name, required: false });
          } else {
            expect({ name, documented: header !== undefined }).toEqual({ name, documented: true });
            expectValid(document, header!.schema, name === 'retry-after' ? Number(value) : value);
          }
        }
      },
    );

    it('those answers covered every documented status of the guard', () => {
      expect([...answered].sort()).toEqual(GUARD_STATUSES);
    });
  },
);
