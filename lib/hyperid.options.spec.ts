import { describe, expect, it } from '@jest/globals';
import { DEFAULT_API_URL, DEFAULTS } from './hyperid.constants.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import type { TwoFactorCacheStore } from './interfaces/two-factor-cache-store.interface.js';
import { isLoopbackHost, optionWarnings, resolveHyperIdOptions } from './hyperid.options.js';

/** Options as a misconfigured app (plain JS, env strings) might pass them. */
const resolve = (options: unknown) => resolveHyperIdOptions(options as HyperIdModuleOptions);

const store: TwoFactorCacheStore = {
  get: async () => undefined,
  set: async () => undefined,
};
/** A secret as an app would read it from its configuration. */
const secret = 's'.repeat(32);

describe('resolveHyperIdOptions', () => {
  describe('defaults', () => {
    it.each([undefined, {}])('fills in every default for %p', (input) => {
      const resolved = resolve(input);
      expect(resolved.apiUrl).toBeInstanceOf(URL);
      expect(resolved.apiUrl.origin).toBe(DEFAULT_API_URL);
      expect(resolved).toMatchObject({
        timeoutMs: 5000,
        retries: 2,
        cache: { ttlMs: 30_000, maxEntries: 10_000, negativeTtlMs: 10_000, store: undefined },
        circuitBreaker: { threshold: 5, halfOpenAfterMs: 10_000 },
        maxSockets: DEFAULTS.maxSockets,
        stepUp: false,
        tokenExtractor: undefined,
      });
    });

    it('fills in the defaults inside a partial cache / circuitBreaker object', () => {
      const resolved = resolve({ cache: { ttlMs: 1000 }, circuitBreaker: { threshold: 2 } });
      expect(resolved.cache).toEqual({ ttlMs: 1000, maxEntries: 10_000, negativeTtlMs: 10_000 });
      expect(resolved.circuitBreaker).toEqual({ threshold: 2, halfOpenAfterMs: 10_000 });
    });

    it('keeps values that are given', () => {
      const resolved = resolve({
        apiUrl: 'https://hyperid.example.com/base/',
        timeoutMs: 1234,
        retries: 0,
        cache: { ttlMs: 5, maxEntries: 7, negativeTtlMs: 3, store, secret },
        circuitBreaker: { threshold: 1, halfOpenAfterMs: 99 },
        maxSockets: 3,
      });
      expect(resolved.apiUrl.href).toBe('https://hyperid.example.com/base');
      expect(resolved.timeoutMs).toBe(1234);
      expect(resolved.retries).toBe(0);
      expect(resolved.cache).toEqual({ ttlMs: 5, maxEntries: 7, negativeTtlMs: 3, store, secret });
      expect(resolved.circuitBreaker).toEqual({ threshold: 1, halfOpenAfterMs: 99 });
      expect(resolved.maxSockets).toBe(3);
    });

    it('does not change the object it was given', () => {
      const input = { apiUrl: 'https://hyperid.example.com/', cache: { ttlMs: 10 } };
      const copy = structuredClone(input);
      resolve(input);
      expect(input).toEqual(copy);
    });
  });

  describe('apiUrl', () => {
    it.each(['not a url', '/2fa/types/get', 'api.hypersecureid.com', 'localhost:4931'])(
      'refuses %p, which has no scheme, and shows a full URL',
      (apiUrl) => {
        expect(() => resolve({ apiUrl })).toThrow(
          /"apiUrl": the URL has no scheme.*"https:\/\/api\.hypersecureid\.com"/,
        );
      },
    );

    it.each(['https://', 'http://exa mple.com'])('refuses %p, which is not an absolute URL', (apiUrl) => {
      expect(() => resolve({ apiUrl })).toThrow(/"apiUrl".*absolute URL/);
    });

    it.each(['', '   '])('takes %p (a blank .env entry) as not set: the default API', (apiUrl) => {
      expect(resolve({ apiUrl }).apiUrl.origin).toBe(DEFAULT_API_URL);
    });

    it.each([42, null, {}, true])('refuses a non-string %p', (apiUrl) => {
      expect(() => resolve({ apiUrl })).toThrow(/invalid option "apiUrl"/);
    });

    it.each([
      'http://api.hypersecureid.com',
      'http://10.0.0.1:8080',
      'http://192.168.1.20',
      'http://128.0.0.1',
      'http://localhost.evil.example.com',
      // Resolved through DNS like any other name, whatever the name says.
      'http://hyperid.localhost:8080',
      'http://a.b.localhost',
      'http://[::2]',
      'http://[::ffff:8.8.8.8]',
    ])('refuses http:// to the non-loopback host of %s', (apiUrl) => {
      expect(() => resolve({ apiUrl })).toThrow(/"apiUrl".*http:\/\/ is allowed only for loopback/);
    });

    it.each([
      'http://127.0.0.1:4000',
      'http://127.1.2.3',
      'http://localhost:3000',
      'http://LOCALHOST',
      'http://[::1]:4000',
    ])('allows http:// to the loopback host of %s', (apiUrl) => {
      expect(resolve({ apiUrl }).apiUrl.protocol).toBe('http:');
    });

    it.each(['ftp://api.hypersecureid.com', 'file:///etc/passwd', 'ws://127.0.0.1', 'javascript:alert(1)'])(
      'refuses the scheme of %s',
      (apiUrl) => {
        expect(() => resolve({ apiUrl })).toThrow(/invalid option "apiUrl"/);
      },
    );

    it.each([
      'https://user:pass@api.hypersecureid.com',
      'https://user@api.hypersecureid.com',
      'http://u:p@127.0.0.1',
    ])('refuses credentials in %s', (apiUrl) => {
      expect(() => resolve({ apiUrl })).toThrow(/"apiUrl".*credentials/);
    });

    it.each(['https://api.hypersecureid.com/?token=x', 'https://api.hypersecureid.com/#frag'])(
      'refuses a query or fragment in %s',
      (apiUrl) => {
        expect(() => resolve({ apiUrl })).toThrow(/"apiUrl".*query string or fragment/);
      },
    );

    it('never echoes credentials of a refused URL in the message', () => {
      let message = '';
      try {
        resolve({ apiUrl: 'https://alice:s3cr3t-pw@api.hypersecureid.com' });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/apiUrl/);
      expect(message).not.toContain('s3cr3t-pw');
    });

    it('drops trailing slashes of the path and keeps a base path', () => {
      expect(resolve({ apiUrl: 'https://api.hypersecureid.com/' }).apiUrl.pathname).toBe('/');
      expect(resolve({ apiUrl: 'https://gw.example.com/hyperid///' }).apiUrl.pathname).toBe('/hyperid');
    });
  });

  describe('isLoopbackHost', () => {
    it.each([
      ['127.0.0.1', true],
      ['127.255.255.254', true],
      ['localhost', true],
      ['a.localhost', false],
      ['[::1]', true],
      ['::1', true],
      ['126.0.0.1', false],
      ['0.0.0.0', false],
      ['localhost.example.com', false],
      ['127.0.0.1.nip.io', false],
      ['[::]', false],
      ['example.com', false],
    ])('%s → %p', (host, expected) => {
      expect(isLoopbackHost(host)).toBe(expected);
    });
  });

  describe('numbers', () => {
    const numericOptions: Array<[string, (value: unknown) => unknown]> = [
      ['timeoutMs', (value) => ({ timeoutMs: value })],
      ['retries', (value) => ({ retries: value })],
      ['maxSockets', (value) => ({ maxSockets: value })],
      ['cache.ttlMs', (value) => ({ cache: { ttlMs: value } })],
      ['cache.maxEntries', (value) => ({ cache: { maxEntries: value } })],
      ['circuitBreaker.threshold', (value) => ({ circuitBreaker: { threshold: value } })],
      ['circuitBreaker.halfOpenAfterMs', (value) => ({ circuitBreaker: { halfOpenAfterMs: value } })],
      ['stepUp.maxAgeSeconds', (value) => ({ stepUp: { maxAgeSeconds: value } })],
    ];
    const badValues: unknown[] = [
      -1,
      -0.5,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '100',
      null,
      true,
      [],
      {},
    ];

    for (const [name, build] of numericOptions) {
      it.each(badValues)(`refuses ${name} = %p, naming the option`, (value) => {
        expect(() => resolve(build(value))).toThrow(`invalid option "${name}"`);
      });
    }

    it('names the value it refused', () => {
      expect(() => resolve({ timeoutMs: -5 })).toThrow(/got -5/);
      expect(() => resolve({ retries: Number.NaN })).toThrow(/got NaN/);
      expect(() => resolve({ timeoutMs: '100' })).toThrow(/got "100"/);
    });

    it.each([
      [{ timeoutMs: 0 }, 'timeoutMs'],
      [{ retries: 11 }, 'retries'],
      [{ cache: { ttlMs: 0 } }, 'cache.ttlMs'],
      [{ cache: { maxEntries: 0 } }, 'cache.maxEntries'],
      [{ circuitBreaker: { threshold: 0 } }, 'circuitBreaker.threshold'],
      [{ circuitBreaker: { halfOpenAfterMs: 0 } }, 'circuitBreaker.halfOpenAfterMs'],
      [{ maxSockets: 0 }, 'maxSockets'],
    ])('refuses %p, out of range', (options, name) => {
      expect(() => resolve(options)).toThrow(`invalid option "${name}"`);
    });

    it('accepts retries 0 (no retry) and the range limits', () => {
      expect(resolve({ retries: 0 }).retries).toBe(0);
      expect(resolve({ retries: 10 }).retries).toBe(10);
      expect(resolve({ timeoutMs: 1 }).timeoutMs).toBe(1);
      expect(resolve({ timeoutMs: 120_000 }).timeoutMs).toBe(120_000);
    });
  });

  describe('unknown keys', () => {
    it.each(['timeout', 'apiURL', 'isGlobal', 'retry', 'url'])('refuses %s, naming it', (key) => {
      expect(() => resolve({ [key]: 1 })).toThrow(`invalid option "${key}": unknown option`);
    });

    it.each([
      [{ cache: { secert: secret } }, 'cache.secert'],
      [{ cache: { ttl: 1000 } }, 'cache.ttl'],
      [{ circuitBreaker: { treshold: 3 } }, 'circuitBreaker.treshold'],
      [{ stepUp: { acr_values: 'x' } }, 'stepUp.acr_values'],
    ])('refuses an unknown key inside a nested option: %p', (options, name) => {
      expect(() => resolve(options)).toThrow(`invalid option "${name}": unknown option`);
    });

    it('does not inspect a store instance or a function given as an option', () => {
      const storeWithExtras = Object.assign(Object.create(null) as object, store, {
        client: {},
        prefix: 'x',
      });
      expect(() =>
        resolve({
          cache: { store: storeWithExtras, secret },
          tokenExtractor: Object.assign(() => 't', { x: 1 }),
        }),
      ).not.toThrow();
    });

    it.each(['https://api.hypersecureid.com', 5, [], true])(
      'refuses options that are not an object: %p',
      (value) => {
        expect(() => resolve(value)).toThrow(/invalid option "options"/);
      },
    );
  });

  describe('cache', () => {
    it('false turns the cache off', () => {
      expect(resolve({ cache: false }).cache).toBe(false);
    });

    it.each([true, null, 'memory', 0, []])('refuses cache = %p', (cache) => {
      expect(() => resolve({ cache })).toThrow(/invalid option "cache": expected false or an object/);
    });

    it('keeps a store with get and set, and its secret', () => {
      const resolved = resolve({ cache: { store, secret } });
      expect(resolved.cache && resolved.cache.store).toBe(store);
      expect(resolved.cache && resolved.cache.secret).toBe(secret);
    });

    it.each([{}, { get: async () => undefined }, { set: async () => undefined }, 'redis', null])(
      'refuses the store %p',
      (bad) => {
        expect(() => resolve({ cache: { store: bad, secret } })).toThrow(/invalid option "cache.store"/);
      },
    );

    it('refuses a store whose delete is not a method', () => {
      expect(() => resolve({ cache: { store: { ...store, delete: 'yes' }, secret } })).toThrow(
        /invalid option "cache.store"/,
      );
    });

    it('refuses a store without a secret, naming cache.secret', () => {
      expect(() => resolve({ cache: { store } })).toThrow(
        /invalid option "cache.secret": required with cache.store/,
      );
    });

    it.each(['', 'short', 's'.repeat(31), 42, null, { value: secret }])(
      'refuses the secret %p (a string of at least 32 characters is needed)',
      (bad) => {
        expect(() => resolve({ cache: { store, secret: bad } })).toThrow(
          /invalid option "cache.secret": expected a string of at least 32 characters/,
        );
      },
    );

    it('never echoes a refused secret', () => {
      const almost = 'do-not-print-me-' + 'x'.repeat(10);
      expect(() => resolve({ cache: { store, secret: almost } })).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining(almost) as unknown }),
      );
    });

    it('keeps negativeTtlMs, with 0 turning refusals off', () => {
      expect(resolve({ cache: { negativeTtlMs: 0 } }).cache).toMatchObject({ negativeTtlMs: 0 });
      expect(() => resolve({ cache: { negativeTtlMs: -1 } })).toThrow(/"cache.negativeTtlMs"/);
    });
  });

  describe('circuitBreaker', () => {
    it('false turns the breaker off', () => {
      expect(resolve({ circuitBreaker: false }).circuitBreaker).toBe(false);
    });

    it.each([true, null, 'on', 3, []])('refuses circuitBreaker = %p', (circuitBreaker) => {
      expect(() => resolve({ circuitBreaker })).toThrow(
        /invalid option "circuitBreaker": expected false or an object/,
      );
    });
  });

  describe('stepUp', () => {
    it.each([undefined, false])('%p means no step-up', (stepUp) => {
      expect(resolve({ stepUp }).stepUp).toBe(false);
    });

    it('keeps acrValues and maxAgeSeconds', () => {
      expect(resolve({ stepUp: { acrValues: 'urn:hyperid:2fa phr', maxAgeSeconds: 0 } }).stepUp).toEqual({
        acrValues: 'urn:hyperid:2fa phr',
        maxAgeSeconds: 0,
      });
      expect(resolve({ stepUp: {} }).stepUp).toEqual({ acrValues: undefined, maxAgeSeconds: undefined });
    });

    it.each([true, 'urn:x', null, 1])('refuses stepUp = %p', (stepUp) => {
      expect(() => resolve({ stepUp })).toThrow(/invalid option "stepUp"/);
    });

    it.each(['', 'a"b', 'a\\b', 'line\r\nInjected: 1', 'caf\u00e9', 42])(
      'refuses acrValues %p that could not be sent in a quoted-string',
      (acrValues) => {
        expect(() => resolve({ stepUp: { acrValues } })).toThrow(/invalid option "stepUp.acrValues"/);
      },
    );

    it('refuses maxAgeSeconds over a year', () => {
      expect(() => resolve({ stepUp: { maxAgeSeconds: 31_536_001 } })).toThrow(/"stepUp.maxAgeSeconds"/);
    });
  });

  describe('tokenExtractor', () => {
    it('keeps a function', () => {
      const tokenExtractor = () => 'token';
      expect(resolve({ tokenExtractor }).tokenExtractor).toBe(tokenExtractor);
    });

    it.each(['header', 1, {}, null])('refuses %p', (tokenExtractor) => {
      expect(() => resolve({ tokenExtractor })).toThrow(
        /invalid option "tokenExtractor": expected a function/,
      );
    });
  });

  describe('rollout: enforce, onWouldRefuse, enrollmentUrl', () => {
    it("enforces by default, and takes 'report'", () => {
      expect(resolve({}).enforce).toBe('enforce');
      expect(resolve({ enforce: 'enforce' }).enforce).toBe('enforce');
      expect(resolve({ enforce: 'report' }).enforce).toBe('report');
    });

    it.each(['Report', 'off', true, false, 0, null])('refuses enforce: %p', (enforce) => {
      expect(() => resolve({ enforce })).toThrow(
        /invalid option "enforce": expected 'enforce' or 'report', got/,
      );
    });

    it('keeps an onWouldRefuse function and refuses anything else', () => {
      const onWouldRefuse = () => undefined;
      expect(resolve({ onWouldRefuse }).onWouldRefuse).toBe(onWouldRefuse);
      expect(resolve({}).onWouldRefuse).toBeUndefined();
      expect(() => resolve({ onWouldRefuse: 'log' })).toThrow(
        /invalid option "onWouldRefuse": expected a function \(event\) => void/,
      );
    });

    it.each([
      'https://id.example.com/settings/2fa',
      'https://id.example.com/settings/2fa?from=api#methods',
      'http://localhost:3000/settings',
      'http://127.0.0.1/settings',
      '/settings/security',
      '/',
      // 2048 characters, the longest kept.
      `https://id.example.com/${'x'.repeat(2048 - 'https://id.example.com/'.length)}`,
    ])('accepts the enrollment URL %p', (enrollmentUrl) => {
      expect(resolve({ enrollmentUrl }).enrollmentUrl).toBe(enrollmentUrl);
    });

    it.each([
      'http://example.com/settings',
      'javascript:alert(1)',
      'data:text/html,hi',
      '//evil.example/settings',
      '/\\evil.example/settings',
      'settings/security',
      'https://user:pass@id.example.com/settings',
      'https://user@id.example.com/settings',
      'https://:pass@id.example.com/settings',
      'ftp://localhost/settings',
      `https://id.example.com/${'x'.repeat(2048)}`,
      '',
      42,
      null,
    ])('refuses the enrollment URL %p', (enrollmentUrl) => {
      expect(() => resolve({ enrollmentUrl })).toThrow(
        /invalid option "enrollmentUrl": expected an https:\/\/ URL/,
      );
    });

    it('keeps a function of the missing types, checked when it is called', () => {
      const enrollmentUrl = () => '/settings';
      expect(resolve({ enrollmentUrl }).enrollmentUrl).toBe(enrollmentUrl);
    });
  });

  describe('warnings', () => {
    it('warns about a cache TTL above five minutes, and only then', () => {
      expect(optionWarnings(resolve({ cache: { ttlMs: 300_000 } }))).toEqual([]);
      expect(optionWarnings(resolve({}))).toEqual([]);
      expect(optionWarnings(resolve({ cache: false }))).toEqual([]);
      const [warning, ...rest] = optionWarnings(resolve({ cache: { ttlMs: 300_001 } }));
      expect(rest).toEqual([]);
      expect(warning).toMatch(/cache\.ttlMs is 300001 ms: a revoked token/);
    });

    it('says that report mode is not protection, and only in report mode', () => {
      expect(optionWarnings(resolve({ enforce: 'enforce' }))).toEqual([]);
      expect(optionWarnings(resolve({ enforce: 'report' }))).toEqual([
        expect.stringMatching(/^enforce is 'report': .*Report mode is not protection$/),
      ]);
    });
  });

  it('every message says which module the option belongs to', () => {
    expect(() => resolve({ retries: -1 })).toThrow(/^HyperIdModule: invalid option "retries"/);
  });

  describe('what each refusal says', () => {
    const messageOf = (options: unknown): string => {
      try {
        resolve(options);
      } catch (error) {
        return (error as Error).message.replace(/^HyperIdModule: /, '');
      }
      throw new Error('expected the options to be refused');
    };

    it.each([
      [{ timeoutMs: true }, 'invalid option "timeoutMs": expected an integer from 1 to 120000, got true'],
      [{ retries: null }, 'invalid option "retries": expected an integer from 0 to 10, got null'],
      [{ maxSockets: {} }, 'invalid option "maxSockets": expected an integer from 1 to 4096, got object'],
      [
        { maxSockets: () => 1 },
        'invalid option "maxSockets": expected an integer from 1 to 4096, got function',
      ],
      [
        { cache: { maxEntries: 'x'.repeat(200) } },
        `invalid option "cache.maxEntries": expected an integer from 1 to 10000000, got "${'x'.repeat(80)}"`,
      ],
      [5, 'invalid option "options": expected an object, got 5'],
      [{ apiUrl: 42 }, 'invalid option "apiUrl": expected an absolute URL, got 42'],
      [
        { apiUrl: 'https://' },
        'invalid option "apiUrl": expected an absolute URL, got a string that is not one',
      ],
      [
        { apiUrl: 'http://api.hypersecureid.com' },
        'invalid option "apiUrl": http:// is allowed only for loopback hosts; use https:// for "api.hypersecureid.com"',
      ],
      [
        { apiUrl: 'ftp://api.hypersecureid.com' },
        'invalid option "apiUrl": expected an https:// URL, got "ftp:"',
      ],
      [{ cache: 'memory' }, 'invalid option "cache": expected false or an object, got "memory"'],
      [
        { cache: { store: {}, secret } },
        'invalid option "cache.store": expected an object with get(key) and set(key, value, ttlMs) methods',
      ],
      [
        { cache: { store: { ...store, delete: 1 }, secret } },
        'invalid option "cache.store": delete, when present, must be a method delete(key)',
      ],
      [
        { cache: { store } },
        'invalid option "cache.secret": required with cache.store: a secret of at least 32 characters, ' +
          'from configuration, shared by the instances that share the store',
      ],
      [{ circuitBreaker: 3 }, 'invalid option "circuitBreaker": expected false or an object, got 3'],
      [{ stepUp: 'urn:x' }, 'invalid option "stepUp": expected false or an object, got "urn:x"'],
      [
        { stepUp: { acrValues: '' } },
        'invalid option "stepUp.acrValues": expected a non-empty string of printable ASCII without quotes or backslashes',
      ],
      [
        { tokenExtractor: 'header' },
        'invalid option "tokenExtractor": expected a function (context) => token, got "header"',
      ],
      [{ skipIf: true }, 'invalid option "skipIf": expected a function (context) => boolean, got true'],
    ])('%p: %s', (options, message) => {
      expect(messageOf(options)).toBe(message);
    });

    it('keeps a skipIf function', () => {
      const skipIf = () => false;
      expect(resolve({ skipIf }).skipIf).toBe(skipIf);
      expect(resolve({}).skipIf).toBeUndefined();
    });

    it('says in the warning what it advises', () => {
      expect(optionWarnings(resolve({ cache: { ttlMs: 600_000 } }))).toEqual([
        "cache.ttlMs is 600000 ms: a revoked token, or a user's change of 2FA methods, goes unseen for " +
          'that long (5 minutes or less is advised)',
      ]);
    });

    it.each(['LocalHost', 'LOCALHOST', '[::1]'])('takes %s, spelt another way, as loopback', (host) => {
      expect(isLoopbackHost(host)).toBe(true);
    });
  });
});
