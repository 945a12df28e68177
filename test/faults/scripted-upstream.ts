// A tiny HyperID stand-in for faults FakeHyperIdServer cannot play: answers cut mid-body, bodies
// dribbled forever, redirects of every kind. Behaviour is chosen per token; others answer healthy.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;

export class ScriptedUpstream {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly behaviours = new Map<string, Behaviour>();
  /** Every request received: its token (or undefined) and path. */
  readonly received: { token?: string; path: string; authorization?: string }[] = [];
  private port?: number;

  constructor(private readonly healthy: Behaviour = json(200, { result: 0, auth_types: [1, 3] })) {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        this.received.push({ token, path: req.url ?? '', authorization: req.headers.authorization });
        (token !== undefined ? (this.behaviours.get(token) ?? this.healthy) : this.healthy)(req, res);
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(port = 0): Promise<this> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  calls(token?: string): number {
    return token === undefined ? this.received.length : this.received.filter((r) => r.token === token).length;
  }

  /** A timer that `stop()` clears, for behaviours that write later. */
  every(ms: number, tick: () => boolean): void {
    const timer = setInterval(() => {
      if (!tick()) {
        clearInterval(timer);
        this.timers.delete(timer);
      }
    }, ms);
    this.timers.add(timer);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/** Answers `status` with `body` as JSON. */
export function json(status: number, body: unknown): Behaviour {
  return (_req, res) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
}

/** A port on 127.0.0.1 nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
