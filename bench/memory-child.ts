/** Loads the cluster through the real list-watch code path (KubeStateSource) and reports memory. Run with --expose-gc. */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { DEFAULT_CONFIG, policyFor, type Config } from '../src/config/config.js';
import { AuditService } from '../src/server/audit-service.js';
import { KubeStateSource } from '../src/state/kube-source.js';

const [kubeconfig, withAudit] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
};
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig as string);
settle();
const before = process.memoryUsage();
const source = new KubeStateSource(kc, pino({ level: 'silent' }), { watchTimeoutSeconds: 600 });
const started = Date.now();
await source.start();
const audit = withAudit === 'audit' ? new AuditService(source.state, policyFor(structuredClone(DEFAULT_CONFIG) as Config), 'bench', pino({ level: 'silent' }), () => source.ready()) : undefined;
const deadline = Date.now() + 120_000;
while (!source.ready()) {
  if (Date.now() > deadline) throw new Error(`not synced after 120 s: ${JSON.stringify(source.status())}`);
  await new Promise((r) => setTimeout(r, 50));
}
while (audit && !audit.settled) await new Promise((r) => setTimeout(r, 50));
const syncMs = Date.now() - started;
settle();
const after = process.memoryUsage();
const status = source.status();
// The most the process held at once (the sync's pages and garbage included): what a memory limit must allow.
const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
process.stdout.write(JSON.stringify({ before, after, peakRss, syncMs, status }) + '\n');
await source.stop();
process.exit(0);
