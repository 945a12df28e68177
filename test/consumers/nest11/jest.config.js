// CommonJS jest (no --experimental-vm-modules). nestjs-hyperid ships ES modules, which jest's
// CommonJS runtime cannot load as they are: let the transform compile that one package too.
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  testRegex: '\\.e2e-spec\\.ts$',
  transform: {
    '^.+\\.(t|j)s$': 'ts-jest',
  },
  transformIgnorePatterns: ['/node_modules/(?!nestjs-hyperid/)'],
};
