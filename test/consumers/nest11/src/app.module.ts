import { Module } from '@nestjs/common';
import { HyperIdModule } from 'nestjs-hyperid';
import { AccountController } from './account.controller';

@Module({
  imports: [
    HyperIdModule.forRootAsync({
      isGlobal: true,
      useFactory: () => ({ apiUrl: process.env.HYPERID_API_URL, retries: 0 }),
    }),
  ],
  controllers: [AccountController],
})
export class AppModule {}
