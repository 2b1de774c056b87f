/**
 * A live connection's cursor: for each of its subscriptions, the last sequence number it has passed in
 * each course (a course's numbers are its commit order, so "after n" misses nothing and repeats nothing).
 * Sent with every event as an opaque string (base64url of JSON), and given back as "after" to resume:
 * each subscription picks its own section, so one cursor resumes every subscription of a connection.
 */
export type Positions = Map<number, number>;

/** A subscription's section name in a cursor: "s:<student_id>", "k:<idempotency_key>" or "c:<course_id>". */
export type SectionName = string;

const MAX_CURSOR_LENGTH = 16_384;
const MAX_SEQ = 2_147_483_647;

export function encodeCursor(sections: Iterable<[SectionName, Positions]>): string {
  const plain: Record<string, Array<[number, number]>> = {};
  for (const [name, positions] of sections) plain[name] = [...positions];
  return Buffer.from(JSON.stringify(plain)).toString('base64url');
}

/**
 * The sections of a cursor this service returned, or undefined when it is not one. A bare number is a
 * course's own cursor (as GET /courses/:id/events returns it), accepted for a course subscription.
 */
export function decodeCursor(text: string, bareCourse?: number): Map<SectionName, Positions> | undefined {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH) return undefined;
  if (/^(0|[1-9][0-9]{0,9})$/.test(text)) {
    const seq = Number(text);
    if (bareCourse === undefined || seq > MAX_SEQ) return undefined;
    return new Map([[`c:${bareCourse}`, new Map([[bareCourse, seq]])]]);
  }
  let plain: unknown;
  try {
    plain = JSON.parse(Buffer.from(text, 'base64url').toString());
  } catch {
    return undefined;
  }
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) return undefined;
  const sections = new Map<SectionName, Positions>();
  for (const [name, pairs] of Object.entries(plain)) {
    if (!/^[skc]:/.test(name) || !Array.isArray(pairs)) return undefined;
    const positions: Positions = new Map();
    for (const pair of pairs as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !pair.every(isSeq) || pair[0] === 0) return undefined;
      positions.set(pair[0] as number, pair[1] as number);
    }
    sections.set(name, positions);
  }
  return sections;
}

function isSeq(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_SEQ;
}
