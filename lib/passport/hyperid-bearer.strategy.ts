import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-http-bearer';
import { readBearerCredentials } from '../bearer-token.js';
import { AUTH_REALM, PENDING_HEADERS, VERIFIED_TWO_FACTOR_TYPES } from '../hyperid.constants.js';
import { reusableAnswer } from '../hyperid.context.js';
import { credentialsException, toHttpException, type SetHeader } from '../errors/http-exceptions.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';
import { TwoFactorService } from '../two-factor.service.js';

/**
 * What the `'hyperid'` strategy puts on `request.user`.
 *
 * `accessToken` is the caller's own bearer token, kept so handlers can call HyperID (or another
 * API) on the user's behalf. It is not enumerable: `JSON.stringify(user)`, `{ ...user }`, a
 * `return req.user` and a logger's serialiser all leave it out. Still a secret: never log or echo it.
 */
export interface HyperIdPassportUser {
  /** The bearer token of the request, as the client sent it. Not enumerable; never log or echo it. */
  readonly accessToken: string;
  /** The user's enabled 2FA methods, as HyperID reported them (unknown values kept as numbers). */
  twoFactorTypes: TwoFactorType[];
}

/** A {@link HyperIdPassportUser} whose token no serialiser sees. */
function passportUser(accessToken: string, types: readonly number[]): HyperIdPassportUser {
  const user = { twoFactorTypes: [...types] as TwoFactorType[] };
  Object.defineProperty(user, 'accessToken', { value: accessToken, enumerable: false });
  return user as HyperIdPassportUser;
}

/** A request as the strategy sees it: Express's, Fastify's or a GraphQL context's. */
type PassportRequest = {
  headers?: Record<string, unknown>;
  res?: { setHeader?: (name: string, value: string) => unknown; headersSent?: boolean };
} & Record<PropertyKey, unknown>;

/**
 * Sets a header of the error answer: at once on Express (`req.res`), and recorded on the request
 * so `HyperIdAuthGuard` can set it through the HTTP adapter on any platform.
 */
function headerSetterFor(req: PassportRequest): SetHeader {
  return (name, value) => {
    const pending = (req[PENDING_HEADERS] ??= {}) as Record<string, string>;
    pending[name] = value;
    const res = req.res;
    if (typeof res?.setHeader === 'function' && !res.headersSent) res.setHeader(name, value);
  };
}

/** The parts passport adds to a strategy while it authenticates a request. */
interface AuthenticatingStrategy {
  error(err: unknown): void;
}

/**
 * Passport strategy `'hyperid'` for apps that use `@nestjs/passport`: reads the RFC 6750 bearer
 * token of the `Authorization` header (never the body or query string), asks `TwoFactorService`
 * for the user's 2FA methods, and yields a {@link HyperIdPassportUser}.
 *
 * The verified methods are left on the request, so a `@RequireTwoFactor()` on the same route
 * reuses them: `@UseGuards(AuthGuard('hyperid'))` with `@RequireTwoFactor(...)` makes one HyperID
 * lookup per request, whichever guard runs first. Failures are answered like `TwoFactorGuard`'s
 * (see the README's "Errors and status codes"); on Fastify use
 * {@link HyperIdAuthGuard} to get the `WWW-Authenticate` / `Retry-After` headers too.
 *
 * Needs `TwoFactorService`: register it in a module that imports `HyperIdModule`, or through
 * `HyperIdPassportModule` when `HyperIdModule` is global.
 */
@Injectable()
export class HyperIdBearerStrategy extends PassportStrategy(Strategy, 'hyperid') {
  constructor(private readonly twoFactorService: TwoFactorService) {
    super({ passReqToCallback: true, realm: AUTH_REALM });
  }

  /**
   * Answers a missing or malformed `Authorization` header like `TwoFactorGuard` does (401 bare
   * challenge, 400 `invalid_request`) before passport-http-bearer sees the request.
   */
  override authenticate(req: Parameters<Strategy<never>['authenticate']>[0], options?: object): void {
    const request = req as unknown as PassportRequest;
    const credentials = readBearerCredentials(request.headers?.authorization);
    if (credentials.kind !== 'token') {
      const exception = credentialsException(credentials.kind, headerSetterFor(request));
      (this as unknown as AuthenticatingStrategy).error(exception);
      return;
    }
    super.authenticate(req, options);
  }

  /**
   * Looks up the 2FA methods of `token`'s user (or reuses those `TwoFactorGuard` verified earlier
   * in this request) and records them on the request for `@VerifiedTwoFactorTypes()` and the guard.
   *
   * @throws HttpException the answer to a failed lookup, the same as `TwoFactorGuard`'s.
   */
  async validate(req: PassportRequest, token: string): Promise<HyperIdPassportUser> {
    const service = this.twoFactorService;
    const known = await reusableAnswer(req, () => service.keyOf(token));
    if (known) return passportUser(token, known.authTypes);
    try {
      const answer = await service.resolve(token);
      req[VERIFIED_TWO_FACTOR_TYPES] = answer;
      return passportUser(token, answer.authTypes);
    } catch (error) {
      throw toHttpException(error, headerSetterFor(req));
    }
  }
}
