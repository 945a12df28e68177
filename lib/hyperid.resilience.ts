import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  type RetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';
import { DEFAULTS } from './hyperid.constants.js';
import { HyperIdServiceUnavailableError } from './hyperid.errors.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';

/** Errors that say "the circuit is open": retrying them at once would only hammer the breaker. */
const circuitOpenErrors = new WeakSet<Error>();

/** Transient failures: worth another attempt and counted by the breaker. */
export function isTransientFailure(error: unknown): boolean {
  return error instanceof HyperIdServiceUnavailableError && !circuitOpenErrors.has(error);
}

/** Backoff between attempts: exponential with decorrelated jitter, 50 ms up to 1 s. */
const BACKOFF = { initialDelay: 50, maxDelay: 1000 };

/**
 * Timeout per attempt, a circuit breaker counting transient failures of single calls, retries of
 * transient failures with backoff, and a deadline over the whole lookup — in that order from the
 * inside out. Every failure leaves it as a `HyperIdError`.
 */
export class HyperIdResiliencePolicy {
  private readonly attemptTimeout: TimeoutPolicy;
  private readonly deadline: TimeoutPolicy;
  private readonly retry: RetryPolicy;
  private readonly breaker?: CircuitBreakerPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(
    private readonly options: Pick<ResolvedHyperIdOptions, 'timeoutMs' | 'retries' | 'circuitBreaker'>,
  ) {
    this.attemptTimeout = timeout(options.timeoutMs, TimeoutStrategy.Aggressive);
    this.retry = retry(handleWhen(isTransientFailure), {
      maxAttempts: options.retries,
      backoff: new ExponentialBackoff(BACKOFF),
    });
    // The deadline leaves room for every attempt and the longest backoffs between them.
    const deadlineMs = options.timeoutMs * (options.retries + 1) + BACKOFF.maxDelay * options.retries;
    this.deadline = timeout(deadlineMs, TimeoutStrategy.Aggressive);
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

  /** The breaker's state: `'closed'`, `'open'`, `'half-open'`, or `'disabled'` without a breaker. */
  get circuitState(): 'closed' | 'open' | 'half-open' | 'disabled' {
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
  onCircuitStateChange(listener: (state: 'closed' | 'open' | 'half-open') => void): () => void {
    if (!this.breaker) return () => undefined;
    const subscription = this.breaker.onStateChange(() => {
      listener(this.circuitState as 'closed' | 'open' | 'half-open');
    });
    return () => subscription.dispose();
  }

  /** Runs `attempt` (one HyperID call, aborted through `signal` on timeout) under the policy. */
  async execute<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await this.deadline.execute(({ signal: deadlineSignal }) =>
        this.retry.execute(() => this.guardedAttempt(attempt, deadlineSignal)),
      );
    } catch (error) {
      if (error instanceof TaskCancelledError) {
        throw new HyperIdServiceUnavailableError('HyperID lookup exceeded its overall deadline');
      }
      throw error;
    }
  }

  private async guardedAttempt<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    deadline: AbortSignal,
  ): Promise<T> {
    const timed = () => this.timedAttempt(attempt, deadline);
    if (!this.breaker) return timed();
    try {
      return await this.breaker.execute(timed);
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        const open = new HyperIdServiceUnavailableError(
          'HyperID circuit breaker is open; not calling HyperID',
          {
            retryAfterSeconds: this.secondsUntilProbe(),
          },
        );
        circuitOpenErrors.add(open);
        throw open;
      }
      throw error;
    }
  }

  private async timedAttempt<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    deadline: AbortSignal,
  ): Promise<T> {
    try {
      return await this.attemptTimeout.execute(({ signal }) => attempt(AbortSignal.any([signal, deadline])));
    } catch (error) {
      if (error instanceof TaskCancelledError) {
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
