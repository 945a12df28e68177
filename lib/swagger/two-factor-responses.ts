import {
  ApiProperty,
  getSchemaPath,
  type ApiResponseOptions,
  type HeaderObject,
  type ReferenceObject,
  type SchemaObject,
} from '@nestjs/swagger';
import { REQUIRED_SCOPE } from '../hyperid.constants.js';
import { bearerChallenge } from '../errors/www-authenticate.js';
import type { TwoFactorMode } from '../two-factor.metadata.js';
import { KNOWN_TWO_FACTOR_TYPES, TwoFactorType } from '../two-factor-type.enum.js';

// The answers of a guarded route (README "Errors and status codes"), as OpenAPI response objects.
// Bodies are Nest's HttpException JSON; the refusal of a user who lacks methods adds `mode`,
// `required` and `missing` (TwoFactorRequiredBody). Both bodies are components, so a document
// holds them once however many routes are guarded. A test checks all of this against the guard's
// live answers.

/** What each mode means, for the `mode` schema; a Record, so a new mode cannot be left out. */
const MODES: Record<TwoFactorMode, string> = {
  all: 'every type in `required` is needed',
  any: 'one type of `required` is enough',
};

/** A `TwoFactorType` value: the enum's numbers, its member names in `x-enumNames` and in words. */
function twoFactorTypeSchema(): SchemaObject {
  return {
    type: 'integer',
    enum: [...KNOWN_TWO_FACTOR_TYPES],
    'x-enumNames': KNOWN_TWO_FACTOR_TYPES.map((type) => TwoFactorType[type]),
    description: `TwoFactorType: ${KNOWN_TWO_FACTOR_TYPES.map((type) => `${type} ${TwoFactorType[type]}`).join(', ')}`,
  };
}

/**
 * Nest's `HttpException` JSON, the body of every refusal of the guard: the `HyperIdErrorBody`
 * schema of the document. Use it for your own answers of the same kind, e.g.
 * `@ApiServiceUnavailableResponse({ type: HyperIdErrorBody })` on a route that calls
 * `TwoFactorService` with `HyperIdExceptionFilter`.
 */
export class HyperIdErrorBody {
  /** The HTTP status code of the response. */
  @ApiProperty({ type: 'integer', description: 'The HTTP status code of the response' })
  statusCode!: number;

  /** What went wrong, in English; never contains the token. */
  @ApiProperty({ type: 'string', description: 'What went wrong, in English; never contains the token' })
  message!: string;

  /** The status code's reason phrase, e.g. `Forbidden`. */
  @ApiProperty({ type: 'string', description: "The status code's reason phrase, e.g. `Forbidden`" })
  error!: string;
}

/**
 * The body of a refusal for missing 2FA methods (`TwoFactorRequiredBody`): 403, or 401 with the
 * `stepUp` option. The `HyperIdTwoFactorRequiredBody` schema of the document.
 */
export class HyperIdTwoFactorRequiredBody extends HyperIdErrorBody {
  /** `'all'`: every type in `required` is needed; `'any'`: one of them is enough. */
  @ApiProperty({
    type: 'string',
    enum: Object.keys(MODES),
    description: Object.entries(MODES)
      .map(([mode, meaning]) => `'${mode}': ${meaning}`)
      .join('; '),
  })
  mode!: TwoFactorMode;

  // `type: 'array'` with a literal `items` schema, not `enum`/`enumName`, whose rendering (and
  // `x-enumNames` with it) differs between Swagger versions.

  /** The 2FA methods the route requires. */
  @ApiProperty({
    type: 'array',
    items: twoFactorTypeSchema(),
    description: 'The 2FA methods the route requires',
  })
  required!: TwoFactorType[];

  /** The required methods the user has not enabled. */
  @ApiProperty({
    type: 'array',
    items: twoFactorTypeSchema(),
    description: 'The required methods the user has not enabled',
  })
  missing!: TwoFactorType[];

  /** Where the user can enable them: with the module's `enrollmentUrl` option only. */
  @ApiProperty({
    type: 'string',
    format: 'uri-reference',
    required: false,
    description: 'Where the user can enable the missing methods (an https URL or a path), when the app says',
  })
  enrollment_url?: string;
}

/** The components the responses refer to, for `@ApiExtraModels()`. */
export const TWO_FACTOR_MODELS = [HyperIdErrorBody, HyperIdTwoFactorRequiredBody];

const errorBody = (): ReferenceObject => ({ $ref: getSchemaPath(HyperIdErrorBody) });
const twoFactorRequiredBody = (): ReferenceObject => ({ $ref: getSchemaPath(HyperIdTwoFactorRequiredBody) });

function json(schema: SchemaObject | ReferenceObject): ApiResponseOptions['content'] {
  return { 'application/json': { schema } };
}

function wwwAuthenticate(description: string, required: boolean, example: string): HeaderObject {
  return { description, required, schema: { type: 'string' }, example };
}

/**
 * The 400, 401, 403, 502 and 503 answers of a route that `TwoFactorGuard` guards. New objects on
 * every call: Swagger puts them in the document as they are, one set per operation.
 */
export function twoFactorResponses(): (ApiResponseOptions & { status: number })[] {
  return [
    {
      status: 400,
      description:
        'The Authorization header is `Bearer` with no token, a token outside RFC 6750 `b64token` syntax, or one over 8 KiB',
      headers: {
        'WWW-Authenticate': wwwAuthenticate(
          'An RFC 6750 `invalid_request` challenge',
          true,
          bearerChallenge({ error: 'invalid_request' }),
        ),
      },
      content: json(errorBody()),
    },
    {
      status: 401,
      description:
        'No bearer token, or HyperID says the token is invalid or expired; with step-up answers enabled, also a user who lacks the required 2FA methods (the body then names them, as in 403)',
      headers: {
        'WWW-Authenticate': wwwAuthenticate(
          'An RFC 6750 challenge: bare without a token, `invalid_token` for a bad token, RFC 9470 `insufficient_user_authentication` for a step-up',
          true,
          bearerChallenge(),
        ),
      },
      content: json({ anyOf: [errorBody(), twoFactorRequiredBody()] }),
    },
    {
      status: 403,
      description: `The user lacks the required 2FA methods (the body names them), or the token lacks HyperID's \`${REQUIRED_SCOPE}\` scope (an \`insufficient_scope\` challenge)`,
      headers: {
        'WWW-Authenticate': wwwAuthenticate(
          'An RFC 6750 `insufficient_scope` challenge when the token lacks the scope; absent when the user lacks methods',
          false,
          bearerChallenge({ error: 'insufficient_scope', scope: REQUIRED_SCOPE }),
        ),
      },
      content: json({ anyOf: [twoFactorRequiredBody(), errorBody()] }),
    },
    {
      status: 502,
      description: 'HyperID gave an answer that cannot be used',
      content: json(errorBody()),
    },
    {
      status: 503,
      description: 'HyperID is unavailable (or its calls are failing fast for now); try again later',
      headers: {
        'Retry-After': {
          description: 'Seconds to wait before trying again (RFC 9110 §10.2.3)',
          required: true,
          schema: { type: 'integer', minimum: 1 },
          example: 1,
        },
      },
      content: json(errorBody()),
    },
  ];
}
