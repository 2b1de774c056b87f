import { jest } from '@jest/globals';
import type { Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { STATUS_BY_CODE } from '../http/domain-exception.filter.js';
import { AppointmentsService } from './appointments.service.js';
import type { StudentAppointment } from './student-appointment.entity.js';

/**
 * The accept path's check, over a fake repository: `query` answers the per-student statements (and is what
 * the tests count); whether any appointment exists is answered by `exists` (default: some do).
 */
function serviceWith(
  query: (sql: string, parameters: unknown[]) => Promise<unknown>,
  exists: () => Promise<boolean> = async () => true,
) {
  const counted = jest.fn(query);
  const existence = jest.fn(exists);
  const repository = {
    query: (sql: string, parameters: unknown[]) =>
      sql.includes('EXISTS') ? existence().then((any) => [{ any }]) : counted(sql, parameters),
  };
  const service = new AppointmentsService(
    repository as unknown as Repository<StudentAppointment>,
    { courseCacheTtlMs: 5000 } as AppConfig,
  );
  return { service, query: counted, existence };
}

const opensAt = new Date('2026-12-14T09:00:00.000Z');
const closesAt = new Date('2026-12-14T18:00:00.000Z');

describe('AppointmentsService.assertWithin', () => {
  const table = async (_sql: string, [ids]: unknown[]) =>
    (ids as string[])
      .filter((id) => id !== 's-free')
      .map((id) => ({ student_id: id, opens_at: opensAt, closes_at: id === 's-open' ? null : closesAt }));

  it('lets in a student without an appointment, and one inside theirs', async () => {
    const { service } = serviceWith(table);
    await expect(service.assertWithin('s-free', new Date('2020-01-01T00:00:00Z'))).resolves.toBeUndefined();
    await expect(service.assertWithin('s-1', opensAt)).resolves.toBeUndefined();
    await expect(service.assertWithin('s-1', new Date('2026-12-14T17:59:59.999Z'))).resolves.toBeUndefined();
    await expect(service.assertWithin('s-open', new Date('2099-01-01T00:00:00Z'))).resolves.toBeUndefined();
  });

  it('refuses a time before the appointment opens or from its close on with a 409 naming when', async () => {
    const { service } = serviceWith(table);
    const early = service.assertWithin('s-1', new Date('2026-12-14T08:59:59.999Z'));
    await expect(early).rejects.toMatchObject({
      code: DomainErrorCode.AppointmentNotOpen,
      message: "student s-1's registration appointment opens at 2026-12-14T09:00:00.000Z",
    });
    const late = service.assertWithin('s-1', closesAt);
    await expect(late).rejects.toMatchObject({
      code: DomainErrorCode.AppointmentClosed,
      message: "student s-1's registration appointment closed at 2026-12-14T18:00:00.000Z",
    });
    expect(STATUS_BY_CODE[DomainErrorCode.AppointmentNotOpen]).toBe(409);
    expect(STATUS_BY_CODE[DomainErrorCode.AppointmentClosed]).toBe(409);
  });

  it('reads the students of one turn with one query by ANY($1), then from memory', async () => {
    const { service, query } = serviceWith(table);
    const students = Array.from({ length: 50 }, (_, index) => `s-${index}`);
    await Promise.all(students.map((student) => service.assertWithin(student, opensAt)));
    await service.assertWithin('s-7', opensAt);
    expect(query).toHaveBeenCalledTimes(1);
    expect(query.mock.calls[0][0]).toContain('"student_id" = ANY($1::varchar[])');
  });

  it('reads nothing per student while no appointment exists, and keeps that answer through an outage', async () => {
    let down = false;
    const { service, query, existence } = serviceWith(table, async () => {
      if (down)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return false;
    });
    await Promise.all(
      Array.from({ length: 50 }, (_, index) => service.assertWithin(`s-${index}`, new Date('2020-01-01Z'))),
    );
    expect(query).not.toHaveBeenCalled();
    expect(existence).toHaveBeenCalledTimes(1);
    jest.useFakeTimers({ now: Date.now() + 6000, doNotFake: ['setImmediate', 'nextTick'] });
    try {
      down = true;
      await expect(service.assertWithin('s-1', new Date('2020-01-01Z'))).resolves.toBeUndefined();
      expect(existence).toHaveBeenCalledTimes(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('answers a failed lookup with the 503 of an unavailable database, not a 500', async () => {
    const { service } = serviceWith(async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    });
    const refused = await service.assertWithin('s-1', opensAt).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).code).toBe(DomainErrorCode.DatabaseUnavailable);
    expect(STATUS_BY_CODE[(refused as DomainError).code]).toBe(503);
  });

  it('forgets a student it wrote at once', async () => {
    let opens = opensAt;
    const { service, query } = serviceWith(async (sql, parameters) => {
      if (sql.startsWith('SELECT')) {
        return [{ student_id: 's-1', opens_at: opens, closes_at: null }];
      }
      opens = new Date(parameters[1] as string);
      return [{ student_id: 's-1', opens_at: opens, closes_at: null, updated_at: new Date() }];
    });
    await expect(service.assertWithin('s-1', new Date('2026-12-14T08:00:00Z'))).rejects.toThrow('opens at');
    await service.set('s-1', { opensAt: new Date('2026-12-14T07:00:00Z'), closesAt: null });
    await expect(service.assertWithin('s-1', new Date('2026-12-14T08:00:00Z'))).resolves.toBeUndefined();
    expect(query).toHaveBeenCalledTimes(3);
  });
});
