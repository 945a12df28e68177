import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef, Reflector } from '@nestjs/core';
import { discoveredClasses } from './decorated-classes.js';
import { LOGGER_CONTEXT } from './hyperid.constants.js';
import { TwoFactorMetadata } from './two-factor.metadata.js';

// `@nestjs/graphql` is an optional peer, so its constants are repeated here rather than imported.
// Both come from @nestjs/graphql's lib/graphql.constants.ts: `@ResolveField()` sets
// RESOLVER_PROPERTY_METADATA to `true` on the method (lib/decorators/resolve-field.decorator.ts),
// and GraphQLModule.forRoot()/forRootAsync() provide their options under GRAPHQL_MODULE_OPTIONS.
const RESOLVER_PROPERTY_METADATA = 'graphql:resolve_property';
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

// Every `HyperIdModule.forRoot()` of an app brings its own check, but DiscoveryModule's service is
// one per app: keying on it reports each app once, however often the module is imported.
const checkedApps = new WeakSet<DiscoveryService>();

/**
 * Nest runs no guards on field resolvers unless GraphQLModule has `fieldResolverEnhancers:
 * ['guards']`, so a `@RequireTwoFactor()` there would silently let every caller through (see the
 * docs/graphql-and-other-contexts.md). Nothing is refused at boot: the app keeps working, and the log says
 * which resolvers are unprotected.
 */
@Injectable()
export class GraphqlFieldResolversCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(LOGGER_CONTEXT);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    if (checkedApps.has(this.discovery)) return;
    checkedApps.add(this.discovery);

    const unguarded = this.guardedFieldResolvers();
    if (unguarded.length === 0 || this.guardsRunOnFieldResolvers()) return;
    for (const name of unguarded) {
      this.logger.error(
        `@RequireTwoFactor() on field resolver ${name} is NOT enforced: Nest runs no guards on ` +
          `field resolvers unless GraphQLModule is configured with fieldResolverEnhancers: ['guards']`,
      );
    }
  }

  /** `ClassName.methodName` of each `@ResolveField()` method that carries a 2FA requirement. */
  private guardedFieldResolvers(): string[] {
    const names = new Set<string>();
    for (const { type, methods } of discoveredClasses(this.discovery, this.scanner)) {
      for (const { name, method } of methods) {
        if (this.reflector.get<unknown>(RESOLVER_PROPERTY_METADATA, method) !== true) continue;
        // The guard's own lookup: the method's word overrides the class's, `false` is @SkipTwoFactor().
        const requirement = this.reflector.getAllAndOverride(TwoFactorMetadata, [method, type]);
        if (requirement) names.add(`${type.name}.${name}`);
      }
    }
    return [...names];
  }

  /**
   * Whether GraphQLModule lets guards run on field resolvers. Options that cannot be found while
   * field resolvers exist count as "no": staying silent then would hide exactly this problem.
   */
  private guardsRunOnFieldResolvers(): boolean {
    let options: unknown;
    try {
      options = this.moduleRef.get(GRAPHQL_MODULE_OPTIONS, { strict: false });
    } catch {
      return false;
    }
    const enhancers = (options as { fieldResolverEnhancers?: unknown } | undefined)?.fieldResolverEnhancers;
    return Array.isArray(enhancers) && enhancers.includes('guards');
  }
}
