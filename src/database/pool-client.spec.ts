import { PoolClient } from './pool-client.js';

describe('the pool client', () => {
  it('hears a connection error while checked out, so it cannot kill the process', () => {
    const client = new PoolClient({ connectionString: 'postgres://127.0.0.1:1/none' });
    // With no listener, EventEmitter throws an 'error' event; this must not.
    expect(() =>
      client.emit('error', new Error('terminating connection due to administrator command')),
    ).not.toThrow();
  });
});
