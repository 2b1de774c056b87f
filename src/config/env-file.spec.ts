import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './app-config.js';
import { loadEnvFile } from './env-file.js';

describe('loadEnvFile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'courseflow-env-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (text: string): string => {
    const path = join(dir, '.env');
    writeFileSync(path, text);
    return path;
  };

  it('fills the variables the environment does not hold, and names them', () => {
    const path = write(
      '# a comment\nREDIS_PORT=6380\nADMIN_TOKEN="a token with spaces"\nexport LOG_LEVEL=debug\n',
    );
    const env: Record<string, string | undefined> = {};
    expect(loadEnvFile(env, path).sort()).toEqual(['ADMIN_TOKEN', 'LOG_LEVEL', 'REDIS_PORT']);
    expect(env).toEqual({ REDIS_PORT: '6380', ADMIN_TOKEN: 'a token with spaces', LOG_LEVEL: 'debug' });
  });

  it('never overrides a variable already in the environment, even an empty one', () => {
    const path = write('REDIS_PORT=6380\nADMIN_TOKEN=from-the-file\nLOG_LEVEL=debug\n');
    const env: Record<string, string | undefined> = { REDIS_PORT: '6379', ADMIN_TOKEN: '' };
    expect(loadEnvFile(env, path)).toEqual(['LOG_LEVEL']);
    expect(env).toEqual({ REDIS_PORT: '6379', ADMIN_TOKEN: '', LOG_LEVEL: 'debug' });
  });

  it('does nothing without a file', () => {
    const env: Record<string, string | undefined> = { A: '1' };
    expect(loadEnvFile(env, join(dir, '.env'))).toEqual([]);
    expect(env).toEqual({ A: '1' });
  });

  it('stops with a configuration error naming a file it cannot read', () => {
    const path = join(dir, '.env');
    mkdirSync(path);
    expect(() => loadEnvFile({}, path)).toThrow(ConfigError);
    expect(() => loadEnvFile({}, path)).toThrow(`cannot read ${path}`);
  });
});
