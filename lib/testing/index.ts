// nestjs-hyperid/testing: a stand-in HyperID for tests, samples and benchmarks.
export {
  FakeHyperIdServer,
  type FakeHyperIdFault,
  type FakeHyperIdRequest,
  type FakeHyperIdServerOptions,
  type FakeTokenAnswer,
} from './fake-hyperid.server.js';
export {
  HyperIdTestingController,
  HyperIdTestingModule,
  type HyperIdTestingAnswer,
  type HyperIdTestingModuleOptions,
} from './hyperid-testing.module.js';
