import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CoursesModule } from '../courses/courses.module.js';
import { AllocationProcessor } from './allocation.processor.js';
import { AllocationService } from './allocation.service.js';
import { LifecycleModule } from './lifecycle.module.js';
import { Enrollment } from './enrollment.entity.js';
import { WaitlistEntry } from './waitlist-entry.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Enrollment, WaitlistEntry]), CoursesModule, LifecycleModule],
  providers: [AllocationService, AllocationProcessor],
})
export class AllocationModule {}
