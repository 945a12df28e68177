import { describe, expect, it } from '@jest/globals';
import { HyperIdResult } from './hyperid-result.enum.js';

// The endpoint's page lists the failures in this order, and HyperID's generic REST result enum
// numbers them the same way, from -1 down. This pins that order without repeating the numbers.
const SEED_ORDER = [
  HyperIdResult.TokenInvalid,
  HyperIdResult.TokenExpired,
  HyperIdResult.AccessDenied,
  HyperIdResult.ServiceTemporarilyUnavailable,
  HyperIdResult.InvalidParameters,
];

describe('HyperIdResult', () => {
  it('numbers the failures as the endpoint page orders them: consecutive, downward from success', () => {
    SEED_ORDER.forEach((member, index) => {
      expect(member).toBe(HyperIdResult.Success - (index + 1));
    });
  });

  it('has no other members', () => {
    const numeric = Object.values(HyperIdResult).filter((value) => typeof value === 'number');
    expect(numeric.sort()).toEqual([HyperIdResult.Success, ...SEED_ORDER].sort());
  });
});
