/**
 * A live connection's cursor: for each of its subscriptions, the last sequence number it has passed in
 * each course (a course's numbers are its commit order, so "after n" misses nothing and repeats nothing).
 * Sent with every event as an opaque string (base64url of JSON), and given back as "after" to resume:
 * each subscription picks its own section, so one cursor resumes every subscription of a connection.
 */
export type Positions = Map<number, number>;

/**
 * Per course, numbers past a subscription's position that another subscription of its connection has
 * sent already (they overlap: a student and that student's course). When it gets to them it moves past
 * them without sending them again, on this connection and on the one that resumes from the cursor.
 */
export type SentAhead = Map<number, Set<number>>;

/** A subscription's part of a cursor. */
export interface Section {
  positions: Positions;
  ahead: SentAhead;
}
/** A subscription's section name in a cursor: "s:<student_id>", "k:<idempotency_key>" or "c:<course_id>". */
export type SectionName = string;

const MAX_CURSOR_LENGTH = 16_384;
const MAX_SEQ = 2_147_483_647;

export function encodeCursor(sections: Iterable<[SectionName, Section]>): string {
  const plain: Record<string, number[][]> = {};
  for (const [name, { positions, ahead }] of sections) {
    plain[name] = [...positions].map(([courseId, seq]) => [courseId, seq, ...(ahead.get(courseId) ?? [])]);
    for (const [courseId, seqs] of ahead) {
      if (!positions.has(courseId) && seqs.size > 0) plain[name].push([courseId, 0, ...seqs]);
    }
  }
  return Buffer.from(JSON.stringify(plain)).toString('base64url');
}

/**
 * The sections of a cursor this service returned, or undefined when it is not one. A bare number is a
 * course's own cursor (as GET /courses/:id/events returns it), accepted for a course subscription.
 */
export function decodeCursor(text: string, bareCourse?: number): Map<SectionName, Section> | undefined {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH) return undefined;
  if (/^(0|[1-9][0-9]{0,9})$/.test(text)) {
    const seq = Number(text);
    if (bareCourse === undefined || seq > MAX_SEQ) return undefined;
    return new Map([[`c:${bareCourse}`, { positions: new Map([[bareCourse, seq]]), ahead: new Map() }]]);
  }
  let plain: unknown;
  try {
    plain = JSON.parse(Buffer.from(text, 'base64url').toString());
  } catch {
    return undefined;
  }
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) return undefined;
  const sections = new Map<SectionName, Section>();
  for (const [name, tuples] of Object.entries(plain)) {
    if (!/^[skc]:/.test(name) || !Array.isArray(tuples)) return undefined;
    const section: Section = { positions: new Map(), ahead: new Map() };
    for (const tuple of tuples as unknown[]) {
      // [course, position, numbers past the position sent already...]
      if (!Array.isArray(tuple) || tuple.length < 2 || !tuple.every(isSeq) || tuple[0] === 0)
        return undefined;
      const [courseId, position, ...ahead] = tuple as number[];
      if (ahead.some((seq) => seq <= position)) return undefined;
      section.positions.set(courseId, position);
      if (ahead.length > 0) section.ahead.set(courseId, new Set(ahead));
    }
    sections.set(name, section);
  }
  return sections;
}

function isSeq(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_SEQ;
}
