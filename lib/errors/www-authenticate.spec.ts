import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { bearerChallenge } from './www-authenticate.js';

/**
 * Reads a challenge back per RFC 7235: `Bearer` then `name="quoted-string"` params separated by
 * ", ". Returns undefined when the header is not that shape, so a value that broke out shows.
 */
function parseChallenge(header: string): Array<[string, string]> | undefined {
  const match = /^Bearer (.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Array<[string, string]> = [];
  let rest = match[1];
  while (rest.length > 0) {
    const param = /^([A-Za-z_][A-Za-z0-9_-]*)="((?:[^"\\]|\\.)*)"(, |$)/s.exec(rest);
    if (!param) return undefined;
    params.push([param[1], param[2].replace(/\\(.)/gs, '$1')]);
    rest = rest.slice(param[0].length);
  }
  return params;
}

describe('bearerChallenge', () => {
  it('is a bare challenge with the realm by default', () => {
    expect(bearerChallenge()).toBe('Bearer realm="hyperid"');
  });

  it('puts the realm first and the params in order', () => {
    expect(
      bearerChallenge({ error: 'invalid_token', error_description: 'The access token has expired' }),
    ).toBe('Bearer realm="hyperid", error="invalid_token", error_description="The access token has expired"');
    expect(bearerChallenge({ error: 'insufficient_scope', scope: 'second-factor-auth-client' })).toBe(
      'Bearer realm="hyperid", error="insufficient_scope", scope="second-factor-auth-client"',
    );
  });

  it('escapes double quotes and backslashes', () => {
    expect(bearerChallenge({ error_description: 'say "hi"' })).toBe(
      'Bearer realm="hyperid", error_description="say \\"hi\\""',
    );
    expect(bearerChallenge({ error_description: 'a\\b' })).toBe(
      'Bearer realm="hyperid", error_description="a\\\\b"',
    );
    expect(bearerChallenge({ error_description: '\\"' })).toBe(
      'Bearer realm="hyperid", error_description="\\\\\\""',
    );
  });

  it('drops CR, LF, other control characters and non-ASCII', () => {
    const header = bearerChallenge({ error_description: 'a\r\nSet-Cookie: x=1\u0000\u007f\u00e9\u2028b' });
    expect(header).toBe('Bearer realm="hyperid", error_description="aSet-Cookie: x=1b"');
  });

  it('does not let a value that tries to close the quote add a parameter', () => {
    const header = bearerChallenge({ error_description: 'x", error="invalid_request' });
    expect(parseChallenge(header)).toEqual([
      ['realm', 'hyperid'],
      ['error_description', 'x", error="invalid_request'],
    ]);
  });

  it('always yields one header line that reads back as the printable part of each value (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ unit: 'binary', maxLength: 60 })),
        (params) => {
          fc.pre(!('realm' in params));
          const header = bearerChallenge(params);
          expect(header).toMatch(/^[\x20-\x7e]*$/);
          expect(parseChallenge(header)).toEqual([
            ['realm', 'hyperid'],
            ...Object.entries(params).map(([name, value]) => [name, value.replace(/[^\x20-\x7e]/g, '')]),
          ]);
        },
      ),
    );
  });
});
