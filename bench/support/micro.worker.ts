// Forked by the bench runner: the cost of one cached check, measured in a tight loop in a process
// of its own (no load generator, no HTTP server sharing the event loop).
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { HyperIdModule, RequireTwoFactor, TwoFactorGuard, TwoFactorService } from 'nestjs-hyperid';
import { serveParent } from './worker.js';
import { BENCH_TOKENS } from './tokens.js';

const apiUrl = process.argv[2];
if (!apiUrl) throw new Error('usage: micro.worker.js <HyperID url>');

@Controller()
class MicroController {
  @RequireTwoFactor()
  guarded() {
    return { ok: true };
  }
}

@Module({ imports: [HyperIdModule.forRoot({ apiUrl })], controllers: [MicroController] })
class MicroModule {}

const ITERATIONS = 200_000;
const REPEATS = 5;

/** Mean microseconds per call of `check`, the median of REPEATS timed loops after a warm-up loop. */
async function meanMicros(check: () => unknown): Promise<number> {
  for (let i = 0; i < ITERATIONS / 4; i += 1) await check();
  const means: number[] = [];
  for (let repeat = 0; repeat < REPEATS; repeat += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i += 1) await check();
    means.push(Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS);
  }
  return means.sort((a, b) => a - b)[Math.floor(REPEATS / 2)];
}

const app = await NestFactory.createApplicationContext(MicroModule, { logger: ['error'] });
const guard = app.get(TwoFactorGuard);
const service = app.get(TwoFactorService);
const token = BENCH_TOKENS.warm;
const authorization = `Bearer ${token}`;
const handler = MicroController.prototype.guarded;
const response = {};

// One real lookup warms the cache; every timed call below is answered from it.
await service.getAvailableTypes(token);

const guardMicros = await meanMicros(() =>
  guard.canActivate(
    new ExecutionContextHost(
      [{ headers: { authorization } }, response, () => undefined],
      MicroController,
      handler,
    ),
  ),
);
const serviceMicros = await meanMicros(() => service.getAvailableTypes(token));
await app.close();

serveParent({ guardMicros, serviceMicros, iterations: ITERATIONS, repeats: REPEATS }, async () => ({}));
process.on('SIGTERM', () => process.exit(0));
