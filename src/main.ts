import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { pino } from 'pino';
import { AppModule } from './app.module.js';
import { configureApp, exitGracefullyOnSignals } from './app.setup.js';
import { type AppConfig, ConfigError, parseConfig } from './config/app-config.js';
import { waitForDatabase } from './database/wait-for-database.js';

function loadConfigOrExit(): AppConfig {
  try {
    return parseConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  // JSON lines from the first moment: Nest's own logger is not there until the application exists.
  const startLog = pino({ level: config.logLevel });
  if (!(await waitForDatabase(config.databaseUrl, config.databaseStartTimeoutMs, startLog))) process.exit(1);
  try {
    const app = await NestFactory.create(AppModule.forRoot(config), { bufferLogs: true });
    configureApp(app);
    exitGracefullyOnSignals(app, config);
    await app.listen(config.serverPort, '0.0.0.0');
    app.get(Logger).log({ msg: 'listening', role: config.role, port: config.serverPort });
  } catch (error) {
    startLog.fatal({ msg: 'could not start', err: error });
    process.exit(1);
  }
}

void bootstrap();
