import { Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { HyperIdClient } from '../client/hyperid.client.js';
import { errorForResult } from '../client/two-factor-answer.parser.js';
import { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';

/**
 * How the in-memory HyperID answers for one token: the user's enabled 2FA methods (unknown
 * numbers allowed, as HyperID may add some), or a non-zero {@link HyperIdResult} that the real
 * client would turn into its `HyperIdError` (e.g. `HyperIdResult.TokenExpired`).
 */
export type HyperIdTestingAnswer = readonly (TwoFactorType | number)[] | HyperIdResult;

/**
 * The in-memory HyperID behind {@link HyperIdTestingModule}: inject it in a test to change answers
 * at run time and to count lookups. Each compiled testing module gets its own instance.
 */
export class HyperIdTestingController {
  private readonly answers = new Map<string, HyperIdTestingAnswer>();
  private readonly counts = new Map<string, number>();
  private total = 0;
  private heldCount = 0;
  private gate?: { holds: (token: string) => boolean; opened: Promise<void>; open: () => void };

  /** @param tokens the initial answers by token, as in {@link HyperIdTestingModuleOptions.tokens}. */
  constructor(tokens: Record<string, HyperIdTestingAnswer> = {}) {
    for (const [token, answer] of Object.entries(tokens)) this.setToken(token, answer);
  }

  /** Sets (or replaces) the answer for `token`; takes effect on the next request (nothing is cached). */
  setToken(token: string, answer: HyperIdTestingAnswer): this {
    if (answer === HyperIdResult.Success) {
      throw new TypeError(
        'HyperIdTestingController: give the 2FA methods as an array for a successful answer',
      );
    }
    this.answers.set(token, typeof answer === 'number' ? answer : Object.freeze([...answer]));
    return this;
  }

  /** Forgets `token`: it answers `HyperIdResult.TokenInvalid` again. */
  removeToken(token: string): this {
    this.answers.delete(token);
    return this;
  }

  /** Lookups that reached the in-memory HyperID for `token`, or for every token when omitted. */
  calls(token?: string): number {
    return token === undefined ? this.total : (this.counts.get(token) ?? 0);
  }

  /** Sets every call count back to zero. */
  resetCalls(): this {
    this.counts.clear();
    this.total = 0;
    return this;
  }

  /**
   * Makes HyperID slow: the lookups of the tokens `holds` picks (every token by default) wait,
   * in flight, until {@link release}. For tests of what happens while a lookup is pending (requests
   * that share one lookup, a logout racing a lookup).
   */
  hold(holds: (token: string) => boolean = () => true): this {
    this.release();
    let open: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { holds, opened, open };
    this.heldCount = 0;
    return this;
  }

  /** Lets every held lookup through, and the next ones straight away. */
  release(): this {
    this.gate?.open();
    this.gate = undefined;
    return this;
  }

  /** Lookups held (waiting, or let through by {@link release}) since the last {@link hold}. */
  get held(): number {
    return this.heldCount;
  }

  /**
   * Waits while `token`'s lookups are held, then answers as {@link answer} does. The in-memory
   * client calls it for each lookup.
   */
  async lookUp(token: string): Promise<TwoFactorTypesResponseDto> {
    const gate = this.gate;
    if (gate?.holds(token)) {
      this.heldCount += 1;
      await gate.opened;
    } else {
      await Promise.resolve();
    }
    return this.answer(token);
  }

  /**
   * Answers a lookup as HyperID would: the DTO of a success, or the `HyperIdError` the real client
   * throws for the result code. Used by the in-memory client; tests rarely call it themselves.
   */
  answer(token: string): TwoFactorTypesResponseDto {
    this.total += 1;
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    const answer = this.answers.get(token) ?? HyperIdResult.TokenInvalid;
    if (typeof answer === 'number') throw errorForResult(answer);
    return plainToInstance(TwoFactorTypesResponseDto, {
      result: HyperIdResult.Success,
      auth_types: [...answer],
    });
  }
}

/**
 * A `HyperIdClient` that answers from a {@link HyperIdTestingController} instead of HTTP: no
 * server, no network, no circuit breaker. `HyperIdTestingModule` uses it; a test may also put it
 * under `HyperIdModule` (`.overrideProvider(HyperIdClient)`) to keep the module's cache.
 */
@Injectable()
export class InMemoryHyperIdClient extends HyperIdClient {
  constructor(private readonly controller: HyperIdTestingController) {
    super();
  }

  get circuitState(): 'disabled' {
    return 'disabled';
  }

  fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    return this.controller.lookUp(accessToken);
  }

  /** HyperID refuses a token-less call as it would refuse an unknown token. */
  probe(): Promise<{ result: number }> {
    return Promise.resolve({ result: HyperIdResult.TokenInvalid });
  }
}
