// nestjs-hyperid/testing: a stand-in HyperID for tests, samples and benchmarks.
export {
  FakeHyperIdServer,
  type FakeHyperIdFault,
  type FakeHyperIdRequest,
  type FakeHyperIdServerOptions,
  type FakeTokenAnswer,
} from './fake-hyperid.server.js';
export { HyperIdTestingModule, type HyperIdTestingModuleOptions } from './hyperid-testing.module.js';
export {
  HyperIdTestingController,
  InMemoryHyperIdClient,
  type HyperIdTestingAnswer,
} from './in-memory-hyperid.client.js';
