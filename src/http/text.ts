import { ValidateBy } from 'class-validator';

/**
 * Free text a person typed (a course's code and title): no C0 control character (NUL included) and no DEL,
 * which break logs, labels and PostgreSQL text; no lone surrogate (JSON can carry one, UTF-8 cannot: it
 * would be stored as U+FFFD); and no white space at either end (the service used to trim it; now it says
 * no, so that what the document allows is exactly what is stored). Read with the `u` flag, as JSON Schema
 * reads a pattern: by code point.
 */
export const TEXT_PATTERN =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /^[^\s\u0000-\u001f\u007f\ud800-\udfff](?:[^\u0000-\u001f\u007f\ud800-\udfff]*[^\s\u0000-\u001f\u007f\ud800-\udfff])?$/u;

/** The schema of such a field: lengths count characters (code points), as JSON Schema counts them. */
export const textSchema = (maxLength: number) =>
  ({ type: 'string', minLength: 1, maxLength, pattern: TEXT_PATTERN.source }) as const;

/** A DTO field of such text, 1..maxLength characters: one message names the field and the whole rule. */
export const IsText = (field: string, maxLength: number): PropertyDecorator =>
  ValidateBy({
    name: 'isText',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' &&
        TEXT_PATTERN.test(value) &&
        // Counted by code point: an emoji is one character to JSON Schema, two UTF-16 units to .length.
        [...value].length <= maxLength,
      defaultMessage: () =>
        `${field} must be 1..${maxLength} characters, without control characters or white space at either end`,
    },
  });
