import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { HYPERID_RESOLVED_OPTIONS, LOGGER_CONTEXT } from './hyperid.constants.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';
import { TwoFactorMetadata, type TwoFactorRequirement } from './two-factor.metadata.js';

// One warning per app, however often HyperIdModule is imported (DiscoveryService is one per app).
const checkedApps = new WeakSet<DiscoveryService>();

/**
 * Report mode lets every caller through, so an app must never run it unknowingly: at start-up,
 * one warning lists every requirement in report mode — `Controller.method` for a method's own
 * requirement, `Controller (every route without its own requirement)` for a class's.
 */
@Injectable()
export class ReportModeCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(LOGGER_CONTEXT);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @Inject(HYPERID_RESOLVED_OPTIONS) private readonly options: ResolvedHyperIdOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (checkedApps.has(this.discovery)) return;
    checkedApps.add(this.discovery);
    const reported = this.reportedRequirements();
    if (reported.length === 0) return;
    this.logger.warn(
      `Report mode, NOT enforced: these 2FA requirements let every caller through and only record ` +
        `the refusals they would make: ${reported.join(', ')}`,
    );
  }

  private reportedRequirements(): string[] {
    const names = new Set<string>();
    const seen = new Set<object>();
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) {
      const instance: unknown = wrapper.instance;
      if (typeof instance !== 'object' || instance === null) continue;
      const prototype = Object.getPrototypeOf(instance) as object | null;
      if (!prototype || seen.has(prototype)) continue;
      seen.add(prototype);

      const type = instance.constructor as new (...args: never[]) => unknown;
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const method = (prototype as Record<string, unknown>)[methodName];
        if (typeof method !== 'function') continue;
        const own = this.reflector.get(TwoFactorMetadata, method);
        if (this.isReported(own)) names.add(`${type.name}.${methodName}`);
      }
      if (this.isReported(this.reflector.get(TwoFactorMetadata, type))) {
        names.add(`${type.name} (every route without its own requirement)`);
      }
    }
    return [...names];
  }

  private isReported(requirement: TwoFactorRequirement | false | undefined): boolean {
    return !!requirement && (requirement.enforce ?? this.options.enforce) === 'report';
  }
}
