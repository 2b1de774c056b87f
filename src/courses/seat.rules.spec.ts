import {
  decideBatch,
  decideJob,
  type Hold,
  type JobRequest,
  type LockedCourse,
  type PendingRequest,
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
