import { jest } from '@jest/globals';
import type { AppConfig } from '../config/app-config.js';
import type { Repository } from 'typeorm';
import { DomainError } from '../errors/domain-error.js';
import type { Course } from './course.entity.js';
import { CoursesService } from './courses.service.js';

/** The accept path's course-existence check: cached, and one query for concurrent misses. */
describe('CoursesService.assertExists', () => {
  const serviceWith = (existsBy: (where: { id: number }) => Promise<boolean>) => {
    const repository = { existsBy: jest.fn(existsBy) };
    const config = { courseCacheTtlMs: 60_000 } as AppConfig;
    return {
      service: new CoursesService(repository as unknown as Repository<Course>, config),
      existsBy: repository.existsBy,
    };
  };

  it('answers a stampede on an unseen course with one query, then from memory', async () => {
    const { service, existsBy } = serviceWith(async () => true);
    await Promise.all(Array.from({ length: 50 }, () => service.assertExists(7)));
    await service.assertExists(7);
    expect(existsBy).toHaveBeenCalledTimes(1);
  });

  it('rejects every waiter for an unknown course and does not cache the miss', async () => {
    const { service, existsBy } = serviceWith(async () => false);
    const results = await Promise.allSettled([service.assertExists(9), service.assertExists(9)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
    await expect(service.assertExists(9)).rejects.toBeInstanceOf(DomainError);
    expect(existsBy).toHaveBeenCalledTimes(2);
  });

  it('asks again after a failed query', async () => {
    let calls = 0;
    const { service } = serviceWith(async () => {
      calls += 1;
      if (calls === 1) throw new Error('connection lost');
      return true;
    });
    await expect(service.assertExists(3)).rejects.toThrow('connection lost');
    await expect(service.assertExists(3)).resolves.toBeUndefined();
  });
});
