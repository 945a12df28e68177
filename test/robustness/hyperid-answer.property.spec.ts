import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HyperIdModule, HyperIdResult, TwoFactorType } from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { answerText, mapConcurrent } from '../support/app-client.js';
import { ADAPTERS, listenE2eApp, type ListeningE2eApp } from '../support/e2e-app.js';
import { CapturingLogger } from '../support/log-capture.js';
import { propertySeed, withSeedReport } from '../support/property-seed.js';
import { ANSWER_FOR_RESULT, STATUS_TABLE, expectHeader } from '../support/status-table.js';

// Generated HyperID answers (random JSON, wrong types, random result codes, truncated bodies, huge
// arrays, non-object JSON, odd HTTP statuses) served by FakeHyperIdServer, any status with any
// body: the guarded route answers only what README "Errors and status codes" allows, never 500,
// and the app keeps serving.

const { lackingMethods, unavailable, badUpstream } = STATUS_TABLE;

interface UpstreamAnswer {
  status: number;
  body: string;
}

const HEALTHY_TOKEN = 'healthy-token';
const LIMIT = 64 * 1024;
const BAD = badUpstream.status;

/** Statuses the status table allows for `answer` (a set where the table leaves the choice open). */
function allowedStatuses(answer: UpstreamAnswer): number[] {
  const { status, body } = answer;
  const allowed = new Set<number>();
  if (Buffer.byteLength(body) > LIMIT) allowed.add(BAD); // over 64 KiB: refused
  if (status >= 500 || status === 429) {
    allowed.add(unavailable.status);
    return [...allowed];
  }
  if (allowed.size > 0) return [...allowed];
  if (status >= 300 && status < 400) return [BAD]; // redirects are never followed
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return [BAD];
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [BAD];
  const { result, auth_types } = json as Record<string, unknown>;
  if (typeof result !== 'number' || !Number.isInteger(result)) return [BAD];
  if (result !== 0) {
    const mapped = ANSWER_FOR_RESULT.get(result)?.status ?? BAD;
    // The table maps codes, not HTTP statuses: with a non-200 status, 502 is also a safe reading.
    return status === 200 ? [mapped] : [mapped, BAD];
  }
  if (!Array.isArray(auth_types) || !auth_types.every((t) => typeof t === 'number' && Number.isInteger(t)))
    return [BAD];
  const outcome = auth_types.includes(TwoFactorType.Totp) ? 200 : lackingMethods.status;
  // A success on a non-200 status, or an implausibly long list, may also be refused (fail closed).
  return status !== 200 || auth_types.length > 256 ? [outcome, BAD] : [outcome];
}

const typeValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 3) },
  { weight: 1, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
  { weight: 1, arbitrary: fc.constantFrom(1.5, -0, 1e21, 2 ** 53) },
);
const validSuccess = fc
  .array(typeValue, { maxLength: 12 })
  .map((types) => JSON.stringify({ result: 0, auth_types: types }));
const resultCode = fc.oneof(
  fc.constantFrom(...ANSWER_FOR_RESULT.keys()),
  fc.integer({ min: -20, max: 20 }),
  fc.integer(),
);
const withCode = fc
  .tuple(resultCode, fc.option(fc.array(typeValue, { maxLength: 4 })))
  .map(([result, types]) => JSON.stringify(types === null ? { result } : { result, auth_types: types }));
const wrongTypes = fc
  .record(
    {
      result: fc.oneof(fc.jsonValue(), fc.constantFrom('0', 0.5, true, null, [0], { value: 0 })),
      auth_types: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((object) => JSON.stringify(object));
const extraFields = fc
  .tuple(
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
    fc.array(typeValue, { maxLength: 4 }),
  )
  .map(([extra, types]) => JSON.stringify({ ...extra, result: 0, auth_types: types }));
const randomJson = fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null');
const nonObjectJson = fc.constantFrom(
  'null',
  'true',
  '0',
  JSON.stringify(HyperIdResult.TokenInvalid), // a bare result code, not an object
  '"ok"',
  '[]',
  '[{"result":0,"auth_types":[1]}]',
  '""',
);
const truncated = fc
  .tuple(fc.oneof(validSuccess, withCode, extraFields), fc.nat())
  .map(([text, at]) => text.slice(0, at % (text.length + 1)));
const randomText = fc.string({ maxLength: 200 });
const hugeArray = fc
  .tuple(fc.integer({ min: 200, max: 40_000 }), fc.constantFrom(0, 1, 3))
  .map(([length, type]) => JSON.stringify({ result: 0, auth_types: Array.from({ length }, () => type) }));
/** A valid answer padded with whitespace to just under, at, or just over 64 KiB. */
const aroundLimit = fc
  .tuple(fc.integer({ min: -4, max: 4 }), fc.constantFrom('[1]', '[0,3]'))
  .map(([delta, types]) => {
    const core = `{"result":0,"auth_types":${types}}`;
    return core + ' '.repeat(LIMIT + delta - core.length);
  });

const answerArb: fc.Arbitrary<UpstreamAnswer> = fc.record({
  status: fc.oneof(
    { weight: 12, arbitrary: fc.constant(200) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(201, 400, 401, 403, 404, 418, 429, 500, 502, 503, 504, 301, 302, 307, 308),
    },
  ),
  body: fc.oneof(
    { weight: 4, arbitrary: validSuccess },
    { weight: 4, arbitrary: withCode },
    { weight: 3, arbitrary: wrongTypes },
    { weight: 2, arbitrary: extraFields },
    { weight: 2, arbitrary: randomJson },
    { weight: 1, arbitrary: nonObjectJson },
    { weight: 3, arbitrary: truncated },
    { weight: 1, arbitrary: randomText },
    { weight: 1, arbitrary: hugeArray },
    { weight: 1, arbitrary: aroundLimit },
  ),
});

const BATCH = 10;
const RUNS = 300;

describe('property: generated HyperID answers (Express)', () => {
  let fake: FakeHyperIdServer;
  let app: ListeningE2eApp;
  const logger = new CapturingLogger();
  let batch = 0;
  const [[, express]] = ADAPTERS;

  beforeAll(async () => {
    // Answers by token (each generated answer is a fault for its own token), so one batch can run
    // concurrently; every request is kept, to check the tokens HyperID received.
    fake = await new FakeHyperIdServer({
      tokens: { [HEALTHY_TOKEN]: { auth_types: [1, 3] } },
      maxRecordedRequests: 100_000,
    }).start();
    app = await listenE2eApp({
      adapter: express,
      hyperId: HyperIdModule.forRoot({
        apiUrl: fake.url,
        cache: false,
        circuitBreaker: false,
        retries: 0,
        timeoutMs: 5000,
      }),
      logger,
    });
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  it('answers only the statuses the status table allows, never 500, and keeps serving', async () => {
    const seed = propertySeed();
    const statuses = new Map<number, number>();
    await withSeedReport('hyperid-answer', seed, () =>
      fc.assert(
        fc.asyncProperty(fc.array(answerArb, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
          batch += 1;
          const tokens = cases.map((_, i) => `answer-${batch}-${i}-SecretPart`);
          fake.clearFaults();
          cases.forEach(({ status, body }, i) => fake.injectFault({ status, body }, tokens[i]));
          const got = await mapConcurrent(cases, BATCH, (_, i) => app.get(tokens[i]));
          cases.forEach((answer, i) => {
            const res = got[i];
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            expect(allowedStatuses(answer)).toContain(res.status);
            expect(answerText(res).includes(tokens[i])).toBe(false);
            if (res.status === unavailable.status)
              expectHeader(res.headers['retry-after'], unavailable.retryAfter);
          });
          // The app keeps serving after whatever HyperID said.
          const healthy = await app.get(HEALTHY_TOKEN);
          expect(healthy.status).toBe(200);
        }),
        { seed, numRuns: RUNS },
      ),
    );
    // The generators reach every class of outcome.
    for (const status of [200, 401, 403, 502, 503]) expect(statuses.get(status) ?? 0).toBeGreaterThan(20);
    expect(statuses.has(500)).toBe(false);
  }, 120_000);

  it('sent every token to HyperID unaltered and logged none of them', () => {
    const seenTokens = fake.requests.map((request) => request.token ?? '');
    expect(seenTokens.length).toBeGreaterThanOrEqual(RUNS * (BATCH + 1));
    expect(seenTokens.every((token) => /^(answer-\d+-\d+-SecretPart|healthy-token)$/.test(token))).toBe(true);
    expect(logger.linesContaining('SecretPart')).toEqual([]);
    expect(logger.linesContaining('healthy-token')).toEqual([]);
    // The module did log the upstream failures (so the check above looked at real lines).
    expect(logger.lines.some((line) => line.includes('HyperID lookup failed'))).toBe(true);
  });
});
