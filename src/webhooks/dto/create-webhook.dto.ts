import { ApiProperty } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { EVENT_TYPES } from '../../events/dto/course-event.response.js';
import { ClosedSchema } from '../../http/closed-schema.js';

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const LABEL_TAIL = '(?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const PORT = '(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';

/**
 * An http or https URL with a DNS name (its last label starting with a letter, so no URL parser reads it
 * as a number) or a dotted IPv4 address, an optional port 1..65535, then any printable ASCII: exactly the
 * URLs a WHATWG parser (fetch) takes without a question. IPv6 literals are not taken.
 */
export const WEBHOOK_URL_PATTERN = new RegExp(
  `^https?://(?:(?:[A-Za-z0-9]${LABEL_TAIL}\\.)*[A-Za-z]${LABEL_TAIL}|(?:${OCTET}\\.){3}${OCTET})` +
    `(?::${PORT})?(?:[/?#][!-~]*)?$`,
);

/** Printable ASCII, no spaces: a secret every receiver's language reads as the same bytes. */
export const WEBHOOK_SECRET_PATTERN = /^[!-~]{16,256}$/;

/** Every event type, or '*': every type, including types added later. */
export const WEBHOOK_EVENT_CHOICES = [...EVENT_TYPES, '*'] as const;

/** POST /admin/webhooks: where to push the record, which events, and the secret that signs them. */
@ClosedSchema()
export class CreateWebhookDto {
  @ApiProperty({
    example: 'https://sis.example.edu/courseflow/events',
    maxLength: 2048,
    pattern: WEBHOOK_URL_PATTERN.source,
    description: 'Where each event is POSTed: http or https, a DNS name or an IPv4 address, any port',
  })
  @IsString()
  @MaxLength(2048)
  @Matches(WEBHOOK_URL_PATTERN, {
    message: 'url must be an http or https URL with a DNS name or an IPv4 address (and an optional port)',
  })
  url!: string;

  @ApiProperty({
    example: 'whsec-4f1c2e9a7b3d8e60',
    minLength: 16,
    maxLength: 256,
    pattern: WEBHOOK_SECRET_PATTERN.source,
    writeOnly: true,
    description:
      'Signs every delivery (CourseFlow-Signature); 16..256 printable ASCII characters, no spaces. ' +
      'Never shown again',
  })
  @IsString()
  @Matches(WEBHOOK_SECRET_PATTERN, {
    message: 'secret must be 16..256 printable ASCII characters without spaces',
  })
  secret!: string;

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...WEBHOOK_EVENT_CHOICES] },
    minItems: 1,
    maxItems: WEBHOOK_EVENT_CHOICES.length,
    uniqueItems: true,
    example: ['enrolled', 'promoted', 'dropped'],
    description: 'The event types to deliver; ["*"]: every type, including types added later',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(WEBHOOK_EVENT_CHOICES.length)
  @ArrayUnique()
  @IsIn(WEBHOOK_EVENT_CHOICES, {
    each: true,
    message: `each of events must be one of ${WEBHOOK_EVENT_CHOICES.join(', ')}`,
  })
  events!: string[];

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    maximum: 2_147_483_647,
    nullable: true,
    required: false,
    example: null,
    description: "Only this course's events; absent or null: every course's",
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsInt()
  @Min(1)
  @Max(2_147_483_647)
  course_id?: number | null;
}
