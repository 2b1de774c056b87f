import 'reflect-metadata';
import { type Logger as PinoLogger, pino } from 'pino';
import { createApp, exitGracefullyOnSignals } from './app.setup.js';
import { type AppConfig, ConfigError, parseConfig } from './config/app-config.js';
import { loadEnvFile } from './config/env-file.js';
import { AppLogger } from './logging/logging.module.js';
import { createDataSource } from './database/data-source.js';
import { waitForDatabase } from './database/wait-for-database.js';

/** The configuration, from the environment and then `.env` in the working directory (never over the environment). */
function loadConfigOrExit(): { config: AppConfig; fromEnvFile: string[] } {
  try {
    const fromEnvFile = loadEnvFile(process.env);
    return { config: parseConfig(process.env), fromEnvFile };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const { config, fromEnvFile } = loadConfigOrExit();
  // JSON lines from the first moment: Nest's own logger is not there until the application exists.
  const startLog = pino({ level: config.logLevel });
  // Names only: the file may hold secrets.
  if (fromEnvFile.length > 0) startLog.info({ msg: 'read .env', variables: fromEnvFile });
  if (!(await waitForDatabase(config.databaseUrl, config.databaseStartTimeoutMs, startLog))) process.exit(1);
  if (config.role === 'migrate') return migrate(config, startLog);
  try {
    const app = await createApp(config);
    exitGracefullyOnSignals(app, config);
    await app.listen(config.serverPort, '0.0.0.0');
    app.get(AppLogger).log({ msg: 'listening', role: config.role, port: config.serverPort });
  } catch (error) {
    startLog.fatal({ msg: 'could not start', err: error });
    process.exit(1);
  }
}

/** ROLE=migrate: applies the pending migrations in one transaction, says which, and exits (1 if one failed). */
async function migrate(config: AppConfig, log: Pick<PinoLogger, 'info' | 'fatal'>): Promise<void> {
  const dataSource = createDataSource(config.databaseUrl);
  try {
    await dataSource.initialize();
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    log.info({
      msg: 'migrations applied',
      count: applied.length,
      migrations: applied.map(({ name }) => name),
    });
    await dataSource.destroy();
    process.exit(0);
  } catch (error) {
    log.fatal({ msg: 'migrations failed, none applied', err: error });
    process.exit(1);
  }
}

void bootstrap();
