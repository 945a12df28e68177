import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { FakeHyperIdServer } from '../testing/index.js';
import { HyperIdClient } from './hyperid.client.js';
import { DEFAULTS } from '../hyperid.constants.js';
import {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
  isTokenRefusal,
  isTransientFailure,
} from '../errors/hyperid.errors.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { HyperIdModule } from '../hyperid.module.js';
import { HyperIdResiliencePolicy } from './hyperid.resilience.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type PolicyOptions = ConstructorParameters<typeof HyperIdResiliencePolicy>[0];
const policyWith = (options: Partial<PolicyOptions> = {}) =>
  new HyperIdResiliencePolicy({
    timeoutMs: 1000,
    retries: 0,
    circuitBreaker: { threshold: 3, halfOpenAfterMs: 10_000 },
    maxSockets: DEFAULTS.maxSockets,
    bulkheadQueue: DEFAULTS.bulkheadQueue,
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

/** A promise settled from outside. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** Watches a promise without awaiting it: how it settled so far. */
function watch<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } = {
    status: 'pending',
  };
  void promise.then(
    (value) => {
      state.status = 'fulfilled';
      state.value = value;
    },
    (error: unknown) => {
      state.status = 'rejected';
      state.error = error;
    },
  );
  return state;
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

/** Failures that are not HyperID failing: none of them may count toward opening the breaker. */
const NOT_COUNTED: Array<[string, () => Error]> = [
  ['HyperIdTokenInvalidError', () => new HyperIdTokenInvalidError()],
  ['HyperIdTokenExpiredError', () => new HyperIdTokenExpiredError('expired', HyperIdResult.TokenExpired)],
  ['HyperIdAccessDeniedError', () => new HyperIdAccessDeniedError()],
  ['HyperIdInvalidRequestError', () => new HyperIdInvalidRequestError()],
  ['HyperIdUpstreamError', () => new HyperIdUpstreamError('malformed answer')],
  [
    'HyperIdRateLimitedError',
    () => new HyperIdRateLimitedError('HyperID answered HTTP 429', { retryAfterSeconds: 30 }),
  ],
  ['HyperIdBusyError', () => new HyperIdBusyError('bulkhead full')],
  ['HyperIdCircuitOpenError', () => new HyperIdCircuitOpenError('open')],
  ['a plain Error', () => new Error('defect')],
];

describe('isTransientFailure', () => {
  it('is true for HyperID failing (unavailable, 5xx, network, timeout) only', () => {
    expect(isTransientFailure(transient())).toBe(true);
    expect(
      isTransientFailure(
        new HyperIdServiceUnavailableError('HyperID is temporarily unavailable', {
          result: HyperIdResult.ServiceTemporarilyUnavailable,
        }),
      ),
    ).toBe(true);
    expect(isTransientFailure(new HyperIdTokenInvalidError())).toBe(false);
    expect(isTransientFailure(new HyperIdUpstreamError('bad'))).toBe(false);
    expect(isTransientFailure(new Error('plain'))).toBe(false);
    expect(isTransientFailure(undefined)).toBe(false);
  });

  it.each(NOT_COUNTED)('is false for %s', (_name, make) => {
    expect(isTransientFailure(make())).toBe(false);
  });

  it('is false for the subclasses of HyperIdServiceUnavailableError that are not HyperID failing', () => {
    for (const error of [
      new HyperIdRateLimitedError('429'),
      new HyperIdCircuitOpenError('open'),
      new HyperIdBusyError('busy'),
    ]) {
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error.retryAfterSeconds).toBe(DEFAULTS.retryAfterSeconds);
      expect(isTransientFailure(error)).toBe(false);
    }
  });
});

describe('isTokenRefusal', () => {
  it('is true for refusals of the token only', () => {
    expect(isTokenRefusal(new HyperIdTokenInvalidError())).toBe(true);
    expect(isTokenRefusal(new HyperIdTokenExpiredError())).toBe(true);
    expect(isTokenRefusal(new HyperIdAccessDeniedError())).toBe(true);
    expect(isTokenRefusal(new HyperIdInvalidRequestError())).toBe(false);
    expect(isTokenRefusal(new HyperIdUpstreamError('bad'))).toBe(false);
    expect(isTokenRefusal(transient())).toBe(false);
    expect(isTokenRefusal(new HyperIdRateLimitedError('429'))).toBe(false);
    expect(isTokenRefusal(new Error('plain'))).toBe(false);
    expect(isTokenRefusal(undefined)).toBe(false);
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

    it.each(NOT_COUNTED)('tries %s once', async (_name, make) => {
      const policy = policyWith({ retries: 2, circuitBreaker: false });
      const run = attempt(make);
      await failure(policy.execute(run));
      expect(run.state.calls).toBe(1);
    });

    it('does not retry a 429, and passes its Retry-After on untouched', async () => {
      const policy = policyWith({ retries: 2 });
      const limited = new HyperIdRateLimitedError('HyperID answered HTTP 429', { retryAfterSeconds: 30 });
      const run = attempt(() => limited);
      const error = await failure(policy.execute(run));
      expect(error).toBe(limited);
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect((error as HyperIdRateLimitedError).retryAfterSeconds).toBe(30);
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
      expect(isTransientFailure(error)).toBe(true);
      expect((error as HyperIdError).result).toBeUndefined();
      expect((error as Error).message).toMatch(/did not answer within 100 ms/);
      expect((error as Error).message).not.toMatch(/deadline/);
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

    it('leaves the signal of an attempt that answered alone: nothing is left to abort', async () => {
      const policy = policyWith({ timeoutMs: 2000 });
      const run = attempt();
      await expect(policy.execute(run)).resolves.toBe('ok');
      await sleep(10);
      expect(run.state.signals).toHaveLength(1);
      expect(run.state.signals[0].aborted).toBe(false);
    });

    it('gives every attempt a signal of its own, aborted by its own timeout only', async () => {
      const policy = policyWith({ timeoutMs: 60, retries: 2, circuitBreaker: false });
      const signals: AbortSignal[] = [];
      const value = await policy.execute((signal) => {
        signals.push(signal);
        // The first attempt hangs until its timeout; the retry answers.
        return signals.length === 1 ? new Promise<never>(() => undefined) : Promise.resolve('retried');
      });
      expect(value).toBe('retried');
      expect(signals).toHaveLength(2);
      expect(signals[0]).not.toBe(signals[1]);
      expect(signals[0].aborted).toBe(true);
      expect(signals[1].aborted).toBe(false);
    });

    it('fails a lookup past its overall deadline with a message that says so', async () => {
      // retries 0: the deadline is timeoutMs plus 100 ms of slack (200 ms), and the time spent
      // waiting for a bulkhead slot counts.
      const policy = policyWith({ timeoutMs: 100, retries: 0, maxSockets: 1, bulkheadQueue: 2 });
      const ahead = [1, 2].map(() => policy.execute(async () => (await sleep(90), 'held')));
      // Queued ~180 ms behind two lookups, then an attempt of 90 ms: within its own timeout, not
      // within the deadline.
      const started = Date.now();
      let lateSignal: AbortSignal | undefined;
      const error = await failure(
        policy.execute(async (signal) => {
          lateSignal = signal;
          return (await sleep(90), 'too late');
        }),
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(195);
      expect(elapsed).toBeLessThan(400); // at the deadline, not once the slow attempt answers
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error).not.toBeInstanceOf(HyperIdBusyError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect((error as Error).message).toMatch(/deadline/);
      expect((error as Error).message).not.toMatch(/did not answer within/);
      // The deadline aborts the attempt in flight (its HTTP call), not only the wait for it.
      expect(lateSignal?.aborted).toBe(true);
      await expect(Promise.all(ahead)).resolves.toEqual(['held', 'held']);
    });
    it('leaves room for every attempt, the longest backoff between them and 100 ms more', async () => {
      // retries 1, timeoutMs 100: the deadline is 2 × 100 + 1000 + 100 = 1300 ms. The lookup's first
      // attempt hangs until its timeout; meanwhile fifteen lookups queue for the one slot and hold
      // it 90 ms or more each (past 1400 ms in all), so the retry is still waiting for a slot when
      // the deadline comes — and not a moment before.
      const policy = policyWith({ timeoutMs: 100, retries: 1, maxSockets: 1, bulkheadQueue: 20 });
      let calls = 0;
      const started = Date.now();
      const lookup = failure(
        policy.execute(() => {
          calls += 1;
          return new Promise<never>(() => undefined);
        }),
      );
      await sleep(20);
      const ahead = Array.from({ length: 15 }, () =>
        policy.execute(async () => (await sleep(90), 'held')).catch((error: unknown) => error),
      );
      const error = await lookup;
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as Error).message).toMatch(/overall deadline/);
      expect(elapsed).toBeGreaterThanOrEqual(1290);
      expect(calls).toBe(1);
      await Promise.all(ahead);
    });
  });

  describe('bulkhead', () => {
    it('runs maxSockets attempts at once, queues bulkheadQueue more, and refuses the rest at once', async () => {
      const policy = policyWith({ retries: 2, maxSockets: 2, bulkheadQueue: 1 });
      const gate = deferred();
      let calls = 0;
      let running = 0;
      let mostRunning = 0;
      const slow = async () => {
        calls += 1;
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await gate.promise;
        running -= 1;
        return 'answered';
      };
      const lookups = [0, 1, 2, 3].map(() => watch(policy.execute(slow)));
      await sleep(30);

      // Before any attempt settles: one lookup already refused, two running, one waiting.
      expect(lookups.filter((lookup) => lookup.status === 'rejected')).toHaveLength(1);
      expect(lookups.filter((lookup) => lookup.status === 'pending')).toHaveLength(3);
      const refused = lookups.find((lookup) => lookup.status === 'rejected')!;
      expect(refused.error).toBeInstanceOf(HyperIdBusyError);
      expect(refused.error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((refused.error as HyperIdBusyError).retryAfterSeconds).toBe(DEFAULTS.retryAfterSeconds);
      expect((refused.error as Error).message).toMatch(/Too many HyperID lookups/);
      expect(calls).toBe(2);

      gate.resolve();
      await sleep(30);
      expect(lookups.filter((lookup) => lookup.status === 'fulfilled')).toHaveLength(3);
      for (const lookup of lookups.filter((one) => one.status === 'fulfilled')) {
        expect(lookup.value).toBe('answered');
      }
      // The refused lookup never called HyperID and was not retried.
      expect(calls).toBe(3);
      expect(mostRunning).toBe(2);
      expect(policy.circuitState).toBe('closed');
    });

    it('starts the timeout of a queued attempt only once it holds a slot', async () => {
      // Three lookups ahead hold the one slot ~80 ms each, so the last one waits ~240 ms: far
      // longer than its timeoutMs of 100. Its own attempt answers at once, so it must succeed, first time.
      const policy = policyWith({ timeoutMs: 100, retries: 1, maxSockets: 1, bulkheadQueue: 3 });
      const ahead = [0, 1, 2].map(() => policy.execute(async () => (await sleep(80), 'held')));
      const queued = attempt();
      const started = Date.now();
      await expect(policy.execute(queued)).resolves.toBe('ok');
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(queued.state.calls).toBe(1);
      await expect(Promise.all(ahead)).resolves.toEqual(['held', 'held', 'held']);
    });

    it('gives a queued attempt its full timeout once it holds a slot', async () => {
      const policy = policyWith({ timeoutMs: 150, retries: 1, maxSockets: 1, bulkheadQueue: 1 });
      const ahead = policy.execute(async () => (await sleep(120), 'held'));
      const queued = attempt();
      // Queued ~120 ms, then answers after 100 ms: 220 ms in all, but only 100 of them in its attempt.
      const answer = policy.execute(async (signal) => {
        await sleep(100);
        return queued(signal);
      });
      await expect(answer).resolves.toBe('ok');
      expect(queued.state.calls).toBe(1);
      await expect(ahead).resolves.toBe('held');
    });

    it('does not count refusals of a full bulkhead toward opening the breaker', async () => {
      const policy = policyWith({
        retries: 2,
        maxSockets: 1,
        bulkheadQueue: 0,
        circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 },
      });
      const gate = deferred();
      const holder = policy.execute(async () => {
        await gate.promise;
        return 'held';
      });
      for (let i = 0; i < 50; i += 1) {
        expect(await failure(policy.execute(attempt()))).toBeInstanceOf(HyperIdBusyError);
      }
      expect(policy.circuitState).toBe('closed');
      gate.resolve();
      await expect(holder).resolves.toBe('held');
      // The breaker itself works: one transient failure opens it.
      await failure(policy.execute(attempt(transient)));
      expect(policy.circuitState).toBe('open');
    });
  });

  describe('circuit breaker', () => {
    it('is reported as disabled when turned off, and never fails fast', async () => {
      const policy = policyWith({ circuitBreaker: false });
      expect(policy.circuitState).toBe('disabled');
      expect(policy.onCircuitStateChange(() => undefined)()).toBeUndefined();
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
      expect(error).toBeInstanceOf(HyperIdCircuitOpenError);
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(isTransientFailure(error)).toBe(false);
      expect((error as Error).message).toMatch(/circuit breaker is open/);
      expect((error as HyperIdError).result).toBeUndefined();
      const { retryAfterSeconds } = error as HyperIdCircuitOpenError;
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(4);
      expect(retryAfterSeconds).toBeLessThanOrEqual(5);
    });

    it('counts lookups, not attempts: one outcome per lookup, after its retries', async () => {
      const policy = policyWith({ retries: 2, circuitBreaker: { threshold: 3, halfOpenAfterMs: 60_000 } });
      const run = attempt(transient);
      await failure(policy.execute(run));
      expect(run.state.calls).toBe(3);
      expect(policy.circuitState).toBe('closed');
      await failure(policy.execute(run));
      expect(run.state.calls).toBe(6);
      expect(policy.circuitState).toBe('closed');
      await failure(policy.execute(run));
      expect(run.state.calls).toBe(9);
      expect(policy.circuitState).toBe('open');

      // Open: neither called nor retried.
      const error = await failure(policy.execute(run));
      expect(error).toBeInstanceOf(HyperIdCircuitOpenError);
      expect(run.state.calls).toBe(9);
      expect((error as HyperIdCircuitOpenError).retryAfterSeconds).toBeGreaterThanOrEqual(59);
      expect((error as HyperIdCircuitOpenError).retryAfterSeconds).toBeLessThanOrEqual(60);
    });

    it('counts a lookup saved by a retry as a success', async () => {
      const policy = policyWith({ retries: 1, circuitBreaker: { threshold: 2, halfOpenAfterMs: 60_000 } });
      await failure(policy.execute(attempt(transient)));
      let calls = 0;
      await expect(
        policy.execute(async () => {
          calls += 1;
          if (calls === 1) throw transient();
          return 'recovered';
        }),
      ).resolves.toBe('recovered');
      await failure(policy.execute(attempt(transient)));
      // Three transient attempts failed in a row, but only one lookup since the last success.
      expect(policy.circuitState).toBe('closed');
      await failure(policy.execute(attempt(transient)));
      expect(policy.circuitState).toBe('open');
    });

    it.each(NOT_COUNTED)('never counts %s, however many lookups end with it', async (_name, make) => {
      const policy = policyWith({ retries: 2, circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 } });
      const run = attempt(make);
      for (let i = 0; i < 50; i += 1) await failure(policy.execute(run));
      expect(run.state.calls).toBe(50);
      expect(policy.circuitState).toBe('closed');
      // The breaker itself works: one transient lookup opens it.
      await failure(policy.execute(attempt(transient)));
      expect(policy.circuitState).toBe('open');
    });

    it('does not count non-transient failures, mixed', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 2, halfOpenAfterMs: 10_000 } });
      for (const [, make] of NOT_COUNTED) {
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
      expect(await failure(policy.execute(attempt()))).toBeInstanceOf(HyperIdCircuitOpenError);
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

    it('holds other lookups back while the probe is out', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 1, halfOpenAfterMs: 100 } });
      await failure(policy.execute(attempt(transient)));
      await sleep(250);
      const gate = deferred();
      let probeCalls = 0;
      const probe = watch(
        policy.execute(async () => {
          probeCalls += 1;
          await gate.promise;
          return 'probe';
        }),
      );
      await sleep(10);
      expect(policy.circuitState).toBe('half-open');
      const other = attempt();
      const waiting = watch(policy.execute(other));
      await sleep(30);
      expect(probeCalls).toBe(1);
      expect(other.state.calls).toBe(0);
      expect(waiting.status).toBe('pending');
      gate.resolve();
      await sleep(30);
      expect(probe.status).toBe('fulfilled');
      expect(waiting.status).toBe('fulfilled');
      expect(other.state.calls).toBe(1);
      expect(policy.circuitState).toBe('closed');
    });

    it('lets the probe lookup retry: it closes the circuit if any of its attempts succeeds', async () => {
      const policy = policyWith({ retries: 1, circuitBreaker: { threshold: 1, halfOpenAfterMs: 100 } });
      await failure(policy.execute(attempt(transient)));
      expect(policy.circuitState).toBe('open');
      await sleep(250);
      let calls = 0;
      await expect(
        policy.execute(async () => {
          calls += 1;
          if (calls === 1) throw transient();
          return 'probe recovered';
        }),
      ).resolves.toBe('probe recovered');
      expect(calls).toBe(2);
      expect(policy.circuitState).toBe('closed');
    });

    it('opens again when the probe fails, with a fresh time to probe', async () => {
      const policy = policyWith({ circuitBreaker: { threshold: 1, halfOpenAfterMs: 1_500 } });
      await failure(policy.execute(attempt(transient)));
      await sleep(1_600);
      const probe = attempt(transient);
      await failure(policy.execute(probe));
      expect(probe.state.calls).toBe(1);
      expect(policy.circuitState).toBe('open');
      const error = (await failure(policy.execute(attempt()))) as HyperIdCircuitOpenError;
      expect(error).toBeInstanceOf(HyperIdCircuitOpenError);
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
    expect(client.circuitState).toBe('open');

    const fast = await failure(client.fetchTwoFactorTypes(TOKEN));
    expect(fast).toBeInstanceOf(HyperIdCircuitOpenError);
    expect((fast as HyperIdCircuitOpenError).retryAfterSeconds).toBe(1);
    expect(fake.calls()).toBe(2);

    fake.clearFaults();
    await sleep(400);
    const answer = await client.fetchTwoFactorTypes(TOKEN);
    expect(answer.auth_types).toEqual([0]);
    expect(fake.calls()).toBe(3);
    expect(client.circuitState).toBe('closed');
  });

  it('never opens on 429s or on refusals of the token', async () => {
    fake.resetCalls();
    fake.injectFault({ status: 429, headers: { 'Retry-After': '7' } });
    for (let i = 0; i < 5; i += 1) {
      const error = await failure(client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect((error as HyperIdRateLimitedError).retryAfterSeconds).toBe(7);
    }
    fake.clearFaults();
    for (let i = 0; i < 5; i += 1) {
      await expect(client.fetchTwoFactorTypes('unknown-token')).rejects.toBeInstanceOf(
        HyperIdTokenInvalidError,
      );
    }
    expect(fake.calls()).toBe(10);
    expect(client.circuitState).toBe('closed');
  });

  describe('lookups that run out of time', () => {
    const hang = () => new Promise<never>(() => undefined);
    const fail503 = async () => {
      throw new HyperIdServiceUnavailableError('503');
    };
    const tight = (overrides: Partial<PolicyOptions> = {}) =>
      policyWith({
        timeoutMs: 50,
        retries: 0,
        circuitBreaker: { threshold: 1, halfOpenAfterMs: 100 },
        ...overrides,
      });

    it('with retries 0, a hang ends in the attempt timeout and is counted by the breaker', async () => {
      const policy = tight();
      const error = await failure(policy.execute(hang));
      expect((error as Error).message).toMatch(/did not answer within 50 ms/);
      expect(policy.circuitState).toBe('open');
    });

    it('a half-open probe that runs past its deadline opens the breaker again', async () => {
      const policy = tight();
      await failure(policy.execute(fail503));
      await sleep(150);
      await failure(policy.execute(hang));
      expect(policy.circuitState).toBe('open');
    });
  });
});
