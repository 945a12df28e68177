import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const OPTIONAL = [
  '@opentelemetry/api',
  '@nestjs/terminus',
  '@nestjs/passport',
  '@nestjs/graphql',
  '@nestjs/swagger',
  '@nestjs/websockets',
  'passport',
  'passport-http-bearer',
];

// Makes the optional peers unresolvable, as in an app that did not install them: CommonJS
// resolution (createRequire) through Module._resolveFilename, ES imports through a resolve hook.
const blockCjs = `
const Module = require('node:module');
const blocked = new Set(${JSON.stringify(OPTIONAL)});
const original = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (blocked.has(request) || [...blocked].some((name) => request.startsWith(name + '/'))) {
    const error = new Error("Cannot find module '" + request + "'");
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
  return original.call(this, request, ...rest);
};`;
const hooks = `
const blocked = ${JSON.stringify(OPTIONAL)};
export async function resolve(specifier, context, next) {
  if (blocked.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    const error = new Error("Cannot find package '" + specifier + "'");
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`;

describe('the root entry point without the optional peers installed', () => {
  it('loads, and telemetry is a no-op', async () => {
    expect(existsSync(join(root, 'dist', 'index.js'))).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'hyperid-optional-'));
    try {
      await writeFile(join(dir, 'block.cjs'), blockCjs);
      await writeFile(join(dir, 'hooks.mjs'), hooks);
      await writeFile(
        join(dir, 'register.mjs'),
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
      );
      const dist = (file: string) => JSON.stringify(pathToFileURL(join(root, 'dist', file)).href);
      await writeFile(
        join(dir, 'main.mjs'),
        `import { createRequire } from 'node:module';
const out = {};
out.esmBlocked = await import('@opentelemetry/api').then(() => false, () => true);
try { createRequire(import.meta.url)('@opentelemetry/api'); out.cjsBlocked = false; } catch { out.cjsBlocked = true; }
const api = await import(${dist('index.js')});
out.root = typeof api.HyperIdModule === 'function' && typeof api.TwoFactorGuard === 'function';
// The entry point that needs @nestjs/swagger fails without it: the block works, and the root above
// loaded without importing it.
out.swaggerEntryRefused = await import(${dist('swagger/index.js')}).then(() => false, (e) => e.code === 'ERR_MODULE_NOT_FOUND');
const health = await import(${dist('hyperid.health.js')});
out.health = typeof health.HyperIdHealthIndicator === 'function';
const telemetry = await import(${dist('hyperid.telemetry.js')});
telemetry.recordCacheLookup('hit');
out.traced = await telemetry.traceHyperIdCall({ serverAddress: 'x' }, () => 1, async () => 'answer');
console.log(JSON.stringify(out));
`,
      );
      const { stdout } = await run(
        process.execPath,
        [
          '--require',
          join(dir, 'block.cjs'),
          '--import',
          pathToFileURL(join(dir, 'register.mjs')).href,
          join(dir, 'main.mjs'),
        ],
        { cwd: root, env: { ...process.env, NODE_OPTIONS: '' } },
      );
      expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toEqual({
        esmBlocked: true,
        cjsBlocked: true,
        root: true,
        swaggerEntryRefused: true,
        health: true,
        traced: 'answer',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
