import { ValidateBy } from 'class-validator';

/**
 * The one date-time the API reads: RFC 3339's `date-time` (section 5.6), which is what OpenAPI's
 * `format: date-time` names. Exactly: `YYYY-MM-DD`, `T`, `hh:mm:ss`, an optional fraction, and `Z` or
 * `±hh:mm` (`T` and `Z` in either case, as the RFC allows). Nothing else of ISO 8601: no date alone, no
 * missing offset (which would be read in the server's own zone), no week or ordinal dates, no space for `T`,
 * no `24:00`, no `+0100`.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * What the document adds to the format (`pattern`): years 0001 to 9998, so that every instant read, in UTC,
 * still has a four-digit year when the API writes it back (0000-01-01T00:00:00+01:00 is in year -1).
 */
export const DATE_TIME_YEARS = /^(?!0000|9999)/;

/** The schema of a date-time field in the OpenAPI document: the format, and the years it may have. */
export const DATE_TIME_SCHEMA = {
  type: 'string',
  format: 'date-time',
  pattern: DATE_TIME_YEARS.source,
} as const;

const daysIn = (year: number, month: number) =>
  month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;

/**
 * The instant an RFC 3339 date-time names, or undefined when the text is not one (or is outside the years
 * above). A leap second is taken where the RFC allows it, at 23:59:60 UTC, and read as the next second (as
 * PostgreSQL reads it). A fraction past milliseconds is cut: JavaScript's Date holds no more.
 */
export function parseDateTime(text: unknown): Date | undefined {
  if (typeof text !== 'string' || !DATE_TIME_YEARS.test(text)) return undefined;
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const [, , , , , , , fraction, , sign, offsetHours, offsetMinutes] = match;
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const offset = sign ? (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) : 0;
  if (sign && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) return undefined;
  const millisecond = fraction ? Number(fraction.slice(0, 3).padEnd(3, '0')) : 0;
  // Date.UTC reads years 0..99 as 1900..1999: set the year apart.
  const local = new Date(Date.UTC(2000, month - 1, day, hour, minute, Math.min(second, 59), millisecond));
  local.setUTCFullYear(year);
  const instant = new Date(local.getTime() + (second === 60 ? 1000 : 0) - offset * 60_000);
  if (second === 60) {
    // The second before the leap second must be 23:59:59 UTC.
    const before = new Date(instant.getTime() - 1000 - millisecond);
    if (before.getUTCHours() !== 23 || before.getUTCMinutes() !== 59 || before.getUTCSeconds() !== 59) {
      return undefined;
    }
  }
  return instant;
}

export const isDateTime = (value: unknown): value is string => parseDateTime(value) !== undefined;

/** A DTO field that must be such a date-time (null and absence are the field's own business). */
export const IsDateTime = (field: string): PropertyDecorator =>
  ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value: unknown) => isDateTime(value),
      defaultMessage: () =>
        `${field} must be an RFC 3339 date-time with an offset, years 0001..9998 (e.g. 2026-12-01T09:00:00Z)`,
    },
  });
