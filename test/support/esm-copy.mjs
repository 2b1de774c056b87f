// Jest's CommonJS loader cannot require() the ESM-only @nestjs/* 12 packages (Node 20 can, Jest on Node 20
// cannot), and @willsoto/nestjs-prometheus ships only CommonJS that does exactly that. For the tests, its
// dist files are rewritten unchanged but for the module syntax into .mjs files that Jest loads as ESM:
// each require("x") becomes a static import, each exports.X an export. The application runs the package's
// own CommonJS build (node dist/main.js); only Jest sees this copy.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const ESM_COPY_ROOT = resolve('node_modules/.cache/courseflow-jest-esm');

const PACKAGES = ['@willsoto/nestjs-prometheus'];

export function writeEsmCopies() {
  for (const name of PACKAGES) {
    const source = resolve('node_modules', name, 'dist');
    const target = join(ESM_COPY_ROOT, name);
    rmSync(target, { recursive: true, force: true });
    for (const file of walk(source)) {
      const out = join(target, relative(source, file)).replace(/\.js$/, '.mjs');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, toEsm(readFileSync(file, 'utf8'), file));
    }
  }
}

function walk(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return walk(path);
    return path.endsWith('.js') ? [path] : [];
  });
}

function localSpecifier(spec, fromFile) {
  const base = resolve(dirname(fromFile), spec);
  return existsSync(`${base}.js`) ? `${spec}.mjs` : `${spec}/index.mjs`;
}

function toEsm(source, file) {
  const imports = [];
  const reexports = [];
  let body = source
    .replace(/^\/\/# sourceMappingURL=.*$/m, '')
    .replace(/__exportStar\(require\("([^"]+)"\), exports\);/g, (_, spec) => {
      reexports.push(`export * from ${JSON.stringify(localSpecifier(spec, file))};`);
      return '';
    });
  body = body.replace(/require\("([^"]+)"\)/g, (_, spec) => {
    const id = `__import${imports.length}`;
    const target = spec.startsWith('.') ? localSpecifier(spec, file) : spec;
    imports.push(`import * as ${id} from ${JSON.stringify(target)};`);
    return id;
  });
  const names = [
    ...new Set(
      [
        ...body.matchAll(/\bexports\.(\w+) =/g),
        // TypeScript's `export { x } from './y'`: a getter on exports.
        ...body.matchAll(/Object\.defineProperty\(exports, "(\w+)", \{ enumerable: true, get/g),
      ].map((match) => match[1]),
    ),
  ];
  return [
    ...imports,
    ...reexports,
    'const module = { exports: {} };',
    'const exports = module.exports;',
    `(function () {\n${body}\n}).call(undefined);`,
    ...names.map((exported) => `export const ${exported} = module.exports.${exported};`),
    '',
  ].join('\n');
}
