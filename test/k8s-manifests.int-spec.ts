import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/config/app-config.js';

/**
 * No cluster runs here, so the Kubernetes manifests are checked by reading them: strictly against the
 * Kubernetes API types, and against what the service really reads, serves and does.
 */
describe('Kubernetes manifests', () => {
  const dir = 'deploy/k8s';
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .sort();
  const manifests = files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`);
      return { file, doc: document.toJS() as any };
    }),
  );
  const docs = manifests.map(({ doc }) => doc);
  const kustomization = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as any;

  const configSource = readFileSync('src/config/app-config.ts', 'utf8');
  const healthController = readFileSync('src/health/health.controller.ts', 'utf8');
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const imageCommand = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[];

  const find = (kind: string, name: string) => {
    const doc = docs.find((candidate) => candidate.kind === kind && candidate.metadata?.name === name);
    if (!doc) throw new Error(`no ${kind} ${name} in ${dir}`);
    return doc;
  };
  const configMap = find('ConfigMap', 'courseflow-config');
  const secret = find('Secret', 'courseflow-secrets');
  const api = find('Deployment', 'courseflow-api');
  const worker = find('Deployment', 'courseflow-worker');
  const job = find('Job', 'courseflow-migrate');
  const deployments = [api, worker];
  const workloads = [api, worker, job];
  const containerOf = (workload: any) => workload.spec.template.spec.containers[0];

  /** What a container's process sees: envFrom sources in order, then env (which wins), as the kubelet does. */
  const environmentOf = (container: any): Record<string, string> => {
    const environment: Record<string, string> = {};
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) Object.assign(environment, find('ConfigMap', source.configMapRef.name).data);
      if (source.secretRef) Object.assign(environment, find('Secret', source.secretRef.name).stringData);
    }
    for (const variable of container.env ?? []) environment[variable.name] = variable.value;
    return environment;
  };
  /** The fallback `parseConfig` uses for an integer variable, read from its source. */
  const configDefault = (name: string) => {
    const match = new RegExp(`int\\('${name}', ([\\d_]+)`).exec(configSource);
    if (!match) throw new Error(`src/config/app-config.ts reads no integer ${name}`);
    return Number(match[1].replaceAll('_', ''));
  };
  const setting = (container: any, name: string) =>
    Number(environmentOf(container)[name] ?? configDefault(name));
  const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);

  it('lists every manifest in the kustomization, all in the courseflow namespace', () => {
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(kustomization.namespace).toBe('courseflow');
    for (const { file, doc } of manifests) {
      const where = doc.kind === 'Namespace' ? doc.metadata.name : doc.metadata.namespace;
      expect({ file, kind: doc.kind, where }).toEqual({ file, kind: doc.kind, where: 'courseflow' });
    }
  });

  it('is valid against the Kubernetes API types, unknown fields included', () => {
    const problems = apiTypeErrors(docs).flatMap((errors, index) =>
      errors.map(
        (error) => `${manifests[index].file} ${docs[index].kind}/${docs[index].metadata?.name}: ${error}`,
      ),
    );
    expect(problems).toEqual([]);
  });

  it('proves the validation bites: a misspelt field, a wrong type, a missing field, an unknown version', () => {
    const misspelt = structuredClone(api);
    containerOf(misspelt).readinesProbe = containerOf(misspelt).readinessProbe;
    const wrongType = structuredClone(api);
    containerOf(wrongType).ports[0].containerPort = '8000';
    const missing = structuredClone(api);
    delete missing.spec.selector;
    const unknownVersion = { ...structuredClone(api), apiVersion: 'apps/v1beta9' };

    const [misspeltErrors, wrongTypeErrors, missingErrors, unknownVersionErrors] = apiTypeErrors([
      misspelt,
      wrongType,
      missing,
      unknownVersion,
    ]);
    expect(misspeltErrors).toEqual([
      expect.stringMatching(/^spec\.template\.spec\.containers\[0\]\.readinesProbe: .*known properties/),
    ]);
    expect(wrongTypeErrors).toEqual([
      expect.stringMatching(/^spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: .*'number'/),
    ]);
    expect(missingErrors).toEqual([expect.stringMatching(/^spec: .*'selector' is missing/)]);
    expect(unknownVersionErrors).toEqual([expect.stringMatching(/apps\/v1beta9/)]);
  });

  it('probes /ready for readiness and /health for liveness, routes the health controller serves', () => {
    expect(healthController).toMatch(/@Controller\(\)/);
    expect(healthController).toMatch(/@Get\('health'\)/);
    expect(healthController).toMatch(/@Get\('ready'\)/);
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      expect(container.readinessProbe.httpGet.path).toBe('/ready');
      expect(container.livenessProbe.httpGet.path).toBe('/health');
      expect(container.startupProbe.httpGet.path).toBe('/health');
    }
  });

  it('probes the port the process listens on, SERVER_PORT, and waits longer than the readiness checks', () => {
    const checkTimeoutMs = Number(/const CHECK_TIMEOUT_MS = ([\d_]+);/.exec(healthController)![1]);
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      const http = container.ports.find((port: any) => port.name === 'http');
      expect(http.containerPort).toBe(setting(container, 'SERVER_PORT'));
      for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
        const port = container.ports.find((candidate: any) => candidate.name === probe.httpGet.port);
        expect(port?.containerPort ?? probe.httpGet.port).toBe(http.containerPort);
      }
      expect(container.readinessProbe.timeoutSeconds * 1000).toBeGreaterThan(checkTimeoutMs);
    }
  });

  it('lets a starting process wait for PostgreSQL before liveness applies', () => {
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      const { periodSeconds, failureThreshold } = container.startupProbe;
      expect(periodSeconds * failureThreshold * 1000).toBeGreaterThan(
        setting(container, 'DATABASE_START_TIMEOUT_MS'),
      );
    }
  });

  it('sets only variables the service reads', () => {
    const read = new Set([
      ...[...configSource.matchAll(/\w+\('([A-Z][A-Z0-9_]*)'/g)].map((match) => match[1]),
      ...[...configSource.matchAll(/env\.([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]),
      // The Redis topology settings being added alongside these manifests.
      ...['REDIS_MODE', 'REDIS_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'],
    ]);
    const set = [
      ...Object.keys(configMap.data),
      ...Object.keys(secret.stringData),
      ...workloads.flatMap((workload) =>
        (containerOf(workload).env ?? []).map((variable: any) => variable.name),
      ),
    ];
    expect(set.filter((name) => !read.has(name))).toEqual([]);
  });

  it('gives every process a configuration the service accepts in production once the placeholders are replaced', () => {
    // What an operator writes over the Secret's change-me values.
    const replaced = Object.fromEntries(
      Object.entries(secret.stringData as Record<string, string>).map(([name, value]) => [
        name,
        value.replace(/change-me-[a-z-]+/g, `a-real-secret-for-${name.toLowerCase()}`),
      ]),
    );
    for (const workload of workloads) {
      const environment = { ...environmentOf(containerOf(workload)), NODE_ENV: 'production' };
      expect(() => parseConfig({ ...environment, ...replaced })).not.toThrow();
      // Left as they are, the placeholders stop the process, each named.
      expect(() => parseConfig(environment)).toThrow(/ADMIN_TOKEN.*CLIENT_TOKENS.*DATABASE_URL/);
    }
  });

  it('keeps the tokens and the database password in the Secret, as placeholders', () => {
    expect(secret.type).toBe('Opaque');
    expect(Object.keys(secret.stringData).sort()).toEqual(['ADMIN_TOKEN', 'CLIENT_TOKENS', 'DATABASE_URL']);
    for (const value of Object.values(secret.stringData)) expect(value).toContain('change-me');
    for (const doc of docs.filter((candidate) => candidate !== secret)) {
      expect(JSON.stringify(doc)).not.toContain('ADMIN_TOKEN');
    }
    expect(Object.keys(configMap.data)).not.toContain('DATABASE_URL');
    for (const value of Object.values(configMap.data)) expect(value).not.toMatch(/:\/\/[^/@]*:[^/@]*@/);
    const inline = workloads.flatMap((workload) =>
      (containerOf(workload).env ?? []).map((variable: any) => variable.name as string),
    );
    expect(inline.filter((name) => Object.keys(secret.stringData).includes(name))).toEqual([]);
  });

  it('runs the api and the workers by role, two workers, neither applying migrations', () => {
    expect(environmentOf(containerOf(api))).toMatchObject({ ROLE: 'api', RUN_MIGRATIONS: 'false' });
    expect(environmentOf(containerOf(worker))).toMatchObject({ ROLE: 'worker', RUN_MIGRATIONS: 'false' });
    expect(worker.spec.replicas).toBe(2);
    // The autoscaler owns the api's count: a `replicas` here would reset it on every apply.
    expect(api.spec.replicas).toBeUndefined();
  });

  it('lets SIGTERM shutdown finish: grace period > preStop sleep + SHUTDOWN_TIMEOUT_MS', () => {
    for (const workload of workloads) {
      const container = containerOf(workload);
      const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
      if (workload.kind === 'Deployment') expect(preStop).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
      const preStopSeconds = preStop ? Number(preStop[1]) : 0;
      const shutdownSeconds = setting(container, 'SHUTDOWN_TIMEOUT_MS') / 1000;
      expect(workload.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
        preStopSeconds + shutdownSeconds,
      );
    }
  });

  it('runs unprivileged on a read-only root filesystem', () => {
    for (const workload of workloads) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(containerOf(workload).securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });
      // REDIS_HOST and REDIS_PORT are also the names of the variables Kubernetes injects for a `redis` Service.
      expect(pod.enableServiceLinks).toBe(false);
    }
  });

  it("keeps the image's node heap flags and sizes the memory for them", () => {
    const oldSpaceMiB = Number(
      /^--max-old-space-size=(\d+)$/.exec(
        imageCommand.find((flag) => flag.startsWith('--max-old-space-size='))!,
      )![1],
    );
    const mebibytes = (quantity: string) => {
      const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(quantity)!;
      return Number(amount) * (unit === 'Gi' ? 1024 : 1);
    };
    for (const workload of workloads) {
      const { resources } = containerOf(workload);
      expect(resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(mebibytes(resources.requests.memory)).toBeGreaterThan(oldSpaceMiB);
      expect(mebibytes(resources.limits.memory)).toBeGreaterThanOrEqual(2 * oldSpaceMiB);
    }
    for (const deployment of deployments) {
      expect(containerOf(deployment).command).toBeUndefined();
      expect(containerOf(deployment).args).toBeUndefined();
    }
  });

  it('runs one image everywhere, named once in the kustomization', () => {
    const images = new Set(
      workloads.flatMap((workload) => workload.spec.template.spec.containers.map((c: any) => c.image)),
    );
    expect([...images]).toEqual([kustomization.images[0].name]);
  });

  it('routes the Service to the api pods only, on the container port named http', () => {
    const service = find('Service', 'courseflow-api');
    expect(selects(service.spec.selector, api.spec.template.metadata.labels)).toBe(true);
    expect(selects(service.spec.selector, worker.spec.template.metadata.labels)).toBe(false);
    expect(selects(service.spec.selector, job.spec.template.metadata.labels)).toBe(false);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    expect(containerOf(api).ports.map((port: any) => port.name)).toContain('http');
  });

  it('guards the api and the workers with disruption budgets and scales the api on CPU', () => {
    for (const [name, deployment] of [
      ['courseflow-api', api],
      ['courseflow-worker', worker],
    ]) {
      const budget = find('PodDisruptionBudget', name);
      expect(budget.apiVersion).toBe('policy/v1');
      expect(budget.spec.minAvailable).toBe(1);
      const selected = workloads.filter((workload) =>
        selects(budget.spec.selector.matchLabels, workload.spec.template.metadata.labels),
      );
      expect(selected).toEqual([deployment]);
    }
    const autoscaler = find('HorizontalPodAutoscaler', 'courseflow-api');
    expect(autoscaler.apiVersion).toBe('autoscaling/v2');
    expect(autoscaler.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'courseflow-api',
    });
    expect(autoscaler.spec.metrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } },
      },
    ]);
    expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(containerOf(api).resources.requests.cpu).toBeDefined();
  });

  it('migrates with ROLE=migrate, the role that applies the pending migrations and exits', () => {
    const container = containerOf(job);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(environmentOf(container)).toMatchObject({ ROLE: 'migrate' });
    // The image's own command (dist/main.js with the heap flags).
    expect(container.command).toBeUndefined();
    expect(container.args).toBeUndefined();
    expect(readFileSync('src/config/app-config.ts', 'utf8')).toMatch(/const ROLES[^;]*'migrate'/);
    expect(readFileSync('src/main.ts', 'utf8')).toContain("config.role === 'migrate'");
  });
});

/**
 * Strict validation against the Kubernetes API types: `kubernetes-types` is generated from the OpenAPI spec
 * of Kubernetes 1.30, and each document becomes an object literal of its kind's type that the TypeScript
 * compiler checks. So a misspelt or unknown field, a missing required one, a value of the wrong type or an
 * unknown apiVersion/kind is an error, as `kubectl apply --validate=strict` would report. Returns each
 * document's errors as `path.to[0].field: message` (the compiler reports the first error of a subtree).
 */
function apiTypeErrors(docs: unknown[]): string[][] {
  const fileName = path.resolve('deploy/k8s/manifests.check.ts'); // never written: the compiler host serves it
  const bounds: number[] = [];
  let text = '';
  docs.forEach((doc, index) => {
    text += `export const doc${index}: ${apiTypeOf(doc)} = ${JSON.stringify(doc, null, 2)};\n`;
    bounds.push(text.length);
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  };
  const host = ts.createCompilerHost(options);
  const readSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, text, language, true)
      : readSourceFile(name, language, ...rest);
  const program = ts.createProgram([fileName], options, host);
  const sourceFile = program.getSourceFile(fileName)!;
  const errors = docs.map((): string[] => []);
  for (const diagnostic of ts.getPreEmitDiagnostics(program, sourceFile)) {
    const start = diagnostic.start ?? 0;
    const index = bounds.findIndex((end) => start < end);
    errors[index].push(
      `${jsonPathAt(sourceFile, start)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`,
    );
  }
  return errors;
}

/** `apps/v1` + `Deployment` → the Deployment type of kubernetes-types/apps/v1; `v1` is the core group. */
function apiTypeOf(doc: any): string {
  const apiVersion = String(doc?.apiVersion);
  const kind = String(doc?.kind);
  const match = /^(?:([a-z0-9.-]+)\/)?(v\d+[a-z0-9]*)$/.exec(apiVersion);
  if (!match || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return `'a known apiVersion and kind'`;
  const group = (match[1] ?? 'core').split('.')[0];
  return `import('kubernetes-types/${group}/${match[2]}').${kind}`;
}

/** Where in the document a diagnostic points, e.g. `spec.template.spec.containers[0].ports[0].containerPort`. */
function jsonPathAt(sourceFile: ts.SourceFile, position: number): string {
  const innermost = (node: ts.Node): ts.Node =>
    node.forEachChild((child) =>
      child.getStart(sourceFile) <= position && position < child.getEnd() ? innermost(child) : undefined,
    ) ?? node;
  const parts: string[] = [];
  for (
    let node: ts.Node = innermost(sourceFile);
    !ts.isVariableDeclaration(node) && node.parent;
    node = node.parent
  ) {
    if (ts.isPropertyAssignment(node) && ts.isStringLiteral(node.name)) parts.unshift(`.${node.name.text}`);
    else if (ts.isArrayLiteralExpression(node.parent))
      parts.unshift(`[${node.parent.elements.indexOf(node as ts.Expression)}]`);
  }
  return parts.join('').replace(/^\./, '') || '(document)';
}
