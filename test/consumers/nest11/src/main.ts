import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { AppModule } from './app.module';
import { startFakeHyperId } from './fake-hyperid';

// Boots a fake HyperID and the app on ephemeral loopback ports, then reports the app's port.
async function bootstrap(): Promise<void> {
  const fake = await startFakeHyperId();
  process.env.HYPERID_API_URL = fake.url;
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const moduleFormat = typeof require === 'function' && typeof module === 'object' ? 'commonjs' : 'esm';
  process.stdout.write(`${JSON.stringify({ ready: true, port, moduleFormat, fakeUrl: fake.url })}\n`);
  const stop = async () => {
    await app.close();
    await fake.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

void bootstrap();
