/**
 * The audit report as one self-contained HTML page (`mtls-guard audit --output html`): inline CSS, no script,
 * nothing fetched (a Content-Security-Policy of `default-src 'none'` with the stylesheet's hash). Every value
 * from the report is escaped. Long lists are capped (HTML_LIMITS) so a report of a 100k-pod cluster still
 * opens at once; the page then says how many more there are and points at `--output json`.
 *
 * Order: header (source, Istio, mesh-wide mode), summary tiles, namespaces worst first (most violations, then
 * most workloads outside the mesh not counting hostNetwork, then name; exempt namespaces last by name, dimmed),
 * the violations grouped by rule, the callers STRICT would cut off.
 *
 * Stable hooks (data-* attributes) for tests and scripts; counts are plain integers:
 *   body[data-report="mtls-guard-audit"]         data-source, data-istio-version, data-mesh-mode
 *   [data-tile="namespaces"]                     data-count = summary.namespaces
 *   [data-tile="coverage"]                       data-count = summary.workloads.inMesh, data-total = .total
 *   [data-tile="out-of-mesh"]                    data-count = summary.workloads.outOfMesh, data-host-network
 *   [data-tile="violations"][data-rule=R]        data-count = summary.violations[R]
 *   tr[data-namespace=NAME]                      one per namespace shown, in display order; data-mode,
 *                                                data-exempt ("true"|"false"), data-enrollment, data-own-policy,
 *                                                data-violations (all rules), data-pods-in, data-pods-out,
 *                                                data-templates-in, data-templates-out
 *     [data-rule=R][data-count]                  inside a row: that rule's violations there, only when not 0
 *   [data-more=KIND][data-count]                 "and N more": KIND namespaces, findings (+ data-rule),
 *                                                subjects, policies, callers, possible
 *   section[data-findings=R]                     one per rule, data-count = findings of R in the report
 *     article[data-finding]                      data-rule, data-action, data-object ("Kind ns/name")
 *       code[data-command]                       a command of the fix, selected whole on click
 *   [data-empty=namespaces|findings|rule|callers|possible]   an empty state
 *   section#callers                              data-basis (telemetry|possible)
 *     [data-policy=ns/name]                      data-destinations (count); its callers inside
 *     [data-caller=ns/workload]                  data-requests, data-connections (telemetry only)
 *     [data-unidentified]                        data-requests, data-connections
 *     [data-list="possible"]                     basis possible: the workloads that could call
 *   [data-callers-error]                         the last telemetry refresh failed
 */
import { createHash } from 'node:crypto';
import { RULE_IDS, type RuleId } from '../engine/types.js';
import type {
  AuditFinding,
  AuditReport,
  Caller,
  CallersSection,
  Coverage,
  EffectiveMode,
  NamespacePosture,
  StrictCallers,
} from './report.js';

export const HTML_LIMITS = {
  namespaces: 1_000,
  findingsPerRule: 500,
  subjectsPerFinding: 50,
  policies: 200,
  callersPerPolicy: 200,
  destinationsPerPolicy: 20,
  possible: 500,
} as const;

const RULES: Readonly<Record<RuleId, { title: string; about: string; short: string }>> = {
  'strict-requires-mesh': {
    title: 'STRICT over workloads outside the mesh',
    about:
      'A STRICT PeerAuthentication governs workloads without a sidecar or ambient enrollment: ' +
      'STRICT is not enforced there and they still accept plaintext.',
    short: 'strict',
  },
  'pod-requires-mesh': {
    title: 'Workloads outside the mesh',
    about: 'Pods and pod templates that run without a sidecar and are not enrolled in ambient.',
    short: 'pod',
  },
  'mtls-drift': {
    title: 'Plaintext allowed, or policies without effect',
    about:
      'PERMISSIVE or DISABLE policies in force, policies that decide nothing, ' +
      'and namespaces whose labels turn injection off under STRICT.',
    short: 'drift',
  },
};

const JSON_HINT = '<code>mtls-guard audit --output json</code>';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an HTML text node or a double-quoted attribute, whatever it holds. */
function esc(value: string | number): string {
  return String(value)
    .replace(/[\0-\x08\x0B\x0C\x0E-\x1F\x7F]/g, '\uFFFD')
    .replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Kubernetes names fit on one line; anything longer may wrap anywhere rather than widen the table. */
const long = (text: string): string => (text.length > 32 ? ' long' : '');
const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string): string => `${count(n)} ${n === 1 ? one : `${one}s`}`;
const ruleTotal = (violations: Record<RuleId, number>): number => RULE_IDS.reduce((sum, rule) => sum + violations[rule], 0);
const outside = (c: Coverage): number => c.outOfMesh - c.hostNetwork;
const when = (condition: unknown, html: string): string => (condition ? html : '');

function percent(part: number, total: number): string {
  if (total === 0) return '—';
  const value = (part / total) * 100;
  // Never round up to 100 % while anything is outside, nor down to 0 % while anything is inside.
  if (part < total && value > 99) return `${Math.floor(value * 10) / 10}%`;
  if (part > 0 && value < 1) return '<1%';
  return `${Math.round(value)}%`;
}

function more(kind: string, hidden: number, extra = ''): string {
  return `<p class="more capped" data-more="${kind}" data-count="${hidden}"${extra}><b>… and ${count(hidden)} more</b> — see ${JSON_HINT}</p>`;
}

function modeBadge(mode: EffectiveMode): string {
  const from = mode.policy ? esc(mode.policy) : 'Istio default';
  return `<span class="badge mode-${esc(mode.mode.toLowerCase())}">${esc(mode.mode)}</span><span class="from${long(mode.policy ?? '')}">${from}</span>`;
}

/** In / outside / hostNetwork as one bar; widths as SVG geometry, which the CSP's style-src does not govern. */
function coverageBar(c: Coverage): string {
  if (c.total === 0) return '<span class="bar bar-none"></span>';
  const share = (n: number) => (Math.max(0, n) / c.total) * 100;
  const out = outside(c);
  const label = `${c.inMesh} of ${c.total} in the mesh, ${out} outside${when(c.hostNetwork, `, ${c.hostNetwork} on hostNetwork`)}`;
  const rect = (kind: string, x: number, width: number) =>
    `<rect class="${kind}" x="${x.toFixed(2)}" y="0" height="10" width="${width.toFixed(2)}"/>`;
  return [
    `<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${esc(label)}">`,
    rect('in', 0, share(c.inMesh)),
    rect('out', share(c.inMesh), share(out)),
    rect('host', share(c.inMesh) + share(out), share(c.hostNetwork)),
    '</svg>',
  ].join('');
}

function coverageLine(what: string, c: Coverage): string {
  const label = `<span class="cov-what">${what}</span>`;
  if (c.total === 0)
    return `<span class="cov-line">${label}<span class="bar bar-none"></span><span class="cov-text none">none</span></span>`;
  const out = outside(c);
  const notes = [
    when(out > 0, `<span class="bad">${count(out)} out</span>`),
    when(c.hostNetwork > 0, `<span class="host-note">${count(c.hostNetwork)} hostNetwork</span>`),
  ].filter((s) => s !== '');
  const figures = `<b>${count(c.inMesh)}</b>/${count(c.total)}${when(notes.length, ` · ${notes.join(' · ')}`)}`;
  return `<span class="cov-line">${label}${coverageBar(c)}<span class="cov-text">${figures}</span></span>`;
}

function header(report: AuditReport): string {
  const { callers } = report;
  const telemetry = `telemetry${when(callers.window, ` over ${esc(callers.window ?? '')}`)}${when(callers.observedAt, `, read ${esc(callers.observedAt ?? '')}`)}`;
  const facts: [string, string][] = [
    ['Source', `<code class="plain">${esc(report.source)}</code>`],
    ['Istio', esc(report.istioVersion)],
    ['Root namespace', esc(report.rootNamespace)],
    ['Mesh-wide mode', modeBadge(report.mesh)],
    ['Callers', callers.basis === 'telemetry' ? telemetry : 'no telemetry (possible callers)'],
  ];
  if (report.generatedAt) facts.push(['Generated', esc(report.generatedAt)]);
  return [
    '<header class="top"><div class="wrap">',
    '<p class="brand">mtls-guard <span>audit</span></p><h1>Mutual TLS posture of the mesh</h1>',
    `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`,
    '<nav><a href="#namespaces">Namespaces</a><a href="#violations">Violations</a><a href="#callers">Callers STRICT would cut off</a></nav>',
    '</div></header>',
  ].join('');
}

function tile(attributes: string, label: string, value: string, sub: string, extra = ''): string {
  return `<div ${attributes}><span class="label">${label}</span><span class="value">${value}</span>${extra}<span class="sub">${sub}</span></div>`;
}

function tiles(report: AuditReport): string {
  const { summary } = report;
  const w = summary.workloads;
  const exempt = report.namespaces.filter((n) => n.exempt).length;
  // Red only for what is a violation; workloads outside the mesh in exempt namespaces alone are amber.
  const violating = summary.violations['pod-requires-mesh'] + summary.violations['strict-requires-mesh'] > 0;
  const outsideTone = outside(w) === 0 ? 'tone-ok' : violating ? 'tone-bad' : 'tone-warn';
  const exemptOutside = report.namespaces.filter((n) => n.exempt).reduce((sum, n) => sum + outside(n.pods) + outside(n.templates), 0);
  const outsideNotes = [
    w.hostNetwork ? `${count(w.hostNetwork)} on hostNetwork (allowed)` : 'none on hostNetwork',
    when(exemptOutside, `${count(exemptOutside)} in exempt namespaces`),
  ].filter((s) => s !== '');
  const list = [
    tile(
      `class="tile" data-tile="namespaces" data-count="${summary.namespaces}"`,
      'Namespaces',
      count(summary.namespaces),
      exempt ? `${count(exempt)} exempt` : 'none exempt',
    ),
    tile(
      `class="tile ${outsideTone}" data-tile="coverage" data-count="${w.inMesh}" data-total="${w.total}"`,
      'In the mesh',
      percent(w.inMesh, w.total),
      `${count(w.inMesh)} of ${plural(w.total, 'workload')}`,
      coverageBar(w),
    ),
    tile(
      `class="tile ${outsideTone}" data-tile="out-of-mesh" data-count="${w.outOfMesh}" data-host-network="${w.hostNetwork}"`,
      'Outside the mesh',
      count(w.outOfMesh),
      outsideNotes.join(' · '),
    ),
    ...RULE_IDS.map((rule) => {
      const n = summary.violations[rule];
      return [
        `<a class="tile rule-tile ${n > 0 ? 'tone-bad' : 'tone-ok'}" href="#rule-${rule}" data-tile="violations" data-rule="${rule}" data-count="${n}">`,
        `<span class="label rule-label">${rule}</span><span class="value">${count(n)}</span><span class="sub">${RULES[rule].title}</span></a>`,
      ].join('');
    }),
  ];
  return `<section class="tiles" aria-label="Summary">${list.join('')}</section>`;
}

function ranked(namespaces: readonly NamespacePosture[]): NamespacePosture[] {
  const badness = (n: NamespacePosture) => [ruleTotal(n.violations), outside(n.pods) + outside(n.templates)] as const;
  return [...namespaces].sort((a, b) => {
    const byName = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    if (a.exempt || b.exempt) return a.exempt === b.exempt ? byName : a.exempt ? 1 : -1;
    const [av, ao] = badness(a);
    const [bv, bo] = badness(b);
    return bv - av || bo - ao || byName;
  });
}

function violationsCell(n: NamespacePosture, total: number): string {
  // Exempt namespaces have no workload violations, but the policies they hold (the root namespace's mesh-wide
  // policy above all) can still drift.
  if (n.exempt && total === 0) return '<span class="none">not judged</span>';
  if (total === 0) return '<span class="okmark">✓ none</span>';
  const chips = RULE_IDS.filter((rule) => n.violations[rule] > 0).map(
    (rule) =>
      `<span class="chip" data-rule="${rule}" data-count="${n.violations[rule]}" title="${rule}">${RULES[rule].short} ${count(n.violations[rule])}</span>`,
  );
  return `<b class="total">${count(total)}</b>${chips.join('')}`;
}

function namespaceRow(n: NamespacePosture): string {
  const total = ruleTotal(n.violations);
  const attributes = [
    `data-namespace="${esc(n.name)}"`,
    `data-mode="${esc(n.mode.mode)}"`,
    `data-exempt="${n.exempt}"`,
    `data-enrollment="${esc(n.enrollment)}"`,
    `data-own-policy="${n.ownPolicy}"`,
    `data-violations="${total}"`,
    `data-pods-in="${n.pods.inMesh}"`,
    `data-pods-out="${n.pods.outOfMesh}"`,
    `data-templates-in="${n.templates.inMesh}"`,
    `data-templates-out="${n.templates.outOfMesh}"`,
  ];
  const rowClass = n.exempt ? ' class="exempt"' : when(total > 0, ' class="has-violations"');
  const enrollClass = `enroll${when(n.enrollment === 'none', ' enroll-none')}${long(n.enrollment)}`;
  return [
    `<tr ${attributes.join(' ')}${rowClass}>`,
    `<th scope="row"><span class="ns">${esc(n.name)}</span>${when(n.exempt, '<span class="tag">exempt</span>')}</th>`,
    `<td class="mode">${modeBadge(n.mode)}</td>`,
    `<td><span class="${enrollClass}">${esc(n.enrollment)}</span></td>`,
    `<td class="cov">${coverageLine('pods', n.pods)}${coverageLine('templates', n.templates)}</td>`,
    `<td class="num">${n.ownPolicy ? count(n.ownPolicy) : '<span class="none">0</span>'}</td>`,
    `<td class="viol">${violationsCell(n, total)}</td>`,
    '</tr>',
  ].join('');
}

function namespaces(report: AuditReport): string {
  const rows = ranked(report.namespaces);
  const shown = rows.slice(0, HTML_LIMITS.namespaces);
  const head = [
    '<th scope="col">Namespace</th><th scope="col">Mode</th><th scope="col">Enrollment</th><th scope="col">In the mesh</th>',
    '<th scope="col" class="num" title="Workloads whose mode a workload-selector policy of their own decides">Own policy</th>',
    '<th scope="col">Violations</th>',
  ].join('');
  const body = shown.length
    ? `<div class="card table-card"><table><thead><tr>${head}</tr></thead><tbody>${shown.map(namespaceRow).join('')}</tbody></table></div>`
    : '<p class="empty card" data-empty="namespaces">No namespaces in the state read.</p>';
  const legend = [
    '<p class="legend"><span class="key in"></span>in the mesh <span class="key out"></span>outside ',
    '<span class="key host"></span>hostNetwork (Istio never captures it; allowed) · sorted worst first, exempt namespaces last</p>',
  ].join('');
  return [
    `<section id="namespaces"><h2>Namespaces <span class="count">${count(rows.length)}</span></h2>`,
    legend,
    body,
    when(rows.length > shown.length, more('namespaces', rows.length - shown.length)),
    '</section>',
  ].join('');
}

/** A command in a step of a fix: up to `;`, a parenthesis or the line's end; cut again at `, then`, ` or `, `, `. */
const COMMAND = /\b(?:kubectl|istioctl|helm)\s[^;()\n]*/g;

/** One step of a fix, its commands in <code> (selected whole on click, to copy). */
function fixStep(step: string): string {
  let html = '';
  let last = 0;
  const commands = new RegExp(COMMAND);
  for (let match = commands.exec(step); match; match = commands.exec(step)) {
    const command = (match[0].split(/, then | or |, /)[0] as string).replace(/[\s.,:]+$/, '');
    html += `${esc(step.slice(last, match.index))}<code data-command title="click to select, then copy">${esc(command)}</code>`;
    last = match.index + command.length;
    commands.lastIndex = last;
  }
  return html + esc(step.slice(last));
}

/** A fix: its `- ` lines as a list (one item a namespace or a step), its other lines as paragraphs. */
function fix(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length === 0) return '';
  let body = '';
  let items: string[] = [];
  const flush = () => {
    if (items.length) body += `<ul>${items.map((item) => `<li>${fixStep(item)}</li>`).join('')}</ul>`;
    items = [];
  };
  for (const line of lines) {
    if (/^-\s/.test(line)) {
      items.push(line.replace(/^-\s+/, ''));
    } else {
      flush();
      body += `<p>${fixStep(line)}</p>`;
    }
  }
  flush();
  return `<div class="fix"><span class="fix-label">Fix</span><div class="steps">${body}</div></div>`;
}

const objectPath = (f: AuditFinding): string => `${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`;

/** The workloads a finding is about, other than its object itself. */
function subjects(f: AuditFinding): string {
  const others = f.subjects.filter(
    (s) => !(s.kind === f.object.kind && s.name === f.object.name && s.namespace === (f.object.namespace ?? s.namespace)),
  );
  if (others.length === 0) return '';
  const shown = others.slice(0, HTML_LIMITS.subjectsPerFinding);
  const items = shown.map((s) => `<li><span class="kind">${esc(s.kind)}</span> ${esc(s.namespace)}/${esc(s.name)}</li>`).join('');
  const rest = others.length - shown.length;
  return [
    `<details class="subjects"${when(others.length <= 5, ' open')}><summary>${plural(others.length, 'workload')} concerned</summary>`,
    `<ul>${items}</ul>`,
    when(rest > 0, `<p class="more" data-more="subjects" data-count="${rest}">… and ${count(rest)} more</p>`),
    '</details>',
  ].join('');
}

function finding(f: AuditFinding): string {
  // A message that ends with the fix says it once, in the fix block.
  const tail = f.fix ? `Fix: ${f.fix}` : undefined;
  const message = tail && f.message.endsWith(tail) ? f.message.slice(0, -tail.length).trimEnd() : f.message;
  const data = `data-finding data-rule="${esc(f.rule)}" data-action="${esc(f.action)}" data-object="${esc(`${f.object.kind} ${objectPath(f)}`)}"`;
  return [
    `<article class="finding action-${esc(f.action)}" ${data}>`,
    `<header><span class="badge action">${esc(f.action)}</span><span class="kind">${esc(f.object.kind)}</span> `,
    `<span class="obj">${esc(objectPath(f))}</span></header>`,
    `<p class="message">${esc(message)}</p>`,
    when(f.fix, fix(f.fix ?? '')),
    subjects(f),
    '</article>',
  ].join('');
}

function ruleSection(rule: RuleId, list: readonly AuditFinding[]): string {
  const shown = list.slice(0, HTML_LIMITS.findingsPerRule);
  const body = list.length
    ? shown.map(finding).join('') + when(list.length > shown.length, more('findings', list.length - shown.length, ` data-rule="${rule}"`))
    : `<p class="empty" data-empty="rule">No ${rule} violations.</p>`;
  return [
    `<section class="rule${when(list.length === 0, ' clean')}" id="rule-${rule}" data-findings="${rule}" data-count="${list.length}">`,
    `<h3><span class="rule-id">${rule}</span> ${RULES[rule].title} <span class="count">${count(list.length)}</span></h3>`,
    `<p class="about">${RULES[rule].about}</p>`,
    body,
    '</section>',
  ].join('');
}

function violations(report: AuditReport): string {
  const title = `<h2>Violations <span class="count">${count(report.findings.length)}</span></h2>`;
  if (report.findings.length === 0) {
    const hidden = RULE_IDS.map((rule) => `<section data-findings="${rule}" data-count="0" id="rule-${rule}" hidden></section>`).join('');
    return [
      `<section id="violations">${title}`,
      '<div class="card all-clear" data-empty="findings"><span class="big-check">✓</span><div><b>No violations.</b> ',
      'Every namespace under STRICT runs in the mesh, every workload is in it, and no policy lets plaintext in.</div></div>',
      `${hidden}</section>`,
    ].join('');
  }
  const sections = RULE_IDS.map((rule) =>
    ruleSection(
      rule,
      report.findings.filter((f) => f.rule === rule),
    ),
  );
  return `<section id="violations">${title}${sections.join('')}</section>`;
}

function callerRow(c: Caller, telemetry: boolean): string {
  const figure = (n: number | undefined) => `<td class="num">${n !== undefined ? count(n) : '—'}</td>`;
  const data = when(telemetry, ` data-requests="${c.requests ?? 0}" data-connections="${c.connections ?? 0}"`);
  return [
    `<tr data-caller="${esc(`${c.namespace}/${c.workload}`)}"${data}>`,
    `<th scope="row"><span class="ns-dim">${esc(c.namespace)}/</span>${esc(c.workload)}</th>`,
    when(telemetry, figure(c.requests) + figure(c.connections)),
    `<td class="because">${c.because ? esc(c.because) : '<span class="none">not known to mtls-guard</span>'}</td></tr>`,
  ].join('');
}

function callerTable(callers: readonly Caller[], telemetry: boolean, limit: number, moreKind: string, extra = ''): string {
  const shown = callers.slice(0, limit);
  const head = telemetry
    ? '<th scope="col">Caller</th><th scope="col" class="num">Plaintext requests</th><th scope="col" class="num">TCP connections</th>' +
      '<th scope="col">Why outside the mesh</th>'
    : '<th scope="col">Workload outside the mesh</th><th scope="col">Why</th>';
  return [
    `<table class="callers"${extra}><thead><tr>${head}</tr></thead>`,
    `<tbody>${shown.map((c) => callerRow(c, telemetry)).join('')}</tbody></table>`,
    when(callers.length > shown.length, more(moreKind, callers.length - shown.length)),
  ].join('');
}

/** `couldCall`: basis possible, how many workloads outside the mesh could call any STRICT workload (listed below the cards). */
function policyCard(p: StrictCallers, telemetry: boolean, couldCall: number): string {
  const shownDestinations = p.destinations.slice(0, HTML_LIMITS.destinationsPerPolicy);
  const restDestinations = p.destinations.length - shownDestinations.length;
  const destinations = shownDestinations.length
    ? shownDestinations.map((d) => `<span class="dest">${esc(d)}</span>`).join('')
    : '<span class="none">no named destination</span>';
  const anyCould = !telemetry && couldCall > 0;
  let who = `<span class="who">${plural(p.callers.length, 'caller')} ${telemetry ? 'cut off' : 'could be cut off'}</span>`;
  let callers = callerTable(p.callers, telemetry, HTML_LIMITS.callersPerPolicy, 'callers');
  if (p.callers.length === 0) {
    who = anyCould ? `<span class="who">any of ${plural(couldCall, 'workload')} below</span>` : '<span class="who nobody">nobody cut off</span>';
    const none = telemetry ? 'No named caller sent plaintext.' : 'No workload outside the mesh could call them.';
    callers = `<p class="empty">${anyCould ? 'Any workload outside the mesh listed below could call these.' : none}</p>`;
  }
  const u = p.unidentified;
  const unidentified = u
    ? `<p class="unidentified" data-unidentified data-requests="${u.requests}" data-connections="${u.connections}">` +
      'Plus plaintext from sources Istio could not name (<code class="plain">unknown</code>): ' +
      `${plural(u.requests, 'request')}, ${plural(u.connections, 'TCP connection')}.</p>`
    : '';
  return [
    `<article class="card policy" data-policy="${esc(p.policy)}" data-destinations="${p.destinations.length}">`,
    `<header><span class="badge mode-strict">STRICT</span> <span class="obj">${esc(p.policy)}</span>${who}</header>`,
    `<p class="dests"><span class="dests-label">reaching</span>${destinations}`,
    when(restDestinations > 0, `<span class="dest">+${count(restDestinations)} more</span>`),
    `</p>${callers}${unidentified}</article>`,
  ].join('');
}

function basis(section: CallersSection): string {
  if (section.basis === 'telemetry') {
    return [
      '<p class="basis basis-telemetry"><b>Observed traffic.</b> Workloads outside the mesh that sent plaintext to workloads ',
      `a STRICT policy governs, from Istio's telemetry (<code class="plain">connection_security_policy="none"</code>)`,
      when(section.window, ` over the last ${esc(section.window ?? '')}`),
      when(section.observedAt, `, read ${esc(section.observedAt ?? '')}`),
      '. Once STRICT is enforced on them, these calls fail.</p>',
    ].join('');
  }
  const why = section.error ? 'Telemetry could not be read' : 'No Prometheus is configured (<code class="plain">--prometheus-url</code>)';
  return [
    `<p class="basis basis-possible"><b>Possible callers, not observed traffic.</b> ${why}, so these are every workload outside `,
    'the mesh that could call a workload under STRICT. Whether they do, only telemetry can tell.</p>',
  ].join('');
}

function callersSection(section: CallersSection): string {
  const telemetry = section.basis === 'telemetry';
  const error = section.error
    ? `<p class="error card" data-callers-error>The last telemetry refresh failed: ${esc(section.error)}` +
      `${when(telemetry, ' — the figures below are from the last good read.')}</p>`
    : '';
  const anyCaller = section.byPolicy.some((p) => p.callers.length > 0 || p.unidentified) || (section.possible?.length ?? 0) > 0;
  const nobody = telemetry
    ? 'No plaintext traffic into STRICT workloads was seen.'
    : 'No workload outside the mesh could call a STRICT workload.';
  const empty = anyCaller
    ? ''
    : `<div class="card all-clear" data-empty="callers"><span class="big-check">✓</span><div><b>${nobody}</b> STRICT cuts no one off.</div></div>`;
  const policies = section.byPolicy.slice(0, HTML_LIMITS.policies);
  const possible = section.possible ?? [];
  const possibleList = possible.length
    ? `<div class="card table-card">${callerTable(possible, false, HTML_LIMITS.possible, 'possible', ' data-list="possible"')}</div>`
    : '<p class="empty" data-empty="possible">None.</p>';
  return [
    `<section id="callers" data-basis="${esc(section.basis)}"><h2>Callers STRICT would cut off</h2>`,
    basis(section),
    error,
    empty,
    policies.map((p) => policyCard(p, telemetry, possible.length)).join(''),
    when(section.byPolicy.length > policies.length, more('policies', section.byPolicy.length - policies.length)),
    when(
      !telemetry && section.possible,
      `<h3>Workloads outside the mesh that could call <span class="count">${count(possible.length)}</span></h3>${possibleList}`,
    ),
    '</section>',
  ].join('');
}

const MONO = 'ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace';

const STYLE = `
:root{--ink:#1b2430;--muted:#5d6b7e;--line:#e3e8ef;--bg:#f3f5f9;--card:#fff;--ok:#1a7f4b;--ok-bg:#e2f6eb;--warn:#8a5700;
--warn-bg:#fff1cf;--bad:#b42318;--bad-bg:#fde6e4;--info:#1d5fb8;--info-bg:#e4eefc;--navy:#0e1b33}
*{box-sizing:border-box}
html{color-scheme:light}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap,main{max-width:1280px;margin:0 auto;padding:0 28px}
code{font-family:${MONO};font-size:12.5px}
.top{background:linear-gradient(135deg,#0e1b33 0%,#17335e 60%,#1d4a7a 100%);color:#fff;padding:26px 0 0}
.brand{margin:0;font-size:13px;letter-spacing:.12em;text-transform:uppercase;color:#9fb7d9;font-weight:600}
.brand span{color:#fff}
h1{margin:4px 0 18px;font-size:28px;font-weight:650;letter-spacing:-.01em}
.facts{display:flex;flex-wrap:wrap;gap:10px 28px;margin:0 0 18px}
.facts div{min-width:0}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.08em;color:#9fb7d9}
.facts dd{margin:2px 0 0;font-size:14px;display:flex;gap:8px;align-items:center;overflow-wrap:anywhere}
.facts code.plain{color:#fff;background:rgba(255,255,255,.1);padding:1px 6px;border-radius:4px}
.facts .from{color:#cfdcef;font-size:13px}
nav{display:flex;gap:4px}
nav a{color:#cfdcef;text-decoration:none;padding:9px 14px 10px;border-radius:8px 8px 0 0;font-weight:500}
nav a:hover{background:rgba(255,255,255,.08);color:#fff}
main{padding-top:24px;padding-bottom:48px}
h2{font-size:20px;margin:36px 0 6px;display:flex;align-items:center;gap:10px}
h3{font-size:16px;margin:26px 0 4px;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.count{background:#dfe5ee;color:#334155;font-size:12px;font-weight:600;padding:1px 9px;border-radius:999px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:14px}
.tile{display:flex;flex-direction:column;gap:2px;background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:14px 16px;border-top:4px solid #94a3b8;color:inherit;text-decoration:none;min-width:0}
.tone-ok{border-top-color:var(--ok)}.tone-warn{border-top-color:#d99a00}.tone-bad{border-top-color:var(--bad)}
a.tile:hover{box-shadow:0 4px 14px rgba(16,24,40,.08)}
.tile .label{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.06em;overflow-wrap:anywhere}
.tile .rule-label{font-family:${MONO};text-transform:none;letter-spacing:0;font-size:12.5px;color:#334155}
.tile .value{font-size:30px;font-weight:700;letter-spacing:-.02em;line-height:1.15}
.tone-bad .value{color:var(--bad)}.tone-ok.rule-tile .value{color:var(--ok)}
.tile .sub{font-size:12.5px;color:var(--muted)}
.tile .bar{width:100%;height:8px;margin:4px 0 2px}
.bar{display:inline-block;width:120px;flex:none;height:8px;border-radius:4px;overflow:hidden;background:#e8edf3;vertical-align:middle}
.bar .in{fill:#2f9e63}.bar .out{fill:#d92d20}.bar .host{fill:#98a2b3}
.bar-none{background:repeating-linear-gradient(45deg,#eef1f5 0 4px,#e3e7ed 4px 8px)}
.legend{margin:0 0 10px;color:var(--muted);font-size:12.5px;display:flex;align-items:center;gap:6px;flex-wrap:wrap}
.key{display:inline-block;width:10px;height:10px;border-radius:2px;margin-left:6px}
.key.in{background:#2f9e63}.key.out{background:#d92d20}.key.host{background:#98a2b3}
.table-card{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:middle}
thead th{position:sticky;top:0;background:#f8fafc;font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
font-weight:600;z-index:1}
tbody tr:last-child>*{border-bottom:0}
tbody tr:hover{background:#f8fafc}
tbody th{font-weight:600;min-width:150px;max-width:280px;overflow-wrap:break-word}
tr.has-violations>th:first-child{box-shadow:inset 3px 0 0 var(--bad)}
tr.exempt{color:#7b8798}
tr.exempt>*{background:#fafbfc}
tr.exempt .badge,tr.exempt .bar{opacity:.5}
.tag{display:block;width:fit-content;margin-top:3px;font-size:10.5px;font-weight:600;text-transform:uppercase;letter-spacing:.06em;
background:#eef1f5;color:#64748b;padding:1px 6px;border-radius:4px}
.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.05em;padding:2px 8px;border-radius:999px;text-transform:uppercase;
white-space:nowrap}
.mode-strict{background:var(--ok-bg);color:var(--ok)}
.mode-permissive{background:var(--warn-bg);color:var(--warn)}
.mode-disable{background:var(--bad-bg);color:var(--bad)}
td.mode{white-space:nowrap}
td.mode .from{display:block;font-size:11.5px;color:var(--muted);margin-top:2px}
.enroll{display:inline-block;font-family:${MONO};font-size:12px;background:#eef2f7;padding:1px 6px;border-radius:4px;white-space:nowrap}
.long{white-space:normal;max-width:230px;overflow-wrap:anywhere}
.enroll-none{background:transparent;color:var(--muted)}
td.cov{white-space:nowrap;font-variant-numeric:tabular-nums;padding-top:6px;padding-bottom:6px}
.cov-line{display:flex;align-items:center;gap:8px;line-height:20px}
.cov-what{width:64px;font-size:11px;color:#8391a5;text-transform:uppercase;letter-spacing:.05em}
.cov-text{font-size:12.5px;color:var(--muted)}
.cov-text b{color:var(--ink);font-weight:600}
.bad{color:var(--bad);font-weight:600}
.host-note{color:#667085}
.none{color:#98a2b3}
.okmark{color:var(--ok);font-weight:600;white-space:nowrap}
td.viol{min-width:150px}
.total{display:inline-block;min-width:22px;color:var(--bad);font-size:15px;margin-right:6px}
.chip{display:inline-block;font-size:11px;font-weight:600;background:var(--bad-bg);color:var(--bad);padding:1px 7px;border-radius:4px;
margin:0 4px 2px 0}
.more{color:var(--muted);margin:10px 2px;font-style:italic}
.more code{font-style:normal;background:#e8edf3;padding:1px 6px;border-radius:4px}
.capped{font-style:normal;text-align:center;border:1px dashed #b8c2d0;border-radius:10px;padding:10px;background:#fafbfd}
.capped b{color:var(--ink)}
.rule-id{font-family:${MONO};font-size:13px;background:var(--navy);color:#fff;padding:2px 8px;border-radius:6px}
.rule.clean .rule-id{background:var(--ok)}
.about{margin:0 0 10px;color:var(--muted)}
.finding{background:var(--card);border:1px solid var(--line);border-left:4px solid #94a3b8;border-radius:10px;padding:10px 16px;margin:8px 0}
.finding.action-deny{border-left-color:var(--bad)}.finding.action-warn{border-left-color:#d99a00}
.finding.action-audit{border-left-color:var(--info)}
.finding header{display:flex;align-items:baseline;gap:8px;flex-wrap:wrap}
.finding .action{background:#eef1f5;color:#475467}
.action-deny .action{background:var(--bad-bg);color:var(--bad)}.action-warn .action{background:var(--warn-bg);color:var(--warn)}
.action-audit .action{background:var(--info-bg);color:var(--info)}
.kind{color:var(--muted);font-size:12.5px}
.obj{font-weight:650;overflow-wrap:anywhere}
.message{margin:4px 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
.fix{margin-top:8px;background:#f6f9fc;border:1px solid #e1e8f0;border-radius:8px;padding:6px 12px;display:grid;
grid-template-columns:34px 1fr;gap:10px;align-items:baseline}
.fix-label{font-size:11px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:var(--ok)}
.steps{overflow-wrap:anywhere}
.steps p,.steps ul{margin:0}
.steps p+p,.steps ul+p,.steps p+ul{margin-top:4px}
.steps ul{padding-left:18px}
.steps li{margin:2px 0}
.fix code{display:inline-block;background:#0f1b2d;color:#e6edf7;padding:3px 8px;border-radius:6px;user-select:all;-webkit-user-select:all;
cursor:copy;white-space:pre-wrap;word-break:break-all;margin:1px 0}
.fix code::selection{background:#3b6fb6;color:#fff}
.subjects{margin-top:8px;font-size:13px}
.subjects summary{cursor:pointer;color:var(--muted)}
.subjects ul{margin:4px 0 0;padding-left:18px;columns:2 280px}
.subjects li{overflow-wrap:anywhere}
.empty{color:var(--muted);padding:10px 2px;margin:0}
.all-clear{display:flex;align-items:center;gap:14px;padding:16px 18px;border-color:#b7e4c9;background:#f1fbf5;margin:10px 0}
.big-check{display:inline-flex;align-items:center;justify-content:center;width:34px;height:34px;border-radius:50%;background:var(--ok);
color:#fff;font-size:18px;font-weight:700;flex:none}
.basis{margin:4px 0 12px;padding:10px 14px;border-radius:8px;max-width:980px}
.basis-telemetry{background:var(--info-bg);color:#18406f}
.basis-possible{background:var(--warn-bg);color:#6b4500}
.basis code.plain,.unidentified code.plain{background:rgba(0,0,0,.06);padding:0 5px;border-radius:4px}
.error{border-color:#f4b7b1;background:#fff5f4;color:var(--bad);padding:10px 14px}
.policy{padding:12px 0 4px;margin:12px 0;overflow-x:auto}
.policy header{display:flex;align-items:center;gap:8px;padding:0 16px}
.policy .who{margin-left:auto;color:var(--bad);font-weight:600;font-size:13px}
.policy .who.nobody{color:var(--ok)}
.policy>.empty{padding:4px 16px 10px}
.dests{margin:6px 16px 8px;display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.dests-label{color:var(--muted);font-size:12.5px;margin-right:2px}
.dest{font-size:12px;background:#eef2f7;border-radius:4px;padding:1px 7px;overflow-wrap:anywhere}
.policy table th:first-child,.policy table td:first-child{padding-left:16px}
.callers .ns-dim{color:var(--muted);font-weight:500}
.callers .because{color:#475467;overflow-wrap:anywhere}
.unidentified{margin:6px 16px 10px;color:#6b4500;background:var(--warn-bg);padding:6px 10px;border-radius:6px}
footer{color:var(--muted);font-size:12.5px;border-top:1px solid var(--line);padding:16px 0 30px;margin-top:30px}
footer code{background:#e8edf3;padding:1px 6px;border-radius:4px}
@media print{.top{background:#fff;color:#000}nav{display:none}.finding,.tile,.card{break-inside:avoid}}
`;

const STYLE_HASH = createHash('sha256').update(STYLE, 'utf8').digest('base64');
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; form-action 'none'`;

export function renderHtml(report: AuditReport): string {
  const root = `data-report="mtls-guard-audit" data-source="${esc(report.source)}" data-istio-version="${esc(report.istioVersion)}"`;
  // The CSP and the stylesheet come before anything drawn from the report: were an escape ever missed, the policy
  // would still be in force (a meta CSP after injected markup can land outside <head> and be ignored).
  return [
    '<!doctype html>\n',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    `<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style>`,
    `<title>mtls-guard audit · ${esc(report.source)}</title></head>`,
    `<body ${root} data-mesh-mode="${esc(report.mesh.mode)}">`,
    header(report),
    '<main>',
    tiles(report),
    namespaces(report),
    violations(report),
    callersSection(report.callers),
    `<footer>${esc(report.kind)} ${esc(report.apiVersion)} · the whole report, uncapped: ${JSON_HINT}</footer>`,
    '</main></body></html>\n',
  ].join('');
}
