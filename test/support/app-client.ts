// Shared by the property and fault-matrix suites: a keep-alive HTTP client for the app under test,
// a logger that keeps every line (to prove no token is logged), and the fast-check seed.
import { Agent, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication, LoggerService } from '@nestjs/common';

/** fast-check seed: FC_SEED when set, else a fixed one, so a failure can be replayed. */
export function propertySeed(): number {
  const fromEnv = process.env.FC_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed))
      throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
    return seed;
  }
  return 0x2fa_c0de;
}

/** Runs a fast-check assertion and names the seed (and how to replay it) when it fails. */
export async function withSeedReport(name: string, seed: number, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    console.error(`[${name}] property failed with fast-check seed ${seed}; replay with FC_SEED=${seed}`);
    throw error;
  }
}

/** A Nest logger that keeps every line, so a suite can check what the module logged. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private keep(level: string, message: unknown, params: unknown[]): void {
    const text = [message, ...params]
      .map((part) =>
        typeof part === 'string'
          ? part
          : part instanceof Error
            ? `${part.message} ${part.stack}`
            : JSON.stringify(part),
      )
      .join(' ');
    this.lines.push(`${level} ${text}`);
  }
  log(message: unknown, ...params: unknown[]): void {
    this.keep('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.keep('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.keep('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.keep('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.keep('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.keep('fatal', message, params);
  }
  /** Lines that contain `secret`. */
  linesContaining(secret: string): string[] {
    return this.lines.filter((line) => line.includes(secret));
  }
}

/** One answer of the app, with the raw header lines and the body as received. */
export interface AppAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** What an answer holds as text, decoded both ways a token could have been echoed. */
export function answerText(answer: AppAnswer): string {
  const head = answer.rawHeaders.join('\n');
  return `${head}\n${answer.body.toString('latin1')}\n${answer.body.toString('utf8')}`;
}

/** A keep-alive client for an app listening on 127.0.0.1. */
export class AppClient {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  constructor(readonly port: number) {}

  static async listen(app: INestApplication): Promise<AppClient> {
    await app.listen(0, '127.0.0.1');
    const address = (app.getHttpServer() as Server).address() as AddressInfo;
    return new AppClient(address.port);
  }

  /** GET `path`; `authorization` undefined sends no Authorization header. */
  get(path: string, authorization?: string): Promise<AppAnswer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      const req = request(
        { host: '127.0.0.1', port: this.port, path, method: 'GET', headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `tasks` with at most `limit` in flight; results in order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** RFC 6750 `b64token`, written out here independently of the library. */
export const B64TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/';

/** True when `token` may be sent to HyperID: b64token syntax and at most 8 KiB (SPEC §3). */
export function isSendableToken(token: string): boolean {
  if (token.length === 0 || token.length > 8192) return false;
  const body = token.replace(/=+$/, '');
  if (body.length === 0) return false;
  for (const char of body) if (!B64TOKEN_CHARS.includes(char)) return false;
  return true;
}
