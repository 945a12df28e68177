import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HyperIdResult } from '../hyperid-result.enum.js';

/** How the fake HyperID answers for a token: the user's 2FA methods, or a result code. */
export type FakeTokenAnswer = { auth_types: number[] } | { result: number };

/**
 * A fault the fake HyperID injects into its answers (per token or for every token).
 *
 * Any answer can be built from `status`, `body` and `headers`; the other fields play what a real
 * server does wrong on the wire (hangs, resets, answers cut off, slow or endless bodies).
 */
export interface FakeHyperIdFault {
  /** Wait this long before answering, in milliseconds. */
  latencyMs?: number;
  /** Answer HTTP 200 with this `result` code (and no `auth_types`). */
  result?: number;
  /**
   * Answer with this HTTP status, any from 100 to 999 (e.g. 500, 503, 429, 301), with `body` and
   * `headers` when given, else with an HTML page.
   */
  status?: number;
  /**
   * Extra headers of the answer, e.g. `{ 'Retry-After': '30' }` with a 429 or `{ Location: url }`
   * with a 3xx; they override the fake's own `Content-Type` and `Content-Length`.
   */
  headers?: Record<string, string>;
  /** Answer HTTP 200 with a body that is not JSON. */
  malformed?: boolean;
  /**
   * Answer with exactly this body (as `application/json`), with HTTP 200 unless `status` says
   * otherwise. With `cutAfterMs`, `dribble` or `trickle`, only the first bytes of the body (none
   * when `body` is omitted).
   */
  body?: string;
  /** Never answer (the request hangs until the client gives up). */
  hang?: boolean;
  /** Destroy the connection without answering. */
  reset?: boolean;
  /** Answer `302 Location: <redirectTo>`. For another 3xx, use `status` and `headers`. */
  redirectTo?: string;
  /** Answer HTTP 200 with a JSON body of about this many bytes. */
  oversizedBytes?: number;
  /**
   * Declare this `Content-Length`, whatever is sent: e.g. more than `body`, for an answer that can
   * never be complete (it stays open, unless `cutAfterMs` cuts it). By default a complete body
   * declares its own length, and a body left open by `cutAfterMs` or `dribble`, or sent by
   * `trickle`, declares none (it is sent chunked).
   */
  contentLength?: number;
  /**
   * Send the head and `body`, then destroy the connection this many milliseconds later, without
   * ending the answer: HyperID going away mid-answer.
   */
  cutAfterMs?: number;
  /**
   * Send the head and `body`, then write `chunk` every `everyMs` milliseconds for as long as the
   * client listens: a body that never ends. It stops when the client goes away or the fake stops.
   */
  dribble?: { chunk: string; everyMs: number };
  /**
   * Send the head and `body`, then these parts one every `everyMs` milliseconds, and end the answer
   * with the last one: a body that arrives slowly but completely.
   */
  trickle?: { parts: string[]; everyMs: number };
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

/** Whether `fault` sends its body over time or cuts it off, rather than whole. */
function leftOpen(fault: FakeHyperIdFault): boolean {
  return fault.cutAfterMs !== undefined || fault.dribble !== undefined || fault.trickle !== undefined;
}

/**
 * A stand-in for HyperID's `POST /2fa/types/get`: a real HTTP server on 127.0.0.1 that answers from
 * a table of tokens, counts calls per token and injects faults on demand (see
 * {@link FakeHyperIdFault}: any status, body and headers, hangs, resets, answers cut off, slow or
 * endless bodies), for every call or as a script of one fault per call ({@link scriptFaults}). For
 * tests, samples and benchmarks; never for production.
 */
export class FakeHyperIdServer {
  private readonly server: Server;
  private readonly tokens = new Map<string, FakeTokenAnswer>();
  private readonly tokenFaults = new Map<string, FakeHyperIdFault>();
  private globalFault?: FakeHyperIdFault;
  private readonly tokenScripts = new Map<string, FakeHyperIdFault[]>();
  private globalScript: FakeHyperIdFault[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
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
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
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

  /**
   * Scripts the next calls for `token`, or for every token when `token` is omitted: the first call
   * is answered with `faults[0]`, the next with `faults[1]`, and so on, one fault per call. Once
   * the script is used up, calls are answered as before (the token's answer, and any fault from
   * {@link injectFault}). An empty fault `{}` in the script answers that call as usual, and
   * `probability` does not apply: each scripted fault is played once, in turn. A token's own
   * script comes before the script for every token.
   */
  scriptFaults(faults: readonly FakeHyperIdFault[], token?: string): this {
    if (token === undefined) this.globalScript = [...faults];
    else this.tokenScripts.set(token, [...faults]);
    return this;
  }

  /** Removes every injected fault and every script. */
  clearFaults(): this {
    this.globalFault = undefined;
    this.tokenFaults.clear();
    this.globalScript = [];
    this.tokenScripts.clear();
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

    const fault = this.nextFault(token);
    const latency = (this.options.latencyMs ?? 0) + (fault?.latencyMs ?? 0);
    if (latency > 0) await this.sleep(latency);
    if (fault?.hang) return;
    if (fault?.reset) {
      req.socket.destroy();
      return;
    }
    if (fault?.redirectTo) {
      res.writeHead(302, { Location: fault.redirectTo }).end();
      return;
    }
    if (fault === undefined) return this.send(res, 200, this.tableAnswer(token));
    const { status, body, contentType } = this.faultAnswer(fault, token);
    this.answer(res, fault, status, body, { 'Content-Type': contentType, ...fault.headers });
  }

  /** What the token table says for `token`. */
  private tableAnswer(token: string | undefined): object {
    const answer = token === undefined ? undefined : this.tokens.get(token);
    if (answer === undefined) return { result: HyperIdResult.TokenInvalid };
    if ('result' in answer) return { result: answer.result };
    return { result: HyperIdResult.Success, auth_types: answer.auth_types };
  }

  /** The status and (first bytes of the) body `fault` answers with. */
  private faultAnswer(
    fault: FakeHyperIdFault,
    token: string | undefined,
  ): { status: number; body: string; contentType: string } {
    const json = (body: string, status = 200) => ({ status, body, contentType: 'application/json' });
    if (fault.body === undefined && leftOpen(fault)) return json('', fault.status);
    if (fault.status !== undefined) {
      if (fault.body !== undefined) return json(fault.body, fault.status);
      return {
        status: fault.status,
        body: '<html><body>Bad gateway</body></html>',
        contentType: 'text/html',
      };
    }
    if (fault.malformed) return json('{"result": 0, "auth_types": [0,');
    if (fault.body !== undefined) return json(fault.body);
    if (fault.oversizedBytes !== undefined) {
      const padding = Array.from({ length: Math.ceil(fault.oversizedBytes / 2) }, () => 0);
      return json(JSON.stringify({ result: HyperIdResult.Success, auth_types: padding }));
    }
    if (fault.result !== undefined) return json(JSON.stringify({ result: fault.result }));
    return json(JSON.stringify(this.tableAnswer(token)));
  }

  /** Writes the answer, whole or in the way `fault` says (cut off, dribbled, trickled). */
  private answer(
    res: ServerResponse,
    fault: FakeHyperIdFault,
    status: number,
    body: string,
    headers: Record<string, string>,
  ): void {
    const open = leftOpen(fault);
    const declared = fault.contentLength ?? (open ? undefined : Buffer.byteLength(body));
    res.on('error', () => undefined);
    res.writeHead(status, {
      ...(declared === undefined ? {} : { 'Content-Length': String(declared) }),
      ...headers,
    });
    if (!open && Buffer.byteLength(body) >= (declared ?? 0)) {
      res.end(body);
      return;
    }
    if (body !== '') res.write(body);
    if (fault.cutAfterMs !== undefined) this.later(fault.cutAfterMs, () => res.socket?.destroy());
    if (fault.dribble !== undefined) {
      const { chunk, everyMs } = fault.dribble;
      const tick = () => {
        if (!res.socket || res.socket.destroyed) return;
        res.write(chunk);
        this.later(everyMs, tick);
      };
      this.later(everyMs, tick);
    }
    if (fault.trickle !== undefined) {
      const parts = [...fault.trickle.parts];
      const { everyMs } = fault.trickle;
      const tick = () => {
        if (!res.socket || res.socket.destroyed) return;
        const part = parts.shift() ?? '';
        if (parts.length === 0) res.end(part);
        else {
          res.write(part);
          this.later(everyMs, tick);
        }
      };
      if (parts.length > 0) tick();
      else res.end();
    }
  }

  /** Runs `task` in `ms` milliseconds, unless the fake stops first. */
  private later(ms: number, task: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      task();
    }, ms);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  /** The scripted fault of this call when there is one, else the injected one (if it applies). */
  private nextFault(token: string | undefined): FakeHyperIdFault | undefined {
    const script = token !== undefined ? this.tokenScripts.get(token) : undefined;
    if (script !== undefined && script.length > 0) return script.shift();
    if (this.globalScript.length > 0) return this.globalScript.shift();
    return this.activeFault(token);
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
}
