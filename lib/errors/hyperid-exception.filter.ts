import { Catch, Injectable, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HyperIdError } from './hyperid.errors.js';
import { toHttpException } from './http-exceptions.js';

/**
 * Answers a `HyperIdError` that escapes a handler — e.g. from your own call to
 * `TwoFactorService.getAvailableTypes()` — the way `TwoFactorGuard` answers it: the same status,
 * body and `WWW-Authenticate` / `Retry-After` headers, on Express and Fastify alike.
 *
 * ```ts
 * @UseFilters(HyperIdExceptionFilter)          // on a controller or a route
 * // or for the whole app, in main.ts:
 * app.useGlobalFilters(new HyperIdExceptionFilter(app.get(HttpAdapterHost)));
 * ```
 *
 * HTTP only: in other contexts the error is turned into the same `HttpException` and thrown on.
 */
@Injectable()
@Catch(HyperIdError)
export class HyperIdExceptionFilter implements ExceptionFilter<HyperIdError> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: HyperIdError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw toHttpException(error);
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    const exception = toHttpException(error, (name, value) => {
      httpAdapter.setHeader(response, name, value);
    });
    httpAdapter.reply(response, exception.getResponse(), exception.getStatus());
  }
}
