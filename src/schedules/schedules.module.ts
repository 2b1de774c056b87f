import { Module } from '@nestjs/common';
import { ScheduleReader } from './schedule.reader.js';

/** The read side of students' schedules (the ledger owns the writes). */
@Module({
  providers: [ScheduleReader],
  exports: [ScheduleReader],
})
export class SchedulesModule {}
