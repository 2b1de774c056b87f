import fc from 'fast-check';
import type { Meeting } from '../schedules/meeting.js';
import {
  choosePromotions,
  type OverrideKind,
  type ScheduledCourse,
  type StudentSchedule,
} from '../schedules/schedule.rules.js';
import {
  type CourseCounters,
  decideBatch,
  decideJob,
  freeSeats,
  type Hold,
  type JobRequest,
  type LockedCourse,
  type PendingRequest,
  promote,
  promoteEntries,
} from './seat.rules.js';

const request = (n: number, studentId = `s-${n}`): PendingRequest => ({
  idempotencyKey: `k-${n}`,
  studentId,
});
const statuses = (outcome: ReturnType<typeof decideBatch>) => outcome.decisions.map((d) => d.status);

describe('decideBatch', () => {
  it('enrolls while seats are free, then waitlists', () => {
    const outcome = decideBatch({ capacity: 2, seatsTaken: 0 }, new Map(), [
      request(1),
      request(2),
      request(3),
    ]);
    expect(statuses(outcome)).toEqual(['enrolled', 'enrolled', 'waitlisted']);
    expect(outcome.seatsTaken).toBe(2);
  });

  it('gives the last seat to the first request in arbitration order', () => {
    const outcome = decideBatch({ capacity: 5, seatsTaken: 4 }, new Map(), [request(7), request(3)]);
    expect(outcome.decisions).toEqual([
      { idempotencyKey: 'k-7', studentId: 's-7', status: 'enrolled', reason: null },
      { idempotencyKey: 'k-3', studentId: 's-3', status: 'waitlisted', reason: null },
    ]);
    expect(outcome.seatsTaken).toBe(5);
  });

  it('waitlists everyone in a course of capacity 0 and in a full course', () => {
    expect(
      statuses(decideBatch({ capacity: 0, seatsTaken: 0 }, new Map(), [request(1), request(2)])),
    ).toEqual(['waitlisted', 'waitlisted']);
    expect(statuses(decideBatch({ capacity: 3, seatsTaken: 3 }, new Map(), [request(1)]))).toEqual([
      'waitlisted',
    ]);
  });

  it.each([
    ['enrolled', 'already_enrolled'],
    ['waitlisted', 'already_waitlisted'],
  ] as const)('rejects a student already %s in the course as %s, taking no seat', (hold, reason) => {
    const outcome = decideBatch({ capacity: 10, seatsTaken: 1 }, new Map([['s-1', hold as Hold]]), [
      request(1),
    ]);
    expect(outcome.decisions).toEqual([
      { idempotencyKey: 'k-1', studentId: 's-1', status: 'rejected', reason },
    ]);
    expect(outcome.seatsTaken).toBe(1);
  });

  it('rejects a student who appears twice in one batch after the first place', () => {
    const enrolledTwice = decideBatch({ capacity: 5, seatsTaken: 0 }, new Map(), [
      request(1, 'x'),
      request(2, 'x'),
    ]);
    expect(enrolledTwice.decisions.map((d) => [d.status, d.reason])).toEqual([
      ['enrolled', null],
      ['rejected', 'already_enrolled'],
    ]);
    expect(enrolledTwice.seatsTaken).toBe(1);
    const waitlistedTwice = decideBatch({ capacity: 0, seatsTaken: 0 }, new Map(), [
      request(1, 'y'),
      request(2, 'y'),
    ]);
    expect(waitlistedTwice.decisions.map((d) => [d.status, d.reason])).toEqual([
      ['waitlisted', null],
      ['rejected', 'already_waitlisted'],
    ]);
  });

  it('decides a batch that straddles the last seat in order', () => {
    const outcome = decideBatch(
      { capacity: 10, seatsTaken: 8 },
      new Map(),
      [1, 2, 3, 4].map((n) => request(n)),
    );
    expect(statuses(outcome)).toEqual(['enrolled', 'enrolled', 'waitlisted', 'waitlisted']);
    expect(outcome.seatsTaken).toBe(10);
  });

  it('answers an empty batch with no decisions and the seats unchanged', () => {
    expect(decideBatch({ capacity: 3, seatsTaken: 2 }, new Map(), [])).toEqual({
      decisions: [],
      seatsTaken: 2,
    });
  });

  it('leaves its inputs untouched', () => {
    const holds = new Map<string, Hold>([['s-9', 'enrolled']]);
    const requests = [request(1), request(9)];
    const frozen = JSON.stringify([...holds]) + JSON.stringify(requests);
    decideBatch({ capacity: 1, seatsTaken: 0 }, holds, requests);
    expect(JSON.stringify([...holds]) + JSON.stringify(requests)).toBe(frozen);
  });

  it('keeps its invariants over many random batches', () => {
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % below;
    };
    for (let round = 0; round < 2000; round += 1) {
      const capacity = random(6);
      const seatsTaken = random(capacity + 1);
      const holds = new Map<string, Hold>();
      for (let i = 0; i < random(4); i += 1)
        holds.set(`s-${random(8)}`, random(2) ? 'enrolled' : 'waitlisted');
      const requests = Array.from({ length: random(12) }, (_, n) => request(n, `s-${random(8)}`));
      const outcome = decideBatch({ capacity, seatsTaken }, holds, requests);

      expect(outcome.decisions.map((d) => d.idempotencyKey)).toEqual(requests.map((r) => r.idempotencyKey));
      expect(outcome.seatsTaken).toBeLessThanOrEqual(capacity);
      const enrolled = outcome.decisions.filter((d) => d.status === 'enrolled');
      expect(outcome.seatsTaken - seatsTaken).toBe(enrolled.length);
      const placed = outcome.decisions.filter((d) => d.status !== 'rejected').map((d) => d.studentId);
      expect(new Set(placed).size).toBe(placed.length);
      for (const student of placed) expect(holds.has(student)).toBe(false);
      for (const decision of outcome.decisions) {
        expect(decision.reason === null).toBe(decision.status !== 'rejected');
      }
    }
  });
});

describe('decideJob', () => {
  // A waitlist of `waiting` entries behind `offset` departed ones, and `events` events written so far.
  const course = (
    id: number,
    capacity: number,
    seatsTaken = 0,
    waiting = 0,
    offset = 0,
    events = 0,
  ): LockedCourse => ({
    id,
    capacity,
    seatsTaken,
    seatsHeld: 0,
    waitlistOffset: offset,
    waitlistLength: waiting,
    eventsWritten: events,
    holds: new Map(),
  });
  const ask = (n: number, courseId: number, studentId = `s-${n}`): JobRequest => ({
    idempotencyKey: `k-${n}`,
    studentId,
    courseId,
  });

  it("places waitlisted requests at the waitlist's tail, in arbitration order, and numbers their events", () => {
    const outcome = decideJob([course(7, 1, 1, 4, 3, 20)], [ask(1, 7), ask(2, 7)]);
    expect(
      outcome.decisions.map((d) => [d.idempotencyKey, d.status, d.waitlistPosition, d.waitlistPlace, d.seq]),
    ).toEqual([
      ['k-1', 'waitlisted', 8, 5, 21],
      ['k-2', 'waitlisted', 9, 6, 22],
    ]);
    expect(outcome.counters).toEqual([
      { courseId: 7, seatsTaken: 1, waitlisted: 2, decided: 2, eventsWritten: 22 },
    ]);
  });

  it("decides each course of a job on its own counters, and answers in the job's order", () => {
    const outcome = decideJob([course(2, 1), course(6, 5, 5)], [ask(1, 6), ask(2, 2), ask(3, 2), ask(4, 6)]);
    expect(
      outcome.decisions.map((d) => [d.idempotencyKey, d.courseId, d.status, d.waitlistPosition]),
    ).toEqual([
      ['k-1', 6, 'waitlisted', 1],
      ['k-2', 2, 'enrolled', null],
      ['k-3', 2, 'waitlisted', 1],
      ['k-4', 6, 'waitlisted', 2],
    ]);
    expect(outcome.counters).toEqual([
      { courseId: 2, seatsTaken: 1, waitlisted: 1, decided: 2, eventsWritten: 2 },
      { courseId: 6, seatsTaken: 5, waitlisted: 2, decided: 2, eventsWritten: 2 },
    ]);
  });

  it('rejects a request for a course that is gone as course_not_found, and decides the others', () => {
    const outcome = decideJob([course(3, 2)], [ask(1, 99), ask(2, 3)]);
    expect(outcome.decisions).toEqual([
      {
        idempotencyKey: 'k-1',
        studentId: 's-1',
        courseId: 99,
        status: 'rejected',
        reason: 'course_not_found',
        waitlistPosition: null,
        waitlistPlace: null,
        seq: null,
      },
      {
        idempotencyKey: 'k-2',
        studentId: 's-2',
        courseId: 3,
        status: 'enrolled',
        reason: null,
        waitlistPosition: null,
        waitlistPlace: null,
        seq: 1,
      },
    ]);
    expect(outcome.counters).toEqual([
      { courseId: 3, seatsTaken: 1, waitlisted: 0, decided: 1, eventsWritten: 1 },
    ]);
  });

  it('keeps positions contiguous and counters true over many random jobs', () => {
    let seed = 7;
    const random = (below: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % below;
    };
    for (let round = 0; round < 1000; round += 1) {
      const courses = Array.from({ length: 1 + random(3) }, (_, index) => {
        const capacity = random(4);
        return course(index + 1, capacity, random(capacity + 1), random(3), random(5), random(9));
      });
      const requests = Array.from({ length: random(15) }, (_, n) => ask(n, 1 + random(4), `s-${random(6)}`));
      const outcome = decideJob(courses, requests);

      expect(outcome.decisions.map((d) => d.idempotencyKey)).toEqual(requests.map((r) => r.idempotencyKey));
      for (const locked of courses) {
        const mine = outcome.decisions.filter((d) => d.courseId === locked.id);
        const positions = mine.filter((d) => d.status === 'waitlisted').map((d) => d.waitlistPosition);
        const tail = locked.waitlistOffset + locked.waitlistLength;
        expect(positions).toEqual(positions.map((_, index) => tail + index + 1));
        expect(mine.map((d) => d.seq)).toEqual(mine.map((_, index) => locked.eventsWritten + index + 1));
        const counter = outcome.counters.find((c) => c.courseId === locked.id);
        if (mine.length === 0) {
          expect(counter).toBeUndefined();
          continue;
        }
        const enrolled = mine.filter((d) => d.status === 'enrolled').length;
        expect(counter).toEqual({
          courseId: locked.id,
          seatsTaken: locked.seatsTaken + enrolled,
          waitlisted: positions.length,
          decided: mine.length,
          eventsWritten: locked.eventsWritten + mine.length,
        });
        expect(counter!.seatsTaken).toBeLessThanOrEqual(locked.capacity);
      }
      for (const decision of outcome.decisions.filter((d) => d.courseId > courses.length)) {
        expect(decision).toMatchObject({
          status: 'rejected',
          reason: 'course_not_found',
          waitlistPosition: null,
        });
      }
    }
  });
});

describe('decideBatch and decideJob with schedules (guarantee 8)', () => {
  const MWF_9 = [{ days: 'MWF', start: '09:00', end: '09:50' }];
  const held = (id: number, credits: number, meetings: Meeting[] = []): ScheduledCourse => ({
    id,
    credits,
    meetings,
  });
  const schedule = (
    studentId: string,
    options: {
      enrolled?: ScheduledCourse[];
      creditLimit?: number | null;
      waitlistLimit?: number | null;
      waitlistedCount?: number;
      overrides?: Record<number, OverrideKind[]>;
    } = {},
  ): StudentSchedule => {
    const enrolled = options.enrolled ?? [];
    return {
      studentId,
      creditLimit: options.creditLimit ?? null,
      waitlistLimit: options.waitlistLimit ?? null,
      enrolledCredits: enrolled.reduce((sum, course) => sum + course.credits, 0),
      waitlistedCount: options.waitlistedCount ?? 0,
      excusedCredits: 0,
      excusedWaitlists: 0,
      enrolled,
      overrides: new Map(
        Object.entries(options.overrides ?? {}).map(([id, kinds]) => [Number(id), new Set(kinds)]),
      ),
    };
  };
  const decided = (outcome: { decisions: { status: string; reason: string | null }[] }) =>
    outcome.decisions.map((d) => [d.status, d.reason]);
  const locked = (id: number, capacity: number, credits: number, meetings: Meeting[] = []): LockedCourse => ({
    id,
    capacity,
    seatsHeld: 0,
    seatsTaken: 0,
    waitlistOffset: 0,
    waitlistLength: 0,
    eventsWritten: 0,
    credits,
    meetings,
    holds: new Map(),
  });
  const ask = (n: number, courseId: number, studentId: string): JobRequest => ({
    idempotencyKey: `k-${n}`,
    studentId,
    courseId,
  });

  it('rejects a student over their credits as max_credits, and enrolls another in the seat', () => {
    const schedules = new Map([
      ['s-1', schedule('s-1', { enrolled: [held(2, 12)], creditLimit: 15 })],
      ['s-2', schedule('s-2', { enrolled: [held(2, 12)], creditLimit: 16 })],
    ]);
    const outcome = decideBatch(
      { id: 1, capacity: 1, seatsTaken: 0, credits: 4 },
      new Map(),
      [request(1, 's-1'), request(2, 's-2')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['rejected', 'max_credits'],
      ['enrolled', null],
    ]);
    expect(outcome.seatsTaken).toBe(1);
    expect(schedules.get('s-1')!.enrolledCredits).toBe(12);
    expect(schedules.get('s-2')!.enrolledCredits).toBe(16);
    expect(schedules.get('s-2')!.enrolled.map((course) => course.id)).toEqual([2, 1]);
  });

  it('rejects a time conflict even when the course is full, and waitlists the student without one', () => {
    const schedules = new Map([
      ['s-1', schedule('s-1', { enrolled: [held(2, 3, [{ days: 'F', start: '09:30', end: '10:30' }])] })],
      ['s-2', schedule('s-2', { enrolled: [held(3, 3, [{ days: 'F', start: '09:50', end: '10:40' }])] })],
    ]);
    const outcome = decideBatch(
      { id: 1, capacity: 2, seatsTaken: 2, credits: 3, meetings: MWF_9 },
      new Map(),
      [request(1, 's-1'), request(2, 's-2')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['rejected', 'time_conflict'],
      ['waitlisted', null],
    ]);
    expect(schedules.get('s-1')!.waitlistedCount).toBe(0);
    expect(schedules.get('s-2')!.waitlistedCount).toBe(1);
    // Waiting counts no credits.
    expect(schedules.get('s-2')!.enrolledCredits).toBe(3);
  });

  it('rejects max_waitlisted when the course is full and the student waits on enough waitlists', () => {
    const schedules = new Map([
      ['s-1', schedule('s-1', { waitlistLimit: 2, waitlistedCount: 2, creditLimit: 0 })],
      ['s-2', schedule('s-2', { waitlistLimit: 2, waitlistedCount: 1, creditLimit: 0 })],
      [
        's-3',
        schedule('s-3', { waitlistLimit: 2, waitlistedCount: 2, overrides: { 1: ['max_waitlisted'] } }),
      ],
    ]);
    const outcome = decideBatch(
      { id: 1, capacity: 0, seatsTaken: 0, credits: 4 },
      new Map(),
      [request(1, 's-1'), request(2, 's-2'), request(3, 's-3')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['rejected', 'max_waitlisted'],
      ['waitlisted', null],
      ['waitlisted', null],
    ]);
    expect([...schedules.values()].map((one) => one.waitlistedCount)).toEqual([2, 2, 3]);
    expect(schedules.get('s-3')!.excusedWaitlists).toBe(1);
  });

  it('checks nothing for a student missing from the map, and rejects a hold before the schedule', () => {
    const schedules = new Map([['s-2', schedule('s-2', { creditLimit: 0 })]]);
    const outcome = decideBatch(
      { id: 1, capacity: 5, seatsTaken: 0, credits: 4, meetings: MWF_9 },
      new Map<string, Hold>([['s-2', 'waitlisted']]),
      [request(1, 's-1'), request(2, 's-2')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['enrolled', null],
      ['rejected', 'already_waitlisted'],
    ]);
    expect([...schedules.keys()]).toEqual(['s-2']);
  });

  it("checks one student's requests for several courses of one job against each other", () => {
    const schedules = new Map([['s-1', schedule('s-1', { creditLimit: 8 })]]);
    const outcome = decideJob(
      [locked(1, 10, 4), locked(2, 10, 4), locked(3, 10, 4)],
      [ask(1, 1, 's-1'), ask(2, 2, 's-1'), ask(3, 3, 's-1')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['enrolled', null],
      ['enrolled', null],
      ['rejected', 'max_credits'],
    ]);
    expect(schedules.get('s-1')!.enrolledCredits).toBe(8);
    expect(outcome.counters.map((c) => c.seatsTaken)).toEqual([1, 1, 0]);
  });

  it('rejects the second of two overlapping courses decided in one job as time_conflict', () => {
    const schedules = new Map([['s-1', schedule('s-1')]]);
    const outcome = decideJob(
      [
        locked(1, 10, 3, MWF_9),
        { ...locked(2, 0, 3, [{ days: 'W', start: '09:49', end: '11:00' }]) },
        locked(3, 10, 3, [{ days: 'MWF', start: '09:50', end: '10:40' }]),
      ],
      [ask(1, 1, 's-1'), ask(2, 2, 's-1'), ask(3, 3, 's-1')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['enrolled', null],
      ['rejected', 'time_conflict'],
      ['enrolled', null],
    ]);
  });

  it('counts the waitlists joined earlier in one job', () => {
    const schedules = new Map([['s-1', schedule('s-1', { waitlistLimit: 1 })]]);
    const outcome = decideJob(
      [locked(1, 0, 4), locked(2, 0, 4)],
      [ask(1, 1, 's-1'), ask(2, 2, 's-1')],
      schedules,
    );
    expect(decided(outcome)).toEqual([
      ['waitlisted', null],
      ['rejected', 'max_waitlisted'],
    ]);
    expect(outcome.decisions.map((d) => d.waitlistPosition)).toEqual([1, null]);
    expect(outcome.counters.map((c) => c.waitlisted)).toEqual([1, 0]);
    expect(schedules.get('s-1')!.waitlistedCount).toBe(1);
  });

  // A reference for decideBatch with schedules, written from the contract: per student a credit load and limit,
  // a waitlist count and limit, and whether a course they hold clashes with this one.
  interface Applicant {
    credits: number;
    creditLimit: number | null;
    waitlisted: number;
    waitlistLimit: number | null;
    clashes: boolean;
    hold: Hold | null;
  }
  const CLASH: ScheduledCourse = held(99, 0, [{ days: 'M', start: '09:30', end: '10:00' }]);
  const applicant: fc.Arbitrary<Applicant> = fc.record({
    credits: fc.integer({ min: 0, max: 24 }).map((n) => n / 2),
    creditLimit: fc.option(
      fc.integer({ min: 0, max: 30 }).map((n) => n / 2),
      { nil: null },
    ),
    waitlisted: fc.integer({ min: 0, max: 3 }),
    waitlistLimit: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
    clashes: fc.boolean(),
    hold: fc.constantFrom<Hold | null>(null, null, null, 'enrolled', 'waitlisted'),
  });

  it('decides every request of a batch as the contract reads, with the loads updated as it goes', () => {
    fc.assert(
      fc.property(
        fc.array(applicant, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat({ max: 5 }), { maxLength: 12 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }).map((n) => n * 1.5),
        (applicants, order, capacity, credits) => {
          const id = (n: number) => `s-${n % applicants.length}`;
          const holds = new Map<string, Hold>();
          const schedules = new Map<string, StudentSchedule>();
          applicants.forEach((one, n) => {
            if (one.hold) holds.set(id(n), one.hold);
            const enrolled = [held(50, one.credits), ...(one.clashes ? [CLASH] : [])];
            schedules.set(id(n), {
              ...schedule(id(n), {
                enrolled,
                creditLimit: one.creditLimit,
                waitlistLimit: one.waitlistLimit,
              }),
              waitlistedCount: one.waitlisted,
            });
          });
          const requests = order.map((n, index) => request(index, id(n)));
          const outcome = decideBatch(
            { id: 1, capacity, seatsTaken: 0, credits, meetings: MWF_9 },
            holds,
            requests,
            schedules,
          );

          const state = applicants.map((one) => ({ ...one }));
          let seats = 0;
          const expected = order.map((n) => {
            const one = state[n % applicants.length];
            if (one.hold) return ['rejected', `already_${one.hold}`];
            if (one.clashes) return ['rejected', 'time_conflict'];
            if (seats < capacity) {
              if (one.creditLimit !== null && credits > 0 && one.credits + credits > one.creditLimit) {
                return ['rejected', 'max_credits'];
              }
              seats += 1;
              one.credits += credits;
              one.hold = 'enrolled';
              return ['enrolled', null];
            }
            if (one.waitlistLimit !== null && one.waitlisted >= one.waitlistLimit) {
              return ['rejected', 'max_waitlisted'];
            }
            one.waitlisted += 1;
            one.hold = 'waitlisted';
            return ['waitlisted', null];
          });
          expect(decided(outcome)).toEqual(expected);
          expect(outcome.seatsTaken).toBe(seats);
          state.forEach((one, n) => {
            const now = schedules.get(id(n))!;
            expect([now.enrolledCredits, now.waitlistedCount]).toEqual([one.credits, one.waitlisted]);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('promotes past blocked requests, which keep their order and dense places (skip-and-keep)', () => {
    const COURSE: ScheduledCourse = held(1, 4, MWF_9);
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 10 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 5 }),
        (blocked, capacity, offset) => {
          const waiting = blocked.map((_, n) => ({ studentId: `s-${n}`, position: offset + n + 1 }));
          const counters: CourseCounters = {
            capacity,
            seatsTaken: Math.min(capacity, 2),
            seatsHeld: 0,
            waitlistOffset: offset,
            waitlistLength: waiting.length,
            eventsWritten: 0,
          };
          const schedules = new Map(
            blocked.map((isBlocked, n) => [
              `s-${n}`,
              schedule(`s-${n}`, { creditLimit: isBlocked ? 3 : null }),
            ]),
          );
          const promoted = choosePromotions(COURSE, freeSeats(counters), waiting, schedules);
          const after = promoteEntries(counters, promoted.length);

          const expected = waiting.filter((_, n) => !blocked[n]).slice(0, freeSeats(counters));
          expect(promoted).toEqual(expected);
          expect(after.seatsTaken).toBeLessThanOrEqual(capacity);
          expect(after.seatsTaken).toBe(counters.seatsTaken + promoted.length);
          // The ledger moves each one left behind back by the promoted entries behind it.
          const left = waiting.filter((entry) => !promoted.includes(entry));
          const places = left.map((entry) => {
            const behind = promoted.filter((one) => one.position > entry.position).length;
            return entry.position + behind - after.waitlistOffset;
          });
          expect(places).toEqual(left.map((_, index) => index + 1));
          expect(after.waitlistLength).toBe(left.length);
          // With nobody blocked, skip-and-keep is the plain promotion of the heads.
          if (!blocked.some(Boolean)) expect(after).toEqual(promote(counters).course);
        },
      ),
      { numRuns: 300 },
    );
  });
});
