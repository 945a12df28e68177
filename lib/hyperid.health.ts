import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HyperIdClient } from './client/hyperid.client.js';
import { HyperIdError } from './errors/hyperid.errors.js';
import type { HyperIdCircuitState } from './client/hyperid.resilience.js';

/**
 * What {@link HyperIdHealthIndicator.isHealthy} returns: `@nestjs/terminus`'s
 * `HealthIndicatorResult` shape, written out so this package never loads terminus itself.
 */
export type HyperIdHealthIndicatorResult<Key extends string = string> = Record<
  Key,
  {
    /** `'up'` when HyperID answers and the circuit is not open; `'down'` otherwise. */
    status: 'up' | 'down';
    /** Whether HyperID gave a well-formed answer to a token-less probe. */
    reachable: boolean;
    /** The circuit breaker's state; `'disabled'` with `circuitBreaker: false`. */
    circuit: HyperIdCircuitState;
    /** Why it is down (never contains a token). */
    message?: string;
  }
>;

/**
 * A health indicator for `@nestjs/terminus` (an optional peer: this class does not load it):
 * reports whether HyperID is reachable and the circuit breaker's state, without any user's token.
 *
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly hyperid: HyperIdHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() { return this.health.check([() => this.hyperid.isHealthy('hyperid')]); }
 * }
 * ```
 *
 * Register it as a provider of any module of an app that imports `HyperIdModule` (it finds the
 * module's client through `ModuleRef`). Each check sends one token-less `POST /2fa/types/get`
 * outside the retries and the breaker; HyperID counts as reachable when it answers any HTTP status
 * with a JSON integer `result` other than `ServiceTemporarilyUnavailable` (it refuses the missing
 * token). The indicator is `down` when HyperID is unreachable, answers `ServiceTemporarilyUnavailable`
 * or 5xx, answers malformed data,
 * or when the circuit is open (guarded routes answer 503 at that moment).
 */
@Injectable()
export class HyperIdHealthIndicator {
  private client?: HyperIdClient;

  constructor(private readonly moduleRef: ModuleRef) {}

  /** Probes HyperID and reports under `key` (default `'hyperid'`). Never throws for HyperID's failures. */
  async isHealthy<const Key extends string = 'hyperid'>(
    key: Key = 'hyperid' as Key,
  ): Promise<HyperIdHealthIndicatorResult<Key>> {
    const client = this.getClient();
    let reachable = true;
    let message: string | undefined;
    try {
      await client.probe();
    } catch (error) {
      if (!(error instanceof HyperIdError)) throw error;
      reachable = false;
      message = error.message;
    }
    const circuit = client.circuitState;
    if (reachable && circuit === 'open') message = 'HyperID circuit breaker is open';
    const status = reachable && circuit !== 'open' ? 'up' : 'down';
    const details =
      message === undefined ? { status, reachable, circuit } : { status, reachable, circuit, message };
    return { [key]: details } as HyperIdHealthIndicatorResult<Key>;
  }

  private getClient(): HyperIdClient {
    if (!this.client) {
      try {
        this.client = this.moduleRef.get(HyperIdClient, { strict: false });
      } catch {
        throw new Error('HyperIdHealthIndicator needs HyperIdModule (or HyperIdTestingModule) in the app');
      }
    }
    return this.client;
  }
}
