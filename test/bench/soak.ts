// `npm run soak`: 20 000 requests at concurrency 50 against a guarded app whose fake HyperID
// injects 10 % random faults, with users who do and do not have the required 2FA methods.
// Fails (exit 1) when a request is wrongly allowed, a status falls outside the expected set,
// a promise rejection goes unhandled, or a token shows up in an answer or a log line.
import 'reflect-metadata';
import { Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HyperIdModule, RequireTwoFactor, TwoFactorType } from 'nestjs-hyperid';
import { FakeHyperIdServer, type FakeHyperIdFault, type FakeTokenAnswer } from 'nestjs-hyperid/testing';

const TOTAL = 20_000;
const CONCURRENCY = 50;
const FAULT_PROBABILITY = 0.1;
const TIME_LIMIT_MS = 110_000;
/** Every token carries this, so answers and logs can be searched for any of them. */
const MARK = 'SoAkTkN';

let unhandledRejections = 0;
let uncaughtExceptions = 0;
process.on('unhandledRejection', () => {
  unhandledRejections += 1;
});
process.on('uncaughtException', (error) => {
  uncaughtExceptions += 1;
  console.error('uncaught exception:', error instanceof Error ? error.message : error);
});

/** A deterministic PRNG (mulberry32), so two runs send the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'with' | 'without' | 'invalid' | 'expired' | 'denied' | 'malformed' | 'missing';

/** Statuses each kind of caller may get: the user's answer, or 502/503 when HyperID fails. */
const EXPECTED: Record<Kind, readonly number[]> = {
  with: [200, 502, 503],
  without: [403, 502, 503],
  invalid: [401, 502, 503],
  expired: [401, 502, 503],
  denied: [403, 502, 503],
  malformed: [400],
  missing: [401],
};

interface Caller {
  kind: Kind;
  /** The Authorization header, or undefined for none. */
  header?: string;
  /** The secret part that must never come back in an answer. */
  secret?: string;
}

function population(): { callers: Record<Kind, Caller[]>; tokens: Record<string, FakeTokenAnswer> } {
  const tokens: Record<string, FakeTokenAnswer> = {};
  const callers: Record<Kind, Caller[]> = {
    with: [],
    without: [],
    invalid: [],
    expired: [],
    denied: [],
    malformed: [],
    missing: [],
  };
  const add = (kind: Kind, token: string, answer?: FakeTokenAnswer) => {
    if (answer) tokens[token] = answer;
    callers[kind].push({ kind, header: `Bearer ${token}`, secret: token });
  };
  const withSets = [[1], [0, 1], [1, 3], [0, 1, 2, 3], [1, 42]];
  const withoutSets = [[], [0], [0, 3], [2], [0, 2, 3], [7, 42]];
  for (let i = 0; i < 400; i += 1)
    add('with', `${MARK}-with-${i}`, { auth_types: withSets[i % withSets.length] });
  for (let i = 0; i < 400; i += 1)
    add('without', `${MARK}-without-${i}`, { auth_types: withoutSets[i % withoutSets.length] });
  for (let i = 0; i < 200; i += 1) add('invalid', `${MARK}-unknown-${i}`); // the fake answers -5
  for (let i = 0; i < 50; i += 1) add('expired', `${MARK}-expired-${i}`, { result: -4 });
  for (let i = 0; i < 50; i += 1) add('denied', `${MARK}-denied-${i}`, { result: -3 });
  for (const token of [
    `${MARK} two-parts`,
    `${MARK}-caf\u00e9`,
    `${MARK}=x`,
    `${'A'.repeat(9000)}${MARK}`,
    '',
  ]) {
    callers.malformed.push({
      kind: 'malformed',
      header: `Bearer ${token}`,
      secret: token.length >= 8 ? token : undefined,
    });
  }
  callers.missing.push({ kind: 'missing' }, { kind: 'missing', header: `Basic ${MARK}`, secret: MARK });
  return { callers, tokens };
}

/** The share of requests each kind gets. */
const MIX: [Kind, number][] = [
  ['with', 0.4],
  ['without', 0.3],
  ['invalid', 0.12],
  ['expired', 0.05],
  ['denied', 0.05],
  ['malformed', 0.05],
  ['missing', 0.03],
];

/** The faults HyperID injects, each on a tenth of the calls for its share of the tokens. */
const FAULTS: FakeHyperIdFault[] = [
  { result: -1 },
  { status: 503 },
  { hang: true },
  { malformed: true },
  { reset: true },
  { status: 500 },
];

@Controller()
class SoakController {
  @Get('guarded')
  @RequireTwoFactor(TwoFactorType.Totp)
  guarded() {
    return { ok: true };
  }
}

/** Counts log lines and keeps those that name a token. */
class SoakLogger implements LoggerService {
  lines = 0;
  readonly leaking: string[] = [];
  private keep(message: unknown, params: unknown[]): void {
    this.lines += 1;
    const text = [message, ...params]
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
      .join(' ');
    if (text.includes(MARK)) this.leaking.push(text.slice(0, 200));
  }
  log(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
  error(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
  warn(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
  debug(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
  verbose(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
  fatal(message: unknown, ...params: unknown[]) {
    this.keep(message, params);
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  const started = Date.now();
  const { callers, tokens } = population();
  const fake = await new FakeHyperIdServer({ tokens, maxRecordedRequests: 10 }).start();
  let i = 0;
  for (const token of Object.keys(tokens).concat(callers.invalid.map((c) => c.secret as string))) {
    fake.injectFault({ ...FAULTS[i++ % FAULTS.length], probability: FAULT_PROBABILITY }, token);
  }

  @Module({
    imports: [
      HyperIdModule.forRoot({
        apiUrl: fake.url,
        timeoutMs: 1000, // hangs end quickly, yet a busy event loop is not taken for a fault
        retries: 1,
        cache: { ttlMs: 100 }, // short, so HyperID keeps being asked
        circuitBreaker: { threshold: 5, halfOpenAfterMs: 500 },
      }),
    ],
    controllers: [SoakController],
  })
  class SoakModule {}

  const logger = new SoakLogger();
  const app = await NestFactory.create(SoakModule, { logger });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  const send = (header: string | undefined) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/guarded',
          agent,
          headers: header === undefined ? {} : { authorization: header },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: `${res.rawHeaders.join('\n')}\n${Buffer.concat(chunks).toString('latin1')}`,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });

  const random = prng(Number(process.env.SOAK_SEED ?? 0x50a4));
  const pick = (): Caller => {
    let roll = random();
    for (const [kind, share] of MIX) {
      if (roll < share) {
        const list = callers[kind];
        return list[Math.floor(random() * list.length)];
      }
      roll -= share;
    }
    return callers.with[0];
  };

  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const statusCounts = new Map<string, number>();
  const perKind = new Map<Kind, Map<number, number>>();
  let wronglyAllowed = 0;
  let unexpected = 0;
  let transportErrors = 0;
  let echoedTokens = 0;
  let next = 0;
  let timedOut = false;

  const worker = async () => {
    while (next < TOTAL) {
      if (Date.now() - started > TIME_LIMIT_MS) {
        timedOut = true;
        return;
      }
      next += 1;
      const caller = pick();
      try {
        const { status, text } = await send(caller.header);
        const byKind = perKind.get(caller.kind) ?? new Map<number, number>();
        byKind.set(status, (byKind.get(status) ?? 0) + 1);
        perKind.set(caller.kind, byKind);
        statusCounts.set(String(status), (statusCounts.get(String(status)) ?? 0) + 1);
        if (status === 200 && caller.kind !== 'with') wronglyAllowed += 1;
        if (!EXPECTED[caller.kind].includes(status)) unexpected += 1;
        if (caller.secret !== undefined && text.includes(caller.secret)) echoedTokens += 1;
      } catch {
        transportErrors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsedMs = Date.now() - started;

  // The app still serves once HyperID is healthy again.
  fake.clearFaults();
  await new Promise((resolve) => setTimeout(resolve, 600)); // past halfOpenAfterMs, should the breaker be open
  const healthy = await send(`Bearer ${MARK}-with-0`);
  const stillServing = healthy.status === 200;

  const rssAfter = process.memoryUsage().rss;
  const heapAfter = process.memoryUsage().heapUsed;
  agent.destroy();
  await app.close();
  await fake.stop();

  const done = [...statusCounts.values()].reduce((a, b) => a + b, 0) + transportErrors;
  const withCounts = perKind.get('with') ?? new Map<number, number>();
  const withTotal = [...withCounts.values()].reduce((a, b) => a + b, 0);
  const withAllowedShare = withTotal === 0 ? 0 : (withCounts.get(200) ?? 0) / withTotal;

  console.log(
    `nestjs-hyperid soak: ${done} requests at concurrency ${CONCURRENCY}, ${FAULT_PROBABILITY * 100} % HyperID faults`,
  );
  console.log(
    `  elapsed                     ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(done / (elapsedMs / 1000))} req/s)`,
  );
  console.log(`  HyperID calls               ${fake.calls()}`);
  console.log(
    `  statuses                    ${[...statusCounts]
      .sort()
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ')}`,
  );
  for (const [kind, counts] of [...perKind].sort()) {
    console.log(
      `    ${kind.padEnd(10)}                ${[...counts]
        .sort()
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ')}`,
    );
  }
  console.log(`  users with the types let in ${(withAllowedShare * 100).toFixed(1)} %`);
  console.log(`  log lines                   ${logger.lines}`);
  console.log(
    `  RSS before / after          ${mb(rssBefore)} / ${mb(rssAfter)} (${rssAfter >= rssBefore ? '+' : ''}${mb(rssAfter - rssBefore)})`,
  );
  console.log(`  heap used before / after    ${mb(heapBefore)} / ${mb(heapAfter)}`);
  const mustBeZero: [string, number][] = [
    ['wrongly allowed (200 without the types or with an invalid token)', wronglyAllowed],
    ['statuses outside the expected set', unexpected],
    ['requests that failed at the HTTP level', transportErrors],
    ['unhandled rejections', unhandledRejections],
    ['uncaught exceptions', uncaughtExceptions],
    ['answers echoing the token', echoedTokens],
    ['log lines naming a token', logger.leaking.length],
    ['requests not sent (time limit)', TOTAL - done],
  ];
  console.log('  must be 0:');
  for (const [name, value] of mustBeZero)
    console.log(`    ${value === 0 ? 'ok  ' : 'FAIL'} ${String(value).padStart(6)}  ${name}`);
  for (const line of logger.leaking.slice(0, 3)) console.log(`    leaking log line: ${line}`);

  const failures = mustBeZero.filter(([, value]) => value !== 0).map(([name]) => name);
  if (timedOut) failures.push(`time limit of ${TIME_LIMIT_MS / 1000} s reached`);
  if (!stillServing) failures.push(`the app answered ${healthy.status} to a healthy request after the soak`);
  // A harness that lets nobody in proves nothing: most users with the types must pass.
  if (withAllowedShare < 0.5) failures.push('fewer than half of the users with the types were let in');
  console.log(failures.length === 0 ? 'soak passed' : `soak FAILED: ${failures.join('; ')}`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error('soak crashed:', error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
