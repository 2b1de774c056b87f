import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsNotEmpty, IsString, Max, MaxLength, Min } from 'class-validator';

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
}
