import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HyperIdModule, HyperIdResult, TwoFactorType } from '../../lib/index.js';
import { FakeHyperIdServer, type FakeTokenAnswer } from '../../lib/testing/index.js';
import { answerText, mapConcurrent } from '../support/app-client.js';
import { ADAPTERS, listenE2eApp, type ListeningE2eApp } from '../support/e2e-app.js';
import { CapturingLogger } from '../support/log-capture.js';
import { propertySeed, withSeedReport } from '../support/property-seed.js';
import { ANSWER_FOR_RESULT, STATUS_TABLE, expectHeader } from '../support/status-table.js';

// ≥ 10 000 generated Authorization headers against a real guarded Express app and a real fake
// HyperID: never a 5xx, never a HyperID call for a token that is not RFC 6750 b64token syntax or
// is over 8 KiB, never the token in the answer, only 200/400/401/403.

const { noCredentials, malformedToken, tokenInvalid, lackingMethods } = STATUS_TABLE;

/** RFC 6750 §2.1 `b64token`, written out here independently of the library. */
const B64TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/';

/** True when `token` may be sent to HyperID: b64token syntax and at most 8 KiB (docs/reliability.md: Defences). */
function isSendableToken(token: string): boolean {
  if (token.length === 0 || token.length > 8192) return false;
  const body = token.replace(/=+$/, '');
  if (body.length === 0) return false;
  for (const char of body) if (!B64TOKEN_CHARS.includes(char)) return false;
  return true;
}

/** Tokens the fake HyperID knows; any other well-formed token is answered TokenInvalid. */
const KNOWN: Record<string, FakeTokenAnswer> = {
  'tok-totp': { auth_types: [1] },
  'tok-all': { auth_types: [0, 1, 2, 3] },
  'tok-sms': { auth_types: [2] },
  'tok-none': { auth_types: [] },
  'tok-unknown-types': { auth_types: [7, 42] },
  'tok-expired': { result: HyperIdResult.TokenExpired },
  'tok-denied': { result: HyperIdResult.AccessDenied },
  'dG9rLXBhZGRlZA==': { auth_types: [1, 3] },
};

/** What the guarded route must answer for a token HyperID was asked about. */
function statusForKnown(token: string): number {
  if (!Object.hasOwn(KNOWN, token)) return tokenInvalid.status;
  const answer = KNOWN[token];
  if ('result' in answer) return ANSWER_FOR_RESULT.get(answer.result)!.status;
  return answer.auth_types.includes(TwoFactorType.Totp) ? 200 : lackingMethods.status;
}

type Expectation =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'call'; token: string }
  /** `Bearer` + several spaces + a valid token: RFC 6750 allows 1*SP; 400 or a lookup are both safe. */
  | { kind: 'lenient'; token: string };

/** The status table's oracle for one header value, as the server receives it (OWS trimmed). */
function expectationFor(header: string | undefined): Expectation {
  if (header === undefined) return { kind: 'missing' };
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  const scheme = value.split(' ', 1)[0];
  if (value === '' || scheme.toLowerCase() !== 'bearer') return { kind: 'missing' };
  const rest = value.slice(scheme.length);
  const token = rest.replace(/^ +/, '');
  if (!isSendableToken(token)) return { kind: 'malformed' };
  return rest.length - token.length === 1 ? { kind: 'call', token } : { kind: 'lenient', token };
}

/** Substrings of a header that would be a leak if they came back (long enough not to be chance). */
function secretsOf(header: string | undefined): string[] {
  if (header === undefined) return [];
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  const afterScheme = value.replace(/^\S*[ \t]*/, '');
  return [value, afterScheme].filter((part) => part.length >= 12);
}

const HEADER_CHARS = [
  '\t',
  ...Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)),
  ...Array.from({ length: 0xff - 0x80 + 1 }, (_, i) => String.fromCharCode(0x80 + i)),
];
const headerChar = fc.constantFrom(...HEADER_CHARS);
const b64Char = fc.constantFrom(...B64TOKEN_CHARS.split(''));
const anyText = (maxLength: number) => fc.string({ unit: headerChar, maxLength });

const b64token = fc
  .tuple(fc.string({ unit: b64Char, minLength: 1, maxLength: 64 }), fc.integer({ min: 0, max: 3 }))
  .map(([body, pad]) => body + '='.repeat(pad));
/** A b64token with one arbitrary header character spliced in (often, not always, invalid). */
const nearlyB64token = fc.tuple(b64token, headerChar, fc.nat()).map(([token, char, at]) => {
  const i = at % (token.length + 1);
  return token.slice(0, i) + char + token.slice(i);
});
/** Around the 8 KiB limit, and well over it (the whole header stays under Node's 16 KiB). */
const longToken = fc
  .tuple(
    fc.oneof(fc.integer({ min: 8180, max: 8200 }), fc.integer({ min: 8201, max: 12_000 })),
    b64Char,
    fc.integer({ min: 0, max: 2 }),
  )
  .map(([length, char, pad]) => char.repeat(Math.max(1, length - pad)) + '='.repeat(pad));
const tokenPart = fc.oneof(
  { weight: 5, arbitrary: b64token },
  { weight: 3, arbitrary: fc.constantFrom(...Object.keys(KNOWN)) },
  { weight: 3, arbitrary: nearlyB64token },
  { weight: 2, arbitrary: anyText(40) },
  { weight: 1, arbitrary: longToken },
  { weight: 1, arbitrary: fc.constant('') },
);
const schemePart = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('Basic', 'Token', 'Bearer:', 'Bearerx', 'Bear', 'MAC', 'Digest', ''),
  },
  { weight: 1, arbitrary: anyText(10) },
);
const separator = fc.oneof(
  { weight: 8, arbitrary: fc.constant(' ') },
  { weight: 2, arbitrary: fc.constantFrom('  ', '\t', '', ' \t', ',', '=', ':') },
);
const outerSpace = fc.constantFrom('', '', '', ' ', '\t', '  ');

/** An Authorization header value (undefined: no header), and the path it is sent to. */
const headerCase = fc.record({
  header: fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .tuple(outerSpace, schemePart, separator, tokenPart, outerSpace)
        .map((parts) => parts.join('')),
    },
    { weight: 2, arbitrary: anyText(80) },
    {
      weight: 1,
      arbitrary: fc.tuple(schemePart, separator, b64token, fc.constant(' '), b64token).map((p) => p.join('')),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  guarded: fc.oneof(
    { weight: 9, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
});

const BATCH = 25;
const [[, express]] = ADAPTERS;
const RUNS = 400; // 400 batches × 25 = 10 000 requests

describe('property: generated Authorization headers (Express)', () => {
  let fake: FakeHyperIdServer;
  let app: ListeningE2eApp;
  const logger = new CapturingLogger();
  let sent = 0;
  let lookups = 0;
  const statuses = new Map<number, number>();
  const secretsSent = new Set<string>(Object.keys(KNOWN));

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: KNOWN, maxRecordedRequests: 10_000 }).start();
    app = await listenE2eApp({
      adapter: express,
      hyperId: HyperIdModule.forRoot({ apiUrl: fake.url, cache: false, circuitBreaker: false, retries: 0 }),
      logger,
    });
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  it('never answers 5xx, never sends a malformed or oversized token to HyperID, never echoes the token', async () => {
    const seed = propertySeed();
    await withSeedReport('authorization-header', seed, () =>
      fc.assert(
        fc.asyncProperty(fc.array(headerCase, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
          fake.resetCalls();
          const answers = await mapConcurrent(cases, 16, ({ header, guarded }) =>
            app.client.get(guarded ? '/routes/totp' : '/routes/open', header),
          );
          sent += cases.length;

          const mustCall: string[] = [];
          const mayCall: string[] = [];
          cases.forEach(({ header, guarded }, i) => {
            const answer = answers[i];
            const text = answerText(answer);
            for (const secret of secretsOf(header)) {
              secretsSent.add(secret);
              expect(text.includes(secret)).toBe(false);
            }
            expect([200, 400, 401, 403]).toContain(answer.status);
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (!guarded) {
              expect(answer.status).toBe(200);
              return;
            }
            const expected = expectationFor(header);
            switch (expected.kind) {
              case 'missing':
                expect(answer.status).toBe(noCredentials.status);
                expectHeader(answer.headers['www-authenticate'], noCredentials.wwwAuthenticate);
                break;
              case 'malformed':
                expect(answer.status).toBe(malformedToken.status);
                expectHeader(answer.headers['www-authenticate'], malformedToken.wwwAuthenticate);
                break;
              case 'call':
                mustCall.push(expected.token);
                expect(answer.status).toBe(statusForKnown(expected.token));
                break;
              case 'lenient':
                mayCall.push(expected.token);
                expect([malformedToken.status, statusForKnown(expected.token)]).toContain(answer.status);
                break;
            }
          });

          // Every token HyperID saw was sendable and came from a header that allowed a lookup;
          // every well-formed header led to exactly one lookup (cache: false).
          const seen = fake.requests.map((r) => r.token ?? '<no bearer token>');
          expect(fake.calls()).toBe(seen.length);
          for (const token of seen) expect(isSendableToken(token)).toBe(true);
          const remaining = [...seen];
          for (const token of mustCall) {
            const at = remaining.indexOf(token);
            expect(at).toBeGreaterThanOrEqual(0);
            remaining.splice(at, 1);
          }
          for (const token of remaining) {
            const at = mayCall.indexOf(token);
            expect(at).toBeGreaterThanOrEqual(0);
            mayCall.splice(at, 1);
          }
          lookups += seen.length;
        }),
        { seed, numRuns: RUNS },
      ),
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    // The generators reach HyperID often enough for the lookup side to be exercised.
    expect(lookups).toBeGreaterThan(2000);
    for (const status of [200, 400, 401, 403]) expect(statuses.get(status) ?? 0).toBeGreaterThan(100);
  }, 120_000);

  it('logged no token it was given', () => {
    expect(secretsSent.size).toBeGreaterThan(500);
    const leaked = [...secretsSent].filter((secret) => logger.linesContaining(secret).length > 0);
    expect(leaked).toEqual([]);
  });
});
