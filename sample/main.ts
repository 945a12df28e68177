import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { HyperIdResult } from 'nestjs-hyperid';
import type { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { AppModule } from './app.module.js';
import { DEMO_HYPERID } from './demo-hyperid.module.js';
import { DEMO_TOKENS } from './demo-tokens.js';
import { hyperIdApiUrl, isProduction, MISSING_API_URL_IN_PRODUCTION } from './hyperid-env.js';

function port(): number {
  const raw = process.env.PORT ?? '3000';
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) throw new Error(`PORT must be a port number, got "${raw}"`);
  return value;
}

function printDemoHelp(base: string): void {
  const lines = [
    '',
    'Embedded fake HyperID: these demo tokens work (any other token is rejected as invalid):',
    ...Object.entries(DEMO_TOKENS).map(([token, answer]) => {
      const says =
        'result' in answer
          ? `result ${HyperIdResult[answer.result]}`
          : `auth_types ${JSON.stringify(answer.auth_types)}`;
      return `  ${token.padEnd(13)} ${says}`;
    }),
    '',
    'Try:',
    `  curl -i ${base}/public`,
    `  curl -i ${base}/account -H 'Authorization: Bearer demo-all'`,
    `  curl -i ${base}/account -H 'Authorization: Bearer demo-none'`,
    `  curl -i ${base}/account`,
    `  curl -i ${base}/account -H 'Authorization: Bearer demo-expired'`,
    `  curl -i ${base}/account -H 'Authorization: Bearer demo-noscope'`,
    `  curl -i -X POST ${base}/transfers -H 'Authorization: Bearer demo-all' --json '{"amount":5000}'`,
    `  curl -i -X POST ${base}/transfers -H 'Authorization: Bearer demo-totp' --json '{"amount":5000}'`,
    `  curl -i -X POST ${base}/transfers -H 'Authorization: Bearer demo-totp' --json '{"amount":50}'`,
    `  curl -i -X DELETE ${base}/account -H 'Authorization: Bearer demo-totp'`,
    `  curl -i ${base}/me/2fa -H 'Authorization: Bearer demo-all'`,
    '',
    `OpenAPI: Swagger UI at ${base}/docs, the document at ${base}/docs-json ("Authorize" takes a demo token).`,
    '',
    'Ctrl-C stops the app and the fake HyperID.',
    '',
  ];
  console.log(lines.join('\n'));
}

async function bootstrap(): Promise<void> {
  // Checked before Nest boots, so a misconfigured deployment opens no port and starts no fake.
  if (hyperIdApiUrl() === undefined && isProduction()) {
    new Logger('Sample').error(MISSING_API_URL_IN_PRODUCTION);
    process.exitCode = 1;
    return;
  }
  const listenPort = port();
  const app = await NestFactory.create(AppModule);
  // Ctrl-C / SIGTERM: run the shutdown hooks (they stop the embedded fake HyperID), then exit 0.
  app.enableShutdownHooks(['SIGINT', 'SIGTERM'], { useProcessExit: true });
  // Swagger UI at /docs, the JSON at /docs-json: nestjs-hyperid/swagger's @RequireTwoFactor()
  // documents each guarded route (bearer requirement, 400/401/403/502/503, x-hyperid-2fa).
  const openApi = new DocumentBuilder().setTitle('nestjs-hyperid sample').addBearerAuth().build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, openApi));
  await app.listen(listenPort);

  const base = `http://localhost:${listenPort}`;
  new Logger('Sample').log(`Listening on ${base}`);
  const demo = app.get<FakeHyperIdServer | null>(DEMO_HYPERID);
  if (demo) printDemoHelp(base);
  else new Logger('Sample').log(`Using the HyperID at ${hyperIdApiUrl()}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
