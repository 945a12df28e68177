import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
  type RetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';
import { DEFAULTS } from '../hyperid.constants.js';
import {
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdServiceUnavailableError,
  isTransientFailure,
} from '../errors/hyperid.errors.js';
import type { ResolvedHyperIdOptions } from '../hyperid.options.js';

/** The breaker's state: `'disabled'` when the module runs without one. */
export type HyperIdCircuitState = 'closed' | 'open' | 'half-open' | 'disabled';

/** Backoff between attempts: exponential with decorrelated jitter, 50 ms up to 1 s. */
const BACKOFF = { initialDelay: 50, maxDelay: 1000 };
/** Room the deadline leaves beyond the attempts' own timeouts and backoffs, in milliseconds. */
const DEADLINE_SLACK_MS = 100;
/**
 * Both timeouts give up at once when they fire (aborting their signal, so the HTTP call stops).
 * Their signal is not aborted when the work returns: by then the call is over, and aborting
 * would only build an `AbortError` and a cancellation error per lookup that nobody reads.
 */
const TIMEOUT_OPTIONS = { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false } as const;

/**
 * How one lookup meets HyperID, from the outside in:
 *
 * 1. the circuit breaker, which sees one outcome per lookup — after its retries — and counts only
 *    HyperID's own failures, so no stream of bad tokens can open it;
 * 2. a deadline over the whole lookup (inside the breaker, so a lookup that runs out of time is
 *    counted as the failure it is);
 * 3. retries of transient failures, with backoff;
 * 4. the bulkhead: at most `maxSockets` calls at once, `bulkheadQueue` more waiting, the rest
 *    refused at once (503, neither retried nor counted);
 * 5. the timeout of one attempt, which starts only once the attempt holds a bulkhead slot.
 *
 * The policies are built once: a lookup allocates nothing here but its own closures.
 */
export class HyperIdResiliencePolicy {
  private readonly attemptTimeout: TimeoutPolicy;
  private readonly deadline: TimeoutPolicy;
  private readonly retry: RetryPolicy;
  private readonly bulkhead: BulkheadPolicy;
  private readonly breaker?: CircuitBreakerPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(
    private readonly options: Pick<
      ResolvedHyperIdOptions,
      'timeoutMs' | 'retries' | 'circuitBreaker' | 'maxSockets' | 'bulkheadQueue'
    >,
  ) {
    this.attemptTimeout = timeout(options.timeoutMs, TIMEOUT_OPTIONS);
    this.bulkhead = bulkhead(options.maxSockets, options.bulkheadQueue);
    this.retry = retry(handleWhen(isTransientFailure), {
      maxAttempts: options.retries,
      backoff: new ExponentialBackoff(BACKOFF),
    });
    // The deadline leaves room for every attempt, the longest backoffs between them and a little
    // more, so that an attempt's own timeout fires first; time spent waiting for a bulkhead slot
    // comes out of it, never out of an attempt's own timeout.
    const deadlineMs =
      options.timeoutMs * (options.retries + 1) + BACKOFF.maxDelay * options.retries + DEADLINE_SLACK_MS;
    this.deadline = timeout(deadlineMs, TIMEOUT_OPTIONS);
    this.halfOpenAfterMs = options.circuitBreaker ? options.circuitBreaker.halfOpenAfterMs : 0;
    if (options.circuitBreaker) {
      this.breaker = circuitBreaker(handleWhen(isTransientFailure), {
        halfOpenAfter: options.circuitBreaker.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(options.circuitBreaker.threshold),
      });
      this.breaker.onBreak(() => {
        this.openedAt = Date.now();
      });
    }
  }

  /** The breaker's state. */
  get circuitState(): HyperIdCircuitState {
    if (!this.breaker) return 'disabled';
    switch (this.breaker.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        return 'open';
    }
  }

  /** Subscribes to the breaker's state changes; returns a function that unsubscribes. */
  onCircuitStateChange(listener: (state: Exclude<HyperIdCircuitState, 'disabled'>) => void): () => void {
    if (!this.breaker) return () => undefined;
    const subscription = this.breaker.onStateChange(() => {
      listener(this.circuitState as Exclude<HyperIdCircuitState, 'disabled'>);
    });
    return () => subscription.dispose();
  }

  /**
   * Runs one lookup: `attempt` (one HyperID call, aborted through `signal` on timeout) under the
   * policy. Every failure leaves it as a `HyperIdError`.
   */
  async execute<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const lookup = () => this.withinDeadline(attempt);
    try {
      return await (this.breaker ? this.breaker.execute(lookup) : lookup());
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new HyperIdCircuitOpenError('HyperID circuit breaker is open; not calling HyperID', {
          retryAfterSeconds: this.secondsUntilProbe(),
        });
      }
      throw error;
    }
  }

  /** The retried attempts of one lookup, within its deadline. */
  private async withinDeadline<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await this.deadline.execute(({ signal: deadline }) =>
        this.retry.execute(() => this.boundedAttempt(attempt, deadline)),
      );
    } catch (error) {
      if (error instanceof TaskCancelledError) {
        throw new HyperIdServiceUnavailableError('HyperID lookup exceeded its overall deadline');
      }
      throw error;
    }
  }

  /** One attempt: a bulkhead slot first, then the attempt's own timeout. */
  private async boundedAttempt<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    deadline: AbortSignal,
  ): Promise<T> {
    try {
      // The attempt's signal is derived from the deadline's: either one aborts the call.
      return await this.bulkhead.execute(
        () => this.attemptTimeout.execute(({ signal }) => attempt(signal), deadline),
        deadline,
      );
    } catch (error) {
      if (error instanceof BulkheadRejectedError) {
        throw new HyperIdBusyError('Too many HyperID lookups at once; not calling HyperID');
      }
      if (error instanceof TaskCancelledError && !deadline.aborted) {
        throw new HyperIdServiceUnavailableError(
          `HyperID did not answer within ${this.options.timeoutMs} ms`,
        );
      }
      throw error;
    }
  }

  private secondsUntilProbe(): number {
    const remainingMs = this.openedAt + this.halfOpenAfterMs - Date.now();
    return Math.max(DEFAULTS.retryAfterSeconds, Math.ceil(remainingMs / 1000));
  }
}
