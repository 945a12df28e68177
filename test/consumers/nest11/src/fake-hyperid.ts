import { HyperIdResult } from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';

/** A fake HyperID with one token per SPEC §3 row the consumer checks. */
export async function startFakeHyperId(): Promise<FakeHyperIdServer> {
  const fake = new FakeHyperIdServer({
    tokens: {
      totp: { auth_types: [1, 3] },
      email: { auth_types: [3] },
      expired: { result: HyperIdResult.TokenExpired },
      down: { auth_types: [1] },
      garbled: { auth_types: [1] },
    },
  });
  fake
    .injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, 'down')
    .injectFault({ malformed: true }, 'garbled');
  return fake.start();
}
