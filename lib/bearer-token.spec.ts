import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { bearerTokenOf, isWellFormedAccessToken, readBearerCredentials } from './bearer-token.js';
import { MAX_TOKEN_LENGTH } from './hyperid.constants.js';

const B64TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/';
const b64token = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...B64TOKEN_CHARS), minLength: 1, maxLength: 200 }),
    fc.string({ unit: fc.constant('='), maxLength: 3 }),
  )
  .map(([body, padding]) => body + padding);

describe('readBearerCredentials', () => {
  describe('missing: answered 401 with a bare challenge', () => {
    it.each([undefined, null, '', 42, ['Bearer abc']])('no usable header: %p', (header) => {
      expect(readBearerCredentials(header)).toEqual({ kind: 'missing' });
    });

    it.each(['Basic dXNlcjpwYXNz', 'Digest username="a"', 'Token abc', 'Bearerabc', 'MAC id="x"', 'abc'])(
      'another scheme: %p',
      (header) => {
        expect(readBearerCredentials(header)).toEqual({ kind: 'missing' });
      },
    );
  });

  describe('malformed: answered 400 invalid_request', () => {
    it.each([
      ['Bearer', "'Bearer' alone"],
      ['Bearer ', "'Bearer ' with an empty token"],
      ['Bearer abc def', 'two tokens'],
      ['Bearer abc ', 'a trailing space'],
      ['Bearer ab"c', 'a double quote'],
      ['Bearer ab,c', 'a comma'],
      ['Bearer ab\\c', 'a backslash'],
      ['Bearer ab;c', 'a semicolon'],
      ['Bearer =abc', 'padding first'],
      ['Bearer ab=c', 'padding in the middle'],
      ['Bearer caf\u00e9', 'non-ASCII'],
      ['Bearer ab\tc', 'a tab'],
      ['Bearer ab\u0000c', 'a NUL'],
    ])('%p (%s)', (header) => {
      expect(readBearerCredentials(header)).toEqual({ kind: 'malformed' });
    });

    it('a token over 8 KiB', () => {
      expect(readBearerCredentials(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`)).toEqual({
        kind: 'malformed',
      });
      expect(readBearerCredentials(`Bearer ${'a'.repeat(1_000_000)}`)).toEqual({ kind: 'malformed' });
    });
  });

  describe('token', () => {
    it.each(['Bearer  abc', 'Bearer     abc'])(
      'accepts several spaces after the scheme (RFC 6750 1*SP): %p',
      (header) => {
        expect(readBearerCredentials(header)).toEqual({ kind: 'token', token: 'abc' });
      },
    );

    it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('reads the scheme %s case-insensitively', (scheme) => {
      expect(readBearerCredentials(`${scheme} abc.def`)).toEqual({ kind: 'token', token: 'abc.def' });
    });

    it.each([
      'abc',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
      'a-b.c_d~e+f/g',
      'abc=',
      'abc==',
      '0',
    ])('accepts the b64token %p', (token) => {
      expect(readBearerCredentials(`Bearer ${token}`)).toEqual({ kind: 'token', token });
    });

    it('accepts every character b64token allows, the ends of each range included', () => {
      const token = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/==';
      expect(readBearerCredentials(`Bearer ${token}`)).toEqual({ kind: 'token', token });
      for (const char of token.replace(/=+$/, '')) expect(isWellFormedAccessToken(char)).toBe(true);
    });

    it.each(['@', '[', '`', '{', ':', '*', '^', '|', '!', '%'])(
      'refuses %p, next to the characters b64token allows',
      (char) => {
        expect(readBearerCredentials(`Bearer a${char}b`)).toEqual({ kind: 'malformed' });
      },
    );

    it('accepts a token of exactly 8 KiB', () => {
      const token = 'x'.repeat(MAX_TOKEN_LENGTH);
      expect(readBearerCredentials(`Bearer ${token}`)).toEqual({ kind: 'token', token });
    });

    it('returns every b64token unchanged (property)', () => {
      fc.assert(
        fc.property(b64token, (token) => {
          expect(readBearerCredentials(`Bearer ${token}`)).toEqual({ kind: 'token', token });
        }),
      );
    });
  });

  it('never throws, and a token it returns is always a well-formed b64token (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `Bearer ${s}`),
          fc.string().map((s) => `Bearer  ${s}`),
          fc.anything(),
        ),
        (header) => {
          const outcome = readBearerCredentials(header);
          expect(['token', 'missing', 'malformed']).toContain(outcome.kind);
          if (outcome.kind === 'token') {
            expect(outcome.token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
            expect(outcome.token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
            // RFC 6750 §2.1: the scheme, one or more spaces, then exactly the token.
            const [scheme] = String(header).split(' ');
            expect(scheme.toLowerCase()).toBe('bearer');
            expect(String(header).slice(scheme.length).trimStart()).toBe(outcome.token);
          }
        },
      ),
    );
  });
});

describe('bearerTokenOf', () => {
  it.each([
    ['Bearer', ''],
    ['bearer   ', ''],
    ['Bearer abc', 'abc'],
    ['BEARER   abc def', 'abc def'],
  ])('reads %p as %p, unchecked', (header, token) => {
    expect(bearerTokenOf(header)).toBe(token);
  });

  it.each([undefined, '', 'Basic abc', 'Bearerabc x', 'Bearer-abc', ['Bearer abc'], 42])(
    'finds no bearer credentials in %p',
    (header) => {
      expect(bearerTokenOf(header)).toBeUndefined();
    },
  );
});

describe('isWellFormedAccessToken', () => {
  it.each(['abc', 'abc==', 'a.b.c', 'x'.repeat(MAX_TOKEN_LENGTH)])('accepts %p', (value) => {
    expect(isWellFormedAccessToken(value)).toBe(true);
  });

  it.each([
    '',
    ' abc',
    'abc ',
    'a b',
    '=',
    'a=b',
    'x'.repeat(MAX_TOKEN_LENGTH + 1),
    'tok\r\n',
    undefined,
    42,
    null,
  ])('refuses %p', (value) => {
    expect(isWellFormedAccessToken(value)).toBe(false);
  });
});
