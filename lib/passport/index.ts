// nestjs-hyperid/passport: the 'hyperid' strategy for apps that use @nestjs/passport
// (optional peers: @nestjs/passport, passport).
export { HyperIdAuthGuard } from './hyperid-auth.guard.js';
export { HyperIdBearerStrategy, type HyperIdPassportUser } from './hyperid-bearer.strategy.js';
export { HyperIdPassportModule } from './hyperid-passport.module.js';
