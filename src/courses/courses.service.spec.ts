import { jest } from '@jest/globals';
import type { AppConfig } from '../config/app-config.js';
import type { Repository } from 'typeorm';
import { DomainError } from '../errors/domain-error.js';
import type { Course } from './course.entity.js';
import type { CourseDraw } from './course-draw.entity.js';
import type { CourseLedger } from './course-ledger.js';
import { CoursesService } from './courses.service.js';

/** The accept path's course-existence check: cached, and one query for concurrent misses. */
describe('CoursesService.assertOpen', () => {
  type Window = Pick<Course, 'opensAt' | 'closesAt'> & Partial<Pick<Course, 'drawWindowS' | 'prequeueS'>>;
  const open: Window = { opensAt: null, closesAt: null };
  const serviceWith = (find: () => Promise<Window | boolean>) => {
    const existsBy = jest.fn(find);
    const repository = {
      findOne: async () => {
        const found = await existsBy();
        return found === false ? null : found === true ? open : found;
      },
    };
    const config = { courseCacheTtlMs: 60_000 } as AppConfig;
    return {
      service: new CoursesService(
        repository as unknown as Repository<Course>,
        {} as Repository<CourseDraw>,
        config,
        {} as CourseLedger,
      ),
      existsBy,
    };
  };

  it('answers a stampede on an unseen course with one query, then from memory', async () => {
    const { service, existsBy } = serviceWith(async () => true);
    await Promise.all(Array.from({ length: 50 }, () => service.assertOpen(7, new Date())));
    await service.assertOpen(7, new Date());
    expect(existsBy).toHaveBeenCalledTimes(1);
  });

  it('rejects every waiter for an unknown course and does not cache the miss', async () => {
    const { service, existsBy } = serviceWith(async () => false);
    const results = await Promise.allSettled([
      service.assertOpen(9, new Date()),
      service.assertOpen(9, new Date()),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
    await expect(service.assertOpen(9, new Date())).rejects.toBeInstanceOf(DomainError);
    expect(existsBy).toHaveBeenCalledTimes(2);
  });

  it('asks again after a failed query', async () => {
    let calls = 0;
    const { service } = serviceWith(async () => {
      calls += 1;
      if (calls === 1) throw new Error('connection lost');
      return true;
    });
    await expect(service.assertOpen(3, new Date())).rejects.toThrow('connection lost');
    await expect(service.assertOpen(3, new Date())).resolves.toBe('plain');
  });

  it('refuses a time before the window opens or from its close on, naming when', async () => {
    const opensAt = new Date('2026-12-01T09:00:00.000Z');
    const closesAt = new Date('2026-12-08T17:00:00.000Z');
    const { service } = serviceWith(async () => ({ opensAt, closesAt }));
    await expect(service.assertOpen(5, new Date('2026-12-01T08:59:59.999Z'))).rejects.toThrow(
      'registration for course_id 5 opens at 2026-12-01T09:00:00.000Z',
    );
    await expect(service.assertOpen(5, opensAt)).resolves.toBe('plain');
    await expect(service.assertOpen(5, new Date('2026-12-08T16:59:59.999Z'))).resolves.toBe('plain');
    await expect(service.assertOpen(5, closesAt)).rejects.toThrow(
      'registration for course_id 5 closed at 2026-12-08T17:00:00.000Z',
    );
  });

  it('opens prequeue_s early for a course with a draw, and takes requests until its end as draw entries', async () => {
    const opensAt = new Date('2026-12-01T09:00:00.000Z');
    const { service } = serviceWith(async () => ({
      opensAt,
      closesAt: null,
      drawWindowS: 300,
      prequeueS: 600,
    }));
    await expect(service.assertOpen(6, new Date('2026-12-01T08:49:59.999Z'))).rejects.toThrow(
      'registration for course_id 6 opens at 2026-12-01T08:50:00.000Z',
    );
    await expect(service.assertOpen(6, new Date('2026-12-01T08:50:00.000Z'))).resolves.toBe('draw_entry');
    await expect(service.assertOpen(6, new Date('2026-12-01T09:04:59.999Z'))).resolves.toBe('draw_entry');
    await expect(service.assertOpen(6, new Date('2026-12-01T09:05:00.000Z'))).resolves.toBe('plain');
  });
});
