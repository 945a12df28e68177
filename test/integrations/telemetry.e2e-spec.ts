import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorService,
  TwoFactorType,
} from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { STATUS_TABLE } from '../support/status-table.js';

/** A reader the test pulls from on demand. */
class PullReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

@Controller()
class GuardedController {
  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp() {
    return { ok: true };
  }
}

const TOKENS = ['alice-secret-token', 'mallory-secret-token', 'bob-secret-token', 'carol-secret-token'];

describe('telemetry through @opentelemetry/api', () => {
  const exporter = new InMemorySpanExporter();
  const reader = new PullReader();
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncHooksContextManager().enable());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    fake = await new FakeHyperIdServer({
      tokens: { [TOKENS[0]]: { auth_types: [1] }, [TOKENS[2]]: { result: HyperIdResult.AccessDenied } },
    }).start();
    const moduleRef = await Test.createTestingModule({
      imports: [
        HyperIdModule.forRoot({
          apiUrl: fake.url,
          retries: 0,
          circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 },
          isGlobal: true,
        }),
      ],
      controllers: [GuardedController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
    trace.disable();
    metrics.disable();
    context.disable();
  });

  beforeEach(() => exporter.reset());

  const hyperIdSpans = (): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.name.startsWith('hyperid.'));

  function expectNoToken(spans: ReadableSpan[]): void {
    const text = JSON.stringify(
      spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
    );
    for (const token of TOKENS) expect(text).not.toContain(token);
    // Nor any digest of it: no attribute value looks like a SHA-256 hex or base64url digest.
    expect(text).not.toMatch(/[0-9a-f]{64}|[A-Za-z0-9_-]{43}/);
  }

  it('a guarded request yields one HyperID span with outcome success, and no token', async () => {
    const res = await request(app.getHttpServer()).get('/totp').set('Authorization', `Bearer ${TOKENS[0]}`);
    expect(res.status).toBe(200);
    const spans = hyperIdSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0].name).toBe('hyperid.2fa.types.get');
    expect(spans[0].attributes).toMatchObject({
      'hyperid.outcome': 'success',
      'hyperid.attempts': 1,
      'server.address': '127.0.0.1',
    });
    expect(spans[0].status.code).toBe(0); // UNSET
    expectNoToken(spans);
  });

  it('a cached answer makes no span', async () => {
    await request(app.getHttpServer()).get('/totp').set('Authorization', `Bearer ${TOKENS[0]}`);
    expect(hyperIdSpans()).toHaveLength(0);
  });

  it('records answers about the token as outcomes, not errors', async () => {
    const invalid = await request(app.getHttpServer())
      .get('/totp')
      .set('Authorization', `Bearer ${TOKENS[1]}`);
    expect(invalid.status).toBe(STATUS_TABLE.tokenInvalid.status);
    const denied = await request(app.getHttpServer())
      .get('/totp')
      .set('Authorization', `Bearer ${TOKENS[2]}`);
    expect(denied.status).toBe(STATUS_TABLE.accessDenied.status);
    const spans = hyperIdSpans();
    expect(
      spans.map((s) => [s.attributes['hyperid.outcome'], s.attributes['hyperid.result'], s.status.code]),
    ).toEqual([
      ['token_invalid', HyperIdResult.TokenInvalid, 0],
      ['access_denied', HyperIdResult.AccessDenied, 0],
    ]);
    expectNoToken(spans);
  });

  it("nests the span under the caller's active span", async () => {
    const service = app.get(TwoFactorService);
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('caller', async (parent) => {
      // A token not refused before: a remembered refusal would not reach HyperID at all.
      await expect(service.getAvailableTypes(TOKENS[3])).rejects.toThrow();
      parent.end();
    });
    const caller = exporter.getFinishedSpans().find((s) => s.name === 'caller');
    const [child] = hyperIdSpans();
    expect(child.parentSpanContext?.spanId).toBe(caller?.spanContext().spanId);
  });

  it('marks HyperID failures as errors, then a circuit_open outcome, and counts the breaker opening', async () => {
    fake.injectFault({ status: 500 });
    try {
      expect(
        (await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer another-token')).status,
      ).toBe(STATUS_TABLE.unavailable.status);
      expect(
        (await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer third-token')).status,
      ).toBe(STATUS_TABLE.unavailable.status);
    } finally {
      fake.clearFaults();
    }
    const spans = hyperIdSpans();
    expect(spans.map((s) => [s.attributes['hyperid.outcome'], s.status.code])).toEqual([
      ['unavailable', 2],
      ['circuit_open', 2],
    ]);
    expect(spans[1].attributes['hyperid.attempts']).toBe(0);
    const changes = await points('hyperid.circuit_breaker.state_changes');
    expect(changes.find((p) => p.attributes['hyperid.circuit_breaker.state'] === 'open')?.value).toBe(1);
  });

  it('counts cache hits and misses and records call durations by outcome', async () => {
    const lookups = await points('hyperid.cache.lookups');
    const count = (result: string) =>
      lookups.find((p) => p.attributes['hyperid.cache.result'] === result)?.value;
    expect(count('hit')).toBeGreaterThanOrEqual(1);
    expect(count('miss')).toBeGreaterThanOrEqual(4);
    const durations = await points('hyperid.client.duration');
    const success = durations.find((p) => p.attributes['hyperid.outcome'] === 'success');
    expect((success?.value as { count: number }).count).toBe(1);
    expect(JSON.stringify(lookups.concat(durations).map((p) => p.attributes))).not.toMatch(/secret-token/);
  });

  async function points(name: string): Promise<DataPoint<unknown>[]> {
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .find((m) => m.descriptor.name === name);
    return metric?.dataPoints ?? [];
  }
});
