import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { parse } from 'yaml';
import { http, newCourse, newRequest, useWorld, waitForDecision, asClient } from './support/test-app.js';

/**
 * The dashboard and the alert rules name metrics in PromQL strings that nothing compiles, so a renamed
 * metric would leave a blank panel or an alert that never fires. This checks every name they use against
 * what /metrics really serves, and the wiring of the monitoring profile (no Docker here: by reading).
 */

const DASHBOARD = 'deploy/grafana/courseflow.json';
const ALERTS = 'deploy/prometheus/alerts.yml';
const PROMETHEUS = 'deploy/prometheus/prometheus.yml';
const MONITORING_COMPOSE = 'deploy/compose.monitoring.yml';
const GRAFANA_DATASOURCES = 'deploy/grafana/provisioning/datasources/prometheus.yml';
const GRAFANA_DASHBOARDS = 'deploy/grafana/provisioning/dashboards/courseflow.yml';

/** PromQL words that look like a metric name where they stand (functions and aggregations are followed by "("). */
const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);
/** Series Prometheus makes itself for every target, not served by the application. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

/** The metric names a PromQL expression selects (Grafana variables allowed). */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{[^}]*\}|\$\w+/g, ' '); // Grafana variables ($course, ${DS_PROMETHEUS}, $__rate_interval)
  const names = new Set<string>();
  // An identifier not glued to a number (0.99, 5m, 1e3) and not called like a function.
  for (const [name] of bare.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()/g)) {
    if (!PROMQL_WORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names].sort();
}

/** The metric names of a Grafana template variable's query: label_values(metric, label) or PromQL. */
function metricNamesInVariable(query: string): string[] {
  const labelValues = /^\s*label_values\((.*)\)\s*$/s.exec(query);
  if (!labelValues) return metricNamesIn(query);
  const comma = labelValues[1].lastIndexOf(',');
  return comma < 0 ? [] : metricNamesIn(labelValues[1].slice(0, comma));
}

/** `# TYPE name type` of every registered metric: listed even before a metric has a sample. */
function typesServed(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(name, type);
  return types;
}

/** Whether a series name is one /metrics serves: a metric, or a histogram's (summary's) sub-series. */
function isServed(name: string, types: Map<string, string>): boolean {
  if (types.has(name)) return true;
  const [, base, suffix] = /^(.*)_(bucket|sum|count)$/.exec(name) ?? [];
  if (!base) return false;
  const type = types.get(base);
  return type === 'histogram' || (type === 'summary' && suffix !== 'bucket');
}

interface Use {
  name: string;
  where: string;
}

const readYaml = (path: string): any => parse(readFileSync(path, 'utf8'), { merge: true });
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
const alerts = readYaml(ALERTS);
const rules: any[] = (alerts?.groups ?? []).flatMap((group: any) => group.rules ?? []);
const panels: any[] = (dashboard.panels ?? []).flatMap((panel: any) => [panel, ...(panel.panels ?? [])]);
const queryPanels = panels.filter((panel) => panel.type !== 'row');

/** Every metric name the dashboard (panels and variables) and the alert rules use, with where. */
function metricUses(): Use[] {
  const uses: Use[] = [];
  for (const panel of queryPanels) {
    for (const target of panel.targets ?? []) {
      for (const name of metricNamesIn(target.expr ?? ''))
        uses.push({ name, where: `dashboard panel "${panel.title}"` });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
    for (const name of metricNamesInVariable(query))
      uses.push({ name, where: `dashboard variable $${variable.name}` });
  }
  for (const rule of rules) {
    for (const name of metricNamesIn(String(rule.expr ?? '')))
      uses.push({ name, where: `alert ${rule.alert}` });
  }
  return uses;
}

describe('monitoring files', () => {
  const ctx = useWorld();
  let exposition: string;

  beforeAll(async () => {
    // One request accepted and decided, so the histograms and per-course gauges have samples too.
    const courseId = await newCourse(ctx.baseUrl, 1);
    const request = newRequest(courseId);
    expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    await waitForDecision(ctx.baseUrl, request.idempotency_key);
    const response = await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient });
    expect(response.status).toBe(200);
    exposition = await response.text();
  });
  it('finds the metric names in PromQL, and only those', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le) (rate(enrollment_latency_seconds_bucket{course=~"$course"}[5m:30s]))) > 5e0',
      ),
    ).toEqual(['enrollment_latency_seconds_bucket']);
    expect(
      metricNamesIn(
        'deriv(max by (course) (courseflow_queue_depth)[5m:30s]) > 0 and max(courseflow_queue_depth) offset 1m > bool 100',
      ),
    ).toEqual(['courseflow_queue_depth']);
    expect(
      metricNamesIn(
        'sum(rate(a_sum[$__rate_interval])) / on (job) group_left () sum without (instance) (b_count{status="x y"})',
      ),
    ).toEqual(['a_sum', 'b_count']);
    expect(metricNamesIn('absent(up{job="courseflow-api"}) or vector(0)')).toEqual(['up']);
    expect(metricNamesInVariable('label_values(courseflow_capacity{course!=""}, course)')).toEqual([
      'courseflow_capacity',
    ]);
    expect(metricNamesInVariable('label_values(course)')).toEqual([]);
  });

  it('serves every metric the dashboard and the alerts use', () => {
    const types = typesServed(exposition);
    expect(types.get('enrollment_latency_seconds')).toBe('histogram');
    // The histogram's sub-series are really exposed under these names.
    expect(exposition).toMatch(/^enrollment_latency_seconds_bucket\{le="0\.001"\} \d+$/m);
    expect(exposition).toMatch(/^allocation_batch_size_count \d+$/m);
    // The webhook figures are served whatever the role (the failing gauge from PostgreSQL at each scrape).
    expect(types.get('courseflow_webhook_deliveries_total')).toBe('counter');
    expect(types.get('courseflow_webhook_lag_seconds')).toBe('histogram');
    expect(types.get('courseflow_webhook_failing_seconds')).toBe('gauge');

    const uses = metricUses().filter((use) => !SYNTHETIC.has(use.name));
    const unknown = uses
      .filter((use) => !isServed(use.name, types))
      .map((use) => `${use.name} (${use.where}) is not served by /metrics`);
    expect(unknown).toEqual([]);

    // What an operator needs is on the dashboard.
    const onDashboard = new Set(
      uses.filter((use) => use.where.startsWith('dashboard')).map((use) => use.name),
    );
    for (const name of [
      'enrollment_requests_total',
      'enrollment_latency_seconds_bucket',
      'allocation_batch_size_count',
      'courseflow_queue_depth',
      'courseflow_seats_taken',
      'courseflow_capacity',
      'courseflow_dead_letters',
      'courseflow_webhook_deliveries_total',
      'courseflow_webhook_lag_seconds_bucket',
      'courseflow_webhook_failing_seconds',
      'process_resident_memory_bytes',
    ])
      expect({ name, onDashboard: onDashboard.has(name) }).toEqual({ name, onDashboard: true });
  });

  it('gives every alert rule a name, an expression, a for, a severity and a summary', () => {
    expect(rules.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [index, rule] of rules.entries()) {
      const name = rule.alert ?? `rule #${index + 1}`;
      if (typeof rule.alert !== 'string' || rule.alert === '') problems.push(`${name}: no alert name`);
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') problems.push(`${name}: no expr`);
      if (!/^(\d+(ms|[smhdwy]))+$/.test(String(rule.for ?? ''))) problems.push(`${name}: no valid for`);
      if (!['info', 'warning', 'critical'].includes(rule.labels?.severity))
        problems.push(`${name}: labels.severity is not info, warning or critical`);
      if (typeof rule.annotations?.summary !== 'string' || rule.annotations.summary === '')
        problems.push(`${name}: no annotations.summary`);
    }
    const names = rules.map((rule) => rule.alert);
    if (new Set(names).size !== names.length) problems.push(`alert names repeat: ${names.join(', ')}`);
    expect(problems).toEqual([]);
    expect(names).toEqual(
      expect.arrayContaining([
        'CourseFlowDeadLetters',
        'CourseFlowQueueGrowing',
        'CourseFlowTargetDown',
        'CourseFlowDecisionLatencyHigh',
        'CourseFlowWebhookFailing',
      ]),
    );
  });

  it('has a dashboard whose every panel queries Prometheus through the data source variable', () => {
    expect(dashboard).toMatchObject({ title: 'CourseFlow', uid: 'courseflow' });
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const datasource = (dashboard.templating.list as any[]).find(
      (variable) => variable.type === 'datasource',
    );
    expect(datasource).toMatchObject({ name: 'DS_PROMETHEUS', query: 'prometheus' });
    expect(queryPanels.length).toBeGreaterThan(0);
    for (const panel of queryPanels) {
      expect({ panel: panel.title, datasource: panel.datasource }).toEqual({
        panel: panel.title,
        datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
      });
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect({ panel: panel.title, expr: typeof target.expr, datasource: target.datasource }).toEqual({
          panel: panel.title,
          expr: 'string',
          datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
        });
      }
      expect(panel.gridPos).toEqual({
        h: expect.any(Number),
        w: expect.any(Number),
        x: expect.any(Number),
        y: expect.any(Number),
      });
    }
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('wires Prometheus and Grafana into an optional monitoring profile of the compose stack', () => {
    const compose = readYaml('docker-compose.yml');
    const includes = [compose.include ?? []].flat().map((entry: any) => entry.path ?? entry);
    expect(includes).toContain(MONITORING_COMPOSE);
    const monitoring = readYaml(MONITORING_COMPOSE);
    expect(Object.keys(monitoring.services).sort()).toEqual(['grafana', 'prometheus']);
    for (const [name, service] of Object.entries<any>(monitoring.services)) {
      expect({ name, profiles: service.profiles }).toEqual({ name, profiles: ['monitoring'] });
      expect({ name, healthcheck: Boolean(service.healthcheck?.test) }).toEqual({ name, healthcheck: true });
      // Bind mounts are relative to the included file's directory, and must exist.
      for (const volume of service.volumes as string[]) {
        const [source, target] = volume.split(':');
        if (source.startsWith('.')) {
          const local = join(dirname(MONITORING_COMPOSE), source);
          expect({ volume, exists: existsSync(local) }).toEqual({ volume, exists: true });
        } else {
          expect(Object.keys(monitoring.volumes ?? {})).toContain(source);
        }
        expect(target.startsWith('/')).toBe(true);
      }
    }

    // Prometheus: loads alerts.yml (relative to its config file) and scrapes the api and worker services.
    const prometheus = readYaml(PROMETHEUS);
    const mountedAt = mountTarget(monitoring.services.prometheus, 'prometheus');
    expect(monitoring.services.prometheus.command).toContain(`--config.file=${mountedAt}/prometheus.yml`);
    expect(prometheus.rule_files).toContain('alerts.yml');
    const scraped = (prometheus.scrape_configs as any[]).flatMap((job) => [
      ...(job.dns_sd_configs ?? []).flatMap((sd: any) => sd.names),
      ...(job.static_configs ?? []).flatMap((sc: any) => sc.targets.map((t: string) => t.split(':')[0])),
    ]);
    expect(scraped.sort()).toEqual(['api', 'worker']);
    for (const name of scraped) expect(Object.keys(compose.services)).toContain(name);
    // /metrics takes a token when CLIENT_TOKENS is set: every job sends the admin token from the secret file.
    for (const job of prometheus.scrape_configs as any[]) {
      expect(job.authorization).toEqual({ credentials_file: '/run/secrets/courseflow_scrape_token' });
    }
    expect(monitoring.services.prometheus.secrets).toEqual(['courseflow_scrape_token']);
    expect(monitoring.secrets.courseflow_scrape_token).toEqual({ environment: 'ADMIN_TOKEN' });
    // The alerts' job matchers name the scrape jobs.
    const jobs = (prometheus.scrape_configs as any[]).map((job) => job.job_name);
    for (const rule of rules) {
      for (const [, job] of String(rule.expr).matchAll(/job="([^"]+)"/g)) expect(jobs).toContain(job);
    }

    // Grafana: the provisioned data source is the dashboard's default, and the dashboard provider reads the
    // directory the dashboard JSON is mounted in.
    const datasources = readYaml(GRAFANA_DATASOURCES).datasources as any[];
    expect(datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const variable = (dashboard.templating.list as any[]).find((v) => v.name === 'DS_PROMETHEUS');
    expect(variable.current.value).toBe('prometheus');
    const provider = (readYaml(GRAFANA_DASHBOARDS).providers as any[])[0];
    const grafana = monitoring.services.grafana;
    expect(posix.dirname(mountTarget(grafana, 'grafana/courseflow.json'))).toBe(provider.options.path);
    expect(mountTarget(grafana, 'grafana/provisioning')).toBe('/etc/grafana/provisioning');
  });
});

/** Where a service mounts ./<source> (relative to deploy/). */
function mountTarget(service: any, source: string): string {
  const volume = (service.volumes as string[]).find((each) => each.split(':')[0] === `./${source}`);
  if (!volume) throw new Error(`no mount of ./${source}`);
  return volume.split(':')[1];
}
