import type pg from 'pg';

/** A TCP port free on 127.0.0.1 now, below the kernel's ephemeral range (see kit.mjs). */
export function freePort(): Promise<number>;
/** Where tests, the demo and the bench may create and drop databases (ADMIN_DATABASE_URL). */
export const ADMIN_DATABASE_URL: string;
/** The admin URL pointed at another database of the same server. */
export function databaseUrl(name: string): string;
/** Runs work on one connection, closed (and awaited) whatever happens. */
export function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T>;
/** The Redis the tests, the demo and the bench use (REDIS_HOST, REDIS_PORT). */
export const REDIS: { host: string; port: number };
/** Deletes every key matching the pattern (SCAN, never KEYS). */
export function deleteRedisKeys(pattern: string): Promise<void>;
