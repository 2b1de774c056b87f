// The framework's floor for the accept benchmark: a bare NestJS (Express) app whose POST /enroll only
// answers 202. No validation, no Redis, no logging: what CourseFlow's accept path is compared against.
import 'reflect-metadata';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Controller()
class EchoController {
  @Post('enroll')
  @HttpCode(202)
  enroll() {
    return { status: 'queued' };
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

const app = await NestFactory.create(EchoModule, { logger: false });
await app.listen(Number(process.env.SERVER_PORT ?? 8100), '127.0.0.1');
// Exit normally on SIGTERM, so that under `node --cpu-prof` (the bench's profile phase) the profile is written.
process.once('SIGTERM', () => process.exit(0));
console.log('ready');
