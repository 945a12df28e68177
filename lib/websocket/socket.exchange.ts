import type { ExecutionContext } from '@nestjs/common';
import { bearerTokenOf } from '../bearer-token.js';
import type { HttpExchange } from '../hyperid.context.js';
import { upgradeHeadersOf } from './upgrade-requests.js';

/**
 * The headers of a refusal the guard builds for a WebSocket message: a socket has no HTTP response
 * to set them on, so they are kept here and sent inside the `WsException` instead.
 */
export class SocketAnswerHeaders {
  /** `WWW-Authenticate`, as the HTTP answer would carry it. */
  wwwAuthenticate?: string;
  /** `Retry-After`, in seconds. */
  retryAfter?: string;

  set(name: string, value: string): void {
    const header = name.toLowerCase();
    if (header === 'www-authenticate') this.wwwAuthenticate = value;
    else if (header === 'retry-after') this.retryAfter = value;
  }
}

/**
 * A WebSocket message, as the guard sees it: the socket plays the request's part (what the guard
 * verifies is kept on it for the connection, with the token's digest and its expiry, as on any
 * request), and the headers of a refusal are collected for the `WsException`.
 */
export class SocketExchange implements HttpExchange {
  readonly response = new SocketAnswerHeaders();

  constructor(readonly request: HttpExchange['request']) {}
}

/** What a connection's handshake says: its HTTP headers, and socket.io's `auth` payload. */
export interface SocketHandshake {
  headers?: Record<string, unknown>;
  auth?: Record<string, unknown>;
}

/** Every check of one message sees the same exchange, so a refusal's headers are not lost. */
const exchanges = new WeakMap<ExecutionContext, SocketExchange>();

/** The exchange of a `ws` execution context; undefined when its client is not an object. */
export function socketExchangeOf(context: ExecutionContext): SocketExchange | undefined {
  const known = exchanges.get(context);
  if (known) return known;
  const client = context.switchToWs().getClient<unknown>();
  if (!isObject(client)) return undefined;
  const exchange = new SocketExchange(client as HttpExchange['request']);
  exchanges.set(context, exchange);
  return exchange;
}

/**
 * The handshake of a socket: socket.io keeps it on the socket (`handshake`); a `ws` socket's
 * upgrade request is known only when the adapter was wrapped by `keepUpgradeRequests()`.
 * Undefined when neither is there.
 */
export function handshakeOf(socket: object): SocketHandshake | undefined {
  const { handshake } = socket as { handshake?: unknown };
  if (isObject(handshake)) return handshake;
  const headers = upgradeHeadersOf(socket);
  return headers && { headers };
}

/**
 * The bearer token of a handshake, unchecked: the `Authorization: Bearer` header (RFC 6750 §2.1),
 * else socket.io's `auth.token` (the token alone, or with a `Bearer ` prefix). Never a message's
 * body. A present `auth.token` that is not a string reads as `''`, which is answered as malformed.
 */
export function handshakeTokenOf(handshake: SocketHandshake): string | undefined {
  const fromHeader = bearerTokenOf(handshake.headers?.authorization);
  if (fromHeader !== undefined) return fromHeader;
  const token = isObject(handshake.auth) ? (handshake.auth as { token?: unknown }).token : undefined;
  if (token === undefined || token === null) return undefined;
  if (typeof token !== 'string') return '';
  return bearerTokenOf(token) ?? token;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
