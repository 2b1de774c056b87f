// The DataSource the TypeORM CLI uses (migration:generate / run / revert); the app builds the same one.
import { parseConfig } from './src/config/app-config.js';
import { createDataSource } from './src/database/data-source.js';

export default createDataSource(parseConfig(process.env).databaseUrl);
