// `npm run soak`, in two phases against a guarded app on loopback:
// 1. 20 000 requests at concurrency 50 while the fake HyperID injects 10 % random faults, with
//    users who do and do not have the required 2FA methods;
// 2. a fault-free phase where half of the requests carry distinct invalid tokens (each used once,
//    so no cache can absorb them) among good users' requests: a flood of bad tokens must not open
//    the circuit breaker, nor change what good users get.
// Fails (exit 1) when a request is wrongly allowed, a status falls outside the expected set, the
// breaker opens under bad tokens, a good user's answer changes, a promise rejection goes unhandled,
// or a token shows up in an answer or a log line.
import 'reflect-metadata';
import { Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  HyperIdHealthIndicator,
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorType,
  type HyperIdCircuitState,
} from 'nestjs-hyperid';
import { FakeHyperIdServer, type FakeHyperIdFault, type FakeTokenAnswer } from 'nestjs-hyperid/testing';
import { writeResultsSection } from './support/results-file.js';

const TOTAL = 20_000;
const CONCURRENCY = 50;
const FAULT_PROBABILITY = 0.1;
const TIME_LIMIT_MS = 110_000;
/** Requests of the junk-token phase; every other one carries a token never seen before. */
const JUNK_PHASE_TOTAL = 10_000;
const JUNK_PHASE_TIME_LIMIT_MS = 60_000;
/**
 * Well under the breaker's halfOpenAfterMs (500 ms), so no opening slips between two readings of
 * the health indicator.
 */
const BREAKER_POLL_MS = 20;
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
  // Not in the fake's table, so it answers TokenInvalid.
  for (let i = 0; i < 200; i += 1) add('invalid', `${MARK}-unknown-${i}`);
  for (let i = 0; i < 50; i += 1)
    add('expired', `${MARK}-expired-${i}`, { result: HyperIdResult.TokenExpired });
  for (let i = 0; i < 50; i += 1)
    add('denied', `${MARK}-denied-${i}`, { result: HyperIdResult.AccessDenied });
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
  { result: HyperIdResult.ServiceTemporarilyUnavailable },
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

/** Hides every token in `text`: a report about a leak must not leak in turn. */
const redact = (text: string) => text.replace(new RegExp(`\\S*${MARK}\\S*`, 'g'), '<token>');

/** Counts log lines and keeps those that name a token, with the tokens hidden. */
class SoakLogger implements LoggerService {
  lines = 0;
  readonly leaking: string[] = [];
  private keep(message: unknown, params: unknown[]): void {
    this.lines += 1;
    const text = [message, ...params]
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
      .join(' ');
    if (text.includes(MARK)) this.leaking.push(redact(text).slice(0, 200));
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
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  /** Headers and body, searched for echoed tokens. */
  text: string;
}

/** The guarded app on loopback, an HTTP client bound to it, and its health indicator. */
interface SoakApp {
  send(header: string | undefined): Promise<Answer>;
  health: HyperIdHealthIndicator;
  close(): Promise<void>;
}

async function startApp(apiUrl: string, logger: SoakLogger): Promise<SoakApp> {
  @Module({
    imports: [
      HyperIdModule.forRoot({
        apiUrl,
        timeoutMs: 1000, // hangs end quickly, yet a busy event loop is not taken for a fault
        retries: 1,
        cache: { ttlMs: 100 }, // short, so HyperID keeps being asked
        circuitBreaker: { threshold: 5, halfOpenAfterMs: 500 },
      }),
    ],
    controllers: [SoakController],
    providers: [HyperIdHealthIndicator],
  })
  class SoakModule {}

  const app = await NestFactory.create(SoakModule, { logger });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  const send = (header: string | undefined) =>
    new Promise<Answer>((resolve, reject) => {
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

  return {
    send,
    health: app.get(HyperIdHealthIndicator),
    close: async () => {
      agent.destroy();
      await app.close();
    },
  };
}

/**
 * Runs `job(0)` … `job(total - 1)`, CONCURRENCY at a time, starting none once `deadline` (epoch ms)
 * has passed. Resolves true when the deadline cut it short.
 */
async function runBounded(
  total: number,
  deadline: number,
  job: (n: number) => Promise<void>,
): Promise<boolean> {
  let next = 0;
  let timedOut = false;
  const worker = async () => {
    while (next < total) {
      if (Date.now() > deadline) {
        timedOut = true;
        return;
      }
      const n = next;
      next += 1;
      await job(n);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return timedOut;
}

const increment = <K>(counts: Map<K, number>, key: K) => counts.set(key, (counts.get(key) ?? 0) + 1);
const sum = (counts: Map<unknown, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/** Prints `must be 0` lines and returns the names of those that are not. */
function checkZero(checks: [string, number][]): string[] {
  console.log('  must be 0:');
  for (const [name, value] of checks)
    console.log(`    ${value === 0 ? 'ok  ' : 'FAIL'} ${String(value).padStart(6)}  ${name}`);
  return checks.filter(([, value]) => value !== 0).map(([name]) => name);
}

/** Phase 1: random HyperID faults under a mixed population. Returns its failures. */
async function faultPhase(callers: Record<Kind, Caller[]>, tokens: Record<string, FakeTokenAnswer>) {
  const started = Date.now();
  const fake = await new FakeHyperIdServer({ tokens, maxRecordedRequests: 10 }).start();
  let i = 0;
  for (const token of Object.keys(tokens).concat(callers.invalid.map((c) => c.secret as string))) {
    fake.injectFault({ ...FAULTS[i++ % FAULTS.length], probability: FAULT_PROBABILITY }, token);
  }
  const logger = new SoakLogger();
  const soak = await startApp(fake.url, logger);

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

  const timedOut = await runBounded(TOTAL, started + TIME_LIMIT_MS, async () => {
    const caller = pick();
    try {
      const { status, text } = await soak.send(caller.header);
      const byKind = perKind.get(caller.kind) ?? new Map<number, number>();
      increment(byKind, status);
      perKind.set(caller.kind, byKind);
      increment(statusCounts, String(status));
      if (status === 200 && caller.kind !== 'with') wronglyAllowed += 1;
      if (!EXPECTED[caller.kind].includes(status)) unexpected += 1;
      if (caller.secret !== undefined && text.includes(caller.secret)) echoedTokens += 1;
    } catch {
      transportErrors += 1;
    }
  });
  const elapsedMs = Date.now() - started;

  // The app still serves once HyperID is healthy again.
  fake.clearFaults();
  await sleep(600); // past halfOpenAfterMs, should the breaker be open
  const healthy = await soak.send(`Bearer ${MARK}-with-0`);
  const stillServing = healthy.status === 200;

  const rssAfter = process.memoryUsage().rss;
  const heapAfter = process.memoryUsage().heapUsed;
  await soak.close();
  await fake.stop();

  const done = sum(statusCounts) + transportErrors;
  const withCounts = perKind.get('with') ?? new Map<number, number>();
  const withTotal = sum(withCounts);
  const withAllowedShare = withTotal === 0 ? 0 : (withCounts.get(200) ?? 0) / withTotal;

  console.log(
    `nestjs-hyperid soak, fault phase: ${done} requests at concurrency ${CONCURRENCY}, ${FAULT_PROBABILITY * 100} % HyperID faults`,
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
  const failures = checkZero([
    ['wrongly allowed (200 without the types or with an invalid token)', wronglyAllowed],
    ['statuses outside the expected set', unexpected],
    ['requests that failed at the HTTP level', transportErrors],
    ['unhandled rejections', unhandledRejections],
    ['uncaught exceptions', uncaughtExceptions],
    ['answers echoing the token', echoedTokens],
    ['log lines naming a token', logger.leaking.length],
    ['requests not sent (time limit)', TOTAL - done],
  ]);
  for (const line of logger.leaking.slice(0, 3)) console.log(`    leaking log line: ${line}`);

  if (timedOut) failures.push(`time limit of ${TIME_LIMIT_MS / 1000} s reached`);
  if (!stillServing) failures.push(`the app answered ${healthy.status} to a healthy request after the soak`);
  // A harness that lets nobody in proves nothing: most users with the types must pass.
  if (withAllowedShare < 0.5) failures.push('fewer than half of the users with the types were let in');
  return failures;
}

/**
 * Reads the breaker through the health indicator until stopped. An opening counts when the
 * breaker is seen open after not being open, or half-open straight after closed (its open spell
 * fell between two readings).
 */
function watchBreaker(health: HyperIdHealthIndicator) {
  let stopped = false;
  let readings = 0;
  let openings = 0;
  let failedReadings = 0;
  const states = new Set<HyperIdCircuitState>();
  let previous: HyperIdCircuitState = 'closed';
  const loop = (async () => {
    while (!stopped) {
      try {
        const { circuit } = (await health.isHealthy('hyperid')).hyperid;
        readings += 1;
        states.add(circuit);
        if (
          (circuit === 'open' && previous !== 'open') ||
          (circuit === 'half-open' && previous === 'closed')
        ) {
          openings += 1;
        }
        previous = circuit;
      } catch {
        failedReadings += 1;
      }
      await sleep(BREAKER_POLL_MS);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return { readings, openings, failedReadings, states: [...states] };
  };
}

/**
 * Phase 2: HyperID healthy, half of the requests from distinct invalid tokens, half from good
 * users (with or without the required types). Every good user is first asked alone, as a baseline.
 * Returns its failures.
 */
async function junkPhase(callers: Record<Kind, Caller[]>, tokens: Record<string, FakeTokenAnswer>) {
  const rejectionsBefore = unhandledRejections;
  const exceptionsBefore = uncaughtExceptions;
  const fake = await new FakeHyperIdServer({ tokens, maxRecordedRequests: 10 }).start();
  const logger = new SoakLogger();
  const soak = await startApp(fake.url, logger);
  const good = [...callers.with, ...callers.without];
  const stopWatching = watchBreaker(soak.health);
  const started = Date.now();
  const deadline = started + JUNK_PHASE_TIME_LIMIT_MS;

  const rows = {
    baseline: new Map<number, number>(),
    good: new Map<number, number>(),
    junk: new Map<number, number>(),
  };
  let transportErrors = 0;
  let echoedTokens = 0;
  const ask = async (counts: Map<number, number>, token: string): Promise<number | undefined> => {
    try {
      const { status, text } = await soak.send(`Bearer ${token}`);
      increment(counts, status);
      if (text.includes(token)) echoedTokens += 1;
      return status;
    } catch {
      transportErrors += 1;
      return undefined;
    }
  };

  const baseline = new Map<Caller, number>();
  let baselineOff = 0;
  const baselineTimedOut = await runBounded(good.length, deadline, async (n) => {
    const caller = good[n];
    const status = await ask(rows.baseline, caller.secret as string);
    if (status === undefined) return;
    baseline.set(caller, status);
    if (status !== (caller.kind === 'with' ? 200 : 403)) baselineOff += 1;
  });

  const random = prng(Number(process.env.SOAK_SEED ?? 0x50a4) + 1);
  const junkToken = (i: number) => `${MARK}-junk-${i}`;
  let junkSent = 0;
  let changed = 0;
  const changedUsers = new Set<Caller>();
  const mixedTimedOut = await runBounded(JUNK_PHASE_TOTAL, deadline, async (n) => {
    if (n % 2 === 0) {
      junkSent += 1;
      await ask(rows.junk, junkToken(n / 2));
      return;
    }
    const caller = good[Math.floor(random() * good.length)];
    const status = await ask(rows.good, caller.secret as string);
    if (status !== undefined && status !== baseline.get(caller)) {
      changed += 1;
      changedUsers.add(caller);
    }
  });
  const elapsedMs = Date.now() - started;
  const breaker = await stopWatching();
  await soak.close();
  await fake.stop();

  let junkCalls = 0;
  for (let i = 0; i < junkSent; i += 1) junkCalls += fake.calls(junkToken(i));
  const goodCalls = good.reduce((total, caller) => total + fake.calls(caller.secret as string), 0);
  const sent = sum(rows.baseline) + sum(rows.good) + sum(rows.junk) + transportErrors;
  const expected = good.length + JUNK_PHASE_TOTAL;

  console.log('');
  console.log(
    `nestjs-hyperid soak, junk-token phase: ${sent} requests at concurrency ${CONCURRENCY}, HyperID healthy; ` +
      `after a baseline of each good user once, ${junkSent} distinct invalid tokens (each used once) ` +
      'mixed 50/50 with good users',
  );
  console.log(
    `  elapsed                     ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(sent / (elapsedMs / 1000))} req/s)`,
  );
  console.log(
    `  HyperID calls               ${fake.calls()}: ${junkCalls} for junk tokens ` +
      `(${(junkSent === 0 ? 0 : junkCalls / junkSent).toFixed(2)} each), ${goodCalls} for good users, ` +
      `${fake.calls() - junkCalls - goodCalls} health probes`,
  );
  console.log(
    `  breaker (health indicator)  read ${breaker.readings} times, states seen: ${breaker.states.join(', ') || 'none'}`,
  );
  const statuses = [
    ...new Set([200, 401, 403, 503, ...Object.values(rows).flatMap((counts) => [...counts.keys()])]),
  ].sort((a, b) => a - b);
  const table: [string, Map<number, number>][] = [
    ['good users, baseline', rows.baseline],
    ['good users, mixed', rows.good],
    ['junk tokens, mixed', rows.junk],
  ];
  console.log(
    `    ${'caller'.padEnd(22)}${'requests'.padStart(9)}${statuses.map((s) => String(s).padStart(7)).join('')}`,
  );
  for (const [name, counts] of table) {
    console.log(
      `    ${name.padEnd(22)}${String(sum(counts)).padStart(9)}${statuses
        .map((s) => String(counts.get(s) ?? 0).padStart(7))
        .join('')}`,
    );
  }
  console.log(`  good users whose answer changed: ${changedUsers.size} of ${good.length}`);

  const junkTotal = sum(rows.junk);
  const failures = checkZero([
    ['junk tokens let in (200)', rows.junk.get(200) ?? 0],
    ['junk tokens answered other than 401', junkTotal - (rows.junk.get(401) ?? 0)],
    ['circuit-breaker openings seen by the health indicator', breaker.openings],
    [
      '503 answers (an open breaker refusing, or HyperID taken for down)',
      (rows.baseline.get(503) ?? 0) + (rows.good.get(503) ?? 0) + (rows.junk.get(503) ?? 0),
    ],
    ["good users' answers that differ from their baseline", changed],
    ['baseline answers other than 200 with the types, 403 without', baselineOff],
    ['requests that failed at the HTTP level', transportErrors],
    ['health-indicator readings that threw', breaker.failedReadings],
    ['unhandled rejections', unhandledRejections - rejectionsBefore],
    ['uncaught exceptions', uncaughtExceptions - exceptionsBefore],
    ['answers echoing the token', echoedTokens],
    ['log lines naming a token', logger.leaking.length],
    ['requests not sent (time limit)', expected - sent],
  ]);
  for (const line of logger.leaking.slice(0, 3)) console.log(`    leaking log line: ${line}`);

  // Zero openings proves nothing if the breaker was never read.
  if (breaker.readings === 0) failures.push('the health indicator was never read');
  if (baselineTimedOut || mixedTimedOut)
    failures.push(`time limit of ${JUNK_PHASE_TIME_LIMIT_MS / 1000} s reached`);
  return failures;
}

/** Runs `phase` and keeps what it printed, for RESULTS.md (the output holds counts, never tokens). */
async function printed<T>(phase: () => Promise<T>, into: string[]): Promise<T> {
  const log = console.log;
  console.log = (...args: unknown[]) => {
    into.push(args.map(String).join(' '));
    log(...args);
  };
  try {
    return await phase();
  } finally {
    console.log = log;
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { callers, tokens } = population();
  const output: string[] = [];
  const failures = await printed(
    async () => [
      ...(await faultPhase(callers, tokens)).map((failure) => `fault phase: ${failure}`),
      ...(await junkPhase(callers, tokens)).map((failure) => `junk-token phase: ${failure}`),
    ],
    output,
  );
  const verdict = failures.length === 0 ? 'soak passed' : `soak FAILED: ${failures.join('; ')}`;
  console.log('');
  console.log(`soak took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(verdict);
  await writeResultsSection(
    'soak',
    [
      '## Soak',
      '',
      `Written by \`npm run soak\` (bench/soak.ts) on ${new Date().toISOString()}, Node ${process.version}.`,
      '',
      '```text',
      ...output.filter((line) => line.trim() !== ''),
      verdict,
      '```',
    ].join('\n'),
  );
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error('soak crashed:', error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
