import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readJwtExpiry } from './jwt-expiry.js';

const b64url = (value: string) => Buffer.from(value).toString('base64url');
const jwt = (payload: string) => `${b64url('{"alg":"RS256","typ":"JWT"}')}.${b64url(payload)}.c2lnbmF0dXJl`;

describe('readJwtExpiry', () => {
  it('reads exp (seconds) as milliseconds since the epoch', () => {
    expect(readJwtExpiry(jwt('{"sub":"u1","exp":1700000000}'))).toBe(1_700_000_000_000);
    expect(readJwtExpiry(jwt('{"exp":1700000000.5}'))).toBe(1_700_000_000_500);
  });

  it('reads a payload with base64url characters (- and _) and no padding', () => {
    // "?>" encodes to "Pz4" in base64url; ">>>?" yields "Pj4-Pw": both exercise the URL alphabet.
    const payload = '{"exp":1800000000,"n":">>>?","m":"???"}';
    const token = jwt(payload);
    expect(token.split('.')[1]).toMatch(/[-_]/);
    expect(token).not.toContain('=');
    expect(readJwtExpiry(token)).toBe(1_800_000_000_000);
  });

  it.each([
    ['an opaque token', 'abcdef0123456789'],
    ['two parts', `${b64url('{}')}.${b64url('{"exp":1}')}`],
    ['four parts', `${jwt('{"exp":1}')}.extra`],
    ['an empty payload', `${b64url('{}')}..sig`],
    ['a payload that is not JSON', `${b64url('{}')}.${b64url('not json')}.sig`],
    ['a payload that is not base64url JSON', 'a.!!!!.c'],
    ['no exp', jwt('{"sub":"u1"}')],
    ['exp as a string', jwt('{"exp":"1700000000"}')],
    ['exp null', jwt('{"exp":null}')],
    ['exp overflowing to Infinity', jwt('{"exp":1e400}')],
    ['a JSON null payload', jwt('null')],
    ['a JSON number payload', jwt('1700000000')],
    ['a JSON array payload', jwt('[1700000000]')],
  ])('is undefined for %s', (_name, token) => {
    expect(readJwtExpiry(token)).toBeUndefined();
  });

  it('never throws, whatever the token (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.string(), fc.string(), fc.string()).map((parts) => parts.join('.')),
          fc.jsonValue().map((value) => jwt(JSON.stringify(value))),
        ),
        (token) => {
          const expiry = readJwtExpiry(token);
          expect(expiry === undefined || Number.isFinite(expiry)).toBe(true);
        },
      ),
    );
  });
});
