import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';

// The jest example of docs/testing.md ("Jest") is run by CI as testing-your-app.e2e-spec.ts: this
// keeps the two from drifting apart.
describe('docs/testing.md jest example', () => {
  it('is the very code of test/package/testing-your-app.e2e-spec.ts', async () => {
    const readme = await readFile(new URL('../../docs/testing.md', import.meta.url), 'utf8');
    const test = await readFile(new URL('./testing-your-app.e2e-spec.ts', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    const example = blocks.find((block) => block.startsWith('// account.controller.e2e-spec.ts'));
    expect(example).toBeDefined();
    expect(example!.trim()).toBe(test.trim());
  });
});
