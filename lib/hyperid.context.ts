import type { ExecutionContext } from '@nestjs/common';
import type { TwoFactorAnswer } from './cache/two-factor.cache.js';
import { PENDING_TWO_FACTOR_LOOKUP, VERIFIED_TWO_FACTOR_TYPES } from './hyperid.constants.js';
import { socketExchangeOf } from './websocket/socket.exchange.js';

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
 * The request and response of an HTTP or GraphQL execution context, or the socket of a WebSocket
 * message (a `SocketExchange`); undefined for any other context (microservices), which the guard
 * refuses. GraphQL is read from the resolver's context argument, so `@nestjs/graphql` is not needed
 * at run time: Apollo puts `req`/`res` there, Mercurius `reply` (whose `request` is the request).
 * Nor is `@nestjs/websockets`: the socket is the context's first argument.
 */
export function httpExchangeOf(context: ExecutionContext): HttpExchange | undefined {
  const type = context.getType<string>();
  if (type === 'http') {
    // The arguments switchToHttp() would read, without the closures it assigns on every call.
    return { request: context.getArgByIndex(0), response: context.getArgByIndex(1) };
  }
  if (type === 'graphql') {
    const gql = context.getArgByIndex<GraphQlContextLike | undefined>(2);
    const request = gql?.req ?? gql?.request ?? gql?.reply?.request;
    if (typeof request !== 'object' || request === null) return undefined;
    return { request: request as HttpExchange['request'], response: gql?.res ?? gql?.reply };
  }
  if (type === 'ws') return socketExchangeOf(context);
  return undefined;
}

/** A lookup in flight for one request, and the key of the token it is about. */
interface PendingLookup {
  key: string;
  lookup: Promise<TwoFactorAnswer>;
}

/**
 * What this request already knows about the token under `keyOf()`: a verified answer that has not
 * expired, or a lookup in flight — each only when it is about the same token. `keyOf` is called
 * only when the request remembers something, so a first check pays no extra digest.
 */
export function reusableAnswer(
  request: HttpExchange['request'],
  keyOf: () => string,
): TwoFactorAnswer | Promise<TwoFactorAnswer> | undefined {
  const verified = request[VERIFIED_TWO_FACTOR_TYPES] as TwoFactorAnswer | undefined;
  const pending = request[PENDING_TWO_FACTOR_LOOKUP] as PendingLookup | undefined;
  if (!verified && !pending) return undefined;
  const key = keyOf();
  if (verified && verified.key === key && verified.expiresAt > Date.now()) return verified;
  if (pending && pending.key === key) return pending.lookup;
  return undefined;
}

/** Leaves `lookup` on the request while it is in flight, so concurrent checks share it. */
export function rememberPending(
  request: HttpExchange['request'],
  key: string,
  lookup: Promise<TwoFactorAnswer>,
): void {
  const pending: PendingLookup = { key, lookup };
  request[PENDING_TWO_FACTOR_LOOKUP] = pending;
  const forget = () => {
    if (request[PENDING_TWO_FACTOR_LOOKUP] === pending) delete request[PENDING_TWO_FACTOR_LOOKUP];
  };
  lookup.then(forget, forget);
}

/** The verified 2FA methods this request holds, unless they have expired. */
export function verifiedTypesOf(request: HttpExchange['request'] | undefined): readonly number[] | undefined {
  const verified = request?.[VERIFIED_TWO_FACTOR_TYPES] as TwoFactorAnswer | undefined;
  return verified && verified.expiresAt > Date.now() ? verified.authTypes : undefined;
}
