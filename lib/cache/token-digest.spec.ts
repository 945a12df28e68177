import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { CacheKeys, tokenDigest } from './token-digest.js';

const TOKEN = 'secret-access-token.with.parts';
const SECRET = 'a-cache-secret-of-at-least-32-characters';
const OTHER_SECRET = 'another-cache-secret-of-32-characters!!';
const ORIGIN = 'https://api.hypersecureid.com';
const OTHER_ORIGIN = 'https://api.sandbox.hypersecureid.com';
const BASE64URL_SHA256 = /^[A-Za-z0-9_-]{43}$/;

describe('tokenDigest', () => {
  it('is the SHA-256 of the token, base64url, and never contains the token', () => {
    const digest = tokenDigest(TOKEN);
    expect(digest).toBe(createHash('sha256').update(TOKEN).digest('base64url'));
    expect(digest).toMatch(BASE64URL_SHA256);
    expect(digest).not.toContain(TOKEN);
    expect(tokenDigest(`${TOKEN}x`)).not.toBe(digest);
  });
});

describe('CacheKeys', () => {
  describe('keyOf', () => {
    it('is the token digest when there is no secret (memory only)', () => {
      const keys = new CacheKeys(undefined, ORIGIN);
      expect(keys.keyOf(TOKEN)).toBe(tokenDigest(TOKEN));
      expect(new CacheKeys(undefined, OTHER_ORIGIN).keyOf(TOKEN)).toBe(tokenDigest(TOKEN));
    });

    it('with a secret, is deterministic, base64url, and neither the token nor its plain digest', () => {
      const key = new CacheKeys(SECRET, ORIGIN).keyOf(TOKEN);
      expect(new CacheKeys(SECRET, ORIGIN).keyOf(TOKEN)).toBe(key);
      expect(key).toMatch(BASE64URL_SHA256);
      expect(key).not.toContain(TOKEN);
      expect(key).not.toBe(tokenDigest(TOKEN));
      expect(key).not.toBe(createHash('sha256').update(TOKEN).digest('hex'));
    });

    it('differs per token, per secret and per API origin', () => {
      const key = new CacheKeys(SECRET, ORIGIN).keyOf(TOKEN);
      expect(new CacheKeys(SECRET, ORIGIN).keyOf(`${TOKEN}x`)).not.toBe(key);
      expect(new CacheKeys(OTHER_SECRET, ORIGIN).keyOf(TOKEN)).not.toBe(key);
      expect(new CacheKeys(SECRET, OTHER_ORIGIN).keyOf(TOKEN)).not.toBe(key);
    });

    it('does not let the origin and the token run into each other', () => {
      // 'https://a' + 'b.token' and 'https://ab' + '.token' must not name the same entry.
      expect(new CacheKeys(SECRET, 'https://a').keyOf('b.token')).not.toBe(
        new CacheKeys(SECRET, 'https://ab').keyOf('.token'),
      );
    });
  });

  describe('macOf / verify', () => {
    const keys = new CacheKeys(SECRET, ORIGIN);
    const key = keys.keyOf(TOKEN);
    const expiresAt = 1_900_000_000_000;
    const mac = keys.macOf(key, [0, 3], expiresAt);

    it('accepts the MAC macOf made, and macOf is deterministic', () => {
      expect(mac).toMatch(BASE64URL_SHA256);
      expect(keys.macOf(key, [0, 3], expiresAt)).toBe(mac);
      expect(keys.verify(key, [0, 3], expiresAt, mac)).toBe(true);
      expect(new CacheKeys(SECRET, ORIGIN).verify(key, [0, 3], expiresAt, mac)).toBe(true);
    });

    it('rejects the MAC under another key', () => {
      expect(keys.verify(keys.keyOf('another-token'), [0, 3], expiresAt, mac)).toBe(false);
    });

    it.each([
      ['one type removed', [0]],
      ['one type added', [0, 3, 1]],
      ['reordered', [3, 0]],
      ['no types', []],
      ['a type changed', [0, 4]],
    ])('rejects the MAC for other types (%s)', (_name, authTypes) => {
      expect(keys.verify(key, authTypes, expiresAt, mac)).toBe(false);
    });

    it('keeps types apart: [1, 23] and [12, 3] have different MACs', () => {
      expect(keys.macOf(key, [1, 23], expiresAt)).not.toBe(keys.macOf(key, [12, 3], expiresAt));
    });

    it.each([
      ['one millisecond later', expiresAt + 1],
      ['an hour later', expiresAt + 3_600_000],
      ['earlier', expiresAt - 1],
    ])('rejects the MAC for another expiry (%s)', (_name, otherExpiresAt) => {
      expect(keys.verify(key, [0, 3], otherExpiresAt, mac)).toBe(false);
    });

    it.each([
      ['truncated', mac.slice(0, -1)],
      ['extended', `${mac}A`],
      ['empty', ''],
      ['hex of another length', createHash('sha256').update('x').digest('hex')],
    ])('rejects a MAC of a different length (%s) without throwing', (_name, otherMac) => {
      expect(otherMac.length).not.toBe(mac.length);
      expect(keys.verify(key, [0, 3], expiresAt, otherMac)).toBe(false);
    });

    it('rejects a MAC of the right length with one character changed', () => {
      const changed = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
      expect(keys.verify(key, [0, 3], expiresAt, changed)).toBe(false);
    });

    it('rejects a MAC made with another secret, and one made under another origin for its own key', () => {
      const other = new CacheKeys(OTHER_SECRET, ORIGIN);
      expect(keys.verify(key, [0, 3], expiresAt, other.macOf(key, [0, 3], expiresAt))).toBe(false);
      const sandbox = new CacheKeys(SECRET, OTHER_ORIGIN);
      const sandboxKey = sandbox.keyOf(TOKEN);
      const sandboxMac = sandbox.macOf(sandboxKey, [0, 3], expiresAt);
      expect(keys.verify(key, [0, 3], expiresAt, sandboxMac)).toBe(false);
    });

    it('cannot sign or verify without a secret', () => {
      const memoryOnly = new CacheKeys(undefined, ORIGIN);
      expect(() => memoryOnly.macOf(key, [0, 3], expiresAt)).toThrow(/needs a secret/);
      expect(() => memoryOnly.verify(key, [0, 3], expiresAt, mac)).toThrow(/needs a secret/);
    });
  });
});
