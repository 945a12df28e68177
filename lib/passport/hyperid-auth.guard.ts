import { Injectable, Optional, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AuthGuard, AuthModuleOptions } from '@nestjs/passport';
import { PENDING_HEADERS } from '../hyperid.constants.js';

/**
 * `AuthGuard('hyperid')` that also sends the `WWW-Authenticate` / `Retry-After` headers of the
 * strategy's error answers through the HTTP adapter, so Fastify apps get them as Express apps do.
 * On Express, plain `AuthGuard('hyperid')` sends them already.
 */
@Injectable()
export class HyperIdAuthGuard extends AuthGuard('hyperid') {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Optional() options?: AuthModuleOptions,
  ) {
    super(options);
  }

  /** Sends the pending headers of a failed authentication, then lets `AuthGuard` decide. */
  override handleRequest<TUser = unknown>(
    err: unknown,
    user: unknown,
    info: unknown,
    context: ExecutionContext,
    status?: unknown,
  ): TUser {
    if (err && context.getType() === 'http') {
      const http = context.switchToHttp();
      const pending = (http.getRequest<Record<PropertyKey, unknown>>()[PENDING_HEADERS] ?? {}) as Record<
        string,
        string
      >;
      const adapter = this.adapterHost?.httpAdapter;
      for (const [name, value] of Object.entries(pending))
        adapter?.setHeader(http.getResponse(), name, value);
    }
    return super.handleRequest<TUser>(err, user, info, context, status);
  }
}
