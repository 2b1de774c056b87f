import { Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { DeadLettersService } from './dead-letters.service.js';
import { DeadLetterResponse } from './dto/dead-letter.response.js';

const ApiDeadLetterId = () =>
  ApiParam({
    name: 'id',
    description: 'A dead letter id as GET /admin/dead-letters listed it',
    schema: { type: 'string', pattern: '^[1-9][0-9]{0,17}$', example: '17' },
  });
const ApiUnknownId = () => ApiErrorResponse(404, 'No dead letter with this id', 'no dead letter with id 17');

@ApiTags('dead-letters')
@ApiBearerAuth('admin')
@UseGuards(AdminTokenGuard)
@ApiAdminTokenInvalid()
@ApiDependencyUnavailable()
@Controller('admin/dead-letters')
export class DeadLettersController {
  constructor(@Inject(DeadLettersService) private readonly deadLetters: DeadLettersService) {}

  @Get()
  @ApiOperation({
    operationId: 'listDeadLetters',
    summary: 'Requests that could not be decided and wait for an operator (operators)',
    description:
      'Each dead letter with the error of its last try, its tries and its request, still queued; oldest ' +
      'failure first. Retry it or reject it.',
  })
  @ApiOkResponse({ type: [DeadLetterResponse], description: 'The dead letters, oldest failure first' })
  async list(): Promise<DeadLetterResponse[]> {
    return (await this.deadLetters.list()).map((letter) => DeadLetterResponse.from(letter));
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'retryDeadLetter',
    summary: 'Queue its requests again (operators)',
    description: 'Its requests are queued again and decided as usual, once; the dead letter leaves the list.',
  })
  @ApiDeadLetterId()
  @ApiAcceptedResponse({
    type: DeadLetterResponse,
    description: 'Queued again; the dead letter left the list',
  })
  @ApiUnknownId()
  async retry(@Param('id') id: string): Promise<DeadLetterResponse> {
    return DeadLetterResponse.from(await this.deadLetters.retry(id));
  }

  @Post(':id/reject')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'rejectDeadLetter',
    summary: 'Decide its requests rejected (operators)',
    description:
      'Each of its requests is decided rejected with reason dead_letter; the dead letter leaves the list.',
  })
  @ApiDeadLetterId()
  @ApiOkResponse({ type: DeadLetterResponse, description: 'Rejected; the dead letter left the list' })
  @ApiUnknownId()
  async reject(@Param('id') id: string): Promise<DeadLetterResponse> {
    const letter = await this.deadLetters.reject(id);
    return DeadLetterResponse.from(letter, await this.deadLetters.current(letter));
  }
}
