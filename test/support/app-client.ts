// A keep-alive HTTP client for an app under test that listens on 127.0.0.1: raw header lines and
// body bytes as received, so that suites can search an answer for a token.
import { Agent, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';

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
