import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Decision } from './decision.entity.js';
import { DecisionsService } from './decisions.service.js';

/** The read side of decisions, shared by the API (what became of a request) and the workers. */
@Module({
  imports: [TypeOrmModule.forFeature([Decision])],
  providers: [DecisionsService],
  exports: [DecisionsService],
})
export class DecisionsModule {}
