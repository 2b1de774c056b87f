// Listed explicitly (not globbed) so the app, the CLI and Jest load the same classes under ESM.
import { CreateSchema1795583224743 } from './1795583224743-CreateSchema.js';

export const migrations = [CreateSchema1795583224743];
