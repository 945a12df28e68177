export {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';
export { toHttpException, type SetHeader } from './http-exceptions.js';
export { HyperIdExceptionFilter } from './hyperid-exception.filter.js';
export {
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
  type TwoFactorRequiredBody,
} from './two-factor.exceptions.js';
