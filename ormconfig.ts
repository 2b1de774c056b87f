// The DataSource the TypeORM CLI uses (migration:generate / run / revert); the app builds the same one.
import { parseConfig } from './src/config/app-config.js';
import { loadEnvFile } from './src/config/env-file.js';
import { createDataSource } from './src/database/data-source.js';

// The same configuration as `npm start`: the environment, then .env for what it does not set.
loadEnvFile(process.env);
export default createDataSource(parseConfig(process.env).databaseUrl);
