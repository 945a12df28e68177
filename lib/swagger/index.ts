// nestjs-hyperid/swagger: @RequireTwoFactor() that also documents the route for @nestjs/swagger
// (optional peer: @nestjs/swagger). See docs/openapi.md.
export {
  RequireTwoFactor,
  createRequireTwoFactor,
  type DocumentedRequireTwoFactor,
  type HyperIdSwaggerOptions,
} from './require-two-factor.decorator.js';
export { SkipTwoFactor } from '../require-two-factor.decorator.js';
export { HyperIdErrorBody, HyperIdTwoFactorRequiredBody } from './two-factor-responses.js';
