import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The folders of src/ stand on floors (README.md, "A map of src/"): a file imports only from its own
 * floor or below, and no file imports itself back through others. Nothing else stops a convenient import
 * from turning the map upside down or tying two files into a loop (which ESM resolves by handing one of
 * them the other's bindings before they are set), so this reads every import and checks both.
 */
const FLOORS = [
  ['errors'],
  ['config', 'logging'],
  ['database', 'redis'],
  ['http', 'auth'],
  ['decisions', 'queue'],
  ['courses', 'schedules', 'appointments'],
  ['events', 'dead-letters'],
  ['enrollment', 'allocation', 'live', 'metrics', 'health', 'queue-board', 'students', 'webhooks'],
  ['.'], // the composition root: main.ts, app.module.ts, app.setup.ts
];
const floorOf = new Map(FLOORS.flatMap((modules, floor) => modules.map((module) => [module, floor])));

/** The top-level folder of a path relative to src/, or '.' for a file directly in src/. */
const moduleOf = (file: string) => (file.includes('/') ? file.split('/')[0] : '.');

/** The data source lists every module's entities: the one file that may reach up for them. */
const allowedUp = (from: string, to: string) =>
  from === 'database/data-source.ts' && to.endsWith('.entity.ts');

const files = readdirSync('src', { recursive: true, encoding: 'utf8' })
  .map((file) => file.split(path.sep).join('/'))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
  .sort();

/** Each file's relative imports (static, dynamic, type-only and re-exports), as paths relative to src/. */
const imports = new Map(
  files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join('src', file), 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => fileName)
      .filter((name) => name.startsWith('./') || name.startsWith('../'))
      .map((name) => path.posix.join(path.posix.dirname(file), name).replace(/\.js$/, '.ts'));
    return [file, [...new Set(targets)]];
  }),
);

describe('the floors of src/', () => {
  it('has every folder on a floor', () => {
    expect([...new Set(files.map(moduleOf))].filter((module) => !floorOf.has(module))).toEqual([]);
  });

  it('has no file importing from a higher floor', () => {
    const upward = [...imports].flatMap(([file, targets]) =>
      targets
        .filter((to) => floorOf.get(moduleOf(to))! > floorOf.get(moduleOf(file))! && !allowedUp(file, to))
        .map(
          (to) =>
            `src/${file} imports src/${to} (floor ${floorOf.get(moduleOf(file))} → ${floorOf.get(moduleOf(to))})`,
        ),
    );
    expect(upward).toEqual([]);
  });

  it('has no import loop', () => {
    // Depth-first: an import of a file still on the path closes a loop.
    const loops: string[] = [];
    const done = new Set<string>();
    const onPath: string[] = [];
    const visit = (file: string) => {
      onPath.push(file);
      for (const to of imports.get(file) ?? []) {
        const at = onPath.indexOf(to);
        if (at >= 0) loops.push([...onPath.slice(at), to].map((f) => `src/${f}`).join(' → '));
        else if (!done.has(to)) visit(to);
      }
      onPath.pop();
      done.add(file);
    };
    for (const file of files) if (!done.has(file)) visit(file);
    expect(loops).toEqual([]);
  });
});
