import fc from 'fast-check';

import type { DecisionStatus, RejectionReason } from '../decisions/decision.entity.js';
import {
  changeCapacity,
  acceptOffer,
  decideBatch,
  decideJob,
  departEntries,
  freeSeat,
  freeSeats,
  offerSeats,
  releaseOffer,
  type CourseCounters,
  type Hold,
  leaveWaitlist,
  promote,
  type WaitlistShift,
  type Withdrawal,
  withdrawalOf,
  type WithdrawnFrom,
} from './seat.rules.js';

const COURSE_ID = 1;
const STUDENTS = 8;

type Status = WithdrawnFrom;

const counters = (capacity: number, seatsTaken = 0, waiting = 0, offset = 0): CourseCounters => ({
  capacity,
  seatsTaken,
  seatsHeld: 0,
  waitlistOffset: offset,
  waitlistLength: waiting,
  eventsWritten: 0,
});

/**
 * The system under test: one course in memory that plans every step with the exported rules only, then
 * applies the plan to its rows the way the service's SQL does.
 */
class InMemoryCourse {
  counters: CourseCounters;
  readonly enrolled = new Set<string>();
  /** Key → stored position. */
  readonly waitlist = new Map<string, number>();
  readonly status = new Map<string, Status>();
  readonly studentOf = new Map<string, string>();

  constructor(
    capacity: number,
    /** Counts the waitlist shifts the run exercised. */
    private readonly shifts: Record<WaitlistShift, number>,
  ) {
    this.counters = counters(capacity);
  }

  queue(key: string, studentId: string): void {
    this.status.set(key, 'queued');
    this.studentOf.set(key, studentId);
  }

  /** Decides a queued request; a request already decided (or cancelled) is skipped, as the engine does. */
  decide(key: string) {
    if (this.status.get(key) !== 'queued') return null;
    const studentId = this.studentOf.get(key)!;
    const { decisions, counters: changes } = decideJob(
      [{ id: COURSE_ID, ...this.counters, holds: this.holdsOf(studentId) }],
      [{ idempotencyKey: key, studentId, courseId: COURSE_ID }],
    );
    const [decision] = decisions;
    const [change] = changes;
    if (decision.status === 'enrolled') this.enrolled.add(key);
    if (decision.status === 'waitlisted') this.waitlist.set(key, decision.waitlistPosition!);
    this.status.set(key, decision.status);
    this.counters = {
      ...this.counters,
      seatsTaken: change.seatsTaken,
      waitlistLength: this.counters.waitlistLength + change.waitlisted,
      eventsWritten: change.eventsWritten,
    };
    return decision;
  }

  withdraw(key: string): Withdrawal {
    const withdrawal = withdrawalOf(this.status.get(key)!);
    switch (withdrawal) {
      case 'cancel':
        this.status.set(key, 'cancelled');
        this.event();
        break;
      case 'drop_seat':
        this.enrolled.delete(key);
        this.counters = freeSeat(this.counters);
        this.status.set(key, 'dropped');
        this.event();
        this.promote();
        break;
      case 'leave_waitlist': {
        const position = this.waitlist.get(key)!;
        const oldOffset = this.counters.waitlistOffset;
        const departure = leaveWaitlist(this.counters, position);
        this.shifts[departure.shift] += 1;
        this.waitlist.delete(key);
        for (const [other, stored] of this.waitlist) {
          if (departure.shift === 'ahead' && stored > oldOffset && stored < position) {
            this.waitlist.set(other, stored + 1);
          }
          if (departure.shift === 'behind' && stored > position) this.waitlist.set(other, stored - 1);
        }
        this.counters = departure.course;
        this.status.set(key, 'dropped');
        this.event();
        this.promote();
        break;
      }
      case 'unchanged':
      case 'refused':
        break;
    }
    return withdrawal;
  }

  changeCapacity(capacity: number): boolean {
    const changed = changeCapacity(this.counters, capacity);
    if (changed === null) return false;
    this.counters = changed;
    this.promote();
    return true;
  }

  /** The waitlist's keys in stored-position order, head first. */
  waitlistOrder(): string[] {
    return [...this.waitlist].sort(([, a], [, b]) => a - b).map(([key]) => key);
  }

  private promote(): void {
    const promotion = promote(this.counters);
    const last = promotion.firstPosition + promotion.count - 1;
    const heads = [...this.waitlist]
      .filter(([, stored]) => stored >= promotion.firstPosition && stored <= last)
      .sort(([, a], [, b]) => a - b);
    for (const [key] of heads) {
      this.waitlist.delete(key);
      this.enrolled.add(key);
      this.status.set(key, 'enrolled');
      this.event();
    }
    this.counters = { ...promotion.course, eventsWritten: this.counters.eventsWritten };
  }

  private holdsOf(studentId: string): Map<string, Hold> {
    const holds = new Map<string, Hold>();
    for (const key of this.enrolled)
      if (this.studentOf.get(key) === studentId) holds.set(studentId, 'enrolled');
    for (const key of this.waitlist.keys())
      if (this.studentOf.get(key) === studentId) holds.set(studentId, 'waitlisted');
    return holds;
  }

  private event(): void {
    this.counters = { ...this.counters, eventsWritten: this.counters.eventsWritten + 1 };
  }
}

/** The reference: a seat list and a waitlist queue, nothing more. */
interface Model {
  capacity: number;
  enrolled: string[];
  /** Head first. */
  waitlist: string[];
  status: Map<string, Status>;
  studentOf: Map<string, string>;
  /** Every key ever queued, in order. */
  keys: string[];
  events: number;
}

const newModel = (capacity: number): Model => ({
  capacity,
  enrolled: [],
  waitlist: [],
  status: new Map(),
  studentOf: new Map(),
  keys: [],
  events: 0,
});

const newKey = (model: Model, studentId: string): string => {
  const key = `k-${model.keys.length}`;
  model.keys.push(key);
  model.studentOf.set(key, studentId);
  return key;
};

const fillSeats = (model: Model): void => {
  while (model.enrolled.length < model.capacity && model.waitlist.length > 0) {
    const head = model.waitlist.shift()!;
    model.enrolled.push(head);
    model.status.set(head, 'enrolled');
    model.events += 1;
  }
};

const expectSameState = (model: Model, real: InMemoryCourse): void => {
  const { counters: c } = real;
  expect([...real.enrolled].sort()).toEqual([...model.enrolled].sort());
  expect(real.waitlistOrder()).toEqual(model.waitlist);
  const places = [...real.waitlist.values()].sort((a, b) => a - b).map((p) => p - c.waitlistOffset);
  expect(places).toEqual(model.waitlist.map((_, i) => i + 1));
  expect(c.capacity).toBe(model.capacity);
  expect(c.seatsTaken).toBe(model.enrolled.length);
  expect(c.seatsTaken).toBeLessThanOrEqual(c.capacity);
  expect(c.waitlistLength).toBe(model.waitlist.length);
  if (c.seatsTaken < c.capacity) expect(real.waitlist.size).toBe(0);
  const holders = [...real.enrolled, ...real.waitlist.keys()].map((key) => real.studentOf.get(key));
  expect(new Set(holders).size).toBe(holders.length);
  expect(real.status).toEqual(model.status);
  expect(c.eventsWritten).toBe(model.events);
};

type LifecycleCommand = fc.Command<Model, InMemoryCourse>;

class EnrollCommand implements LifecycleCommand {
  constructor(readonly studentId: string) {}
  check = () => true;
  run(model: Model, real: InMemoryCourse): void {
    const key = newKey(model, this.studentId);
    real.queue(key, this.studentId);
    expect(real.status.get(key)).toBe('queued');

    const held = (keys: string[]) => keys.some((k) => model.studentOf.get(k) === this.studentId);
    let status: DecisionStatus;
    let reason: RejectionReason | null = null;
    if (held(model.enrolled)) [status, reason] = ['rejected', 'already_enrolled'];
    else if (held(model.waitlist)) [status, reason] = ['rejected', 'already_waitlisted'];
    else if (model.enrolled.length < model.capacity) {
      status = 'enrolled';
      model.enrolled.push(key);
    } else {
      status = 'waitlisted';
      model.waitlist.push(key);
    }
    model.status.set(key, status);
    model.events += 1;

    const decision = real.decide(key);
    expect(decision).toMatchObject({
      idempotencyKey: key,
      status,
      reason,
      seq: model.events,
      waitlistPlace: status === 'waitlisted' ? model.waitlist.length : null,
    });
    expectSameState(model, real);
  }
  toString = () => `enroll(${this.studentId})`;
}

class CancelCommand implements LifecycleCommand {
  constructor(
    readonly studentId: string,
    readonly decideAfterwards: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: InMemoryCourse): void {
    const key = newKey(model, this.studentId);
    model.status.set(key, 'cancelled');
    model.events += 1;

    real.queue(key, this.studentId);
    expect(real.withdraw(key)).toBe('cancel');
    if (this.decideAfterwards) expect(real.decide(key)).toBeNull();
    expectSameState(model, real);
  }
  toString = () => `cancel(${this.studentId}${this.decideAfterwards ? ', then decide' : ''})`;
}

type DropTarget = 'any' | 'seat' | 'waitlist';

/** Withdraws a request picked by index among the seated, the waitlisted, or every request ever queued. */
class DropCommand implements LifecycleCommand {
  constructor(
    readonly index: number,
    readonly target: DropTarget,
  ) {}
  check = (model: Readonly<Model>) => model.keys.length > 0;
  run(model: Model, real: InMemoryCourse): void {
    const targeted = { any: model.keys, seat: model.enrolled, waitlist: model.waitlist }[this.target];
    const candidates = targeted.length > 0 ? targeted : model.keys;
    const key = candidates[this.index % candidates.length];
    const status = model.status.get(key)!;
    let expected: Withdrawal;
    if (status === 'enrolled') {
      expected = 'drop_seat';
      model.enrolled.splice(model.enrolled.indexOf(key), 1);
      model.status.set(key, 'dropped');
      model.events += 1;
      fillSeats(model);
    } else if (status === 'waitlisted') {
      expected = 'leave_waitlist';
      model.waitlist.splice(model.waitlist.indexOf(key), 1);
      model.status.set(key, 'dropped');
      model.events += 1;
    } else if (status === 'rejected') {
      expected = 'refused';
    } else {
      expected = 'unchanged';
    }

    expect(real.withdraw(key)).toBe(expected);
    expectSameState(model, real);
  }
  toString = () => `drop(${this.target} #${this.index})`;
}

class CapacityCommand implements LifecycleCommand {
  constructor(readonly capacity: number) {}
  check = () => true;
  run(model: Model, real: InMemoryCourse): void {
    const accepted = this.capacity >= model.enrolled.length;
    if (accepted) {
      model.capacity = this.capacity;
      fillSeats(model);
    }

    expect(real.changeCapacity(this.capacity)).toBe(accepted);
    expectSameState(model, real);
  }
  toString = () => `capacity(${this.capacity})`;
}

const student = fc.integer({ min: 0, max: STUDENTS - 1 }).map((n) => `s-${n}`);
const lifecycleCommands = fc.commands(
  [
    // Enrolls and drops weigh more, so waitlists grow long enough to shift both ways.
    ...Array.from({ length: 4 }, () => student.map((s) => new EnrollCommand(s))),
    fc.tuple(student, fc.boolean()).map(([s, decide]) => new CancelCommand(s, decide)),
    ...Array.from({ length: 2 }, () =>
      fc
        .tuple(fc.noBias(fc.nat({ max: 99 })), fc.constantFrom<DropTarget>('waitlist', 'seat', 'any'))
        .map(([i, target]) => new DropCommand(i, target)),
    ),
    // Mostly small capacities: a course with a seat for every student never waitlists again.
    fc
      .oneof({ arbitrary: fc.integer({ min: 0, max: 3 }), weight: 4 }, fc.integer({ min: 0, max: 8 }))
      .map((c) => new CapacityCommand(c)),
  ],
  { maxCommands: 40, size: 'max' },
);

describe('course lifecycle rules against a reference model', () => {
  it('agree on seats, waitlist order, dense positions and statuses after every step', () => {
    const shifts: Record<WaitlistShift, number> = { none: 0, ahead: 0, behind: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), lifecycleCommands, (capacity, commands) => {
        fc.modelRun(
          () => ({ model: newModel(capacity), real: new InMemoryCourse(capacity, shifts) }),
          commands,
        );
      }),
      { numRuns: 300 },
    );
    // The runs must have left a waitlist from its head, near its head and near its tail.
    for (const count of Object.values(shifts)) expect(count).toBeGreaterThan(5);
  });
});

describe('leaveWaitlist', () => {
  // Offset 10, five waiting: stored positions 11..15 are places 1..5.
  const course = counters(3, 3, 5, 10);

  it('moves only the offset when the head leaves', () => {
    expect(leaveWaitlist(course, 11)).toEqual({
      course: { ...course, waitlistOffset: 11, waitlistLength: 4 },
      shift: 'none',
      place: 1,
    });
  });

  it('shifts the shorter run ahead of an entry near the head', () => {
    expect(leaveWaitlist(course, 12)).toEqual({
      course: { ...course, waitlistOffset: 11, waitlistLength: 4 },
      shift: 'ahead',
      place: 2,
    });
    // The middle: as many ahead as behind.
    expect(leaveWaitlist(course, 13).shift).toBe('ahead');
  });

  it('shifts the shorter run behind an entry near the tail, keeping the offset', () => {
    expect(leaveWaitlist(course, 14)).toEqual({
      course: { ...course, waitlistOffset: 10, waitlistLength: 4 },
      shift: 'behind',
      place: 4,
    });
    expect(leaveWaitlist(course, 15)).toMatchObject({ shift: 'behind', place: 5 });
  });

  it.each([10, 16, 0])('throws for stored position %d outside the waitlist', (position) => {
    expect(() => leaveWaitlist(course, position)).toThrow(/not in the waitlist/);
  });

  it('throws for any position of an empty waitlist', () => {
    expect(() => leaveWaitlist(counters(2, 1, 0, 4), 5)).toThrow(/not in the waitlist/);
  });
});

describe('promote', () => {
  it.each([
    [5, 2, 10, 3],
    [5, 2, 1, 1],
    [5, 5, 4, 0],
    [0, 0, 3, 0],
    [4, 0, 0, 0],
  ])('capacity %d, %d taken, %d waiting: promotes %d', (capacity, taken, waiting, count) => {
    const promotion = promote(counters(capacity, taken, waiting, 7));
    expect(promotion).toEqual({
      course: counters(capacity, taken + count, waiting - count, 7 + count),
      count,
      firstPosition: 8,
    });
  });

  it('promotes nobody when the course is full, leaving the counters as they are', () => {
    const full = counters(2, 2, 3, 1);
    expect(promote(full)).toMatchObject({ course: full, count: 0 });
  });
});

describe('departEntries', () => {
  it('removes waiting places a swap gave up: the offset grows, the length shrinks, seats stay', () => {
    expect(departEntries(counters(5, 5, 3, 7), 2)).toEqual(counters(5, 5, 1, 9));
    expect(departEntries(counters(5, 5, 3, 7), 0)).toEqual(counters(5, 5, 3, 7));
  });

  it('refuses to remove more places than wait', () => {
    expect(() => departEntries(counters(5, 5, 1, 7), 2)).toThrow(/cannot remove 2/);
  });
});

describe('offers: held seats', () => {
  const held = (capacity: number, taken: number, heldSeats: number, waiting = 0): CourseCounters => ({
    ...counters(capacity, taken, waiting, 3),
    seatsHeld: heldSeats,
  });

  it('a held seat is neither free nor taken, and no new request takes it', () => {
    expect(freeSeats(held(3, 1, 1))).toBe(1);
    expect(freeSeats(held(2, 1, 1))).toBe(0);
    const outcome = decideBatch({ capacity: 2, seatsTaken: 1, seatsHeld: 1 }, new Map(), [
      { idempotencyKey: 'k', studentId: 's' },
    ]);
    expect(outcome.decisions[0].status).toBe('waitlisted');
  });

  it('offering takes waiting requests off the list and holds their seats', () => {
    expect(offerSeats(held(3, 1, 0, 4), 2)).toEqual({ ...held(3, 1, 2, 2), waitlistOffset: 5 });
    expect(() => offerSeats(held(3, 2, 0, 4), 2)).toThrow(/cannot offer 2/);
  });

  it('an accept takes the held seat; a decline or an expiry frees it', () => {
    expect(acceptOffer(held(2, 1, 1))).toEqual(held(2, 2, 0));
    expect(releaseOffer(held(2, 1, 1))).toEqual(held(2, 1, 0));
    expect(() => acceptOffer(held(2, 1, 0))).toThrow(/no seat is held/);
    expect(() => releaseOffer(held(2, 1, 0))).toThrow(/no seat is held/);
  });

  it('refuses a capacity below the seats taken and held', () => {
    expect(changeCapacity(held(3, 1, 1), 1)).toBeNull();
    expect(changeCapacity(held(3, 1, 1), 2)).toEqual(held(2, 1, 1));
  });
});

describe('changeCapacity', () => {
  const course = counters(5, 3, 2, 0);

  it('refuses a capacity below the seats taken', () => {
    expect(changeCapacity(course, 2)).toBeNull();
    expect(changeCapacity(counters(1, 1), 0)).toBeNull();
  });

  it('allows a capacity equal to the seats taken, and any above it', () => {
    expect(changeCapacity(course, 3)).toEqual({ ...course, capacity: 3 });
    expect(changeCapacity(course, 8)).toEqual({ ...course, capacity: 8 });
    expect(changeCapacity(counters(4), 0)).toEqual(counters(0));
  });
});

describe('withdrawalOf', () => {
  it.each([
    ['queued', 'cancel'],
    ['enrolled', 'drop_seat'],
    ['waitlisted', 'leave_waitlist'],
    ['dropped', 'unchanged'],
    ['cancelled', 'unchanged'],
    ['rejected', 'refused'],
  ] as const)('withdrawing a %s request: %s', (state, withdrawal) => {
    expect(withdrawalOf(state)).toBe(withdrawal);
  });
});
