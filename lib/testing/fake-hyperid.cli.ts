#!/usr/bin/env node
// `npx nestjs-hyperid-fake`: a fake HyperID on this machine, for developing your own app against
// it (see the README's "Local development"). Never for production: it accepts the tokens it is told.
import { parseArgs } from 'node:util';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { TwoFactorType } from '../two-factor-type.enum.js';
import { FakeHyperIdServer, type FakeTokenAnswer } from './fake-hyperid.server.js';

const USAGE = `Usage: nestjs-hyperid-fake [--port 4931] [--token NAME=ANSWER]... [--latency MS]

Runs a fake HyperID (POST /2fa/types/get) on 127.0.0.1 until Ctrl-C.
ANSWER is the user's 2FA methods as numbers or names (0,1,2,3 or authenticator,totp,sms,email;
"none" for a user without any), or a refusal: invalid, expired, denied, unavailable, bad-request.
Unknown tokens are answered as invalid. Without --token, demo tokens are served.`;

/** Refusals by the names a developer types. */
const REFUSALS: Record<string, HyperIdResult> = {
  invalid: HyperIdResult.TokenInvalid,
  expired: HyperIdResult.TokenExpired,
  denied: HyperIdResult.AccessDenied,
  unavailable: HyperIdResult.ServiceTemporarilyUnavailable,
  'bad-request': HyperIdResult.InvalidParameters,
};

/** 2FA methods by the names a developer types, beside their numbers. */
const METHODS: Record<string, TwoFactorType> = {
  authenticator: TwoFactorType.HyperIdAuthenticator,
  totp: TwoFactorType.Totp,
  sms: TwoFactorType.Sms,
  email: TwoFactorType.AlternativeEmail,
};

const DEMO_TOKENS: Record<string, string> = {
  'demo-all': '0,1,2,3',
  'demo-totp': 'totp',
  'demo-none': 'none',
  'demo-expired': 'expired',
};

/** Reads one `NAME=ANSWER`; throws a message that says what is wrong. */
function parseTokenArgument(argument: string): [string, FakeTokenAnswer] {
  const equals = argument.indexOf('=');
  const name = equals === -1 ? '' : argument.slice(0, equals);
  const answer =
    equals === -1
      ? ''
      : argument
          .slice(equals + 1)
          .trim()
          .toLowerCase();
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(name) || answer === '') {
    throw new Error(`--token ${JSON.stringify(argument)}: expected NAME=ANSWER, e.g. demo-all=0,1,2,3`);
  }
  if (answer in REFUSALS) return [name, { result: REFUSALS[answer] }];
  if (answer === 'none') return [name, { auth_types: [] }];
  const types = answer.split(',').map((part) => {
    const word = part.trim();
    if (word in METHODS) return METHODS[word];
    if (/^\d{1,3}$/.test(word)) return Number(word);
    throw new Error(
      `--token ${JSON.stringify(argument)}: "${word}" is neither a 2FA method ` +
        `(${Object.keys(METHODS).join(', ')} or a number) nor a refusal (${Object.keys(REFUSALS).join(', ')})`,
    );
  });
  return [name, { auth_types: types }];
}

function describeAnswer(answer: FakeTokenAnswer): string {
  if ('result' in answer) return `refused: ${HyperIdResult[answer.result] ?? answer.result}`;
  if (answer.auth_types.length === 0) return 'no 2FA method';
  return answer.auth_types.map((type) => TwoFactorType[type] ?? String(type)).join(', ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4931' },
      token: { type: 'string', multiple: true },
      latency: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  const latencyMs = Number(values.latency);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port ${values.port}: expected 0 to 65535`);
  if (!Number.isInteger(latencyMs) || latencyMs < 0)
    throw new Error(`--latency ${values.latency}: expected milliseconds`);
  const given = values.token ?? Object.entries(DEMO_TOKENS).map(([name, answer]) => `${name}=${answer}`);
  const tokens = Object.fromEntries(given.map(parseTokenArgument));

  const fake = await new FakeHyperIdServer({ port, latencyMs, tokens }).start();
  // Before the banner: whoever reads it may signal at once.
  const stop = (signal: NodeJS.Signals) => {
    void fake.stop().then(() => {
      console.log(`\nFake HyperID stopped (${signal}).`);
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const lines = [
    `Fake HyperID listening on ${fake.url} (never use it in production)`,
    '',
    'Tokens:',
    ...Object.entries(tokens).map(([name, answer]) => `  ${name.padEnd(16)} ${describeAnswer(answer)}`),
    '  (any other token is refused as invalid)',
    '',
    `Point your app at it:  HYPERID_API_URL=${fake.url}`,
    `Ask it directly:       curl -s -X POST ${fake.url}/2fa/types/get -H 'Authorization: Bearer ${Object.keys(tokens)[0] ?? 'demo-all'}' -H 'Content-Type: application/json' -d '{}'`,
    '',
    'Ctrl-C stops it.',
  ];
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(`nestjs-hyperid-fake: ${error instanceof Error ? error.message : String(error)}`);
  console.error(USAGE);
  process.exit(2);
});
