/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `audit --output html` in a real browser: Debian's Chromium, headless, driven by puppeteer-core over CDP. Each
 * sample report is rendered to a file and opened from file://; the test reads the DOM back (rows and their
 * order, every count, every finding or the cap's message, the callers), checks that markup in the report stayed
 * text, that nothing but the file was requested and nothing was logged, and keeps a full-page screenshot of each.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import t, { type Test } from 'tap';
import { HTML_LIMITS, renderHtml } from '../../src/audit/html.js';
import type { AuditReport, Coverage, NamespacePosture } from '../../src/audit/report.js';
import { RULE_IDS, type RuleId } from '../../src/engine/types.js';
import { HOSTILE, sampleReport } from '../support/audit-sample.js';
import { repoPath, runCli } from '../support/helpers.js';

t.setTimeout(300_000);

const artifacts = process.env['MTLS_GUARD_TEST_ARTIFACTS'] ?? repoPath('test-artifacts/audit-html');
mkdirSync(artifacts, { recursive: true });
t.comment(`rendered reports and screenshots: ${artifacts}`);

/** The system Chromium: MTLS_GUARD_CHROMIUM (set by .ci/run), else tools/chromium.sh finds or installs it. */
function chromium(): string {
  if (process.env['MTLS_GUARD_CHROMIUM']) return process.env['MTLS_GUARD_CHROMIUM'];
  const run = spawnSync('bash', [repoPath('tools/chromium.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error('tools/chromium.sh found no chromium (see its message above)');
  return run.stdout.trim().split('\n').pop() ?? '';
}

let browser: Browser;
t.before(async () => {
  browser = await puppeteer.launch({
    executablePath: chromium(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions', '--disable-background-networking'],
  });
});
t.teardown(() => browser?.close());

interface Loaded {
  page: Page;
  file: string;
  bytes: number;
  renderMs: number;
  loadMs: number;
  console: string[];
  errors: string[];
  requests: string[];
}

/** Render `report`, open it from file://, and record everything the page logged and requested. */
async function open(name: string, report: AuditReport): Promise<Loaded> {
  const started = process.hrtime.bigint();
  const html = renderHtml(report);
  const renderMs = Number(process.hrtime.bigint() - started) / 1e6;
  const file = join(artifacts, `${name}.html`);
  writeFileSync(file, html);
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  const loaded: Loaded = { page, file, bytes: Buffer.byteLength(html), renderMs, loadMs: 0, console: [], errors: [], requests: [] };
  page.on('console', (message) => loaded.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => loaded.errors.push(String(error)));
  page.on('request', (request) => loaded.requests.push(request.url()));
  const loadStarted = process.hrtime.bigint();
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  loaded.loadMs = Number(process.hrtime.bigint() - loadStarted) / 1e6;
  return loaded;
}

async function screenshot(loaded: Loaded, name: string, fullPage = true): Promise<void> {
  const path = join(artifacts, `${name}.png`);
  await loaded.page.screenshot({ path, fullPage });
  t.comment(`screenshot: ${path}`);
}

/** Nothing fetched but the file, nothing logged, no script error; the strict CSP in force and no script. */
async function clean(t: Test, loaded: Loaded): Promise<void> {
  t.same(loaded.requests, [pathToFileURL(loaded.file).href], 'the only request is the file itself');
  t.same(loaded.console, [], 'no console message (no error, no warning, no CSP violation)');
  t.same(loaded.errors, [], 'no page error');
  const page = await loaded.page.evaluate(() => ({
    csp: document.querySelector('head > meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
    cspSecond: document.head.children[1]?.getAttribute('http-equiv') ?? '',
    scripts: document.scripts.length,
    styles: document.querySelectorAll('style').length,
    links: document.querySelectorAll('link, img, iframe, object, embed').length,
  }));
  t.match(
    page.csp,
    /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'/,
    'a strict CSP: nothing by default, the one stylesheet by hash',
  );
  t.equal(page.cspSecond, 'Content-Security-Policy', 'the CSP follows the charset, before anything drawn from the report');
  t.equal(page.scripts, 0, 'no script');
  t.equal(page.styles, 1, 'one stylesheet');
  t.equal(page.links, 0, 'no external resource element');
}

const outside = (c: Coverage) => c.outOfMesh - c.hostNetwork;
const total = (v: Record<RuleId, number>) => RULE_IDS.reduce((s, r) => s + v[r], 0);

interface RowSeen {
  name: string;
  text: string;
  data: Record<string, string>;
  chips: Record<string, string>;
  dimmed: boolean;
}

async function rows(page: Page): Promise<RowSeen[]> {
  return page.$$eval('tr[data-namespace]', (trs) =>
    trs.map((tr) => ({
      name: tr.querySelector('.ns')?.textContent ?? '',
      text: (tr as HTMLElement).innerText,
      data: { ...(tr as HTMLElement).dataset } as Record<string, string>,
      chips: Object.fromEntries(
        [...tr.querySelectorAll('[data-rule]')].map((c) => [c.getAttribute('data-rule'), c.getAttribute('data-count')]),
      ),
      dimmed: Number(getComputedStyle(tr).opacity) < 1 || getComputedStyle(tr).color !== getComputedStyle(document.body).color,
    })),
  );
}

function checkRow(t: Test, seen: RowSeen, expected: NamespacePosture): void {
  t.equal(seen.name, expected.name, `${expected.name}: its name, as text`);
  t.same(
    seen.data,
    {
      namespace: expected.name,
      mode: expected.mode.mode,
      exempt: String(expected.exempt),
      enrollment: expected.enrollment,
      ownPolicy: String(expected.ownPolicy),
      violations: String(total(expected.violations)),
      podsIn: String(expected.pods.inMesh),
      podsOut: String(expected.pods.outOfMesh),
      templatesIn: String(expected.templates.inMesh),
      templatesOut: String(expected.templates.outOfMesh),
    },
    `${expected.name}: its data attributes`,
  );
  for (const rule of RULE_IDS) t.equal(Number(seen.chips[rule] ?? 0), expected.violations[rule], `${expected.name}: ${rule} count`);
  t.ok(seen.text.includes(expected.mode.mode), `${expected.name}: mode shown`);
  t.ok(seen.text.includes(expected.mode.policy ?? 'Istio default'), `${expected.name}: what sets the mode shown`);
  if (expected.pods.total > 0)
    t.ok(seen.text.includes(`${expected.pods.inMesh}/${expected.pods.total}`), `${expected.name}: pods in/total shown`);
  if (expected.templates.total > 0)
    t.ok(seen.text.includes(`${expected.templates.inMesh}/${expected.templates.total}`), `${expected.name}: templates in/total shown`);
  t.equal(seen.dimmed, expected.exempt, `${expected.name}: ${expected.exempt ? 'dimmed' : 'not dimmed'}`);
}

/** Tiles show the summary, as data and as the figure a person reads. */
async function checkTiles(t: Test, page: Page, report: AuditReport): Promise<void> {
  const tiles = await page.$$eval('[data-tile]', (els) =>
    els.map((e) => ({ ...(e as HTMLElement).dataset, value: e.querySelector('.value')?.textContent ?? '' }) as Record<string, string>),
  );
  const byKey = (tile: string, rule?: string) => tiles.find((x) => x['tile'] === tile && x['rule'] === rule);
  const fmt = (n: number) => n.toLocaleString('en-US');
  const s = report.summary;
  t.match(byKey('namespaces'), { count: String(s.namespaces), value: fmt(s.namespaces) }, 'namespaces tile');
  t.match(byKey('coverage'), { count: String(s.workloads.inMesh), total: String(s.workloads.total) }, 'coverage tile');
  t.match(
    byKey('out-of-mesh'),
    { count: String(s.workloads.outOfMesh), hostNetwork: String(s.workloads.hostNetwork), value: fmt(s.workloads.outOfMesh) },
    'out-of-mesh tile',
  );
  for (const rule of RULE_IDS)
    t.match(byKey('violations', rule), { count: String(s.violations[rule]), value: fmt(s.violations[rule]) }, `${rule} tile`);
}

interface FindingSeen {
  rule: string;
  action: string;
  object: string;
  message: string;
  commands: string[];
}

async function findings(page: Page): Promise<{ sections: Record<string, string>; seen: FindingSeen[]; more: Record<string, string> }> {
  return page.evaluate(() => ({
    sections: Object.fromEntries(
      [...document.querySelectorAll('section[data-findings]')].map((s) => [s.getAttribute('data-findings'), s.getAttribute('data-count')]),
    ),
    seen: [...document.querySelectorAll('article[data-finding]')].map((a) => ({
      rule: a.getAttribute('data-rule') ?? '',
      action: a.getAttribute('data-action') ?? '',
      object: a.getAttribute('data-object') ?? '',
      message: a.querySelector('.message')?.textContent ?? '',
      commands: [...a.querySelectorAll('code[data-command]')].map((c) => c.textContent ?? ''),
    })),
    more: Object.fromEntries(
      [...document.querySelectorAll('[data-more="findings"]')].map((m) => [m.getAttribute('data-rule'), m.getAttribute('data-count')]),
    ),
  }));
}

const objectName = (f: AuditReport['findings'][number]) =>
  `${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`;

/** Every finding is on the page, grouped by rule in RULE_IDS order, or counted in its rule's "and N more". */
async function checkFindings(t: Test, page: Page, report: AuditReport): Promise<FindingSeen[]> {
  const { sections, seen, more } = await findings(page);
  const expected = RULE_IDS.flatMap((rule) => report.findings.filter((f) => f.rule === rule).slice(0, HTML_LIMITS.findingsPerRule));
  for (const rule of RULE_IDS) {
    const n = report.findings.filter((f) => f.rule === rule).length;
    t.equal(sections[rule], String(n), `${rule}: section counts ${n}`);
    const hidden = n - Math.min(n, HTML_LIMITS.findingsPerRule);
    t.equal(more[rule], hidden > 0 ? String(hidden) : undefined, `${rule}: ${hidden > 0 ? `"and ${hidden} more"` : 'no cap message'}`);
  }
  t.same(
    seen.map((f) => [f.rule, f.action, f.object]),
    expected.map((f) => [f.rule, f.action, objectName(f)]),
    `the ${expected.length} findings shown, in order`,
  );
  seen.forEach((f, i) => {
    const want = expected[i];
    if (want && !want.message.startsWith(f.message)) t.fail(`finding ${f.object}: message shown as ${JSON.stringify(f.message)}`);
  });
  return seen;
}

t.test('the sample report: header, tiles, namespaces worst first, every finding with its fix, callers from telemetry', async (t) => {
  const report = sampleReport();
  const loaded = await open('audit-report', report);
  await clean(t, loaded);
  const { page } = loaded;
  const root = await page.evaluate(() => ({ ...document.body.dataset }));
  t.same(root, { report: 'mtls-guard-audit', source: report.source, istioVersion: report.istioVersion, meshMode: 'STRICT' }, 'header data');
  const headerText = await page.$eval('header.top', (h) => (h as HTMLElement).innerText);
  for (const text of [report.source, report.istioVersion, 'istio-system/default', 'STRICT', 'over 1h'])
    t.ok(headerText.includes(text), `header shows ${text}`);

  await checkTiles(t, page, report);
  const tileText = await page.$eval('[data-tile="coverage"] .value', (e) => e.textContent);
  const w = report.summary.workloads;
  t.equal(tileText, `${Math.round((w.inMesh / w.total) * 100)}%`, 'coverage shown as a percentage');

  const seenRows = await rows(page);
  // Worst first: violations, then workloads outside the mesh (hostNetwork aside), then name; exempt last.
  const order = ['orders', 'payments', 'legacy', 'reports', 'checkout', 'frontend', 'monitoring', 'sandbox', 'istio-system', 'kube-system'];
  t.same(
    seenRows.map((r) => r.name),
    order,
    'namespaces, worst first, exempt last',
  );
  for (const seen of seenRows) checkRow(t, seen, report.namespaces.find((n) => n.name === seen.name) as NamespacePosture);

  const seen = await checkFindings(t, page, report);
  const api = seen.find((f) => f.object === 'Deployment orders/api');
  t.same(api?.commands, ['kubectl label namespace orders istio-injection=enabled'], 'the fix command, whole and alone in its <code>');
  t.notMatch(api?.message ?? '', /Fix:/, 'the message does not repeat the fix shown below it');
  const strict = seen.find((f) => f.object === 'PeerAuthentication istio-system/default');
  t.same(
    strict?.commands,
    ['kubectl label namespace orders istio-injection=enabled', 'kubectl rollout restart deployment -n orders'],
    'two commands in one step, each its own <code>',
  );
  const select = await page.$eval('code[data-command]', (c) => getComputedStyle(c).userSelect);
  t.equal(select, 'all', 'a command is selected whole with one click');

  const callers = await page.evaluate(() => ({
    basis: document.querySelector('#callers')?.getAttribute('data-basis'),
    text: (document.querySelector('#callers') as HTMLElement).innerText,
    policies: [...document.querySelectorAll('[data-policy]')].map((p) => ({
      policy: p.getAttribute('data-policy'),
      destinations: p.getAttribute('data-destinations'),
      callers: [...p.querySelectorAll('[data-caller]')].map((c) => [
        c.getAttribute('data-caller'),
        c.getAttribute('data-requests'),
        c.getAttribute('data-connections'),
      ]),
      unidentified: p.querySelector('[data-unidentified]')
        ? [
            p.querySelector('[data-unidentified]')?.getAttribute('data-requests'),
            p.querySelector('[data-unidentified]')?.getAttribute('data-connections'),
          ]
        : null,
    })),
    empty: document.querySelector('[data-empty="callers"]') !== null,
  }));
  t.equal(callers.basis, 'telemetry');
  t.match(callers.text, /Observed traffic/, 'says plainly that these callers were seen');
  t.match(callers.text, /over the last 1h, read 2026-05-04T09:30:00Z/, 'the window and when it was read');
  t.same(
    callers.policies,
    report.callers.byPolicy.map((p) => ({
      policy: p.policy,
      destinations: String(p.destinations.length),
      callers: p.callers.map((c) => [`${c.namespace}/${c.workload}`, String(c.requests ?? 0), String(c.connections ?? 0)]),
      unidentified: p.unidentified ? [String(p.unidentified.requests), String(p.unidentified.connections)] : null,
    })),
    'every policy, caller and count from telemetry',
  );
  t.equal(callers.empty, false, 'no empty state when callers were seen');
  await screenshot(loaded, 'audit-report');
  await page.close();
});

t.test('no telemetry: the callers are possible ones, and said to be', async (t) => {
  const report = sampleReport({ callers: 'possible' });
  const loaded = await open('audit-report-possible', report);
  await clean(t, loaded);
  const section = await loaded.page.evaluate(() => ({
    basis: document.querySelector('#callers')?.getAttribute('data-basis'),
    text: (document.querySelector('#callers') as HTMLElement).innerText,
    possible: [...document.querySelectorAll('[data-list="possible"] [data-caller]')].map((c) => c.getAttribute('data-caller')),
    numbers: document.querySelectorAll('#callers [data-requests]').length,
    cards: [...document.querySelectorAll('[data-policy]')].map((p) => [
      p.getAttribute('data-policy'),
      p.querySelectorAll('[data-caller]').length,
      p.querySelector('.empty')?.textContent ?? '',
    ]),
  }));
  t.equal(section.basis, 'possible');
  t.match(section.text, /Possible callers, not observed traffic/, 'says plainly these were not seen');
  t.same(
    section.possible,
    report.callers.possible?.map((c) => `${c.namespace}/${c.workload}`),
    'every possible caller listed',
  );
  t.equal(section.numbers, 0, 'no traffic figures without telemetry');
  const anyBelow = 'Any workload outside the mesh listed below could call these.';
  t.same(
    section.cards,
    report.callers.byPolicy.map((p) => [p.policy, p.callers.length, p.callers.length ? '' : anyBelow]),
    'a policy lists its callers, or points at the workloads below that could call',
  );
  await screenshot(loaded, 'audit-report-possible');
  await loaded.page.close();
});

t.test('a clean mesh reads well: no violations, no caller cut off', async (t) => {
  const report = sampleReport({ clean: true });
  const loaded = await open('audit-report-clean', report);
  await clean(t, loaded);
  await checkTiles(t, loaded.page, report);
  const page = await loaded.page.evaluate(() => ({
    findings: document.querySelectorAll('article[data-finding]').length,
    empty: (document.querySelector('[data-empty="findings"]') as HTMLElement | null)?.innerText ?? '',
    callers: (document.querySelector('[data-empty="callers"]') as HTMLElement | null)?.innerText ?? '',
    visibleRules: [...document.querySelectorAll('section[data-findings]')].filter((s) => (s as HTMLElement).offsetParent !== null).length,
  }));
  t.equal(page.findings, 0);
  t.match(page.empty, /No violations\./, 'an empty state for violations');
  t.match(page.callers, /No plaintext traffic into STRICT workloads was seen/, 'an empty state for callers');
  t.equal(page.visibleRules, 0, 'no three empty rule sections under "No violations"');
  const seenRows = await rows(loaded.page);
  t.equal(seenRows.length, report.namespaces.length, 'every namespace still shown');
  await screenshot(loaded, 'audit-report-clean');
  await loaded.page.close();
});

t.test('markup and quotes in the report stay text: nothing injected, nothing run', async (t) => {
  const report = sampleReport({ hostile: true });
  const loaded = await open('audit-report-hostile', report);
  await clean(t, loaded);
  const page = await loaded.page.evaluate(() => ({
    injected: (window as unknown as { __injected?: string }).__injected ?? null,
    planted: document.querySelectorAll(
      '#injected-message, #injected-caller, #injected-error, img, iframe, svg[onload], em, a[href^="javascript"]',
    ).length,
    title: document.title,
    bodyShown: getComputedStyle(document.body).display,
    names: [...document.querySelectorAll('tr[data-namespace] .ns')].map((n) => n.textContent),
    namesData: [...document.querySelectorAll('tr[data-namespace]')].map((n) => n.getAttribute('data-namespace')),
    objects: [...document.querySelectorAll('article[data-finding] .obj')].map((o) => o.textContent),
    messages: [...document.querySelectorAll('article[data-finding] .message')].map((m) => m.textContent),
    commands: [...document.querySelectorAll('code[data-command]')].map((c) => c.textContent),
    callers: [...document.querySelectorAll('[data-caller]')].map((c) => c.getAttribute('data-caller')),
    error: (document.querySelector('[data-callers-error]') as HTMLElement | null)?.innerText ?? '',
    source: document.body.getAttribute('data-source'),
    version: document.body.getAttribute('data-istio-version'),
  }));
  t.equal(page.injected, null, 'no planted script ran');
  t.equal(page.planted, 0, 'no planted element exists');
  t.equal(page.bodyShown, 'block', 'no planted stylesheet applied');
  t.equal(page.title, `mtls-guard audit · ${HOSTILE.source}`, 'the title shows the source as text');
  t.ok(page.names.includes(HOSTILE.namespace), 'the namespace name shown as text');
  t.ok(page.namesData.includes(HOSTILE.namespace), 'and intact in its attribute');
  t.ok(page.objects.includes(`${HOSTILE.namespace}/${HOSTILE.objectName}`), 'the object name shown as text');
  t.ok(page.messages.includes(HOSTILE.message), 'the message shown as text');
  t.ok(page.commands.includes(HOSTILE.fix), 'the fix command shown as text');
  t.ok(page.callers.includes(`${HOSTILE.namespace}/${HOSTILE.workload}`), 'the caller shown as text');
  t.ok(page.error.includes(HOSTILE.error), 'the telemetry error shown as text');
  t.equal(page.source, HOSTILE.source);
  t.equal(page.version, HOSTILE.istioVersion);
  await screenshot(loaded, 'audit-report-hostile');
  await loaded.page.close();
});

t.test('2,000 namespaces and 50,000 findings: capped lists, a file a browser opens at once', async (t) => {
  const scale = { namespaces: 2000, findings: 50_000 };
  const report = sampleReport({ scale });
  const loaded = await open('audit-report-large', report);
  await clean(t, loaded);
  const domMs = await loaded.page.evaluate(() => {
    const [nav] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
    return nav ? nav.loadEventEnd - nav.startTime : -1;
  });
  t.comment(
    `large report (${scale.namespaces} namespaces, ${scale.findings} findings): ${(loaded.bytes / 1024 / 1024).toFixed(2)} MiB, ` +
      `renderHtml ${loaded.renderMs.toFixed(0)} ms, chromium load ${loaded.loadMs.toFixed(0)} ms (navigation to load event ${domMs.toFixed(0)} ms)`,
  );
  t.ok(loaded.bytes < 4 * 1024 * 1024, `the file stays under 4 MiB (${loaded.bytes} bytes)`);
  await checkTiles(t, loaded.page, report);
  const seenRows = await rows(loaded.page);
  t.equal(seenRows.length, HTML_LIMITS.namespaces, `${HTML_LIMITS.namespaces} namespace rows`);
  const badness = (n: NamespacePosture) => (n.exempt ? [1, 0, 0] : [0, -total(n.violations), -(outside(n.pods) + outside(n.templates))]);
  const expected = [...report.namespaces].sort((a, b) => {
    const [x, y] = [badness(a), badness(b)];
    return x.reduce((d, v, i) => d || v - (y[i] as number), 0) || (a.name < b.name ? -1 : 1);
  });
  t.same(
    seenRows.map((r) => r.name),
    expected.slice(0, HTML_LIMITS.namespaces).map((n) => n.name),
    'the worst namespaces, in order',
  );
  for (const seen of seenRows.slice(0, 20)) checkRow(t, seen, report.namespaces.find((n) => n.name === seen.name) as NamespacePosture);
  const moreRows = await loaded.page.$eval('[data-more="namespaces"]', (e) => [e.getAttribute('data-count'), (e as HTMLElement).innerText]);
  t.equal(moreRows[0], String(scale.namespaces - HTML_LIMITS.namespaces), 'the rest counted');
  t.match(moreRows[1], /and 1,000 more — see mtls-guard audit --output json/, 'and pointed at the JSON');
  await checkFindings(t, loaded.page, report);
  const caps = await loaded.page.evaluate(() => ({
    policies: document.querySelectorAll('[data-policy]').length,
    morePolicies: document.querySelector('[data-more="policies"]')?.getAttribute('data-count'),
    firstPolicyCallers: document.querySelectorAll('[data-policy]:first-of-type [data-caller]').length,
    moreCallers: document.querySelector('[data-policy] [data-more="callers"]')?.getAttribute('data-count'),
  }));
  t.same(
    caps,
    {
      policies: HTML_LIMITS.policies,
      morePolicies: String(report.callers.byPolicy.length - HTML_LIMITS.policies),
      firstPolicyCallers: HTML_LIMITS.callersPerPolicy,
      moreCallers: String((report.callers.byPolicy[0]?.callers.length ?? 0) - HTML_LIMITS.callersPerPolicy),
    },
    'callers capped per policy and in policies',
  );
  await screenshot(loaded, 'audit-report-large', false);
  await loaded.page.close();
});

t.test('edge cases: no namespaces, a rule without findings, a cluster-scoped object, long subject lists, partial telemetry', async (t) => {
  const base = sampleReport();
  const many = Array.from({ length: HTML_LIMITS.subjectsPerFinding + 7 }, (_, i) => ({ kind: 'Pod', namespace: 'orders', name: `p-${i}` }));
  const edgeFindings: AuditReport['findings'] = [
    {
      rule: 'mtls-drift',
      action: 'audit',
      object: { apiVersion: 'v1', kind: 'Namespace', name: 'orders' },
      message: 'Namespace orders: drift',
      fix: ' \n ',
      subjects: [],
    },
    {
      rule: 'mtls-drift',
      action: 'warn',
      object: { apiVersion: 'v1', kind: 'Namespace', name: 'shop' },
      message: 'Namespace shop: many',
      subjects: many,
    },
  ];
  const variants: [string, AuditReport, (t: Test, page: Page) => Promise<void>][] = [
    [
      'no namespaces, 99.9 % in the mesh, telemetry without window',
      {
        ...base,
        namespaces: [],
        findings: edgeFindings,
        summary: { ...base.summary, workloads: { total: 1000, inMesh: 999, outOfMesh: 1, hostNetwork: 0 } },
        callers: {
          basis: 'telemetry',
          byPolicy: [{ policy: 'orders/strict', destinations: [], callers: [{ namespace: 'ci', workload: 'probe', connections: 4 }] }],
        },
      },
      async (t, page) => {
        const seen = await page.evaluate(() => ({
          empty: document.querySelector('[data-empty="namespaces"]')?.textContent,
          coverage: document.querySelector('[data-tile="coverage"] .value')?.textContent,
          emptyRules: [...document.querySelectorAll('[data-empty="rule"]')].map((e) =>
            e.closest('[data-findings]')?.getAttribute('data-findings'),
          ),
          objects: [...document.querySelectorAll('article[data-finding]')].map((a) => a.getAttribute('data-object')),
          fixes: document.querySelectorAll('.fix').length,
          subjects: document.querySelectorAll('.subjects li').length,
          moreSubjects: document.querySelector('[data-more="subjects"]')?.getAttribute('data-count'),
          caller: [...document.querySelectorAll('[data-caller="ci/probe"] td')].map((td) => td.textContent),
          basis: document.querySelector('.basis')?.textContent ?? '',
          destinations: document.querySelector('[data-policy] .dests')?.textContent,
        }));
        t.match(seen.empty, /No namespaces/, 'an empty state for namespaces');
        t.equal(seen.coverage, '99.9%', '999 of 1,000 is not rounded up to 100 %');
        t.same(seen.emptyRules, ['strict-requires-mesh', 'pod-requires-mesh'], 'rules without findings say so');
        t.same(seen.objects, ['Namespace orders', 'Namespace shop'], 'cluster-scoped objects named without a namespace');
        t.equal(seen.fixes, 0, 'a blank fix shows no fix block');
        t.equal(seen.subjects, HTML_LIMITS.subjectsPerFinding, 'subjects capped');
        t.equal(seen.moreSubjects, '7', 'and the rest counted');
        t.same(seen.caller.slice(0, 2), ['—', '4'], 'a figure telemetry did not give is a dash, not 0');
        t.notMatch(seen.basis, /over the last|read/, 'no window or time claimed when there is none');
        t.match(seen.destinations, /no named destination/);
      },
    ],
    [
      'possible callers with a failed telemetry read, under 1 % in the mesh, nothing exempt',
      {
        ...base,
        namespaces: base.namespaces.filter((n) => !n.exempt),
        summary: { ...base.summary, workloads: { total: 1000, inMesh: 1, outOfMesh: 999, hostNetwork: 0 } },
        callers: { basis: 'possible', error: 'Prometheus answered 503', byPolicy: [], possible: [] },
      },
      async (t, page) => {
        const seen = await page.evaluate(() => ({
          coverage: document.querySelector('[data-tile="coverage"] .value')?.textContent,
          exempt: document.querySelector('[data-tile="namespaces"] .sub')?.textContent,
          error: document.querySelector('[data-callers-error]')?.textContent ?? '',
          basis: document.querySelector('.basis')?.textContent ?? '',
          empty: document.querySelector('[data-empty="callers"]')?.textContent,
          possible: document.querySelector('[data-empty="possible"]')?.textContent,
        }));
        t.equal(seen.coverage, '<1%', '1 of 1,000 is not rounded down to 0 %');
        t.equal(seen.exempt, 'none exempt');
        t.match(seen.error, /The last telemetry refresh failed: Prometheus answered 503/);
        t.notMatch(seen.error, /last good read/, 'no figures claimed from a read that never succeeded');
        t.match(seen.basis, /Telemetry could not be read/, 'says why there is no telemetry');
        t.match(seen.empty, /No workload outside the mesh could call a STRICT workload/);
        t.equal(seen.possible, 'None.');
      },
    ],
    [
      'an empty mesh: no workload at all',
      {
        ...base,
        namespaces: [],
        findings: [],
        summary: {
          namespaces: 0,
          workloads: { total: 0, inMesh: 0, outOfMesh: 0, hostNetwork: 0 },
          violations: { 'strict-requires-mesh': 0, 'mtls-drift': 0, 'pod-requires-mesh': 0 },
        },
      },
      async (t, page) => {
        const seen = await page.evaluate(() => ({
          coverage: document.querySelector('[data-tile="coverage"] .value')?.textContent,
          host: document.querySelector('[data-tile="out-of-mesh"] .sub')?.textContent,
        }));
        t.equal(seen.coverage, '—', 'no percentage of nothing');
        t.equal(seen.host, 'none on hostNetwork');
      },
    ],
  ];
  let i = 0;
  for (const [name, report, check] of variants) {
    await t.test(name, async (t) => {
      const loaded = await open(`audit-report-edge-${(i += 1)}`, report);
      await clean(t, loaded);
      await check(t, loaded.page);
      await loaded.page.close();
    });
  }
});

t.test("the real pipeline: mtls-guard audit -f examples/ --output html, as a person would open it", async (t) => {
  const json = await runCli(['audit', '-f', 'examples/', '--output', 'json']);
  const html = await runCli(['audit', '-f', 'examples/', '--output', 'html']);
  t.equal(html.code, 0, html.stderr);
  const report = JSON.parse(json.stdout) as AuditReport;
  const file = join(artifacts, 'audit-examples.html');
  writeFileSync(file, html.stdout);
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  const loaded: Loaded = { page, file, bytes: Buffer.byteLength(html.stdout), renderMs: 0, loadMs: 0, console: [], errors: [], requests: [] };
  page.on('console', (message) => loaded.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => loaded.errors.push(String(error)));
  page.on('request', (request) => loaded.requests.push(request.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  await clean(t, loaded);
  const seenRows = await rows(page);
  t.same(seenRows.map((r) => r.name).sort(), report.namespaces.map((n) => n.name).sort(), 'a row for every namespace of the report');
  for (const seen of seenRows) checkRow(t, seen, report.namespaces.find((n) => n.name === seen.name) as NamespacePosture);
  await checkTiles(t, page, report);
  await checkFindings(t, page, report);
  const legacy = seenRows.find((r) => r.name === 'legacy');
  t.equal(legacy?.chips['strict-requires-mesh'], '1', 'legacy: STRICT over a workload outside the mesh');
  await screenshot(loaded, 'audit-examples');
  await page.close();
});
