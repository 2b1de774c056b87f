import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CoursesModule } from '../courses/courses.module.js';
import { AllocationProcessor } from './allocation.processor.js';
import { AllocationService } from './allocation.service.js';
import { Decision } from './decision.entity.js';
import { DecisionsService } from './decisions.service.js';
import { Enrollment } from './enrollment.entity.js';
import { WaitlistEntry } from './waitlist-entry.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Decision, Enrollment, WaitlistEntry]), CoursesModule],
  providers: [AllocationService, AllocationProcessor, DecisionsService],
  exports: [DecisionsService, AllocationProcessor],
})
export class AllocationModule {}
