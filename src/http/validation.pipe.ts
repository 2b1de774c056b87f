import { type ArgumentMetadata, type PipeTransform, ValidationPipe } from '@nestjs/common';
import { invalidRequest } from './invalid-request.js';

/**
 * A body that is plainly valid, taken without class-transformer and class-validator; undefined sends it
 * the whole way (every refusal, every doubt). Only the hot path's DTO has one (app.module.ts): validating
 * POST /enroll's body through the decorators was a measurable share of the accept path's CPU and garbage
 * (docs/performance.md).
 */
export type FastPath = (body: unknown) => object | undefined;

/**
 * Nest's ValidationPipe as the whole API uses it (unknown fields refused, values never coerced, one 400 per
 * docs/guarantees.md §9), with a fast path for the bodies that have one. What a fast path accepts, the
 * decorators accept too, unchanged (enroll-request.accept.spec.ts holds POST /enroll's to that).
 */
export class AppValidationPipe implements PipeTransform {
  /** @param fastPaths by the body's DTO class */
  constructor(private readonly fastPaths: ReadonlyMap<unknown, FastPath> = new Map()) {}

  private readonly decorators = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: invalidRequest,
  });

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const fast = metadata.type === 'body' ? this.fastPaths.get(metadata.metatype) : undefined;
    return fast?.(value) ?? this.decorators.transform(value, metadata);
  }
}
