import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';

/** Extras read at the top level of `forRoot()` / `forRootAsync()`, not from a factory. */
export interface HyperIdModuleExtras {
  /** Register the module globally, so feature modules need not import it. Default false. */
  isGlobal?: boolean;
}

/** A class that `forRootAsync({ useClass | useExisting })` can use to build the options. */
export interface HyperIdOptionsFactory {
  createHyperIdOptions(): HyperIdModuleOptions | Promise<HyperIdModuleOptions>;
}

export const {
  ConfigurableModuleClass: ConfigurableHyperIdModule,
  MODULE_OPTIONS_TOKEN: HYPERID_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<HyperIdModuleOptions>({ moduleName: 'HyperId' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createHyperIdOptions')
  .setExtras<HyperIdModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal === true,
  }))
  .build();
