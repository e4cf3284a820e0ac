import { readFileSync } from 'node:fs';
import test from 'ava';
import { registerUser, request, startTestApp } from '../helpers/app.ts';
import { familiesOf, parseExposition } from '../helpers/metrics.ts';

/** deploy/grafana-dashboard.json queries only what /metrics exposes, so no panel stays empty after a rename. */
const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')) as {
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ query: { query: string } }> };
};

/** Metric names in a PromQL expression: our prefixes, as a series selector (not a label, a function or `le`). */
const metricsIn = (expr: string) => [...expr.matchAll(/\b((?:letsapp|nodejs|process)_[a-z0-9_]+)\b/g)].map((match) => match[1]!);

test('every metric the Grafana dashboard queries is in the output of /metrics', async (t) => {
  const app = await startTestApp({ env: { METRICS_PORT: '0' } });
  t.teardown(() => app.dispose());
  const user = await registerUser(app.url);
  await request(app.url, 'GET', '/api/conversations', { token: user.accessToken });
  const text = await (await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`)).text();
  const families = familiesOf(text);
  const samples = new Set(parseExposition(text).map((sample) => sample.name));
  const exposed = (name: string) =>
    families.has(name) ||
    samples.has(name) ||
    ['_bucket', '_sum', '_count'].some((suffix) => name.endsWith(suffix) && families.get(name.slice(0, -suffix.length)) === 'histogram');

  const queries = [
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr }))),
    ...dashboard.templating.list.map((variable) => ({ where: 'a variable', expr: variable.query.query })),
  ];
  t.true(queries.length >= 30);
  const queried = new Set<string>();
  for (const { where, expr } of queries) {
    const names = metricsIn(expr);
    t.true(names.length > 0, `"${where}" queries a metric: ${expr}`);
    for (const name of names) {
      queried.add(name);
      t.true(exposed(name), `"${where}" queries ${name}, which /metrics does not expose`);
    }
  }
  // And the other way: each of our own families has a panel.
  for (const family of families.keys()) {
    if (!family.startsWith('letsapp_') || family === 'letsapp_metrics_collect_errors') continue;
    t.true(
      [...queried].some((name) => name === family || name.startsWith(`${family}_`)),
      `${family} has a panel`,
    );
  }
});
