import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HyperIdResult } from '../hyperid-result.enum.js';

/** How the fake HyperID answers for a token: the user's 2FA methods, or a result code. */
export type FakeTokenAnswer = { auth_types: number[] } | { result: number };

/** A fault the fake HyperID injects into its answers (per token or for every token). */
export interface FakeHyperIdFault {
  /** Wait this long before answering, in milliseconds. */
  latencyMs?: number;
  /** Answer HTTP 200 with this `result` code (and no `auth_types`). */
  result?: number;
  /** Answer with this HTTP status (e.g. 500, 503, 429) and an HTML body, or `body` when given. */
  status?: number;
  /** Extra headers of the answer, e.g. `{ 'Retry-After': '30' }` with a 429. */
  headers?: Record<string, string>;
  /** Answer HTTP 200 with a body that is not JSON. */
  malformed?: boolean;
  /** Answer HTTP 200 with exactly this body. */
  body?: string;
  /** Never answer (the request hangs until the client gives up). */
  hang?: boolean;
  /** Destroy the connection without answering. */
  reset?: boolean;
  /** Answer `302 Location: <redirectTo>`. */
  redirectTo?: string;
  /** Answer HTTP 200 with a JSON body of about this many bytes. */
  oversizedBytes?: number;
  /** Apply this fault to a random share of the requests only, from 0 to 1. Default 1. */
  probability?: number;
}

/** One request the fake HyperID received. */
export interface FakeHyperIdRequest {
  method: string;
  path: string;
  /** The bearer token, or undefined when the header was missing or not Bearer. */
  token?: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Options of {@link FakeHyperIdServer}. */
export interface FakeHyperIdServerOptions {
  /** Answers by token; tokens not listed answer `HyperIdResult.TokenInvalid`. */
  tokens?: Record<string, FakeTokenAnswer>;
  /** Port to listen on, on 127.0.0.1. Default 0: an ephemeral port. */
  port?: number;
  /** Latency added to every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Keep at most this many requests in {@link FakeHyperIdServer.requests}. Default 1000. */
  maxRecordedRequests?: number;
}

const PATH = '/2fa/types/get';

/**
 * A stand-in for HyperID's `POST /2fa/types/get`: a real HTTP server on 127.0.0.1 that answers from
 * a table of tokens, counts calls per token and injects faults on demand. For tests, samples and
 * benchmarks; never for production.
 */
export class FakeHyperIdServer {
  private readonly server: Server;
  private readonly tokens = new Map<string, FakeTokenAnswer>();
  private readonly tokenFaults = new Map<string, FakeHyperIdFault>();
  private globalFault?: FakeHyperIdFault;
  private readonly callCounts = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly recorded: FakeHyperIdRequest[] = [];
  private total = 0;
  private port?: number;

  constructor(private readonly options: FakeHyperIdServerOptions = {}) {
    for (const [token, answer] of Object.entries(options.tokens ?? {})) this.tokens.set(token, answer);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Base URL to give `HyperIdModule` as `apiUrl`, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    if (this.port === undefined) throw new Error('FakeHyperIdServer is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts listening; resolves once the port is open. */
  async start(): Promise<this> {
    this.server.listen(this.options.port ?? 0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and closes every open connection, hanging ones included. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Sets (or replaces) how the server answers for `token`. */
  setToken(token: string, answer: FakeTokenAnswer): this {
    this.tokens.set(token, answer);
    return this;
  }

  /** Injects `fault` into the answers for `token`, or for every token when `token` is omitted. */
  injectFault(fault: FakeHyperIdFault, token?: string): this {
    if (token === undefined) this.globalFault = fault;
    else this.tokenFaults.set(token, fault);
    return this;
  }

  /** Removes every injected fault. */
  clearFaults(): this {
    this.globalFault = undefined;
    this.tokenFaults.clear();
    return this;
  }

  /** Calls received for `token`, or for all tokens (and none) when `token` is omitted. */
  calls(token?: string): number {
    return token === undefined ? this.total : (this.callCounts.get(token) ?? 0);
  }

  /** The latest requests received, oldest first. */
  get requests(): readonly FakeHyperIdRequest[] {
    return this.recorded;
  }

  /** Forgets the call counts and the recorded requests. */
  resetCalls(): this {
    this.callCounts.clear();
    this.recorded.length = 0;
    this.total = 0;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '').split('?')[0];
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const token = match?.[1];
    this.record({
      method: req.method ?? '',
      path,
      token,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });

    if (req.method !== 'POST' || path !== PATH) return this.send(res, 404, { error: 'not found' });

    const fault = this.activeFault(token);
    const latency = (this.options.latencyMs ?? 0) + (fault?.latencyMs ?? 0);
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    if (fault?.hang) return;
    if (fault?.reset) {
      req.socket.destroy();
      return;
    }
    if (fault?.redirectTo) {
      res.writeHead(302, { Location: fault.redirectTo }).end();
      return;
    }
    if (fault?.status !== undefined) {
      const html = fault.body === undefined;
      res
        .writeHead(fault.status, {
          'Content-Type': html ? 'text/html' : 'application/json',
          ...fault.headers,
        })
        .end(fault.body ?? '<html><body>Bad gateway</body></html>');
      return;
    }
    if (fault?.malformed) return this.sendRaw(res, '{"result": 0, "auth_types": [0,');
    if (fault?.body !== undefined) return this.sendRaw(res, fault.body, fault.headers);
    if (fault?.oversizedBytes !== undefined) {
      const padding = Array.from({ length: Math.ceil(fault.oversizedBytes / 2) }, () => 0);
      return this.send(res, 200, { result: 0, auth_types: padding });
    }
    if (fault?.result !== undefined) return this.send(res, 200, { result: fault.result });

    const answer = token === undefined ? undefined : this.tokens.get(token);
    if (answer === undefined) return this.send(res, 200, { result: HyperIdResult.TokenInvalid });
    if ('result' in answer) return this.send(res, 200, { result: answer.result });
    return this.send(res, 200, { result: 0, auth_types: answer.auth_types });
  }

  private activeFault(token: string | undefined): FakeHyperIdFault | undefined {
    const fault = (token !== undefined ? this.tokenFaults.get(token) : undefined) ?? this.globalFault;
    if (!fault) return undefined;
    return fault.probability === undefined || Math.random() < fault.probability ? fault : undefined;
  }

  private record(request: FakeHyperIdRequest): void {
    this.total += 1;
    if (request.token !== undefined) {
      this.callCounts.set(request.token, (this.callCounts.get(request.token) ?? 0) + 1);
    }
    this.recorded.push(request);
    if (this.recorded.length > (this.options.maxRecordedRequests ?? 1000)) this.recorded.shift();
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendRaw(res: ServerResponse, text: string, headers?: Record<string, string>): void {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }
}
