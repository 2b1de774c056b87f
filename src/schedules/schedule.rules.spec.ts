import fc from 'fast-check';
import type { Meeting } from './meeting.js';
import {
  admission,
  blockOf,
  coursesOverlap,
  dropCourse,
  enroll,
  joinWaitlist,
  leaveWaitlist,
  meetingsOverlap,
  OVERRIDE_KINDS,
  type OverrideKind,
  type ScheduledCourse,
  type ScheduleRejection,
  settle,
  type StudentSchedule,
} from './schedule.rules.js';

// Guarantee 8 and "Schedules (v3)" in the contract, held to examples and to a reference model written from its
// words, independently of the rules: meetings are sets of occupied minutes of the week, credits count in halves.

const meeting = (days: string, start: string, end: string): Meeting => ({ days, start, end });
const course = (id: number, credits: number, meetings: Meeting[] = []): ScheduledCourse => ({
  id,
  credits,
  meetings,
});

interface Student {
  enrolled?: ScheduledCourse[];
  creditLimit?: number | null;
  waitlistLimit?: number | null;
  waitlistedCount?: number;
  overrides?: Record<number, OverrideKind[]>;
}

/** A consistent schedule: the enrolled credits are those of the enrolled courses, nothing excused. */
function scheduleOf(student: Student): StudentSchedule {
  const enrolled = student.enrolled ?? [];
  return {
    studentId: 's-1',
    creditLimit: student.creditLimit ?? null,
    waitlistLimit: student.waitlistLimit ?? null,
    enrolledCredits: enrolled.reduce((sum, held) => sum + held.credits, 0),
    waitlistedCount: student.waitlistedCount ?? 0,
    excusedCredits: 0,
    excusedWaitlists: 0,
    enrolled,
    overrides: new Map(
      Object.entries(student.overrides ?? {}).map(([id, kinds]) => [Number(id), new Set(kinds)]),
    ),
  };
}

describe('meetingsOverlap and coursesOverlap', () => {
  it('lets a meeting start when another ends: 09:00–09:50 and 09:50–10:40 do not overlap', () => {
    const first = meeting('MWF', '09:00', '09:50');
    const second = meeting('MWF', '09:50', '10:40');
    expect(meetingsOverlap(first, second)).toBe(false);
    expect(meetingsOverlap(second, first)).toBe(false);
  });

  it('finds no overlap between the same times on different days', () => {
    expect(meetingsOverlap(meeting('MWF', '09:00', '09:50'), meeting('TR', '09:00', '09:50'))).toBe(false);
    expect(meetingsOverlap(meeting('SU', '09:00', '17:00'), meeting('MTWRF', '09:00', '17:00'))).toBe(false);
  });

  it('finds an overlap on a shared day', () => {
    expect(meetingsOverlap(meeting('MWF', '09:00', '09:50'), meeting('F', '09:30', '10:20'))).toBe(true);
    expect(meetingsOverlap(meeting('TR', '09:00', '09:51'), meeting('RU', '09:50', '10:40'))).toBe(true);
    // One inside the other, and the very same meeting.
    expect(meetingsOverlap(meeting('M', '08:00', '12:00'), meeting('M', '09:00', '09:10'))).toBe(true);
    expect(meetingsOverlap(meeting('W', '09:00', '09:10'), meeting('W', '09:00', '09:10'))).toBe(true);
  });

  it('compares times, not strings of different shapes: 10:00 comes after 09:59', () => {
    expect(meetingsOverlap(meeting('M', '09:00', '10:00'), meeting('M', '09:59', '11:00'))).toBe(true);
    expect(meetingsOverlap(meeting('M', '09:00', '10:00'), meeting('M', '10:00', '11:00'))).toBe(false);
  });

  it('finds two courses overlapping when any of their meetings do, and never a course without meetings', () => {
    const lecture = [meeting('MW', '09:00', '10:00'), meeting('F', '14:00', '15:00')];
    expect(coursesOverlap(lecture, [meeting('T', '09:00', '10:00'), meeting('F', '14:30', '15:30')])).toBe(
      true,
    );
    expect(coursesOverlap(lecture, [meeting('T', '09:00', '10:00'), meeting('F', '15:00', '16:00')])).toBe(
      false,
    );
    expect(coursesOverlap(lecture, [])).toBe(false);
    expect(coursesOverlap([], lecture)).toBe(false);
  });
});

describe('admission', () => {
  const CANDIDATE = course(10, 4, [meeting('MW', '10:00', '11:00')]);
  const CLASH = course(1, 4, [meeting('W', '10:30', '11:30')]);
  const BESIDE = course(2, 4, [meeting('MW', '11:00', '12:00')]);

  it('refuses a time conflict before anything else, whether or not a seat is free', () => {
    const student = scheduleOf({ enrolled: [CLASH], creditLimit: 4, waitlistLimit: 0 });
    expect(admission(student, CANDIDATE, true)).toBe('time_conflict');
    expect(admission(student, CANDIDATE, false)).toBe('time_conflict');
  });

  it('checks the credits only when a seat is free (joining a waitlist counts no credits)', () => {
    const student = scheduleOf({ enrolled: [BESIDE], creditLimit: 6 });
    expect(admission(student, CANDIDATE, true)).toBe('max_credits');
    expect(admission(student, CANDIDATE, false)).toBeNull();
  });

  it('checks max_waitlisted only when no seat is free', () => {
    const full = scheduleOf({ waitlistLimit: 2, waitlistedCount: 2 });
    expect(admission(full, CANDIDATE, false)).toBe('max_waitlisted');
    expect(admission(full, CANDIDATE, true)).toBeNull();
    expect(admission(scheduleOf({ waitlistLimit: 2, waitlistedCount: 1 }), CANDIDATE, false)).toBeNull();
    expect(admission(scheduleOf({ waitlistLimit: 0 }), CANDIDATE, false)).toBe('max_waitlisted');
  });

  it('allows a load equal to the limit, and refuses half a credit more', () => {
    expect(admission(scheduleOf({ enrolled: [BESIDE], creditLimit: 8 }), CANDIDATE, true)).toBeNull();
    expect(admission(scheduleOf({ enrolled: [BESIDE], creditLimit: 7.5 }), CANDIDATE, true)).toBe(
      'max_credits',
    );
    expect(admission(scheduleOf({ creditLimit: 4 }), CANDIDATE, true)).toBeNull();
    expect(admission(scheduleOf({ creditLimit: 3.5 }), CANDIDATE, true)).toBe('max_credits');
  });

  it('never refuses a course of 0 credits for credits', () => {
    const free = course(11, 0, [meeting('F', '08:00', '09:00')]);
    expect(admission(scheduleOf({ creditLimit: 0 }), free, true)).toBeNull();
    const overAlready = { ...scheduleOf({ enrolled: [BESIDE], creditLimit: 2 }), excusedCredits: 2 };
    expect(admission(overAlready, free, true)).toBeNull();
    expect(blockOf(overAlready, free)).toBeNull();
  });

  it('has no limit when the limits are null', () => {
    const student = scheduleOf({ enrolled: [BESIDE, course(3, 40)], waitlistedCount: 100 });
    expect(admission(student, CANDIDATE, true)).toBeNull();
    expect(admission(student, CANDIDATE, false)).toBeNull();
  });

  // Each situation breaks exactly one rule; the seat is free or not as the rule needs.
  const situations: Record<OverrideKind, { student: Student; seatFree: boolean }> = {
    time_conflict: { student: { enrolled: [CLASH] }, seatFree: true },
    max_credits: { student: { enrolled: [BESIDE], creditLimit: 7 }, seatFree: true },
    max_waitlisted: { student: { waitlistLimit: 1, waitlistedCount: 1 }, seatFree: false },
  };

  it.each(OVERRIDE_KINDS)('lets an override of kind %s excuse only its kind, for only its course', (kind) => {
    for (const broken of OVERRIDE_KINDS) {
      const { student, seatFree } = situations[broken];
      const excusedHere = scheduleOf({ ...student, overrides: { [CANDIDATE.id]: [kind] } });
      expect(admission(excusedHere, CANDIDATE, seatFree)).toBe(kind === broken ? null : broken);
      // The same override for another course (even the clashing one) excuses nothing here.
      const elsewhere = scheduleOf({ ...student, overrides: { [CLASH.id]: [kind], [BESIDE.id]: [kind] } });
      expect(admission(elsewhere, CANDIDATE, seatFree)).toBe(broken);
    }
  });

  it('checks the remaining rules once an override excuses a time conflict', () => {
    const student = scheduleOf({
      enrolled: [CLASH],
      creditLimit: 7,
      waitlistLimit: 0,
      overrides: { [CANDIDATE.id]: ['time_conflict'] },
    });
    expect(admission(student, CANDIDATE, true)).toBe('max_credits');
    expect(admission(student, CANDIDATE, false)).toBe('max_waitlisted');
    const allExcused = scheduleOf({
      enrolled: [CLASH],
      creditLimit: 7,
      waitlistLimit: 0,
      overrides: { [CANDIDATE.id]: [...OVERRIDE_KINDS] },
    });
    expect(admission(allExcused, CANDIDATE, true)).toBeNull();
    expect(admission(allExcused, CANDIDATE, false)).toBeNull();
  });
});

describe('blockOf', () => {
  const CANDIDATE = course(10, 4, [meeting('MW', '10:00', '11:00')]);

  it('never blocks a promotion for max_waitlisted', () => {
    expect(blockOf(scheduleOf({ waitlistLimit: 0, waitlistedCount: 5 }), CANDIDATE)).toBeNull();
  });

  it('blocks for a time conflict first, then for credits', () => {
    const clash = course(1, 4, [meeting('M', '10:59', '11:30')]);
    expect(blockOf(scheduleOf({ enrolled: [clash], creditLimit: 4 }), CANDIDATE)).toBe('time_conflict');
    expect(blockOf(scheduleOf({ enrolled: [course(2, 4)], creditLimit: 7.5 }), CANDIDATE)).toBe(
      'max_credits',
    );
    expect(blockOf(scheduleOf({ enrolled: [course(2, 4)], creditLimit: 8 }), CANDIDATE)).toBeNull();
  });
});

// ---- The reference model --------------------------------------------------------------------------------

const DAYS = 'MTWRFSU';
const MINUTES_A_DAY = 24 * 60;
const clock = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
const minuteOf = (time: string) => {
  const [hours, minutes] = time.split(':').map(Number);
  return hours * 60 + minutes;
};

/** Every minute of the week a course sits in, as day × 1440 + minute: [start, end) of each meeting day. */
function occupied(meetings: readonly Meeting[]): Set<number> {
  const minutes = new Set<number>();
  for (const { days, start, end } of meetings) {
    for (const day of days) {
      for (let minute = minuteOf(start); minute < minuteOf(end); minute += 1) {
        minutes.add(DAYS.indexOf(day) * MINUTES_A_DAY + minute);
      }
    }
  }
  return minutes;
}

/** Two courses overlap when some minute of the week belongs to both. */
function share(a: readonly Meeting[], b: readonly Meeting[]): boolean {
  const taken = occupied(a);
  return b.length > 0 && [...occupied(b)].some((minute) => taken.has(minute));
}

interface Model {
  enrolled: ScheduledCourse[];
  creditLimit: number | null;
  waitlistLimit: number | null;
  waitlistedCount: number;
  overrides: Map<number, OverrideKind[]>;
}

const halves = (credits: number) => Math.round(credits * 2);
const excuses = (model: Model, courseId: number, kind: OverrideKind) =>
  model.overrides.get(courseId)?.includes(kind) ?? false;

/** Enrolling takes the credits past the limit, counted in half credits; 0 credits add nothing to refuse. */
function exceedsCredits(model: Model, candidate: ScheduledCourse): boolean {
  if (model.creditLimit === null || candidate.credits === 0) return false;
  const held = model.enrolled.reduce((sum, one) => sum + halves(one.credits), 0);
  return held + halves(candidate.credits) > halves(model.creditLimit);
}

/** The contract's "Deciding a request of student S for course C", read rule by rule. */
function expectedAdmission(
  model: Model,
  candidate: ScheduledCourse,
  seatFree: boolean,
): ScheduleRejection | null {
  const conflict = model.enrolled.some((held) => share(held.meetings, candidate.meetings));
  if (conflict && !excuses(model, candidate.id, 'time_conflict')) return 'time_conflict';
  if (seatFree) {
    return exceedsCredits(model, candidate) && !excuses(model, candidate.id, 'max_credits')
      ? 'max_credits'
      : null;
  }
  const full = model.waitlistLimit !== null && model.waitlistedCount >= model.waitlistLimit;
  return full && !excuses(model, candidate.id, 'max_waitlisted') ? 'max_waitlisted' : null;
}

function scheduleOfModel(model: Model): StudentSchedule {
  return {
    studentId: 's-1',
    creditLimit: model.creditLimit,
    waitlistLimit: model.waitlistLimit,
    enrolledCredits: model.enrolled.reduce((sum, held) => sum + held.credits, 0),
    waitlistedCount: model.waitlistedCount,
    excusedCredits: 0,
    excusedWaitlists: 0,
    enrolled: model.enrolled,
    overrides: new Map([...model.overrides].map(([id, kinds]) => [id, new Set(kinds)])),
  };
}

// Times cluster in one busy morning, so meetings often touch and overlap; now and then anywhere in the day.
const startMinute = fc.oneof(
  { arbitrary: fc.integer({ min: 96, max: 132 }).map((fives) => fives * 5), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: MINUTES_A_DAY - 2 }), weight: 1 },
);
const duration = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 24 }).map((fives) => fives * 5), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max: MINUTES_A_DAY - 1 }), weight: 1 },
);
const meetingArbitrary = fc
  .record({
    days: fc.shuffledSubarray([...DAYS], { minLength: 1 }).map((days) => days.join('')),
    start: startMinute,
    length: duration,
  })
  .map(({ days, start, length }) =>
    meeting(days, clock(start), clock(Math.min(start + length, MINUTES_A_DAY - 1))),
  );
const credits = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 16 }).map((n) => n / 2),
  fc.integer({ min: 0, max: 80 }).map((n) => n / 2),
);
const courseShape = fc.record({ credits, meetings: fc.array(meetingArbitrary, { maxLength: 3 }) });
const creditLimit = fc.option(
  fc.integer({ min: 0, max: 40 }).map((n) => n / 2),
  { nil: null },
);
const waitlistLimit = fc.option(fc.integer({ min: 0, max: 4 }), { nil: null });
const kinds = fc.subarray([...OVERRIDE_KINDS]);

const CANDIDATE_ID = 100;

const situation = fc
  .record({
    enrolled: fc.array(courseShape, { maxLength: 5 }),
    candidate: courseShape,
    creditLimit,
    waitlistLimit,
    waitlistedCount: fc.integer({ min: 0, max: 5 }),
    candidateOverride: kinds,
    otherOverrides: fc.array(fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, CANDIDATE_ID + 1), kinds), {
      maxLength: 3,
    }),
    seatFree: fc.boolean(),
  })
  .map(({ enrolled, candidate, candidateOverride, otherOverrides, seatFree, ...limits }) => {
    const model: Model = {
      ...limits,
      enrolled: enrolled.map((shape, index) => ({ id: index + 1, ...shape })),
      overrides: new Map([...otherOverrides, [CANDIDATE_ID, candidateOverride] as const]),
    };
    return { model, candidate: { id: CANDIDATE_ID, ...candidate }, seatFree };
  });

describe('admission and blockOf against the reference model', () => {
  it('decide every request as the contract reads', () => {
    fc.assert(
      fc.property(situation, ({ model, candidate, seatFree }) => {
        const schedule = scheduleOfModel(model);
        expect(admission(schedule, candidate, seatFree)).toBe(expectedAdmission(model, candidate, seatFree));
        // A waiting request is blocked by what would refuse it a free seat, and never by its waitlists.
        expect(blockOf(schedule, candidate)).toBe(expectedAdmission(model, candidate, true));
      }),
      { numRuns: 500 },
    );
  });

  it('agree with the reference on when two courses overlap', () => {
    fc.assert(
      fc.property(courseShape, courseShape, (a, b) => {
        expect(coursesOverlap(a.meetings, b.meetings)).toBe(share(a.meetings, b.meetings));
      }),
      { numRuns: 500 },
    );
  });
});

// ---- The load row across a student's history --------------------------------------------------------------

/** The load row's CHECKs (student_loads), with the rounding of JavaScript numbers forgiven. */
function checksHold(schedule: StudentSchedule): boolean {
  const { creditLimit: credits, waitlistLimit: waitlists } = schedule;
  return (
    schedule.excusedCredits >= 0 &&
    schedule.excusedWaitlists >= 0 &&
    schedule.enrolledCredits >= 0 &&
    schedule.waitlistedCount >= 0 &&
    (credits === null || schedule.enrolledCredits - schedule.excusedCredits <= credits + 1e-9) &&
    (waitlists === null || schedule.waitlistedCount - schedule.excusedWaitlists <= waitlists)
  );
}

/** What lies beyond the limit now; the excused part is never more (the load row's own promise). */
const beyond = (load: number, limit: number | null) => (limit === null ? 0 : Math.max(load - limit, 0));

const COURSES = 6;
const pick = fc.nat({ max: 99 });
const step = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('decide' as const), course: pick, seatFree: fc.boolean() }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constant('promote' as const), which: pick }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('leave' as const), which: pick }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('drop' as const), which: pick, byCourse: fc.boolean() }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('limits' as const),
      creditLimit: fc.option(creditLimit, { nil: undefined }),
      waitlistLimit: fc.option(waitlistLimit, { nil: undefined }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('recredit' as const), course: pick, credits }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('override' as const), course: pick, kinds }), weight: 2 },
);
const history = fc.record({
  catalogue: fc.array(courseShape, { minLength: COURSES, maxLength: COURSES }),
  creditLimit,
  waitlistLimit,
  steps: fc.array(step, { maxLength: 40 }),
});

describe('the load row across any history the rules allow', () => {
  it('keeps within its CHECKs, and a request refused for a limit would break them', () => {
    const forced = { credits: 0, waitlists: 0 };
    fc.assert(
      fc.property(history, ({ catalogue, creditLimit, waitlistLimit, steps }) => {
        const courses = catalogue.map((shape, index): ScheduledCourse => ({ id: index + 1, ...shape }));
        const overrides = new Map<number, Set<OverrideKind>>();
        const waiting = new Set<number>();
        let schedule: StudentSchedule = {
          studentId: 's-1',
          creditLimit,
          waitlistLimit,
          enrolledCredits: 0,
          waitlistedCount: 0,
          excusedCredits: 0,
          excusedWaitlists: 0,
          enrolled: [],
          overrides,
        };
        const held = (id: number) => schedule.enrolled.some((one) => one.id === id) || waiting.has(id);
        const nth = <T>(list: readonly T[], which: number): T | undefined => list[which % list.length];

        for (const next of steps) {
          switch (next.kind) {
            case 'decide': {
              const candidate = courses[next.course % COURSES];
              if (held(candidate.id)) break;
              if (admission(schedule, candidate, next.seatFree) !== null) break;
              if (next.seatFree) schedule = enroll(schedule, candidate, false);
              else {
                schedule = joinWaitlist(schedule, candidate.id);
                waiting.add(candidate.id);
              }
              break;
            }
            case 'promote': {
              const id = nth([...waiting], next.which);
              if (id === undefined) break;
              const candidate = courses[id - 1];
              if (blockOf(schedule, candidate) !== null) break;
              schedule = enroll(schedule, candidate, true);
              waiting.delete(id);
              break;
            }
            case 'leave': {
              const id = nth([...waiting], next.which);
              if (id === undefined) break;
              schedule = leaveWaitlist(schedule);
              waiting.delete(id);
              break;
            }
            case 'drop': {
              const dropped = nth(schedule.enrolled, next.which);
              if (dropped === undefined) break;
              schedule = dropCourse(schedule, next.byCourse ? dropped : dropped.id);
              break;
            }
            case 'limits':
              schedule = settle(schedule, {
                creditLimit: next.creditLimit,
                waitlistLimit: next.waitlistLimit,
              });
              break;
            case 'recredit': {
              const index = next.course % COURSES;
              courses[index] = { ...courses[index], credits: next.credits };
              schedule = settle(schedule, { course: courses[index] });
              break;
            }
            case 'override': {
              // An override arrives, or expires (no kinds left).
              const id = courses[next.course % COURSES].id;
              if (next.kinds.length === 0) overrides.delete(id);
              else overrides.set(id, new Set(next.kinds));
              break;
            }
          }

          expect(checksHold(schedule)).toBe(true);
          expect(schedule.excusedCredits).toBeLessThanOrEqual(
            beyond(schedule.enrolledCredits, schedule.creditLimit) + 1e-9,
          );
          expect(schedule.excusedWaitlists).toBeLessThanOrEqual(
            beyond(schedule.waitlistedCount, schedule.waitlistLimit),
          );
          const enrolledIds = schedule.enrolled.map((one) => one.id);
          expect(new Set(enrolledIds).size).toBe(enrolledIds.length);
          expect(schedule.enrolledCredits).toBe(schedule.enrolled.reduce((sum, one) => sum + one.credits, 0));
          expect(schedule.waitlistedCount).toBe(waiting.size);

          // The database is the backstop: whatever the rules would refuse for a limit, the CHECK refuses too.
          for (const candidate of courses.filter((one) => !held(one.id))) {
            const excused = (kind: OverrideKind) => overrides.get(candidate.id)?.has(kind) ?? false;
            if (candidate.credits > 0 && !excused('max_credits')) {
              const load = schedule.enrolledCredits + candidate.credits;
              if (schedule.creditLimit !== null && load > schedule.creditLimit) {
                expect(checksHold(enroll(schedule, candidate, false))).toBe(false);
                forced.credits += 1;
              }
            }
            const { waitlistLimit: limit, waitlistedCount: count } = schedule;
            if (!excused('max_waitlisted') && limit !== null && count >= limit) {
              expect(checksHold(joinWaitlist(schedule, candidate.id))).toBe(false);
              forced.waitlists += 1;
            }
          }
        }
      }),
      { numRuns: 300 },
    );
    // The backstop was put to the test, not skipped by the generator.
    expect(forced.credits).toBeGreaterThan(100);
    expect(forced.waitlists).toBeGreaterThan(100);
  });

  it('is refused by the CHECK when a course is enrolled past the limit without an override', () => {
    const base = scheduleOf({ enrolled: [course(1, 4)], creditLimit: 6 });
    expect(checksHold(base)).toBe(true);
    expect(admission(base, course(2, 4), true)).toBe('max_credits');
    expect(checksHold(enroll(base, course(2, 4), false))).toBe(false);
    // With an override for that course the same enrollment is excused, and within the CHECK.
    const excused = { ...base, overrides: new Map([[2, new Set<OverrideKind>(['max_credits'])]]) };
    expect(admission(excused, course(2, 4), true)).toBeNull();
    const enrolled = enroll(excused, course(2, 4), false);
    expect([enrolled.enrolledCredits, enrolled.excusedCredits]).toEqual([8, 2]);
    expect(checksHold(enrolled)).toBe(true);
    // An excuse belongs to what lies beyond the limit: it shrinks with the load and never excuses more.
    const dropped = dropCourse(enrolled, 1);
    expect([dropped.enrolledCredits, dropped.excusedCredits]).toEqual([4, 0]);
    expect(checksHold(enroll(dropped, course(3, 4), false))).toBe(false);
  });

  it('excuses what a lowered default or raised credits put beyond the limit, and nothing more', () => {
    const student = scheduleOf({
      enrolled: [course(1, 4), course(2, 4)],
      creditLimit: 10,
      waitlistedCount: 3,
    });
    const lowered = settle(student, { creditLimit: 6, waitlistLimit: 1 });
    expect([lowered.excusedCredits, lowered.excusedWaitlists]).toEqual([2, 2]);
    expect(checksHold(lowered)).toBe(true);
    const raised = settle(student, { course: course(2, 8) });
    expect([raised.enrolledCredits, raised.excusedCredits]).toEqual([12, 2]);
    expect(checksHold(raised)).toBe(true);
    const left = leaveWaitlist(lowered);
    expect([left.waitlistedCount, left.excusedWaitlists]).toEqual([2, 1]);
  });
});
