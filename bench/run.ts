/**
 * `npm run bench [-- --quick]`: engine, HTTPS and memory benchmarks, each beside a baseline measured in the same
 * run. Prints a table and writes bench/results/latest.json. Benchmarks measure; they never fail on speed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runApiServer } from './apiserver.js';
import { runAudit } from './audit.js';
import { runEngine } from './engine.js';
import { runHttps } from './https.js';
import { runLiveness } from './liveness.js';
import { runMemory } from './memory.js';

const quick = process.argv.includes('--quick');
const started = Date.now();
const log = (text: string) => process.stdout.write(`${text}\n`);

log(`mtls-guard benchmarks${quick ? ' (--quick: smaller states, shorter runs)' : ''} on ${cpus().length} cores, Node ${process.version}`);
const engine = runEngine(quick);
log('engine done');
const audit = await runAudit(quick);
log('audit done');
const https = await runHttps(quick);
log('https done');
const memory = await runMemory(quick);
log('memory done');
const liveness = await runLiveness(quick);
log('liveness done');
const apiserver = await runApiServer(quick);
log('API server done');

const results = {
  date: new Date().toISOString(),
  quick,
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  engine,
  audit,
  https,
  memory,
  liveness,
  apiserver,
  seconds: Math.round((Date.now() - started) / 1000),
};
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}latest.json`, `${JSON.stringify(results, null, 2)}\n`);

const row = (cells: (string | number)[]) => log(`| ${cells.join(' | ')} |`);
log('\n| measure | mtls-guard | baseline | ratio |');
log('| --- | --- | --- | --- |');
row(['Pod review, in-process (µs p50 / p99)', `${engine.podReview.p50} / ${engine.podReview.p99}`, '—', '—']);
row([`namespace STRICT, ${engine.namespaceStrict10k.pods} pods (µs p50 / p99)`, `${engine.namespaceStrict10k.engine.p50} / ${engine.namespaceStrict10k.engine.p99}`,
  `full scan ${engine.namespaceStrict10k.fullScan.p50} / ${engine.namespaceStrict10k.fullScan.p99}`, `${(engine.namespaceStrict10k.fullScan.p50 / engine.namespaceStrict10k.engine.p50).toFixed(0)}x faster`]);
row([`mesh STRICT, ${engine.meshStrict100k.pods} pods / ${engine.meshStrict100k.namespaces} ns (µs p50 / p99)`, `${engine.meshStrict100k.engine.p50} / ${engine.meshStrict100k.engine.p99}`,
  `full scan ${engine.meshStrict100k.fullScan.p50} / ${engine.meshStrict100k.fullScan.p99}`, `${(engine.meshStrict100k.fullScan.p50 / engine.meshStrict100k.engine.p50).toFixed(0)}x faster`]);
row([`audit: one pod update at ${audit.pods} pods, posture following (µs p50 / p99)`, `${audit.perEvent.withAudit.p50} / ${audit.perEvent.withAudit.p99}`,
  `without the audit ${audit.perEvent.withoutAudit.p50} / ${audit.perEvent.withoutAudit.p99}`, `+${(audit.perEvent.withAudit.p99 - audit.perEvent.withoutAudit.p99).toFixed(1)} µs p99`]);
row([`audit: mesh-wide STRICT at ${audit.pods} pods, every workload re-judged in slices (ms)`, `${audit.meshWideChange.totalMs} in ${audit.meshWideChange.slices} slices`,
  '—', `longest hold of the event loop ${audit.meshWideChange.longestSliceMs} ms`]);
row([`audit: delay of reviews due every ms while ${audit.reviewDelay.eventsPerSecond} pod updates/s stream in (µs p50 / p99)`, `${audit.reviewDelay.withAudit.p50} / ${audit.reviewDelay.withAudit.p99}`,
  `audit off ${audit.reviewDelay.withoutAudit.p50} / ${audit.reviewDelay.withoutAudit.p99}`, `${(audit.reviewDelay.withAudit.p99 / Math.max(audit.reviewDelay.withoutAudit.p99, 0.1)).toFixed(2)}x p99`]);
row(['HTTPS at saturation (req/s)', Math.round(https.saturation.mtlsGuard.requestsPerSecond), `bare Node https ${Math.round(https.saturation.bare.requestsPerSecond)}`, `${Math.round(https.saturation.ratio * 100)}% of bare`]);
row(['HTTPS server CPU per request at saturation (µs)', https.saturation.mtlsGuard.serverCpuMicrosPerRequest ?? '—', `bare ${https.saturation.bare.serverCpuMicrosPerRequest ?? '—'}; OPA ${https.saturation.opa.serverCpuMicrosPerRequest ?? '—'}`,
  `bare is ${Math.round(https.saturation.cpuRatio * 100)}% of ours`]);
for (const [name, micros] of Object.entries(https.cpu.medianMicros)) {
  row([`server CPU per request, median of ${https.cpu.rounds} alternating rounds: ${name} (µs)`, micros, name === 'mtls-guard' ? '—' : `mtls-guard ${https.cpu.medianMicros['mtls-guard']}`,
    name === 'mtls-guard' ? '—' : `mtls-guard is ${((https.cpu.medianMicros['mtls-guard'] ?? 0) / Math.max(micros, 1)).toFixed(2)}x`]);
}
row([`reviews at 200/s, p99 while ${https.starvation.attackerConnections} connections from 127.0.0.2 stall near-limit bodies (ms)`, https.starvation.underAttack.latencyMs.p99,
  `quiet ${https.starvation.quiet.latencyMs.p99}`, `${https.starvation.p99Ratio}x; errors ${https.starvation.underAttack.errors}`]);
row(['HTTPS at saturation vs OPA (req/s)', Math.round(https.saturation.mtlsGuard.requestsPerSecond), `OPA ${Math.round(https.saturation.opa.requestsPerSecond)}`, `${Math.round(https.saturation.ratioToOpa * 100)}% of OPA`]);
for (const r of https.fixedRate) {
  row([`HTTPS at ${r.rate}/s (ms p50 / p99 / p99.9)`, `${r.mtlsGuard.latencyMs.p50} / ${r.mtlsGuard.latencyMs.p99} / ${r.mtlsGuard.latencyMs.p99_9}`,
    `bare ${r.bare.latencyMs.p50} / ${r.bare.latencyMs.p99} / ${r.bare.latencyMs.p99_9}; OPA ${r.opa.latencyMs.p50} / ${r.opa.latencyMs.p99} / ${r.opa.latencyMs.p99_9}`, `errors ${r.mtlsGuard.errors}`]);
}
row([`memory, ${memory.pods} pods / ${memory.controllers} controllers / ${memory.nodes} nodes / ${memory.namespaces} ns / ${memory.peerAuthentications} policies`, `RSS ${memory.rssMB} MB (peak ${memory.peakRssMB}), heap ${memory.heapUsedMB} MB`, `empty process RSS ${memory.baselineRssMB} MB`, `${memory.bytesPerPod} B per pod`]);
row([`memory, the same with the continuous audit`, `RSS ${memory.withAudit.rssMB} MB (peak ${memory.withAudit.peakRssMB}), heap ${memory.withAudit.heapUsedMB} MB`, `audit off RSS ${memory.rssMB} MB`, `+${(memory.withAudit.rssMB - memory.rssMB).toFixed(1)} MB`]);
const l = liveness;
row([`/healthz (new TLS connection, 1 s timeout) while 2 clients send ${(l.reviewBytes / 1048576).toFixed(1)} MiB reviews of ${l.labels} labels, 2 CPU burners (ms p50 / p99 / max)`,
  `${l.loaded.probes.latencyMs.p50} / ${l.loaded.probes.latencyMs.p99} / ${l.loaded.probes.latencyMs.max}; ${l.loaded.probes.overTimeout} of ${l.loaded.probes.probes} over 1 s`,
  `no big reviews ${l.quiet.latencyMs.p50} / ${l.quiet.latencyMs.p99} / ${l.quiet.latencyMs.max}`,
  `${(l.loaded.probes.latencyMs.max / Math.max(l.quiet.latencyMs.max, 0.1)).toFixed(1)}x max; reviews ${JSON.stringify(l.loaded.reviews.answered)}, p50 ${l.loaded.reviews.latencyMs.p50} ms`]);
if (l.earlierBuild) {
  const e = l.earlierBuild.probes;
  row(['/healthz under the same load: mtls-guard, earlier build (ms p50 / p99 / max)', `${e.latencyMs.p50} / ${e.latencyMs.p99} / ${e.latencyMs.max}; ${e.overTimeout} of ${e.probes} over 1 s`,
    `this build ${l.loaded.probes.latencyMs.max} max`, `reviews ${JSON.stringify(l.earlierBuild.reviews.answered)}, p50 ${l.earlierBuild.reviews.latencyMs.p50} ms`]);
}
const a = apiserver;
row([`pod creation via kube-apiserver ${a.version}, ${a.withWebhook.pods} pods at ${a.withWebhook.concurrency} (ms avg / p95 / p99)`,
  `${a.withWebhook.avgMs} / ${a.withWebhook.p95Ms} / ${a.withWebhook.p99Ms}`, `no webhook ${a.withoutWebhook.avgMs} / ${a.withoutWebhook.p95Ms} / ${a.withoutWebhook.p99Ms}`,
  `+${a.differenceMs.avg} / +${a.differenceMs.p95} / +${a.differenceMs.p99} ms`]);
const q = a.sequential;
row([`pod creation via kube-apiserver, ${q.withWebhook.pods} pods one at a time (ms avg / p95 / p99)`,
  `${q.withWebhook.avgMs} / ${q.withWebhook.p95Ms} / ${q.withWebhook.p99Ms}`, `no webhook ${q.withoutWebhook.avgMs} / ${q.withoutWebhook.p95Ms} / ${q.withoutWebhook.p99Ms}`,
  `+${q.differenceMs.avg} / +${q.differenceMs.p95} / +${q.differenceMs.p99} ms`]);
log(`\nwritten to bench/results/latest.json in ${results.seconds} s`);
