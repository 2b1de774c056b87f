import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsISO8601, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class CreateCourseDto {
  @ApiProperty({ example: 'CS101', minLength: 1, maxLength: 32, description: 'Unique course code' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(32)
  code!: string;

  @ApiProperty({ example: 'Intro to CS', minLength: 1, maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  title!: string;

  @ApiProperty({
    example: 30,
    minimum: 0,
    maximum: 100000,
    description: 'Seats; 0 sends every request to the waitlist',
  })
  @IsInt()
  @Min(0)
  @Max(100000)
  capacity!: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    required: false,
    example: '2026-12-01T09:00:00Z',
    description: 'Registration opens (ISO 8601); null or absent: open from creation',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  opens_at?: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    required: false,
    example: '2026-12-08T17:00:00Z',
    description: 'Registration closes (ISO 8601), after opens_at; null or absent: never closes',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  closes_at?: string | null;
}
