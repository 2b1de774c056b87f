/** One weekly meeting of a course: days from MTWRFSU, 24-hour HH:MM times, end after start. */
export interface Meeting {
  days: string;
  start: string;
  end: string;
}

export const MEETING_DAYS = 'MTWRFSU';
export const MEETING_DAYS_PATTERN = /^(?!.*(.).*\1)[MTWRFSU]{1,7}$/;
export const MEETING_TIME_PATTERN = /^([01]\d|2[0-3]):[0-5]\d$/;
export const MAX_MEETINGS = 10;

/** A numeric column read by node-postgres (a string) as a number. */
export const numericColumn = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
