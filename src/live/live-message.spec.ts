import { parseClientMessage } from './live-message.js';

describe('a client message on /ws', () => {
  it('selects a student, a request or a course, with an optional cursor and token', () => {
    expect(parseClientMessage({ type: 'subscribe', student_id: 's-0042' })).toEqual({
      type: 'subscribe',
      selector: { kind: 'student', studentId: 's-0042' },
    });
    expect(parseClientMessage({ type: 'subscribe', idempotency_key: 'portal 7f', after: 'abc' })).toEqual({
      type: 'subscribe',
      selector: { kind: 'request', idempotencyKey: 'portal 7f' },
      after: 'abc',
    });
    expect(parseClientMessage({ type: 'unsubscribe', course_id: 7, token: 't' })).toEqual({
      type: 'unsubscribe',
      selector: { kind: 'course', courseId: 7 },
      token: 't',
    });
  });

  it.each([
    ['not an object', 'subscribe', undefined],
    ['null', null, undefined],
    ['an array', [], undefined],
    ['an unknown type', { type: 'listen', student_id: 's' }, 'type'],
    ['no type', { student_id: 's' }, 'type'],
    ['no selector', { type: 'subscribe' }, undefined],
    ['two selectors', { type: 'subscribe', student_id: 's', course_id: 1 }, 'course_id'],
    ['a bad student_id', { type: 'subscribe', student_id: 's 42' }, 'student_id'],
    ['a long student_id', { type: 'subscribe', student_id: 'x'.repeat(65) }, 'student_id'],
    ['a numeric student_id', { type: 'subscribe', student_id: 42 }, 'student_id'],
    ['a key with a line break', { type: 'subscribe', idempotency_key: 'a\nb' }, 'idempotency_key'],
    ['course_id 0', { type: 'subscribe', course_id: 0 }, 'course_id'],
    ['course_id past int4', { type: 'subscribe', course_id: 2_147_483_648 }, 'course_id'],
    ['a string course_id', { type: 'subscribe', course_id: '7' }, 'course_id'],
    ['a numeric cursor', { type: 'subscribe', student_id: 's', after: 7 }, 'after'],
    ['a cursor on unsubscribe', { type: 'unsubscribe', student_id: 's', after: 'x' }, 'after'],
    ['a numeric token', { type: 'subscribe', course_id: 1, token: 1 }, 'token'],
    ['an unknown field', { type: 'subscribe', student_id: 's', __proto__x: 1 }, '__proto__x'],
  ])('is refused when it is %s, naming the field', (_, message, field) => {
    const problem = parseClientMessage(message);
    expect(problem).not.toHaveProperty('type');
    expect(problem).toHaveProperty('message');
    expect((problem as { field?: string }).field).toBe(field);
  });

  it('refuses a __proto__ key instead of reading it', () => {
    const problem = parseClientMessage(
      JSON.parse('{"type":"subscribe","student_id":"s","__proto__":{"x":1}}'),
    );
    expect(problem).toEqual({ message: 'unknown field "__proto__"', field: '__proto__' });
  });
});
