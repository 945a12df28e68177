import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { FakeHyperIdServer } from './testing/index.js';
import { HyperIdClient } from './hyperid.client.js';
import {
  HyperIdError,
  HyperIdServiceUnavailableError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import { HyperIdModule } from './hyperid.module.js';
import { HyperIdResiliencePolicy, isTransientFailure } from './hyperid.resilience.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type PolicyOptions = ConstructorParameters<typeof HyperIdResiliencePolicy>[0];
const policyWith = (options: Partial<PolicyOptions> = {}) =>
  new HyperIdResiliencePolicy({
    timeoutMs: 1000,
    retries: 0,
    circuitBreaker: { threshold: 3, halfOpenAfterMs: 10_000 },
    ...options,
  });

/** An attempt that counts its calls and fails with what `fail()` returns, or answers `value`. */
function attempt(fail?: () => Error) {
  const state = { calls: 0, signals: [] as AbortSignal[] };
  const run = async (signal: AbortSignal) => {
    state.calls += 1;
    state.signals.push(signal);
    if (fail) throw fail();
    return 'ok';
  };
  return Object.assign(run, { state });
}

const transient = () => new HyperIdServiceUnavailableError('HyperID answered HTTP 503');

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('isTransientFailure', () => {
  it('is true for HyperIdServiceUnavailableError only', () => {
    expect(isTransientFailure(transient())).toBe(true);
    expect(
      isTransientFailure(
        new HyperIdServiceUnavailableError('-1', { result: HyperIdResult.ServiceTemporarilyUnavailable }),
      ),
    ).toBe(true);
    expect(isTransientFailure(new HyperIdTokenInvalidError())).toBe(false);
    expect(isTransientFailure(new HyperIdUpstreamError('bad'))).toBe(false);
    expect(isTransientFailure(new Error('plain'))).toBe(false);
    expect(isTransientFailure(undefined)).toBe(false);
  });
});

describe('HyperIdResiliencePolicy', () => {
  describe('retries', () => {
    it('tries a transient failure retries + 1 times', async () => {
      const policy = policyWith({ retries: 2, circuitBreaker: false });
      const run = attempt(transient);
      expect(await failure(policy.execute(run))).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(run.state.calls).toBe(3);
    });

    it('tries a non-transient failure once', async () => {
      const policy = policyWith({ retries: 2, circuitBreaker: false });
      const run = attempt(() => new HyperIdTokenInvalidError());
      expect(await failure(policy.execute(run))).toBeInstanceOf(HyperIdTokenInvalidError);
      expect(run.state.calls).toBe(1);
    });

    it('returns the answer of a retry that succeeds', async () => {
      const policy = policyWith({ retries: 2, circuitBreaker: false });
      let calls = 0;
      const value = await policy.execute(async () => {
        calls += 1;
        if (calls === 1) throw transient();
        return 'second time lucky';
      });
      expect(value).toBe('second time lucky');
      expect(calls).toBe(2);
    });
  });

  describe('timeout per attempt and deadline', () => {
    it('gives up on an attempt after timeoutMs, aborts its signal, and retries', async () => {
      const policy = policyWith({ timeoutMs: 100, retries: 1, circuitBreaker: false });
      const signals: AbortSignal[] = [];
      const error = await failure(
        policy.execute((signal) => {
          signals.push(signal);
          return new Promise<never>(() => undefined);
        }),
      );
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect((error as Error).message).toMatch(/did not answer within 100 ms/);
      expect(signals).toHaveLength(2);
      for (const signal of signals) expect(signal.aborted).toBe(true);
    });

    it('settles even when attempts ignore their signal (the deadline bounds the lookup)', async () => {
      const policy = policyWith({ timeoutMs: 50, retries: 2, circuitBreaker: false });
      let calls = 0;
      const error = await failure(
        policy.execute(() => {
          calls += 1;
          return new Promise<never>(() => undefined);
        }),
      );
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(calls).toBe(3);
    });

    it('passes through an answer that comes in time', async () => {
      const policy = policyWith({ timeoutMs: 2000 });
      await expect(policy.execute(async () => (await sleep(20), 'done'))).resolves.toBe('done');
    });
  });

  describe('circuit breaker', () => {
    it('is reported as disabled when turned off, and never fails fast', async () => {
      const policy = policyWith({ circuitBreaker: false });
      expect(policy.circuitState).toBe('disabled');
      const run = attempt(transient);
      for (let i = 0; i < 10; i += 1) await failure(policy.execute(run));
      expect(run.state.calls).toBe(10);
    });

    it('opens after `threshold` consecutive transient failures, then fails fast without calling', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 3, halfOpenAfterMs: 5_000 } });
      const run = attempt(transient);
      for (let i = 0; i < 2; i += 1) await failure(policy.execute(run));
      expect(policy.circuitState).toBe('closed');
      await failure(policy.execute(run));
      expect(policy.circuitState).toBe('open');
      expect(run.state.calls).toBe(3);

      const error = await failure(policy.execute(run));
      expect(run.state.calls).toBe(3);
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as Error).message).toMatch(/circuit breaker is open/);
      expect((error as HyperIdError).result).toBeUndefined();
      const { retryAfterSeconds } = error as HyperIdServiceUnavailableError;
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(4);
      expect(retryAfterSeconds).toBeLessThanOrEqual(5);
    });

    it('counts each attempt of a retried lookup, and does not retry an open circuit', async () => {
      const policy = policyWith({ retries: 2, circuitBreaker: { threshold: 3, halfOpenAfterMs: 60_000 } });
      const run = attempt(transient);
      await failure(policy.execute(run));
      expect(run.state.calls).toBe(3);
      expect(policy.circuitState).toBe('open');
      const error = await failure(policy.execute(run));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(run.state.calls).toBe(3);
      expect((error as HyperIdServiceUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(59);
    });

    it('does not count non-transient failures', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 2, halfOpenAfterMs: 10_000 } });
      for (const make of [
        () => new HyperIdTokenInvalidError(),
        () => new HyperIdUpstreamError('malformed'),
        () => new Error('defect'),
      ]) {
        const run = attempt(make);
        for (let i = 0; i < 4; i += 1) await failure(policy.execute(run));
        expect(run.state.calls).toBe(4);
      }
      expect(policy.circuitState).toBe('closed');
    });

    it('is reset by a success in between', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 2, halfOpenAfterMs: 10_000 } });
      const failing = attempt(transient);
      for (let i = 0; i < 3; i += 1) {
        await failure(policy.execute(failing));
        await policy.execute(attempt());
      }
      expect(policy.circuitState).toBe('closed');
    });

    it('lets one probe through after halfOpenAfterMs; a success closes the circuit', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 1, halfOpenAfterMs: 100 } });
      const states: string[] = [];
      const unsubscribe = policy.onCircuitStateChange((state) => states.push(state));
      await failure(policy.execute(attempt(transient)));
      expect(policy.circuitState).toBe('open');
      await sleep(250);
      const probe = attempt();
      await expect(policy.execute(probe)).resolves.toBe('ok');
      expect(probe.state.calls).toBe(1);
      expect(policy.circuitState).toBe('closed');
      expect(states).toEqual(['open', 'half-open', 'closed']);
      unsubscribe();
      await failure(policy.execute(attempt(transient)));
      expect(states).toHaveLength(3);
    });

    it('opens again when the probe fails, with a fresh time to probe', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 1, halfOpenAfterMs: 1_500 } });
      await failure(policy.execute(attempt(transient)));
      await sleep(1_600);
      const probe = attempt(transient);
      await failure(policy.execute(probe));
      expect(probe.state.calls).toBe(1);
      expect(policy.circuitState).toBe('open');
      const error = (await failure(policy.execute(attempt()))) as HyperIdServiceUnavailableError;
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error.retryAfterSeconds).toBe(2);
    });
  });
});

describe('circuit breaker through HyperIdClient and a fake HyperID', () => {
  const TOKEN = 'breaker-token';
  let fake: FakeHyperIdServer;
  let client: HyperIdClient;
  let close: () => Promise<void>;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [0] } } }).start();
    const moduleRef = await Test.createTestingModule({
      imports: [
        HyperIdModule.forRoot({
          apiUrl: fake.url,
          retries: 0,
          cache: false,
          circuitBreaker: { threshold: 2, halfOpenAfterMs: 300 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    client = moduleRef.get(HyperIdClient);
    close = () => moduleRef.close();
  });

  afterAll(async () => {
    await close();
    await fake.stop();
  });

  it('opens on upstream 5xx, fails fast without calling HyperID, and closes after a good probe', async () => {
    fake.injectFault({ status: 503 });
    for (let i = 0; i < 2; i += 1) {
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
    }
    expect(fake.calls()).toBe(2);
    expect(client.policy.circuitState).toBe('open');

    const fast = await failure(client.fetchTwoFactorTypes(TOKEN));
    expect(fast).toBeInstanceOf(HyperIdServiceUnavailableError);
    expect((fast as HyperIdServiceUnavailableError).retryAfterSeconds).toBe(1);
    expect(fake.calls()).toBe(2);

    fake.clearFaults();
    await sleep(400);
    const answer = await client.fetchTwoFactorTypes(TOKEN);
    expect(answer.auth_types).toEqual([0]);
    expect(fake.calls()).toBe(3);
    expect(client.policy.circuitState).toBe('closed');
  });
});
