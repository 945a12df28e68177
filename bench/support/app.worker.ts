// Forked by the bench runner: the Nest app under test, on Express or Fastify (the second
// argument), with an unguarded route, a route behind a guard that does nothing, a route guarded by
// nestjs-hyperid, and one guarded the naive way.
import 'reflect-metadata';
import {
  Controller,
  ForbiddenException,
  Get,
  Injectable,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { HyperIdModule, RequireTwoFactor } from 'nestjs-hyperid';
import { serveParent } from './worker.js';

const [apiUrl, adapter = 'express'] = process.argv.slice(2);
if (!apiUrl || (adapter !== 'express' && adapter !== 'fastify')) {
  throw new Error('usage: app.worker.js <HyperID url> [express|fastify]');
}

/**
 * What the vendor's examples lead to: one HyperID call per request, no cache, no merging of
 * concurrent lookups (axios, as in the vendor's Node example).
 */
@Injectable()
class NaiveHyperIdGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    const response = await axios.request<{ result: number; auth_types?: number[] }>({
      method: 'post',
      url: `${apiUrl}/2fa/types/get`,
      headers: { 'Content-Type': 'application/json', Authorization: request.headers.authorization ?? '' },
      data: JSON.stringify({}),
    });
    if (response.data.result !== 0) throw new UnauthorizedException();
    if (!response.data.auth_types?.length) throw new ForbiddenException();
    return true;
  }
}

/** Nest's own cost of running a guard, without any work in it. */
@Injectable()
class NoopGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@Controller()
class BenchController {
  @Get('open')
  open() {
    return { ok: true };
  }

  @Get('noop-guard')
  @UseGuards(NoopGuard)
  noopGuard() {
    return { ok: true };
  }

  @Get('guarded')
  @RequireTwoFactor()
  guarded() {
    return { ok: true };
  }

  @Get('naive')
  @UseGuards(NaiveHyperIdGuard)
  naive() {
    return { ok: true };
  }
}

@Module({
  imports: [HyperIdModule.forRoot({ apiUrl, isGlobal: true, cache: { ttlMs: 10 * 60_000 } })],
  controllers: [BenchController],
  providers: [NaiveHyperIdGuard],
})
class BenchAppModule {}

const app =
  adapter === 'fastify'
    ? await NestFactory.create(BenchAppModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(BenchAppModule, { logger: ['error'] });
await app.listen(0, '127.0.0.1');
const { port } = (app.getHttpServer() as Server).address() as AddressInfo;

serveParent({ url: `http://127.0.0.1:${port}` }, async () => ({}));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
