import { jest } from '@jest/globals';
import { parseConfig } from '../config/app-config.js';
import { AppLogger } from './logging.module.js';

/** How Nest's logger calls reach the root pino logger: the fields and message of each line. */
describe('AppLogger', () => {
  const logger = new AppLogger(parseConfig({ LOG_LEVEL: 'trace' }));
  const lines: unknown[][] = [];
  for (const level of ['info', 'error', 'warn', 'debug', 'trace', 'fatal'] as const) {
    jest.spyOn(logger.pino, level).mockImplementation(((...args: unknown[]) => {
      lines.push([level, ...args]);
    }) as never);
  }
  beforeEach(() => (lines.length = 0));

  it('writes a text with the context Nest passes last', () => {
    logger.log('Nest application successfully started', 'NestApplication');
    expect(lines).toEqual([
      ['info', { context: 'NestApplication' }, 'Nest application successfully started'],
    ]);
  });

  it('makes an object message the fields of the line, its msg the message', () => {
    logger.warn({ msg: 'redis unavailable', dependency: 'redis' }, 'RedisModule');
    expect(lines).toEqual([
      ['warn', { context: 'RedisModule', msg: 'redis unavailable', dependency: 'redis' }],
    ]);
  });

  it("keeps the stack Nest's exception handler passes with error(message, stack, context)", () => {
    const stack = 'Error: boom\n    at handler (/app/dist/x.js:1:1)';
    logger.error('boom', stack, 'ExceptionsHandler');
    const [level, fields, message] = lines[0] as [string, { context: string; err: Error }, string];
    expect([level, message, fields.context, fields.err.stack]).toEqual([
      'error',
      'boom',
      'ExceptionsHandler',
      stack,
    ]);
  });

  it('logs an Error as err, with its message', () => {
    const error = new Error('lost');
    logger.error(error);
    expect(lines).toEqual([['error', { err: error }, 'lost']]);
  });

  it('maps verbose to trace and keeps fatal and debug', () => {
    logger.verbose('v');
    logger.debug('d');
    logger.fatal('f');
    expect(lines.map(([level]) => level)).toEqual(['trace', 'debug', 'fatal']);
  });

  it('skips lines below the configured level without building them', () => {
    const quiet = new AppLogger(parseConfig({ LOG_LEVEL: 'warn' }));
    const info = jest.spyOn(quiet.pino, 'info');
    quiet.log('not written');
    expect(info).not.toHaveBeenCalled();
  });
});
