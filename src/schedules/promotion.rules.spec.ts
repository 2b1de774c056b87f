import fc from 'fast-check';
import type { Meeting } from './meeting.js';
import {
  blockOf,
  choosePromotions,
  dropCourse,
  type OverrideKind,
  type ScheduledCourse,
  settle,
  type StudentSchedule,
  swapInto,
  withoutSwapped,
} from './schedule.rules.js';

// Skip-and-keep promotion and the lifting of a block, held to a reference model written from the contract's
// words: "Promotion skips a waiting request that would break S's time conflicts or credits now: it keeps its
// place; the next request that may take the seat gets it."

const COURSE: ScheduledCourse = {
  id: 1,
  credits: 4,
  meetings: [{ days: 'MW', start: '10:00', end: '11:00' }],
};

/** A held course that clashes with COURSE (Monday 10:30) and one that does not (Tuesday). */
const CLASH: ScheduledCourse = { id: 2, credits: 3, meetings: [{ days: 'M', start: '10:30', end: '11:30' }] };
const FREE: ScheduledCourse = { id: 3, credits: 3, meetings: [{ days: 'T', start: '10:00', end: '11:00' }] };

interface Student {
  id: string;
  holds: ScheduledCourse[];
  limit: number | null;
  overrides: OverrideKind[];
}

function scheduleOf(student: Student): StudentSchedule {
  return {
    studentId: student.id,
    creditLimit: student.limit,
    waitlistLimit: null,
    enrolledCredits: student.holds.reduce((sum, course) => sum + course.credits, 0),
    waitlistedCount: 1,
    excusedCredits: 0,
    excusedWaitlists: 0,
    enrolled: student.holds,
    overrides: new Map(student.overrides.length ? [[COURSE.id, new Set(student.overrides)]] : []),
  };
}

/** The contract's reading, independent of the rules: may this student take COURSE now? */
function mayTake(student: Student): boolean {
  const clashes = (a: Meeting, b: Meeting) =>
    [...a.days].some((day) => b.days.includes(day)) && a.start < b.end && b.start < a.end;
  const conflict = student.holds.some((held) =>
    held.meetings.some((m) => COURSE.meetings.some((n) => clashes(m, n))),
  );
  if (conflict && !student.overrides.includes('time_conflict')) return false;
  const credits = student.holds.reduce((sum, course) => sum + course.credits, 0);
  const over = student.limit !== null && credits + COURSE.credits > student.limit;
  return !over || student.overrides.includes('max_credits');
}

const students = fc
  .array(
    fc.record({
      holds: fc.subarray([CLASH, FREE]),
      limit: fc.option(fc.constantFrom(4, 6, 7, 10), { nil: null }),
      overrides: fc.subarray<OverrideKind>(['time_conflict', 'max_credits']),
    }),
    { maxLength: 12 },
  )
  .map((list) => list.map((student, i): Student => ({ ...student, id: `s${i}` })));

describe('skip-and-keep promotion', () => {
  it('promotes, in waitlist order, the first waiting requests whose schedule allows the course', () => {
    fc.assert(
      fc.property(students, fc.nat(6), (waiting, seats) => {
        const schedules = new Map(waiting.map((student) => [student.id, scheduleOf(student)]));
        const promoted = choosePromotions(
          COURSE,
          seats,
          waiting.map((student) => ({ studentId: student.id })),
          schedules,
        );
        const expected = waiting.filter(mayTake).slice(0, seats);
        expect(promoted.map((entry) => entry.studentId)).toEqual(expected.map((student) => student.id));
        // The promoted carry the course's credits now; the passed over are untouched.
        for (const student of waiting) {
          const before = scheduleOf(student).enrolledCredits;
          const taken = expected.includes(student) ? COURSE.credits : 0;
          expect(schedules.get(student.id)!.enrolledCredits).toBe(before + taken);
        }
      }),
    );
  });

  it('lifts a block once the student drops the clashing course or a limit is raised', () => {
    fc.assert(
      fc.property(students, (waiting) => {
        const blocked = waiting.filter((student) => !mayTake(student));
        for (const student of blocked) {
          // Dropping everything held and lifting the limit: nothing can block the course any more.
          let schedule = scheduleOf(student);
          for (const held of student.holds) schedule = dropCourse(schedule, held.id);
          schedule = settle(schedule, { creditLimit: null });
          const promoted = choosePromotions(
            COURSE,
            1,
            [{ studentId: student.id }],
            new Map([[student.id, schedule]]),
          );
          expect(promoted).toHaveLength(1);
        }
      }),
    );
  });

  it('passes over a blocked head and keeps it for the next seat', () => {
    const head: Student = { id: 'head', holds: [CLASH], limit: null, overrides: [] };
    const next: Student = { id: 'next', holds: [FREE], limit: 7, overrides: [] };
    const schedules = new Map([head, next].map((student) => [student.id, scheduleOf(student)]));
    const entries = [{ studentId: 'head' }, { studentId: 'next' }];
    expect(choosePromotions(COURSE, 1, entries, schedules)).toEqual([{ studentId: 'next' }]);
    schedules.set('head', dropCourse(schedules.get('head')!, CLASH.id));
    expect(choosePromotions(COURSE, 1, entries.slice(0, 1), schedules)).toEqual([{ studentId: 'head' }]);
  });
});

describe('swaps in promotion (contract v3, Swap)', () => {
  const student = (holds: ScheduledCourse[], limit: number | null = null): StudentSchedule =>
    scheduleOf({ id: 's', holds, limit, overrides: [] });

  it("does not count a swap's enrolled course against the course it asks for", () => {
    const clashing = student([CLASH]);
    expect(blockOf(clashing, COURSE)).toBe('time_conflict');
    expect(blockOf(withoutSwapped(clashing, { course: CLASH, held: 'enrolled' }), COURSE)).toBeNull();
    // A waiting place holds no meetings: the clash with an enrolled course stays.
    expect(blockOf(withoutSwapped(clashing, { course: CLASH, held: 'waitlisted' }), COURSE)).toBe(
      'time_conflict',
    );
    const full = student([FREE], 6);
    expect(blockOf(full, COURSE)).toBe('max_credits');
    expect(blockOf(withoutSwapped(full, { course: FREE, held: 'enrolled' }), COURSE)).toBeNull();
  });

  it('leaves the student holding the new course alone, never both and never neither', () => {
    const before = student([CLASH], 4);
    const seated = swapInto(before, COURSE, { course: CLASH, held: 'enrolled' }, true);
    expect(seated.enrolled.map((held) => held.id)).toEqual([COURSE.id]);
    expect([seated.enrolledCredits, seated.waitlistedCount]).toEqual([4, 0]);
    const waiting = { ...student([], 4), waitlistedCount: 2 };
    const fromWaiting = swapInto(waiting, COURSE, { course: FREE, held: 'waitlisted' }, true);
    expect([fromWaiting.enrolledCredits, fromWaiting.waitlistedCount]).toEqual([4, 0]);
  });

  it('promotes a swap its schedule blocks only through what it gives up, and passes over the rest', () => {
    const entries = [
      { studentId: 'a', swap: CLASH },
      { studentId: 'b', swap: null },
      { studentId: 'c', swap: null },
    ];
    const schedules = new Map([
      ['a', { ...student([CLASH]), studentId: 'a' }],
      ['b', { ...student([CLASH]), studentId: 'b' }],
      ['c', { ...student([]), studentId: 'c' }],
    ]);
    const promoted = choosePromotions(COURSE, 2, entries, schedules, (entry) =>
      entry.swap ? { course: entry.swap, held: 'enrolled' } : null,
    );
    expect(promoted.map((entry) => entry.studentId)).toEqual(['a', 'c']);
    expect(schedules.get('a')!.enrolled.map((held) => held.id)).toEqual([COURSE.id]);
    expect(schedules.get('b')!.enrolled.map((held) => held.id)).toEqual([CLASH.id]);
  });
});
