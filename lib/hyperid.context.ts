import type { ExecutionContext } from '@nestjs/common';

/** The HTTP request and response behind an execution context, whatever the transport. */
export interface HttpExchange {
  request: { headers?: Record<string, unknown> } & Record<PropertyKey, unknown>;
  response: unknown;
}

/** What Apollo (`req`/`res`) or Mercurius (`reply`) put in a resolver's context. */
interface GraphQlContextLike {
  req?: unknown;
  res?: unknown;
  request?: unknown;
  reply?: { request?: unknown };
}

/**
 * The request and response of an HTTP or GraphQL execution context; undefined for any other
 * context (WebSocket, microservices), which the guard refuses. GraphQL is read from the resolver's
 * context argument, so `@nestjs/graphql` is not needed at run time: Apollo puts `req`/`res` there,
 * Mercurius `reply` (whose `request` is the request).
 */
export function httpExchangeOf(context: ExecutionContext): HttpExchange | undefined {
  const type = context.getType<string>();
  if (type === 'http') {
    const http = context.switchToHttp();
    return { request: http.getRequest(), response: http.getResponse() };
  }
  if (type === 'graphql') {
    const gql = context.getArgByIndex<GraphQlContextLike | undefined>(2);
    const request = gql?.req ?? gql?.request ?? gql?.reply?.request;
    if (typeof request !== 'object' || request === null) return undefined;
    return { request: request as HttpExchange['request'], response: gql?.res ?? gql?.reply };
  }
  return undefined;
}

/** Where the guard leaves the verified 2FA methods on the request, for `@TwoFactorTypes()`. */
export const VERIFIED_TWO_FACTOR_TYPES = Symbol('hyperid:verified-two-factor-types');

/** Where the guard leaves a lookup still in flight, so concurrent checks of one request share it. */
export const PENDING_TWO_FACTOR_LOOKUP = Symbol('hyperid:pending-two-factor-lookup');
