import { HttpException } from '@nestjs/common';
import type { WsException } from '@nestjs/websockets';
import type { TwoFactorMode } from '../two-factor.metadata.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';
import type { SocketAnswerHeaders } from './socket.exchange.js';

/**
 * What a WebSocket client receives (socket.io: the `exception` event; `ws`: a frame
 * `{ "event": "exception", "data": ... }`) when `@RequireTwoFactor()` refuses its message: the
 * HTTP answer of the README's status table, body and headers, as one object. Never the token.
 */
export interface TwoFactorWsError {
  /** Always `'error'`, as in Nest's own WebSocket errors. */
  status: 'error';
  /** The HTTP status the same refusal gets on a route (401, 400, 403, 502, 503). */
  statusCode: number;
  message: string;
  /** The HTTP status's name, e.g. `'Unauthorized'`. */
  error?: string;
  /** A missing requirement: `'all'` or `'any'`, as the requirement says. */
  mode?: TwoFactorMode;
  /** A missing requirement: the types the requirement names. */
  required?: TwoFactorType[];
  /** A missing requirement: the required types the user has not enabled. */
  missing?: TwoFactorType[];
  /** The `WWW-Authenticate` challenge of the HTTP answer (RFC 6750 §3, RFC 9470), when it has one. */
  wwwAuthenticate?: string;
  /** The `Retry-After` of the HTTP answer, in seconds, when it has one (503). */
  retryAfter?: number;
}

type WsExceptionClass = typeof WsException;

let loading: Promise<WsExceptionClass | undefined> | undefined;

/**
 * `WsException`, imported on the first refusal of a WebSocket message and then kept: the root
 * entry point must load without `@nestjs/websockets`, which only an app with gateways installs.
 * Nest 11 ships it as CommonJS, hence the `default` fallback.
 */
function wsExceptionClass(): Promise<WsExceptionClass | undefined> {
  loading ??= import('@nestjs/websockets').then(
    (module) =>
      module.WsException ?? (module as { default?: { WsException?: WsExceptionClass } }).default?.WsException,
    () => undefined,
  );
  return loading;
}

/** The body and headers of `answer` as the object a WebSocket client receives. */
export function wsErrorOf(answer: HttpException, headers: SocketAnswerHeaders): TwoFactorWsError {
  const body = answer.getResponse();
  const error: TwoFactorWsError = {
    message: answer.message,
    ...(typeof body === 'object' && body !== null ? body : { message: String(body) }),
    status: 'error',
    statusCode: answer.getStatus(),
  };
  if (headers.wwwAuthenticate !== undefined) error.wwwAuthenticate = headers.wwwAuthenticate;
  if (headers.retryAfter !== undefined) error.retryAfter = Number(headers.retryAfter);
  return error;
}

/**
 * `answer` as the `WsException` Nest sends to the client of a gateway: Nest answers any other
 * exception there with a bare "Internal server error" (and logs it). Anything but an
 * `HttpException` (a guard override that answers nothing), or a `ws` context without
 * `@nestjs/websockets` (built by hand): `answer` itself, refused all the same.
 */
export async function toWsException(answer: unknown, headers: SocketAnswerHeaders): Promise<unknown> {
  if (!(answer instanceof HttpException)) return answer;
  const WsExceptionClass = await wsExceptionClass();
  return WsExceptionClass ? new WsExceptionClass(wsErrorOf(answer, headers)) : answer;
}
