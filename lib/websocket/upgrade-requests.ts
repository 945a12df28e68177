import type { WebSocketAdapter } from '@nestjs/common';

/**
 * The headers of each `ws` connection's upgrade request, by socket. `ws` hands the request to the
 * server's `connection` listeners only, and Nest's `WsAdapter` passes it on to `handleConnection()`
 * alone: a guard, which sees the socket and the message, cannot find it anywhere else.
 */
const upgradeHeaders = new WeakMap<object, Record<string, unknown>>();

/**
 * Makes the handshake of every connection of a `ws` adapter readable by `@RequireTwoFactor()`:
 * wraps the adapter's `bindClientConnect()` so that each socket's upgrade request headers are kept
 * with the socket (for as long as the socket lives; they are the request's own, not a copy). Returns
 * the adapter it was given.
 *
 * ```ts
 * app.useWebSocketAdapter(keepUpgradeRequests(new WsAdapter(app)));
 * ```
 *
 * socket.io keeps the handshake on its sockets already: its adapter needs no wrapping. See
 * docs/websockets.md.
 */
export function keepUpgradeRequests<A extends WebSocketAdapter>(adapter: A): A {
  const bindClientConnect = adapter.bindClientConnect.bind(adapter);
  adapter.bindClientConnect = (server: unknown, callback: (...args: unknown[]) => unknown): unknown =>
    bindClientConnect(server, (client: unknown, request: unknown, ...rest: unknown[]) => {
      const headers = (request as { headers?: unknown } | undefined)?.headers;
      if (isObject(client) && isObject(headers))
        upgradeHeaders.set(client, headers as Record<string, unknown>);
      return callback(client, request, ...rest);
    }) as unknown;
  return adapter;
}

/** The upgrade request headers {@link keepUpgradeRequests} kept for `socket`, if any. */
export function upgradeHeadersOf(socket: object): Record<string, unknown> | undefined {
  return upgradeHeaders.get(socket);
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
