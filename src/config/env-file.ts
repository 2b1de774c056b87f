import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { messageOf } from '../errors/error-message.js';
import { ConfigError } from './app-config.js';

type Env = Record<string, string | undefined>;

/**
 * Fills `env` from a dotenv file (`.env` in the working directory unless told otherwise), before parseConfig
 * reads it: only the variables the environment does not hold yet, so a real variable, even an empty one,
 * always wins over the file (as `node --env-file` does). Returns the names it set; none without a file.
 * Parsed by Node's own `util.parseEnv`, the reader of `--env-file`.
 */
export function loadEnvFile(env: Env, path = '.env'): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`Invalid configuration: cannot read ${path}: ${messageOf(error)}`);
  }
  const filled: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined || value === undefined) continue;
    env[name] = value;
    filled.push(name);
  }
  return filled;
}
