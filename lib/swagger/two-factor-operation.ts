import { RequestMethod, applyDecorators } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { ApiExtension, ApiExtraModels, ApiResponse, ApiSecurity, DECORATORS } from '@nestjs/swagger';
import { TwoFactorMetadata, type TwoFactorRequirement } from '../two-factor.metadata.js';
import { TWO_FACTOR_MODELS, twoFactorResponses } from './two-factor-responses.js';

/** The operation extension that names a guarded route's requirement: `{ mode, required }`. */
export const TWO_FACTOR_EXTENSION = 'x-hyperid-2fa';

type Handler = (...args: unknown[]) => unknown;

/** Route handlers whose documentation is written or scheduled: each is documented once. */
const claimed = new WeakSet<Handler>();

function ownHandler(prototype: object, key: string | symbol): Handler | undefined {
  const value: unknown = Object.getOwnPropertyDescriptor(prototype, key)?.value;
  return typeof value === 'function' ? (value as Handler) : undefined;
}

/**
 * Documents the route `prototype[key]` once every decorator of its class has run: the docs then
 * follow the route's final metadata whatever the order of its decorators (above or below `@Get()`,
 * a `@SkipTwoFactor()` on the method, a class requirement) — the guard reads that same metadata
 * at run time. Class decorators run after the method decorators, synchronously, so a microtask
 * runs after all of them and long before any app can build a document.
 */
export function documentWhenDecorated(prototype: object, key: string | symbol, securityName: string): void {
  const handler = ownHandler(prototype, key);
  if (!handler || claimed.has(handler)) return;
  claimed.add(handler);
  queueMicrotask(() => documentOperation(prototype, key, securityName));
}

/** {@link documentWhenDecorated} for every route method the class itself declares. */
export function documentRoutesWhenDecorated(
  controller: abstract new (...args: never[]) => unknown,
  securityName: string,
): void {
  const prototype = controller.prototype as object;
  for (const key of Reflect.ownKeys(prototype)) {
    const handler = key === 'constructor' ? undefined : ownHandler(prototype, key);
    if (handler && Reflect.hasMetadata(METHOD_METADATA, handler))
      documentWhenDecorated(prototype, key, securityName);
  }
}

/** The requirement the guard enforces on a route: the method's word, else the class's. */
function effectiveRequirement(
  handler: Handler,
  controller: unknown,
): TwoFactorRequirement | false | undefined {
  const own = Reflect.getMetadata(TwoFactorMetadata.KEY, handler) as TwoFactorRequirement | false | undefined;
  if (own !== undefined) return own;
  return Reflect.getMetadata(TwoFactorMetadata.KEY, controller as object) as
    TwoFactorRequirement | false | undefined;
}

/** The status Nest answers a route with, as Swagger documents it when a route declares no response. */
function successStatus(handler: Handler): number {
  const code = Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined;
  if (code !== undefined) return code;
  return Reflect.getMetadata(METHOD_METADATA, handler) === RequestMethod.POST ? 201 : 200;
}

function hasSecurity(target: object, securityName: string): boolean {
  const security = (Reflect.getMetadata(DECORATORS.API_SECURITY, target) ?? []) as Record<string, unknown>[];
  return security.some((requirement) => securityName in requirement);
}

function documentOperation(prototype: object, key: string | symbol, securityName: string): void {
  const descriptor = Object.getOwnPropertyDescriptor(prototype, key);
  const handler = ownHandler(prototype, key);
  if (!descriptor || !handler || !Reflect.hasMetadata(METHOD_METADATA, handler)) return;
  const controller = (prototype as { constructor?: unknown }).constructor;
  const requirement = effectiveRequirement(handler, controller);
  if (!requirement) return;

  const extension: Record<string, unknown> = { mode: requirement.mode, required: [...requirement.types] };
  const decorators: MethodDecorator[] = [];
  if (requirement.enforce === 'report') {
    // Report mode lets every request through: the route answers nothing of the guard's.
    extension.enforce = 'report';
  } else {
    decorators.push(...guardAnswers(handler), ...securityRequirement(handler, controller, securityName));
    // A `when` condition may exempt a request, token or not: the scheme is then optional.
    if (requirement.when) {
      extension.conditional = true;
      decorators.push(ApiSecurity({}));
    }
  }
  decorators.push(ApiExtension(TWO_FACTOR_EXTENSION, extension));
  applyDecorators(...decorators)(prototype, key, descriptor);
}

/** The guard's answers, and the success they would hide; what the route documents itself stays. */
function guardAnswers(handler: Handler): MethodDecorator[] {
  const documented = Object.keys(
    (Reflect.getMetadata(DECORATORS.API_RESPONSE, handler) ?? {}) as Record<string, unknown>,
  );
  const decorators: MethodDecorator[] = [ApiExtraModels(...TWO_FACTOR_MODELS)];
  // Swagger documents a route's success only when it declares no response at all, which these
  // answers would change: the success is declared here, as Swagger would have.
  if (documented.every((status) => /^[45]/.test(status))) {
    decorators.push(ApiResponse({ status: successStatus(handler), description: '' }));
  }
  for (const response of twoFactorResponses()) {
    if (!documented.includes(String(response.status))) decorators.push(ApiResponse(response));
  }
  return decorators;
}

/** The bearer requirement, unless the route or its class states it already. */
function securityRequirement(handler: Handler, controller: unknown, securityName: string): MethodDecorator[] {
  if (hasSecurity(handler, securityName) || hasSecurity(controller as object, securityName)) return [];
  return [ApiSecurity(securityName)];
}
