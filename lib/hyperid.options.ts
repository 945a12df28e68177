import { isIP } from 'node:net';
import {
  DEFAULT_API_URL,
  DEFAULTS,
  LONG_CACHE_TTL_MS,
  MIN_CACHE_SECRET_LENGTH,
} from './hyperid.constants.js';
import type {
  HyperIdEnrollmentUrl,
  HyperIdModuleOptions,
  HyperIdSkipIf,
  HyperIdTokenExtractor,
  HyperIdWouldRefuseHook,
} from './interfaces/hyperid-module-options.interface.js';
import { isTwoFactorEnforcement, type TwoFactorEnforcement } from './two-factor.metadata.js';
import type { TwoFactorCacheStore } from './interfaces/two-factor-cache-store.interface.js';

/** Options after validation, with every default filled in. */
export interface ResolvedHyperIdOptions {
  apiUrl: URL;
  timeoutMs: number;
  retries: number;
  cache:
    | false
    | {
        ttlMs: number;
        maxEntries: number;
        negativeTtlMs: number;
        store?: TwoFactorCacheStore;
        secret?: string;
      };
  circuitBreaker: false | { threshold: number; halfOpenAfterMs: number };
  maxSockets: number;
  /** Lookups that may wait for a bulkhead slot (not an option: see docs/reliability.md). */
  bulkheadQueue: number;
  stepUp: false | { acrValues?: string; maxAgeSeconds?: number };
  tokenExtractor?: HyperIdTokenExtractor;
  skipIf?: HyperIdSkipIf;
  enforce: TwoFactorEnforcement;
  onWouldRefuse?: HyperIdWouldRefuseHook;
  enrollmentUrl?: HyperIdEnrollmentUrl;
}

/** The keys each plain option object may have; anything else is a typo that must not boot. */
const KNOWN_KEYS = {
  options: [
    'apiUrl',
    'timeoutMs',
    'retries',
    'cache',
    'circuitBreaker',
    'maxSockets',
    'stepUp',
    'tokenExtractor',
    'skipIf',
    'enforce',
    'onWouldRefuse',
    'enrollmentUrl',
  ],
  cache: ['ttlMs', 'maxEntries', 'negativeTtlMs', 'store', 'secret'],
  circuitBreaker: ['threshold', 'halfOpenAfterMs'],
  stepUp: ['acrValues', 'maxAgeSeconds'],
} as const;

function refuseUnknownKeys(option: keyof typeof KNOWN_KEYS, value: Record<string, unknown>): void {
  const known: readonly string[] = KNOWN_KEYS[option];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(option === 'options' ? key : `${option}.${key}`, 'unknown option');
  }
}

function fail(option: string, problem: string): never {
  throw new Error(`HyperIdModule: invalid option "${option}": ${problem}`);
}

function integer(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  return value === null ? 'null' : typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * True when `hostname` (as `URL` spells it) is a literal loopback address or `localhost` itself.
 * A `*.localhost` name is not: the resolver may send it to DNS, and a bearer token with it.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function resolveApiUrl(value: unknown): URL {
  // A blank entry in a .env file arrives as '': it means "not set", as undefined does.
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) {
    return new URL(DEFAULT_API_URL);
  }
  if (typeof value === 'string' && !value.includes('://')) {
    // "localhost:4931" would parse with "localhost:" as its scheme: say what is really missing.
    fail(
      'apiUrl',
      'the URL has no scheme: write it in full, e.g. "https://api.hypersecureid.com", ' +
        'or "http://localhost:4931" for a local fake HyperID',
    );
  }
  if (typeof value !== 'string' || !URL.canParse(value)) {
    // The value is not echoed: a malformed URL may still carry credentials.
    fail(
      'apiUrl',
      `expected an absolute URL, got ${typeof value === 'string' ? 'a string that is not one' : describe(value)}`,
    );
  }
  const url = new URL(value);
  if (url.username || url.password) fail('apiUrl', 'credentials in the URL are not allowed');
  if (url.search || url.hash) fail('apiUrl', 'a query string or fragment is not allowed');
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) {
      fail('apiUrl', `http:// is allowed only for loopback hosts; use https:// for "${url.hostname}"`);
    }
  } else if (url.protocol !== 'https:') {
    fail('apiUrl', `expected an https:// URL, got "${url.protocol}"`);
  }
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

function resolveCache(value: unknown): ResolvedHyperIdOptions['cache'] {
  if (value === false) return false;
  if (value === undefined) value = {};
  if (!isPlainObject(value)) fail('cache', `expected false or an object, got ${describe(value)}`);
  refuseUnknownKeys('cache', value);
  const store = value.store as TwoFactorCacheStore | undefined;
  if (store !== undefined && (typeof store?.get !== 'function' || typeof store?.set !== 'function')) {
    fail('cache.store', 'expected an object with get(key) and set(key, value, ttlMs) methods');
  }
  if (store?.delete !== undefined && typeof store.delete !== 'function') {
    fail('cache.store', 'delete, when present, must be a method delete(key)');
  }
  const secret = resolveSecret(value.secret, store !== undefined);
  return {
    ttlMs: integer('cache.ttlMs', value.ttlMs, DEFAULTS.cacheTtlMs, 1, 24 * 3_600_000),
    maxEntries: integer('cache.maxEntries', value.maxEntries, DEFAULTS.cacheMaxEntries, 1, 10_000_000),
    negativeTtlMs: integer('cache.negativeTtlMs', value.negativeTtlMs, DEFAULTS.negativeTtlMs, 0, 3_600_000),
    store,
    secret,
  };
}

/**
 * The key of the shared store's MACs. Whoever can write to the store must not be able to forge an
 * entry, so a store without a secret does not start. The value is never echoed in a message.
 */
function resolveSecret(value: unknown, hasStore: boolean): string | undefined {
  if (value === undefined) {
    if (hasStore) {
      fail(
        'cache.secret',
        `required with cache.store: a secret of at least ${MIN_CACHE_SECRET_LENGTH} characters, ` +
          'from configuration, shared by the instances that share the store',
      );
    }
    return undefined;
  }
  if (typeof value !== 'string' || value.length < MIN_CACHE_SECRET_LENGTH) {
    fail('cache.secret', `expected a string of at least ${MIN_CACHE_SECRET_LENGTH} characters`);
  }
  return value;
}

function resolveBreaker(value: unknown): ResolvedHyperIdOptions['circuitBreaker'] {
  if (value === false) return false;
  if (value === undefined) value = {};
  if (!isPlainObject(value)) fail('circuitBreaker', `expected false or an object, got ${describe(value)}`);
  refuseUnknownKeys('circuitBreaker', value);
  return {
    threshold: integer('circuitBreaker.threshold', value.threshold, DEFAULTS.breakerThreshold, 1, 1000),
    halfOpenAfterMs: integer(
      'circuitBreaker.halfOpenAfterMs',
      value.halfOpenAfterMs,
      DEFAULTS.breakerHalfOpenAfterMs,
      1,
      3_600_000,
    ),
  };
}

function resolveFunction<T>(option: string, value: unknown, signature: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    fail(option, `expected a function ${signature}, got ${describe(value)}`);
  }
  return value as T | undefined;
}

function resolveStepUp(value: unknown): ResolvedHyperIdOptions['stepUp'] {
  if (value === undefined || value === false) return false;
  if (!isPlainObject(value)) fail('stepUp', `expected false or an object, got ${describe(value)}`);
  refuseUnknownKeys('stepUp', value);
  const { acrValues } = value;
  if (
    acrValues !== undefined &&
    (typeof acrValues !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e ]+$/.test(acrValues))
  ) {
    fail('stepUp.acrValues', 'expected a non-empty string of printable ASCII without quotes or backslashes');
  }
  const maxAgeSeconds =
    value.maxAgeSeconds === undefined
      ? undefined
      : integer('stepUp.maxAgeSeconds', value.maxAgeSeconds, 0, 0, 31_536_000);
  return { acrValues, maxAgeSeconds };
}

/**
 * Validates the module's options and fills in defaults. Throws at start-up, naming the option,
 * so a misconfigured app never boots.
 */
function resolveEnforce(value: unknown): TwoFactorEnforcement {
  if (value === undefined) return 'enforce';
  if (!isTwoFactorEnforcement(value)) {
    fail('enforce', `expected 'enforce' or 'report', got ${describe(value)}`);
  }
  return value;
}

/**
 * True for what `enrollment_url` may carry: an absolute https:// URL (http:// for loopback
 * hosts), or a path from the app's root — never a protocol-relative `//host` or a `javascript:` URL.
 */
export function isEnrollmentUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  if (value.startsWith('/'))
    return !value.startsWith('//') && !value.startsWith('/\\') && URL.canParse(value, 'https://app.invalid');
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

function resolveEnrollmentUrl(value: unknown): HyperIdEnrollmentUrl | undefined {
  if (value === undefined || typeof value === 'function') return value as HyperIdEnrollmentUrl | undefined;
  if (!isEnrollmentUrl(value)) {
    fail(
      'enrollmentUrl',
      `expected an https:// URL, a path such as "/settings/security", or a function of the missing types, got ${describe(value)}`,
    );
  }
  return value;
}

export function resolveHyperIdOptions(options: HyperIdModuleOptions | undefined): ResolvedHyperIdOptions {
  const raw: unknown = options ?? {};
  if (!isPlainObject(raw)) fail('options', `expected an object, got ${describe(raw)}`);
  refuseUnknownKeys('options', raw);
  return {
    apiUrl: resolveApiUrl(raw.apiUrl),
    timeoutMs: integer('timeoutMs', raw.timeoutMs, DEFAULTS.timeoutMs, 1, 120_000),
    retries: integer('retries', raw.retries, DEFAULTS.retries, 0, 10),
    cache: resolveCache(raw.cache),
    circuitBreaker: resolveBreaker(raw.circuitBreaker),
    maxSockets: integer('maxSockets', raw.maxSockets, DEFAULTS.maxSockets, 1, 4096),
    bulkheadQueue: DEFAULTS.bulkheadQueue,
    stepUp: resolveStepUp(raw.stepUp),
    tokenExtractor: resolveFunction<HyperIdTokenExtractor>(
      'tokenExtractor',
      raw.tokenExtractor,
      '(context) => token',
    ),
    skipIf: resolveFunction<HyperIdSkipIf>('skipIf', raw.skipIf, '(context) => boolean'),
    enforce: resolveEnforce(raw.enforce),
    onWouldRefuse: resolveFunction<HyperIdWouldRefuseHook>(
      'onWouldRefuse',
      raw.onWouldRefuse,
      '(event) => void',
    ),
    enrollmentUrl: resolveEnrollmentUrl(raw.enrollmentUrl),
  };
}

/**
 * What is allowed but unwise in resolved options, as sentences to log at start-up (as warnings):
 * the app boots, and its operator learns what it risks.
 */
export function optionWarnings(options: ResolvedHyperIdOptions): string[] {
  const warnings: string[] = [];
  if (options.enforce === 'report') {
    warnings.push(
      "enforce is 'report': guarded routes let every caller through and only record the refusals " +
        'they would make. Report mode is not protection',
    );
  }
  if (options.cache && options.cache.ttlMs > LONG_CACHE_TTL_MS) {
    warnings.push(
      `cache.ttlMs is ${options.cache.ttlMs} ms: a revoked token, or a user's change of 2FA methods, ` +
        `goes unseen for that long (${LONG_CACHE_TTL_MS / 60_000} minutes or less is advised)`,
    );
  }
  return warnings;
}
