import type { DiscoveryService, MetadataScanner } from '@nestjs/core';

/** A class an app provides (controller, provider, resolver, gateway), with its methods. */
export interface DiscoveredClass {
  type: new (...args: never[]) => unknown;
  methods: { name: string; method: (...args: unknown[]) => unknown }[];
}

/**
 * Every class of the app's controllers and providers once, with its own and inherited methods, for
 * the start-up checks that read route metadata. A class provided by several modules counts once.
 * Request-scoped classes still have a prototype-based instance here, as Nest's own explorers rely on.
 */
export function discoveredClasses(discovery: DiscoveryService, scanner: MetadataScanner): DiscoveredClass[] {
  const classes: DiscoveredClass[] = [];
  const seen = new Set<object>();
  for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
    const instance: unknown = wrapper.instance;
    if (typeof instance !== 'object' || instance === null) continue;
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype || seen.has(prototype)) continue;
    seen.add(prototype);
    const methods: DiscoveredClass['methods'] = [];
    for (const name of scanner.getAllMethodNames(prototype)) {
      const method = (prototype as Record<string, unknown>)[name];
      if (typeof method === 'function')
        methods.push({ name, method: method as (...args: unknown[]) => unknown });
    }
    classes.push({ type: instance.constructor as DiscoveredClass['type'], methods });
  }
  return classes;
}
