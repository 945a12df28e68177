import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AxiosError, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import {
  HYPERID_RESOLVED_OPTIONS,
  LOGGER_CONTEXT,
  MAX_RESPONSE_BYTES,
  TWO_FACTOR_TYPES_PATH,
} from '../hyperid.constants.js';
import {
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdServiceUnavailableError,
  HyperIdUpstreamError,
} from '../errors/hyperid.errors.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import type { ResolvedHyperIdOptions } from '../hyperid.options.js';
import { HyperIdClient } from './hyperid.client.js';
import { HyperIdResiliencePolicy, type HyperIdCircuitState } from './hyperid.resilience.js';
import { parseTwoFactorAnswer } from './two-factor-answer.parser.js';
import {
  recordCircuitStateChange,
  traceHyperIdCall,
  type HyperIdCallAttributes,
} from '../hyperid.telemetry.js';

/**
 * TCP keep-alive delay of the agent's sockets, in milliseconds. axios sets one minute on every
 * socket it is given; an agent with another value (Node's default is one second) sets its own
 * back each time the socket returns to the pool: system calls on every request, for nothing.
 */
const TCP_KEEP_ALIVE_MS = 60_000;

/** Every answer is read by the parser, whatever its status. */
const acceptEveryStatus = () => true;

/**
 * The headers of every call; a lookup adds the user's token to a copy, the probe sends these alone.
 * Frozen: axios copies a call's headers before anything may change them, and no token must ever
 * stick to the object the next probe sends.
 */
const JSON_HEADERS = Object.freeze({ 'Content-Type': 'application/json', Accept: 'application/json' });

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
export class HttpHyperIdClient extends HyperIdClient implements OnModuleDestroy {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private readonly policy: HyperIdResiliencePolicy;
  /** What every request has in common, built once; a call adds its headers and signal. */
  private readonly request: AxiosRequestConfig<string>;
  private readonly spanAttributes: HyperIdCallAttributes;

  constructor(
    private readonly http: HttpService,
    @Inject(HYPERID_RESOLVED_OPTIONS) options: ResolvedHyperIdOptions,
  ) {
    super();
    const agentOptions = {
      keepAlive: true,
      keepAliveMsecs: TCP_KEEP_ALIVE_MS,
      maxSockets: options.maxSockets,
      maxFreeSockets: options.maxSockets,
    };
    this.httpAgent = new HttpAgent(agentOptions);
    this.httpsAgent = new HttpsAgent(agentOptions);
    this.request = {
      method: 'post',
      url: `${options.apiUrl.href.replace(/\/+$/, '')}${TWO_FACTOR_TYPES_PATH}`,
      data: '{}',
      responseType: 'text',
      // No transforms either way: the body is already the JSON text to send, and the answer stays
      // the text axios read, for the parser to parse once (and refuse when it is not JSON).
      // axios's own would parse the request body and read the answer's headers once more.
      transformRequest: [],
      transformResponse: [],
      validateStatus: acceptEveryStatus,
      maxRedirects: 0,
      maxContentLength: MAX_RESPONSE_BYTES,
      timeout: options.timeoutMs,
      proxy: false,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
    };
    // The module's own axios instance (HyperIdModule imports an HttpModule of its own) sends these
    // calls only, and each sets every header it needs: axios's default headers, an object per HTTP
    // method, would just be deep-merged into every request's config and dropped again.
    http.axiosRef.defaults.headers = { common: {} } as typeof http.axiosRef.defaults.headers;
    this.spanAttributes = { serverAddress: options.apiUrl.hostname };
    this.policy = new HyperIdResiliencePolicy(options);
    this.policy.onCircuitStateChange(recordCircuitStateChange);
  }

  get circuitState(): HyperIdCircuitState {
    return this.policy.circuitState;
  }

  /** Asks HyperID for the 2FA methods of the token's user. Throws a `HyperIdError` on any failure. */
  async fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    let attempts = 0;
    return traceHyperIdCall(
      this.spanAttributes,
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
   * body, to parse. Transport failures come out as `HyperIdError`. It goes through the module's
   * own `HttpService` instance (`axiosRef`, so its interceptors apply) as a promise: the
   * observable of `HttpService.post` would add a cancel token per call, and cancel it once the
   * answer is in; `signal` is what aborts a call.
   */
  private async post(
    accessToken: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: string; retryAfter?: unknown }> {
    let response: AxiosResponse<string>;
    try {
      response = await this.http.axiosRef.request<string>({
        ...this.request,
        headers:
          accessToken === undefined
            ? JSON_HEADERS
            : { ...JSON_HEADERS, Authorization: `Bearer ${accessToken}` },
        signal,
      });
    } catch (error) {
      throw transportError(error);
    }
    return {
      status: response.status,
      // Only the text axios read is parsed; anything else is not JSON, and neither is the
      // fallback, which no answer or message ever shows:
      // Stryker disable next-line StringLiteral: equivalent, any non-JSON text is refused alike
      body: typeof response.data === 'string' ? response.data : '',
      retryAfter: response.headers['retry-after'],
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
