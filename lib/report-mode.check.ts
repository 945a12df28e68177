import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { discoveredClasses } from './decorated-classes.js';
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
    for (const { type, methods } of discoveredClasses(this.discovery, this.scanner)) {
      for (const { name, method } of methods) {
        if (this.isReported(this.reflector.get(TwoFactorMetadata, method))) names.add(`${type.name}.${name}`);
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
