import type { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import type { HyperIdCircuitState } from './hyperid.resilience.js';

/**
 * What `TwoFactorService` and the health indicator need from HyperID, and the DI token they inject
 * it by. `HyperIdModule` provides the HTTP client (`HttpHyperIdClient`); `HyperIdTestingModule`
 * provides an in-memory one (`InMemoryHyperIdClient`). Both extend this class, so the compiler
 * keeps them in step.
 */
export abstract class HyperIdClient {
  /**
   * The 2FA methods of the user `accessToken` belongs to, as a validated DTO.
   * @throws HyperIdError the subclass for each failure; never a message containing the token.
   */
  abstract fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto>;

  /**
   * Checks that HyperID answers, without any user's token. Resolves the `result` HyperID gave
   * the token-less call.
   * @throws HyperIdError when HyperID cannot be reached or answers something unusable.
   */
  abstract probe(): Promise<{ result: number }>;

  /** The circuit breaker's state; `'disabled'` when there is none. */
  abstract get circuitState(): HyperIdCircuitState;
}
