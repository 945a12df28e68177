// Forked by the bench runner: the fake HyperID in its own process, with a fixed latency. With
// `any-token` as second argument it lets every token in (the cold-path scenario sends a token
// never seen before with each request), else only the bench's own tokens.
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { serveParent } from './worker.js';
import { BENCH_TOKENS } from './tokens.js';

const latencyMs = Number(process.argv[2] ?? 0);
const fake = new FakeHyperIdServer({ latencyMs, maxRecordedRequests: 1 });
for (const token of BENCH_TOKENS.all()) fake.setToken(token, { auth_types: [0, 3] });
if (process.argv[3] === 'any-token')
  fake.injectFault({ body: JSON.stringify({ result: 0, auth_types: [0, 3] }) });
await fake.start();

serveParent({ url: fake.url }, async (message) => {
  if (message.type === 'calls') return { count: fake.calls(message.token as string | undefined) };
  if (message.type === 'reset') {
    fake.resetCalls();
    return {};
  }
  return { error: `unknown request ${message.type}` };
});
process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));
