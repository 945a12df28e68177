import { validateSync } from 'class-validator';
import { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from '../errors/hyperid.errors.js';
import { HyperIdResult } from '../hyperid-result.enum.js';

/** Longest `Retry-After` of a 429 passed on to clients, in seconds. */
const MAX_RETRY_AFTER_SECONDS = 3600;

/** RFC 9110 §5.6.7 IMF-fixdate, the date form senders generate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * The seconds of a `Retry-After` header (RFC 9110 §10.2.3: delay-seconds or an IMF-fixdate), or
 * undefined when it is absent or unreadable. Bounded, so HyperID cannot make us say "next year".
 */
export function retryAfterSeconds(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = text.length > 9 ? MAX_RETRY_AFTER_SECONDS : Number(text);
  else if (IMF_FIXDATE.test(text)) seconds = Math.ceil((Date.parse(text) - now) / 1000);
  else return undefined;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, seconds));
}

/** Turns a non-zero `result` into the error the public API promises for it. */
export function errorForResult(result: number): HyperIdError {
  switch (result as HyperIdResult) {
    case HyperIdResult.ServiceTemporarilyUnavailable:
      return new HyperIdServiceUnavailableError('HyperID is temporarily unavailable', { result });
    case HyperIdResult.InvalidParameters:
      return new HyperIdInvalidRequestError();
    case HyperIdResult.AccessDenied:
      return new HyperIdAccessDeniedError();
    case HyperIdResult.TokenExpired:
      return new HyperIdTokenExpiredError('HyperID says the access token has expired', result);
    case HyperIdResult.TokenInvalid:
      return new HyperIdTokenInvalidError('HyperID rejected the access token as invalid', result);
    default:
      return new HyperIdUpstreamError(`HyperID answered an unknown result code ${result}`, result);
  }
}

/**
 * Reads one HTTP answer of `POST /2fa/types/get` into a validated DTO, or the error it stands for.
 * Pure, so it can be tested on every shape of answer without a server. `retryAfter` is the
 * answer's `Retry-After` header, read with a 429 only.
 */
export function parseTwoFactorAnswer(
  status: number,
  body: string,
  retryAfter?: unknown,
): TwoFactorTypesResponseDto {
  if (status === 429) {
    throw new HyperIdRateLimitedError('HyperID answered HTTP 429 (too many requests)', {
      retryAfterSeconds: retryAfterSeconds(retryAfter),
    });
  }
  if (status >= 500) {
    throw new HyperIdServiceUnavailableError(`HyperID answered HTTP ${status}`);
  }
  if (status >= 300 && status < 400) {
    throw new HyperIdUpstreamError(
      `HyperID answered a redirect (HTTP ${status}); redirects are never followed`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HyperIdUpstreamError(`HyperID answered HTTP ${status} with a body that is not JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new HyperIdUpstreamError('HyperID answered JSON that is not an object');
  }
  const { result, auth_types } = json as Record<string, unknown>;
  if (typeof result !== 'number' || !Number.isInteger(result)) {
    throw new HyperIdUpstreamError('HyperID answered without an integer "result"');
  }
  if ((result as HyperIdResult) !== HyperIdResult.Success) throw errorForResult(result);
  if (status !== 200) {
    throw new HyperIdUpstreamError(`HyperID answered HTTP ${status} with result 0`);
  }
  // Only the two known fields are kept, set on the DTO as they came (JSON.parse made them, so they
  // are plain data): class-transformer would copy them over once more and change nothing that
  // class-validator checks next.
  const dto = new TwoFactorTypesResponseDto();
  dto.result = result;
  dto.auth_types = auth_types as TwoFactorTypesResponseDto['auth_types'];
  const problems = validateSync(dto, { forbidUnknownValues: true });
  if (problems.length > 0) {
    const fields = problems.map((problem) => problem.property).join(', ');
    throw new HyperIdUpstreamError(`HyperID's answer failed validation (${fields})`);
  }
  return dto;
}
