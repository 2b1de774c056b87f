import pg from 'pg';

/**
 * The pool's client class. pg-pool listens for a client's errors only while it sits idle in the pool, and
 * TypeORM adds no listener while it holds one: a connection terminated (a PostgreSQL restart sends every
 * backend 57P01) while a client is checked out between two statements raised an 'error' event nobody
 * heard, and that killed the process (seen in a chaos run: "pg restart -m fast"). Heard here, the error
 * ends nothing: the client's next query fails as any query does when PostgreSQL is away (a 503), and the
 * pool drops the dead client when it is released.
 */
export class PoolClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}
