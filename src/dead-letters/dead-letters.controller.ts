import { Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { AdminTokenGuard } from '../courses/admin-token.guard.js';
import { errorResponse } from '../errors/error.response.js';
import { DeadLettersService } from './dead-letters.service.js';
import { DeadLetterResponse } from './dto/dead-letter.response.js';

const unknownId = errorResponse(404, 'No dead letter with this id', 'no dead letter with id 17');
const unauthorized = errorResponse(
  401,
  'Missing or wrong admin token',
  'Authorization must be "Bearer <ADMIN_TOKEN>"',
);

@ApiTags('dead letters')
@ApiBearerAuth('admin')
@UseGuards(AdminTokenGuard)
@ApiUnauthorizedResponse(unauthorized)
@Controller('admin/dead-letters')
export class DeadLettersController {
  constructor(@Inject(DeadLettersService) private readonly deadLetters: DeadLettersService) {}

  @Get()
  @ApiOperation({ summary: 'Requests that could not be decided and wait for an operator' })
  @ApiOkResponse({ type: [DeadLetterResponse] })
  async list(): Promise<DeadLetterResponse[]> {
    return (await this.deadLetters.list()).map((letter) => DeadLetterResponse.from(letter));
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Queue its requests again; they are decided as usual, once' })
  @ApiAcceptedResponse({
    type: DeadLetterResponse,
    description: 'Queued again; the dead letter left the list',
  })
  @ApiNotFoundResponse(unknownId)
  async retry(@Param('id') id: string): Promise<DeadLetterResponse> {
    return DeadLetterResponse.from(await this.deadLetters.retry(id));
  }

  @Post(':id/reject')
  @HttpCode(200)
  @ApiOperation({ summary: 'Decide its requests rejected, with reason dead_letter' })
  @ApiOkResponse({ type: DeadLetterResponse, description: 'Rejected; the dead letter left the list' })
  @ApiNotFoundResponse(unknownId)
  async reject(@Param('id') id: string): Promise<DeadLetterResponse> {
    const letter = await this.deadLetters.reject(id);
    return DeadLetterResponse.from(letter, await this.deadLetters.current(letter));
  }
}
