import type * as OtelApi from '@opentelemetry/api';
import {
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
} from './errors/hyperid.errors.js';
import type { HyperIdCircuitState } from './client/hyperid.resilience.js';
import { HyperIdResult } from './hyperid-result.enum.js';

/**
 * `@opentelemetry/api` is an optional peer, loaded with a dynamic `import()` when the app has it and
 * left out when it has not. Neither top-level await nor `import.meta`: the build must stay loadable
 * through `require(esm)` and through the CommonJS transform of a NestJS 11 app's jest.
 * Without an SDK registered, the API itself is a no-op.
 */
let otel: typeof OtelApi | undefined;
const otelLoaded: Promise<void> = import('@opentelemetry/api').then(
  (api) => {
    otel = api;
  },
  () => undefined,
);

const SCOPE = 'nestjs-hyperid';

/** Name of the span around one HyperID lookup (all of its attempts). */
export const HYPERID_CALL_SPAN = 'hyperid.2fa.types.get';

/** How a HyperID lookup ended, as recorded in the `hyperid.outcome` attribute. */
export type HyperIdCallOutcome =
  | 'success'
  | 'token_invalid'
  | 'token_expired'
  | 'access_denied'
  | 'invalid_request'
  | 'unavailable'
  | 'rate_limited'
  | 'circuit_open'
  | 'busy'
  | 'upstream_error';

/** The outcome of a failed lookup; the breaker's and the bulkhead's refusals never reached HyperID. */
export function outcomeOf(error: unknown): HyperIdCallOutcome {
  if (error instanceof HyperIdTokenExpiredError) return 'token_expired';
  if (error instanceof HyperIdTokenInvalidError) return 'token_invalid';
  if (error instanceof HyperIdCircuitOpenError) return 'circuit_open';
  if (error instanceof HyperIdBusyError) return 'busy';
  if (error instanceof HyperIdRateLimitedError) return 'rate_limited';
  if (error instanceof HyperIdServiceUnavailableError) return 'unavailable';
  if (error instanceof HyperIdError) {
    if (error.result === HyperIdResult.AccessDenied) return 'access_denied';
    if (error.result === HyperIdResult.InvalidParameters) return 'invalid_request';
  }
  return 'upstream_error';
}

/** Outcomes that are HyperID's failure, not an answer about the token: the span's status is ERROR. */
const FAILURES = new Set<HyperIdCallOutcome>([
  'unavailable',
  'rate_limited',
  'circuit_open',
  'busy',
  'upstream_error',
  'invalid_request',
]);

interface Instruments {
  duration: OtelApi.Histogram;
  cacheLookups: OtelApi.Counter;
  circuitChanges: OtelApi.Counter;
  wouldRefuse: OtelApi.Counter;
}

let instruments: { provider: OtelApi.MeterProvider; value: Instruments } | undefined;

/** Instruments of the meter provider registered now; rebuilt if the app registers another one later. */
function currentInstruments(api: typeof OtelApi): Instruments {
  const provider = api.metrics.getMeterProvider();
  if (instruments?.provider !== provider) {
    const meter = provider.getMeter(SCOPE);
    instruments = {
      provider,
      value: {
        duration: meter.createHistogram('hyperid.client.duration', {
          description: 'Duration of HyperID 2FA lookups, retries included',
          unit: 's',
        }),
        cacheLookups: meter.createCounter('hyperid.cache.lookups', {
          description:
            '2FA cache lookups by result: hit, miss (HyperID asked), shared_hit, coalesced, refusal_hit',
        }),
        circuitChanges: meter.createCounter('hyperid.circuit_breaker.state_changes', {
          description: 'State changes of the circuit breaker in front of HyperID',
        }),
        wouldRefuse: meter.createCounter('hyperid.guard.would_refuse', {
          description: 'Requests a requirement in report mode let through that it would have refused',
        }),
      },
    };
  }
  return instruments.value;
}

/** Attributes of the call that are safe to export: never the token, nor anything derived from it. */
export interface HyperIdCallAttributes {
  /** HyperID's host, e.g. `api.hypersecureid.com`. */
  serverAddress: string;
}

/**
 * Runs one HyperID lookup in a client span named {@link HYPERID_CALL_SPAN} with its outcome, and
 * records its duration. `attempts` reads how many HTTP attempts were made once it has settled.
 */
export async function traceHyperIdCall<T>(
  attributes: HyperIdCallAttributes,
  attempts: () => number,
  call: () => Promise<T>,
): Promise<T> {
  if (!otel) await otelLoaded;
  if (!otel) return call();
  const api = otel;
  const tracer = api.trace.getTracer(SCOPE);
  const started = performance.now();
  return tracer.startActiveSpan(
    HYPERID_CALL_SPAN,
    {
      kind: api.SpanKind.CLIENT,
      attributes: { 'server.address': attributes.serverAddress, 'http.request.method': 'POST' },
    },
    async (span) => {
      let outcome: HyperIdCallOutcome = 'success';
      let resultCode: number | undefined;
      try {
        return await call();
      } catch (error) {
        outcome = outcomeOf(error);
        resultCode = error instanceof HyperIdError ? error.result : undefined;
        if (FAILURES.has(outcome)) {
          span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome });
          span.setAttribute('error.type', error instanceof Error ? error.name : 'Error');
        }
        throw error;
      } finally {
        span.setAttribute('hyperid.outcome', outcome);
        span.setAttribute('hyperid.attempts', attempts());
        if (resultCode !== undefined) span.setAttribute('hyperid.result', resultCode);
        span.end();
        currentInstruments(api).duration.record((performance.now() - started) / 1000, {
          'hyperid.outcome': outcome,
        });
      }
    },
  );
}

/**
 * What a 2FA cache lookup did: served from memory, from the shared store, joined a lookup in
 * flight, refused again from the remembered refusals, or asked HyperID.
 */
export type CacheLookupResult = 'hit' | 'shared_hit' | 'coalesced' | 'refusal_hit' | 'miss';

/** Counts one 2FA cache lookup. */
export function recordCacheLookup(result: CacheLookupResult): void {
  if (otel) currentInstruments(otel).cacheLookups.add(1, { 'hyperid.cache.result': result });
}

/** Counts one change of the circuit breaker's state. */
export function recordCircuitStateChange(state: Exclude<HyperIdCircuitState, 'disabled'>): void {
  if (otel) currentInstruments(otel).circuitChanges.add(1, { 'hyperid.circuit_breaker.state': state });
}

/** Counts one refusal report mode let through, by route (`Controller.method`) and reason. */
export function recordWouldRefuse(route: string, reason: string): void {
  if (otel) {
    currentInstruments(otel).wouldRefuse.add(1, { 'hyperid.route': route, 'hyperid.reason': reason });
  }
}
