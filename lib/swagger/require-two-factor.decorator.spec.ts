import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import { ApiBearerAuth, ApiSecurity, DECORATORS } from '@nestjs/swagger';
import { SkipTwoFactor } from '../require-two-factor.decorator.js';
import { TwoFactorGuard } from '../two-factor.guard.js';
import { TwoFactorMetadata } from '../two-factor.metadata.js';
import { TwoFactorType } from '../two-factor-type.enum.js';
import { RequireTwoFactor, createRequireTwoFactor } from './require-two-factor.decorator.js';
import { TWO_FACTOR_EXTENSION } from './two-factor-operation.js';

const { Totp, Sms } = TwoFactorType;

/** Lets the microtask that writes the documentation of the classes defined so far run. */
const decorated = () => new Promise<void>((resolve) => setImmediate(resolve));

const responsesOf = (handler: unknown) =>
  Object.keys((Reflect.getMetadata(DECORATORS.API_RESPONSE, handler as object) ?? {}) as object);
const securityOf = (handler: unknown) =>
  Reflect.getMetadata(DECORATORS.API_SECURITY, handler as object) as unknown;
const extensionOf = (handler: unknown) =>
  (Reflect.getMetadata(DECORATORS.API_EXTENSION, handler as object) as Record<string, unknown> | undefined)?.[
    TWO_FACTOR_EXTENSION
  ];

describe('RequireTwoFactor of nestjs-hyperid/swagger', () => {
  it('applies the guard and the requirement, as the root decorator does', () => {
    class Routes {
      @Get() @RequireTwoFactor(Totp) route() {}
    }
    expect(Reflect.getMetadata(GUARDS_METADATA, Routes.prototype.route)).toEqual([TwoFactorGuard]);
    expect(Reflect.getMetadata(TwoFactorMetadata.KEY, Routes.prototype.route)).toEqual({
      mode: 'all',
      types: [Totp],
    });
  });

  it('documents a route with the answers, the bearer requirement and the extension', async () => {
    class Routes {
      @Get() @RequireTwoFactor({ anyOf: [Totp, Sms] }) read() {}
      @Post() @RequireTwoFactor() create() {}
      @Post('done') @HttpCode(204) @RequireTwoFactor() done() {}
    }
    await decorated();
    const { read, create, done } = Routes.prototype;
    expect(responsesOf(read)).toEqual(['200', '400', '401', '403', '502', '503']);
    expect(responsesOf(create)).toContain('201');
    expect(responsesOf(done)).toContain('204');
    expect(responsesOf(done)).not.toContain('201');
    expect(securityOf(read)).toEqual([{ bearer: [] }]);
    expect(extensionOf(read)).toEqual({ mode: 'any', required: [Totp, Sms] });
  });

  it('documents the routes of a class, not its skipped routes nor its other methods', async () => {
    @Controller()
    @RequireTwoFactor(Sms)
    class Routes {
      @Get('a') guarded() {}
      @Get('b') @SkipTwoFactor() skipped() {}
      helper() {}
    }
    await decorated();
    const { guarded, skipped, helper } = Routes.prototype;
    expect(extensionOf(guarded)).toEqual({ mode: 'all', required: [Sms] });
    for (const handler of [skipped, helper]) {
      expect(extensionOf(handler)).toBeUndefined();
      expect(responsesOf(handler)).toEqual([]);
      expect(securityOf(handler)).toBeUndefined();
    }
  });

  it('documents a route once, whatever decorates it twice', async () => {
    @RequireTwoFactor()
    class Routes {
      @Get() @RequireTwoFactor(Totp) @RequireTwoFactor(Totp) route() {}
    }
    await decorated();
    expect(securityOf(Routes.prototype.route)).toEqual([{ bearer: [] }]);
    expect(extensionOf(Routes.prototype.route)).toEqual({ mode: 'all', required: [Totp] });
  });

  it('adds no second requirement of a scheme the route or its class already requires', async () => {
    @ApiBearerAuth()
    class ClassWide {
      @Get() @RequireTwoFactor() route() {}
    }
    class OnTheRoute {
      @Get() @ApiSecurity('bearer') @RequireTwoFactor() route() {}
    }
    await decorated();
    expect(securityOf(ClassWide.prototype.route)).toBeUndefined();
    expect(securityOf(OnTheRoute.prototype.route)).toEqual([{ bearer: [] }]);
  });

  it('requires the scheme named by createRequireTwoFactor()', async () => {
    const Require = createRequireTwoFactor({ securityName: 'hyperid' });
    class Routes {
      @Get() @Require() route() {}
    }
    await decorated();
    expect(securityOf(Routes.prototype.route)).toEqual([{ hyperid: [] }]);
  });

  it.each([[''], ['  '], [42]])('createRequireTwoFactor() refuses the scheme name %p', (securityName) => {
    expect(() => createRequireTwoFactor({ securityName: securityName as string })).toThrow(
      /securityName must be a non-empty string/,
    );
  });

  it('createRequireTwoFactor() refuses an unknown option', () => {
    expect(() => createRequireTwoFactor({ securityname: 'hyperid' } as never)).toThrow(
      'createRequireTwoFactor(): unknown option "securityname"',
    );
  });

  it('checks the requirement at once, as the root decorator does', () => {
    expect(() => RequireTwoFactor(7 as TwoFactorType)).toThrow(/7 is not a TwoFactorType/);
    expect(() => RequireTwoFactor({ anyOf: [] })).toThrow(TypeError);
  });
});
