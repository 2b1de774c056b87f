import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTokenGuard } from './admin-token.guard.js';
import { Course } from './course.entity.js';
import { CoursesController } from './courses.controller.js';
import { CoursesService } from './courses.service.js';

@Module({})
export class CoursesModule {
  /** serveHttp is false in worker processes: they need the service (the row lock), not the routes. */
  static register(options: { serveHttp: boolean }): DynamicModule {
    return {
      module: CoursesModule,
      imports: [TypeOrmModule.forFeature([Course])],
      controllers: options.serveHttp ? [CoursesController] : [],
      providers: [CoursesService, AdminTokenGuard],
      exports: [CoursesService],
    };
  }
}
