import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTokenGuard } from '../auth/admin-token.guard.js';
import { AppointmentsController } from './appointments.controller.js';
import { AppointmentsService } from './appointments.service.js';
import { StudentAppointment } from './student-appointment.entity.js';

/**
 * Registration appointments (contract v3, Fair opening): the routes, and the service whose check the
 * accept path runs. A static module, so its importers (the app and enrollment) share one service and one
 * cache of students' appointments per process.
 */
@Module({
  imports: [TypeOrmModule.forFeature([StudentAppointment])],
  controllers: [AppointmentsController],
  providers: [AppointmentsService, AdminTokenGuard],
  exports: [AppointmentsService],
})
export class AppointmentsModule {}
