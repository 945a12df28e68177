import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HyperIdResult } from '../../lib/hyperid-result.enum.js';
import { TwoFactorType } from '../../lib/two-factor-type.enum.js';

// The `nestjs-hyperid-fake` bin, as `npx nestjs-hyperid-fake` runs it (README: Local development).
const BIN = fileURLToPath(new URL('../../dist/testing/fake-hyperid.cli.js', import.meta.url));

interface Running {
  child: ChildProcessWithoutNullStreams;
  url: string;
  output: () => string;
}

const started: ChildProcessWithoutNullStreams[] = [];

/** Starts the bin and waits until it has printed its banner. */
async function startFake(args: string[]): Promise<Running> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [BIN, '--port', '0', ...args]);
  started.push(child);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!text.includes('Ctrl-C stops it.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the fake did not start:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
  if (!url) throw new Error(`no URL in:\n${text}`);
  return { child, url, output: () => text };
}

async function ask(url: string, token: string): Promise<unknown> {
  const res = await fetch(`${url}/2fa/types/get`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: '{}',
  });
  return res.json();
}

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

describe('npx nestjs-hyperid-fake', () => {
  it('answers the tokens it is given, by number or by name, and refuses the rest as invalid', async () => {
    const { url, output } = await startFake([
      '--token',
      'alice=totp,email',
      '--token',
      'carol=0,2',
      '--token',
      'bob=expired',
    ]);
    expect(await ask(url, 'alice')).toEqual({
      result: HyperIdResult.Success,
      auth_types: [TwoFactorType.Totp, TwoFactorType.AlternativeEmail],
    });
    expect(await ask(url, 'carol')).toEqual({
      result: HyperIdResult.Success,
      auth_types: [TwoFactorType.HyperIdAuthenticator, TwoFactorType.Sms],
    });
    expect(await ask(url, 'bob')).toEqual({ result: HyperIdResult.TokenExpired });
    expect(await ask(url, 'mallory')).toEqual({ result: HyperIdResult.TokenInvalid });
    expect(output()).toContain(`HYPERID_API_URL=${url}`);
    expect(output()).toMatch(
      /curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/2fa\/types\/get -H 'Authorization: Bearer alice'/,
    );
  });

  it('serves demo tokens when given none', async () => {
    const { url, output } = await startFake([]);
    expect(output()).toMatch(/demo-all/);
    expect(await ask(url, 'demo-all')).toEqual({ result: HyperIdResult.Success, auth_types: [0, 1, 2, 3] });
    expect(await ask(url, 'demo-expired')).toEqual({ result: HyperIdResult.TokenExpired });
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops cleanly on %s, closing its port', async (signal) => {
    const { child, url, output } = await startFake([]);
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(output()).toContain(`Fake HyperID stopped (${signal})`);
    await expect(fetch(`${url}/2fa/types/get`, { method: 'POST' })).rejects.toThrow();
  });

  it.each([
    [['--token', 'alice'], /expected NAME=ANSWER/],
    [['--token', 'alice=sometimes'], /"sometimes" is neither a 2FA method/],
    [['--port', 'http'], /--port http: expected 0 to 65535/],
  ])('refuses %p with a message and exit code 2', async (args, message) => {
    const child = spawn(process.execPath, [BIN, ...args]);
    started.push(child);
    let text = '';
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(text).toMatch(message);
    expect(text).toContain('Usage: nestjs-hyperid-fake');
  });
});
