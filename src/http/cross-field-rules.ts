import { ApiExtension } from '@nestjs/swagger';

/**
 * A rule over several fields (or over a field and what is stored) that JSON Schema cannot state, such as
 * "closes_at after opens_at". `rule` is the very sentence the 400 says (in `details`, or in `message` when
 * there are none), so a client, and the schema-driven test (test/api-properties.int-spec.ts), can tell a
 * refusal the document announced from a disagreement.
 */
export interface CrossFieldRule {
  fields: string[];
  rule: string;
}

/** Lists an operation's cross-field rules in the document, as `x-cross-field-rules`. */
export const ApiCrossFieldRules = (...rules: CrossFieldRule[]) => ApiExtension('x-cross-field-rules', rules);

/** The rule of every window: a course's registration window, an appointment. */
export const CLOSES_AFTER_OPENS: CrossFieldRule = {
  fields: ['opens_at', 'closes_at'],
  rule: 'closes_at must be after opens_at',
};
