import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AxiosError, type AxiosResponse } from 'axios';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { firstValueFrom } from 'rxjs';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import {
  HYPERID_RESOLVED_OPTIONS,
  LOGGER_CONTEXT,
  MAX_RESPONSE_BYTES,
  TWO_FACTOR_TYPES_PATH,
} from './hyperid.constants.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';
import { HyperIdResiliencePolicy } from './hyperid.resilience.js';
import { recordCircuitStateChange, traceHyperIdCall } from './hyperid.telemetry.js';

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
 * answer's `Retry-After` header, passed on with a 429.
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
  // Only the two known fields go through class-transformer: nothing else of the answer is kept.
  const dto = plainToInstance(TwoFactorTypesResponseDto, { result, auth_types });
  const problems = validateSync(dto, { forbidUnknownValues: true });
  if (problems.length > 0) {
    const fields = problems.map((problem) => problem.property).join(', ');
    throw new HyperIdUpstreamError(`HyperID's answer failed validation (${fields})`);
  }
  return dto;
}

/** Maps a transport failure (no HTTP answer to parse) to a `HyperIdError`. */
function transportError(error: unknown): HyperIdError {
  if (error instanceof HyperIdError) return error;
  if (error instanceof AxiosError) {
    if (error.code === AxiosError.ERR_BAD_RESPONSE && /maxContentLength/.test(error.message)) {
      return new HyperIdUpstreamError(`HyperID's answer exceeded ${MAX_RESPONSE_BYTES} bytes`);
    }
    // Only the error code is kept: the axios error carries the request headers, token included.
    return new HyperIdServiceUnavailableError(
      `HyperID could not be reached (${error.code ?? 'network error'})`,
    );
  }
  return new HyperIdServiceUnavailableError('HyperID could not be reached');
}

/**
 * The HTTP client of HyperID's 2FA endpoint: one POST per attempt through `@nestjs/axios`, under
 * the resilience policy, parsed and validated. Private to the package.
 */
@Injectable()
export class HyperIdClient implements OnModuleDestroy {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly endpoint: string;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  readonly policy: HyperIdResiliencePolicy;

  constructor(
    private readonly http: HttpService,
    @Inject(HYPERID_RESOLVED_OPTIONS) private readonly options: ResolvedHyperIdOptions,
  ) {
    this.endpoint = `${options.apiUrl.href.replace(/\/+$/, '')}${TWO_FACTOR_TYPES_PATH}`;
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets,
      maxFreeSockets: options.maxSockets,
    };
    this.httpAgent = new HttpAgent(agentOptions);
    this.httpsAgent = new HttpsAgent(agentOptions);
    this.policy = new HyperIdResiliencePolicy(options);
    this.policy.onCircuitStateChange(recordCircuitStateChange);
  }

  /** Asks HyperID for the 2FA methods of the token's user. Throws a `HyperIdError` on any failure. */
  async fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    let attempts = 0;
    const attributes = { serverAddress: this.options.apiUrl.hostname };
    return traceHyperIdCall(
      attributes,
      () => attempts,
      async () => {
        try {
          return await this.policy.execute((signal) => {
            attempts += 1;
            return this.attempt(accessToken, signal);
          });
        } catch (error) {
          const failure = transportError(error);
          this.log(failure);
          throw failure;
        }
      },
    );
  }

  /**
   * Checks that HyperID answers, without a user's token: one `POST /2fa/types/get` with no
   * `Authorization` header, outside the retries and the circuit breaker (a health check neither
   * trips nor closes it). Reachable means any HTTP answer carrying a JSON integer `result` other
   * than `ServiceTemporarilyUnavailable`; resolves that code (HyperID refuses a token-less call).
   *
   * @throws HyperIdServiceUnavailableError when HyperID cannot be reached, times out, answers
   *   5xx/429 or `ServiceTemporarilyUnavailable`; HyperIdUpstreamError when the answer is not well-formed.
   */
  async probe(): Promise<{ result: number }> {
    const { status, body, retryAfter } = await this.post(undefined);
    try {
      parseTwoFactorAnswer(status, body, retryAfter);
      return { result: HyperIdResult.Success };
    } catch (error) {
      // An answer about the (missing) token proves HyperID is up; its own failures do not.
      if (!(error instanceof HyperIdError) || error instanceof HyperIdServiceUnavailableError) throw error;
      if (error.result === undefined) throw error;
      return { result: error.result };
    }
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async attempt(accessToken: string, signal: AbortSignal): Promise<TwoFactorTypesResponseDto> {
    const { status, body, retryAfter } = await this.post(accessToken, signal);
    return parseTwoFactorAnswer(status, body, retryAfter);
  }

  /**
   * One POST to the endpoint, with the user's token when there is one: the status and the raw
   * body, to parse. Transport failures come out as `HyperIdError`.
   */
  private async post(
    accessToken: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: string; retryAfter?: unknown }> {
    let response: AxiosResponse<string>;
    try {
      response = await firstValueFrom(
        this.http.post<string>(this.endpoint, '{}', {
          headers: {
            ...(accessToken === undefined ? {} : { Authorization: `Bearer ${accessToken}` }),
            'Content-Type': 'application/json',
            Accept: 'application/json',
          },
          responseType: 'text',
          transformResponse: [(data: unknown) => data],
          validateStatus: () => true,
          maxRedirects: 0,
          maxContentLength: MAX_RESPONSE_BYTES,
          timeout: this.options.timeoutMs,
          proxy: false,
          httpAgent: this.httpAgent,
          httpsAgent: this.httpsAgent,
          signal,
        }),
      );
    } catch (error) {
      throw transportError(error);
    }
    return {
      status: response.status,
      body: typeof response.data === 'string' ? response.data : '',
      retryAfter: response.status === 429 ? response.headers['retry-after'] : undefined,
    };
  }

  private log(failure: HyperIdError): void {
    // Answers about the token are the caller's business; failures of HyperID are the operator's.
    if (failure instanceof HyperIdServiceUnavailableError || failure instanceof HyperIdUpstreamError) {
      this.logger.warn(`HyperID lookup failed: ${failure.message}`);
    } else if (failure instanceof HyperIdInvalidRequestError) {
      this.logger.error(`HyperID lookup failed: ${failure.message}`);
    }
  }
}
