import fc from 'fast-check';

/**
 * fast-check arbitraries generated from the JSON Schemas of an OpenAPI 3.0 document: `valid(schema)` draws
 * values the schema accepts, `invalid(schema)` values that break exactly one of its rules (a wrong type,
 * a bound, a pattern, a format, a missing or unknown property…). Nothing here knows the API: every value
 * comes from the schema (its types, bounds, patterns, formats, enums, nullability, examples), plus the
 * values a caller offers by property name (`known`), as a stateful tester feeds back what it has seen.
 * A caller checks an `invalid` value with a validator before relying on it: a mutation can land on a value
 * the schema happens to accept.
 */

type Schema = Record<string, any>;

/** Values seen in responses, by property name: drawn instead of a generated one, now and then. */
export type KnownValues = (name: string) => readonly unknown[];

const MAX_ITEMS = 4;
/** Any code point, lone surrogates included (JSON can carry them). */
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((code) => String.fromCodePoint(code));
const LOOKAROUND = /\(\?<?[=!](?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*\)/g;

/** RFC 3339 date-times of every shape the format allows: either case of T and Z, fractions, offsets. */
export const rfc3339DateTime = (): fc.Arbitrary<string> => {
  const two = (n: number) => String(n).padStart(2, '0');
  return fc
    .record({
      year: fc.oneof(fc.integer({ min: 1, max: 9998 }), fc.integer({ min: 2020, max: 2035 })),
      month: fc.integer({ min: 1, max: 12 }),
      day: fc.integer({ min: 1, max: 28 }),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.integer({ min: 0, max: 59 }),
      second: fc.integer({ min: 0, max: 59 }),
      fraction: fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }),
      t: fc.constantFrom('T', 't'),
      offset: fc.oneof(
        fc.constantFrom('Z', 'z', '+00:00', '-00:00'),
        fc
          .tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
          .map(([sign, h, m]) => `${sign}${two(h)}:${two(m)}`),
      ),
    })
    .map(
      ({ year, month, day, hour, minute, second, fraction, t, offset }) =>
        `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}${t}${two(hour)}:${two(minute)}:` +
        `${two(second)}${fraction === undefined ? '' : `.${fraction}`}${offset}`,
    );
};

/** What ISO 8601 (and habit) allows and RFC 3339 does not, with some near misses of the RFC's own form. */
export const notRfc3339DateTime = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      '2026-12-01',
      '2026-12-01T09:00:00',
      '2026-12-01T09:00Z',
      '2026-12-01 09:00:00Z',
      '2026-12-01T09:00:00+0100',
      '2026-12-01T09:00:00+01',
      '2026-W49-1T09:00:00Z',
      '2026-335T09:00:00Z',
      '20261201T090000Z',
      '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-12-01T24:00:00Z',
      '2026-12-01T09:00:61Z',
      '2026-12-01T09:00:00+24:00',
      '+002026-12-01T09:00:00Z',
      '2026-12-01T09:00:00.Z',
      'Tue, 01 Dec 2026 09:00:00 GMT',
      '1764579600',
      'now',
      '',
    ),
    fc.string({ maxLength: 30 }),
  );

export class SchemaArbitraries {
  constructor(
    private readonly document: Schema,
    private readonly known: KnownValues = () => [],
  ) {}

  /** The schema behind a $ref, or a lone allOf (how @nestjs/swagger wraps a referenced enum). */
  resolve(schema: Schema): Schema {
    if (schema.$ref) {
      const path = String(schema.$ref).replace(/^#\//, '').split('/');
      const target = path.reduce((node: Schema, key) => node[key], this.document);
      return this.resolve({ ...target, ...omit(schema, '$ref') });
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1) {
      return this.resolve({ ...this.resolve(schema.allOf[0]), ...omit(schema, 'allOf') });
    }
    return schema;
  }

  /** Values the schema accepts. */
  valid(raw: Schema, name = ''): fc.Arbitrary<unknown> {
    const schema = this.resolve(raw);
    const own = this.validNonNull(schema, name);
    const seen = this.knownFor(name, schema);
    const drawn = seen ? fc.oneof({ weight: 3, arbitrary: own }, { weight: 2, arbitrary: seen }) : own;
    return schema.nullable ? fc.oneof({ weight: 4, arbitrary: drawn }, fc.constant(null)) : drawn;
  }

  /** Values that break one rule of the schema (check them: a mutation may happen to be valid). */
  invalid(raw: Schema, name = ''): fc.Arbitrary<unknown> {
    const schema = this.resolve(raw);
    const ways: fc.Arbitrary<unknown>[] = [this.wrongType(schema)];
    if (!schema.nullable) ways.push(fc.constant(null));
    if (schema.enum) ways.push(fc.string({ maxLength: 12 }).filter((s) => !schema.enum.includes(s)));
    switch (schema.type) {
      case 'integer':
      case 'number':
        ways.push(...this.invalidNumbers(schema));
        break;
      case 'string':
        ways.push(...this.invalidStrings(schema));
        break;
      case 'array':
        ways.push(...this.invalidArrays(schema, name));
        break;
      case 'object':
        ways.push(...this.invalidObjects(schema));
        break;
    }
    return fc.oneof(...ways);
  }

  private knownFor(name: string, schema: Schema): fc.Arbitrary<unknown> | undefined {
    if (!name || !this.known(name).length) return undefined;
    // Drawn when the value is generated, from what has been seen by then (the pool grows as the run goes).
    return fc.nat().map((index) => {
      const values = this.known(name).filter((value) => typeof value === jsType(schema.type));
      return values.length ? values[index % values.length] : schema.example;
    });
  }

  private validNonNull(schema: Schema, name: string): fc.Arbitrary<unknown> {
    if (schema.enum) return fc.constantFrom(...schema.enum.filter((value: unknown) => value !== null));
    switch (schema.type) {
      case 'integer':
        return fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 - 1 });
      case 'number': {
        const min = schema.minimum ?? -1e6;
        const max = schema.maximum ?? 1e6;
        if (schema.multipleOf) {
          const step = schema.multipleOf;
          return fc.integer({ min: Math.ceil(min / step), max: Math.floor(max / step) }).map((n) => n * step);
        }
        return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
      }
      case 'boolean':
        return fc.boolean();
      case 'string':
        return this.validString(schema);
      case 'array': {
        const items = this.valid(schema.items ?? {}, `${name}[]`);
        const constraints = {
          minLength: schema.minItems ?? 0,
          maxLength: Math.min(schema.maxItems ?? MAX_ITEMS, MAX_ITEMS),
        };
        return schema.uniqueItems
          ? fc.uniqueArray(items, { ...constraints, selector: (item) => JSON.stringify(item) })
          : fc.array(items, constraints);
      }
      case 'object':
      case undefined: {
        const properties = (schema.properties ?? {}) as Record<string, Schema>;
        const shape = Object.fromEntries(
          Object.entries(properties).map(([key, property]) => [key, this.valid(property, key)]),
        );
        return fc.record(shape, { requiredKeys: (schema.required ?? []) as string[] });
      }
      default:
        throw new Error(`schema-arbitrary: no generator for type ${String(schema.type)}`);
    }
  }

  private validString(schema: Schema): fc.Arbitrary<string> {
    const pattern = schema.pattern ? new RegExp(schema.pattern, 'u') : undefined;
    const fits = (value: string) => {
      const length = [...value].length;
      return (
        length >= (schema.minLength ?? 0) &&
        length <= (schema.maxLength ?? Infinity) &&
        (!pattern || pattern.test(value))
      );
    };
    if (schema.format === 'date-time') return rfc3339DateTime().filter(fits);
    if (pattern) {
      // fast-check cannot generate lookarounds: draw from the pattern without them, keep what matches it all.
      const loose = new RegExp(schema.pattern.replace(LOOKAROUND, ''), 'u');
      return fc.stringMatching(loose).filter(fits);
    }
    return fc
      .string({
        unit: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...'abcXYZ019 -_.') },
          { weight: 1, arbitrary: anyCodePoint },
        ),
        minLength: schema.minLength ?? 0,
        maxLength: Math.min(schema.maxLength ?? 40, 300),
      })
      .filter(fits);
  }

  private wrongType(schema: Schema): fc.Arbitrary<unknown> {
    const others: fc.Arbitrary<unknown>[] = [];
    const type = schema.type ?? 'object';
    if (type !== 'string') others.push(fc.constantFrom('', '1', 'true', 'x'));
    if (type !== 'number' && type !== 'integer') others.push(fc.constantFrom(0, 1, -1, 2.5));
    if (type !== 'boolean') others.push(fc.boolean());
    if (type !== 'array') others.push(fc.constantFrom([], [1], ['x']));
    if (type !== 'object') others.push(fc.constantFrom({}, { a: 1 }));
    return fc.oneof(...others);
  }

  private invalidNumbers(schema: Schema): fc.Arbitrary<unknown>[] {
    const ways: fc.Arbitrary<unknown>[] = [];
    if (schema.minimum !== undefined) {
      ways.push(fc.integer({ min: 1, max: 1_000_000 }).map((d) => schema.minimum - d));
    }
    if (schema.maximum !== undefined) {
      ways.push(fc.integer({ min: 1, max: 1_000_000 }).map((d) => schema.maximum + d));
    }
    const lowest = schema.minimum ?? 0;
    const highest = schema.maximum ?? lowest + 100;
    if (schema.type === 'integer') {
      // A fraction inside the bounds: a number, not an integer.
      ways.push(fc.integer({ min: lowest, max: Math.max(lowest, highest - 1) }).map((n) => n + 0.5));
    }
    if (schema.multipleOf) {
      ways.push(
        fc
          .integer({ min: Math.ceil(lowest), max: Math.max(Math.ceil(lowest), Math.floor(highest) - 1) })
          .map((n) => n + schema.multipleOf / 2),
      );
    }
    return ways;
  }

  private invalidStrings(schema: Schema): fc.Arbitrary<unknown>[] {
    const ways: fc.Arbitrary<unknown>[] = [];
    if ((schema.minLength ?? 0) > 0) ways.push(fc.constant(''));
    if (schema.maxLength !== undefined) {
      ways.push(fc.string({ minLength: schema.maxLength + 1, maxLength: schema.maxLength + 20 }));
      ways.push(fc.constant('x'.repeat(schema.maxLength + 1)));
    }
    if (schema.pattern) {
      // Candidates, not a filter: a pattern that matches nearly everything (the years of a date-time) would
      // starve one. The caller keeps only what the schema refuses.
      ways.push(
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.string({ unit: 'binary', maxLength: 20 }),
          fc.constantFrom(' ', '.', '..', '\u0000', 'a\nb', ' x', 'x ', '💥', '\ud800'),
          fc.constantFrom('0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z'),
          this.validString({ ...schema, pattern: undefined }).map((value) => `${value}\u0000`),
          this.validString({ ...schema, pattern: undefined }).map((value) => ` ${value}`),
        ),
      );
    }
    if (schema.format === 'date-time') ways.push(notRfc3339DateTime());
    return ways;
  }

  private invalidArrays(schema: Schema, name: string): fc.Arbitrary<unknown>[] {
    const items = schema.items ?? {};
    const ways: fc.Arbitrary<unknown>[] = [
      // One item broken among valid ones.
      fc
        .tuple(fc.array(this.valid(items, `${name}[]`), { maxLength: 2 }), this.invalid(items, `${name}[]`))
        .map(([good, bad]) => [...good, bad]),
    ];
    if (schema.maxItems !== undefined && schema.maxItems <= 20) {
      ways.push(
        fc.array(this.valid(items), { minLength: schema.maxItems + 1, maxLength: schema.maxItems + 2 }),
      );
    }
    if ((schema.minItems ?? 0) > 0) ways.push(fc.constant([]));
    if (schema.uniqueItems) ways.push(this.valid(items).map((item) => [item, item]));
    return ways;
  }

  private invalidObjects(schema: Schema): fc.Arbitrary<unknown>[] {
    const whole = this.validNonNull(schema, '') as fc.Arbitrary<Record<string, unknown>>;
    const properties = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
    const ways: fc.Arbitrary<unknown>[] = [];
    for (const key of (schema.required ?? []) as string[]) {
      ways.push(whole.map((value) => omit(value, key)));
    }
    if (schema.additionalProperties === false) {
      const unknown = fc.constantFrom('unknown_field', 'Student_Id', 'extra', 'id2');
      ways.push(
        fc
          .tuple(whole, unknown, fc.jsonValue({ maxDepth: 1 }))
          .filter(([, key]) => !(key in (schema.properties ?? {})))
          .map(([value, key, extra]) => ({ ...value, [key]: extra })),
      );
    }
    for (const [key, property] of properties) {
      ways.push(
        fc.tuple(whole, this.invalid(property, key)).map(([value, bad]) => ({ ...value, [key]: bad })),
      );
    }
    return ways.length ? ways : [fc.constant([])];
  }
}

const omit = (value: Record<string, any>, key: string) =>
  Object.fromEntries(Object.entries(value).filter(([name]) => name !== key));

const jsType = (type: unknown) =>
  type === 'integer' || type === 'number'
    ? 'number'
    : type === 'array' || type === 'object'
      ? 'object'
      : type;
