// Forked by the bench runner: the Nest app under test, on Express or Fastify (the second
// argument), with an unguarded route, a route behind a guard that does nothing, one behind a guard
// that only looks the token's digest up, a route guarded by nestjs-hyperid, and two guarded the
// naive way. The third argument `no-cache` runs the module with `cache: false`.
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
import { hash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { HyperIdModule, RequireTwoFactor } from 'nestjs-hyperid';
import { serveParent } from './worker.js';

const [apiUrl, adapter = 'express', cacheMode = 'cache'] = process.argv.slice(2);
if (
  !apiUrl ||
  (adapter !== 'express' && adapter !== 'fastify') ||
  (cacheMode !== 'cache' && cacheMode !== 'no-cache')
) {
  throw new Error('usage: app.worker.js <HyperID url> [express|fastify] [cache|no-cache]');
}
const endpoint = `${apiUrl}/2fa/types/get`;

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
      url: endpoint,
      headers: { 'Content-Type': 'application/json', Authorization: request.headers.authorization ?? '' },
      data: JSON.stringify({}),
    });
    if (response.data.result !== 0) throw new UnauthorizedException();
    if (!response.data.auth_types?.length) throw new ForbiddenException();
    return true;
  }
}

/**
 * The floor of a lookup: one `fetch()` per request, the answer's two fields checked and nothing
 * else (no timeout, retry, breaker, size cap or validation). What a lookup through the module is
 * measured against.
 */
@Injectable()
class NaiveFetchGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: request.headers.authorization ?? '' },
      body: '{}',
    });
    const answer = (await response.json()) as { result: number; auth_types?: number[] };
    if (answer.result !== 0) throw new UnauthorizedException();
    if (!answer.auth_types?.length) throw new ForbiddenException();
    return true;
  }
}

/**
 * The least a guard keyed by a token digest can do on a warm request: read the bearer token, take
 * its SHA-256 digest (what the module's memory cache is keyed by) and find it in a Map. A reference
 * for the floor scenario, to show what of the module's cost is this lookup and what is the rest.
 */
@Injectable()
class DigestLookupGuard implements CanActivate {
  private readonly known = new Map<string, readonly number[]>();

  canActivate(context: ExecutionContext): boolean {
    const authorization = context.getArgByIndex<{ headers: Record<string, string | undefined> }>(0).headers
      .authorization;
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (token === undefined) throw new UnauthorizedException();
    const key = hash('sha256', token, 'base64url');
    const types = this.known.get(key);
    if (types) return types.length > 0;
    this.known.set(key, [0, 3]);
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

  @Get('digest-guard')
  @UseGuards(DigestLookupGuard)
  digestGuard() {
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

  @Get('naive-fetch')
  @UseGuards(NaiveFetchGuard)
  naiveFetch() {
    return { ok: true };
  }
}

@Module({
  imports: [
    HyperIdModule.forRoot({
      apiUrl,
      isGlobal: true,
      cache: cacheMode === 'no-cache' ? false : { ttlMs: 10 * 60_000 },
    }),
  ],
  controllers: [BenchController],
  providers: [NaiveHyperIdGuard, NaiveFetchGuard, DigestLookupGuard],
})
class BenchAppModule {}

const app =
  adapter === 'fastify'
    ? await NestFactory.create(BenchAppModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(BenchAppModule, { logger: ['error'] });
await app.listen(0, '127.0.0.1');
const { port } = (app.getHttpServer() as Server).address() as AddressInfo;

serveParent({ url: `http://127.0.0.1:${port}` }, async (message) => {
  if (message.type !== 'cpu') return {};
  const { user, system } = process.cpuUsage();
  return { micros: user + system };
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
