import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { RequireTwoFactor, SkipTwoFactor, toTwoFactorRequirement } from './require-two-factor.decorator.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import { TwoFactorMetadata, type TwoFactorRequirementOptions } from './two-factor.metadata.js';
import { KNOWN_TWO_FACTOR_TYPES, TwoFactorType } from './two-factor-type.enum.js';

const { HyperIdAuthenticator, Totp, Sms, AlternativeEmail } = TwoFactorType;

/** Calls toTwoFactorRequirement with arguments the types would not allow (plain JS callers). */
const normalise = (...args: unknown[]) => toTwoFactorRequirement(args as TwoFactorType[]);

describe('toTwoFactorRequirement', () => {
  it('no argument: any of every known type', () => {
    expect(toTwoFactorRequirement([])).toEqual({
      mode: 'any',
      types: [HyperIdAuthenticator, Totp, Sms, AlternativeEmail],
    });
    expect(toTwoFactorRequirement([]).types).toEqual(KNOWN_TWO_FACTOR_TYPES);
  });

  it('one type: all of it', () => {
    expect(toTwoFactorRequirement([Totp])).toEqual({ mode: 'all', types: [Totp] });
  });

  it('several types: all of them, duplicates dropped, order kept', () => {
    expect(toTwoFactorRequirement([AlternativeEmail, HyperIdAuthenticator, AlternativeEmail])).toEqual({
      mode: 'all',
      types: [AlternativeEmail, HyperIdAuthenticator],
    });
  });

  it('{ anyOf }: any of them', () => {
    expect(toTwoFactorRequirement([{ anyOf: [Totp, Sms] }])).toEqual({ mode: 'any', types: [Totp, Sms] });
  });

  it('{ allOf }: all of them', () => {
    expect(toTwoFactorRequirement([{ allOf: [Sms, Sms, HyperIdAuthenticator] }])).toEqual({
      mode: 'all',
      types: [Sms, HyperIdAuthenticator],
    });
  });

  it('freezes the types, so route metadata cannot be changed at run time', () => {
    expect(Object.isFrozen(toTwoFactorRequirement([Totp]).types)).toBe(true);
    expect(Object.isFrozen(toTwoFactorRequirement([{ anyOf: [Totp] }]).types)).toBe(true);
    expect(Object.isFrozen(toTwoFactorRequirement([]).types)).toBe(true);
  });

  it('does not keep a reference to the caller’s array', () => {
    const list = [Totp];
    const requirement = toTwoFactorRequirement([{ anyOf: list }]);
    list.push(Sms);
    expect(requirement.types).toEqual([Totp]);
  });

  describe('misuse throws at decoration time', () => {
    it.each([
      [[{ anyOf: [] }], /at least one/],
      [[{ allOf: [] }], /at least one/],
      [[{ anyOf: [Totp], allOf: [Sms] }], /not both or neither/],
      [[{}], /not both or neither/],
      [[{ oneOf: [Totp] }], /unknown option "oneOf"/],
      [[{ anyOf: Totp }], /must be an array/],
      [[{ allOf: 'totp' }], /must be an array/],
      [[{ anyOf: [Totp] }, Sms], /takes one argument/],
      [[7], /7 is not a TwoFactorType/],
      [[-1], /-1 is not a TwoFactorType/],
      [[Totp, 1.5], /1.5 is not a TwoFactorType/],
      [['Totp'], /Totp is not a TwoFactorType/],
      [[Totp, null], /null is not a TwoFactorType/],
      [[{ anyOf: [Totp, 99] }], /99 is not a TwoFactorType/],
      [[{ allOf: ['1'] }], /1 is not a TwoFactorType/],
    ])('%p', (args, message) => {
      expect(() => normalise(...(args as unknown[]))).toThrow(TypeError);
      expect(() => normalise(...(args as unknown[]))).toThrow(message);
    });

    it.each([
      [[{ anyOf: [] }], '@RequireTwoFactor({ anyOf }) needs at least one TwoFactorType'],
      [[{ allOf: [] }], '@RequireTwoFactor({ allOf }) needs at least one TwoFactorType'],
      [[{ anyOf: [Totp, 99] }], '@RequireTwoFactor({ anyOf }): 99 is not a TwoFactorType'],
      [[{ allOf: [Sms, 'sms'] }], '@RequireTwoFactor({ allOf }): sms is not a TwoFactorType'],
      [[Totp, 7], '@RequireTwoFactor(...types): 7 is not a TwoFactorType'],
      [[null], '@RequireTwoFactor(...types): null is not a TwoFactorType'],
      [[{ anyOf: [Totp] }, Sms], '@RequireTwoFactor({ anyOf | allOf }) takes one argument'],
      [[{ allOf: 1 }], '@RequireTwoFactor(): anyOf / allOf must be an array'],
      [[{}], '@RequireTwoFactor() takes { anyOf: [...] } or { allOf: [...] }, not both or neither'],
    ])('says where the misuse is: %p', (args, message) => {
      expect(() => normalise(...(args as unknown[]))).toThrow(new TypeError(message));
    });

    it('the decorator itself throws, not the first request', () => {
      expect(() => RequireTwoFactor({ anyOf: [] } as unknown as TwoFactorRequirementOptions)).toThrow(
        TypeError,
      );
      expect(() => RequireTwoFactor(42 as TwoFactorType)).toThrow(TypeError);
    });
  });
});

describe('conditions and report mode in the object forms', () => {
  const when = () => true;

  it('keeps when and enforce beside the types', () => {
    expect(toTwoFactorRequirement([{ anyOf: [Totp, Sms], when, enforce: 'report' }])).toEqual({
      mode: 'any',
      types: [Totp, Sms],
      when,
      enforce: 'report',
    });
    expect(toTwoFactorRequirement([{ allOf: [Totp], enforce: 'enforce' }])).toEqual({
      mode: 'all',
      types: [Totp],
      enforce: 'enforce',
    });
  });

  it('adds no settings that were not given', () => {
    expect(Object.keys(toTwoFactorRequirement([{ anyOf: [Totp] }]))).toEqual(['mode', 'types']);
  });

  it.each([
    [{ anyOf: [Totp], when: true }, '@RequireTwoFactor(): when must be a function (context) => boolean'],
    [{ allOf: [Totp], enforce: 'warn' }, "@RequireTwoFactor(): enforce must be 'enforce' or 'report'"],
    [{ allOf: [Totp], enforce: true }, "@RequireTwoFactor(): enforce must be 'enforce' or 'report'"],
    [
      { anyOf: [Totp], If: when },
      '@RequireTwoFactor(): unknown option "If" (expected anyOf, allOf, when, enforce)',
    ],
    [{ when }, '@RequireTwoFactor() takes { anyOf: [...] } or { allOf: [...] }, not both or neither'],
  ])('refuses %p at decoration time', (options, message) => {
    expect(() => normalise(options)).toThrow(new TypeError(message));
  });
});

describe('@RequireTwoFactor / @SkipTwoFactor', () => {
  const reflector = new Reflector();

  @RequireTwoFactor({ anyOf: [Totp, Sms] })
  class Guarded {
    open(): void {}

    @RequireTwoFactor(AlternativeEmail)
    email(): void {}

    @SkipTwoFactor()
    skipped(): void {}
  }

  class Plain {
    @RequireTwoFactor()
    any(): void {}

    none(): void {}
  }

  it('stores the normalised requirement on the class and the method', () => {
    expect(reflector.get(TwoFactorMetadata, Guarded)).toEqual({ mode: 'any', types: [Totp, Sms] });
    expect(reflector.get(TwoFactorMetadata, Guarded.prototype.email)).toEqual({
      mode: 'all',
      types: [AlternativeEmail],
    });
    expect(reflector.get(TwoFactorMetadata, Plain.prototype.any)).toEqual({
      mode: 'any',
      types: KNOWN_TWO_FACTOR_TYPES,
    });
    expect(reflector.get(TwoFactorMetadata, Plain.prototype.none)).toBeUndefined();
  });

  it('@SkipTwoFactor() stores false, which overrides the class’s requirement', () => {
    expect(reflector.get(TwoFactorMetadata, Guarded.prototype.skipped)).toBe(false);
    const effective = (handler: () => void) =>
      reflector.getAllAndOverride(TwoFactorMetadata, [handler, Guarded]);
    expect(effective(Guarded.prototype.skipped)).toBe(false);
    expect(effective(Guarded.prototype.email)).toEqual({ mode: 'all', types: [AlternativeEmail] });
    expect(effective(Guarded.prototype.open)).toEqual({ mode: 'any', types: [Totp, Sms] });
  });

  it('applies TwoFactorGuard itself, on classes and methods', () => {
    expect(Reflect.getMetadata(GUARDS_METADATA, Guarded)).toEqual([TwoFactorGuard]);
    expect(Reflect.getMetadata(GUARDS_METADATA, Guarded.prototype.email)).toEqual([TwoFactorGuard]);
    expect(Reflect.getMetadata(GUARDS_METADATA, Plain.prototype.any)).toEqual([TwoFactorGuard]);
  });

  it('@SkipTwoFactor() adds no guard', () => {
    expect(Reflect.getMetadata(GUARDS_METADATA, Guarded.prototype.skipped)).toBeUndefined();
  });
});
