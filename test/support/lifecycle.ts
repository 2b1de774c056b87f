export interface RecordedEvent {
  type: string;
  idempotency_key: string | null;
  status: string | null;
  waitlist_position: number | null;
}

export interface FoldedState {
  status: string;
  waitlist_position: number | null;
}

/** A request's status as its own events tell it: the status after the last one. */
export function foldRequest(events: readonly RecordedEvent[]): string | null {
  return events.at(-1)?.status ?? null;
}

/**
 * Every request's state as a course's events tell it, replayed in cursor order: statuses from each event,
 * places from the order requests joined and left the waitlist. Checks on the way that each waitlisted
 * event's place is the tail of the replayed waitlist, so the record and the rows cannot drift apart.
 */
export function foldCourse(events: readonly RecordedEvent[]): Map<string, FoldedState> {
  const status = new Map<string, string>();
  const waitlist: string[] = [];
  for (const event of events) {
    if (event.idempotency_key === null) continue; // capacity_changed
    const key = event.idempotency_key;
    const place = waitlist.indexOf(key);
    if (place >= 0) waitlist.splice(place, 1);
    if (event.status === 'waitlisted') {
      waitlist.push(key);
      if (event.waitlist_position !== waitlist.length) {
        throw new Error(
          `event for ${key} says place ${event.waitlist_position}, replay says ${waitlist.length}`,
        );
      }
    }
    status.set(key, event.status!);
  }
  return new Map(
    [...status].map(([key, state]) => [
      key,
      { status: state, waitlist_position: state === 'waitlisted' ? waitlist.indexOf(key) + 1 : null },
    ]),
  );
}

/** The status each event type leaves its request in (`capacity_changed` names no request). */
const STATUS_AFTER: Record<string, string> = {
  enrolled: 'enrolled',
  waitlisted: 'waitlisted',
  rejected: 'rejected',
  cancelled: 'cancelled',
  promoted: 'enrolled',
  dropped: 'dropped',
};

/** docs/guarantees.md §5 as transitions: one decision, then only promotion (from waitlisted) and a drop. */
const NEXT_EVENTS: Record<string, readonly string[]> = {
  none: ['enrolled', 'waitlisted', 'rejected', 'cancelled'],
  waitlisted: ['promoted', 'dropped'],
  enrolled: ['dropped'],
};

/**
 * Why one request's events (in order) break docs/guarantees.md §5, or null for a legal life: exactly one
 * decision, first, then only `waitlisted` → `promoted`, `enrolled`/`waitlisted` → `dropped`, each event
 * carrying the status it leaves the request in.
 */
export function lifecycleViolation(events: readonly Pick<RecordedEvent, 'type' | 'status'>[]): string | null {
  let state = 'none';
  for (const event of events) {
    if (!(NEXT_EVENTS[state] ?? []).includes(event.type)) return `${event.type} after ${state}`;
    if (event.status !== STATUS_AFTER[event.type]) return `${event.type} carrying status ${event.status}`;
    state = event.status;
  }
  return state === 'none' ? 'no events' : null;
}
