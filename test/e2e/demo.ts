/**
 * `npm run demo`: a local control plane (kube-apiserver + etcd) with mtls-guard registered, and a walk through
 * what a user sees with kubectl. No cluster needed.
 */
import { relative } from 'node:path';
import { repoPath } from '../support/helpers.js';
import { https } from '../support/webhook-helpers.js';
import { startE2E, until } from './harness.js';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
const file = (name: string) => relative(process.cwd(), repoPath(`test/e2e/manifests/${name}`));

console.log(bold('Starting etcd, kube-apiserver and mtls-guard on 127.0.0.1 …'));
const started = Date.now();
const e2e = await startE2E();
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await e2e.stop();
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));

try {
  console.log(dim(`control plane ${e2e.plane.version} and webhook up in ${((Date.now() - started) / 1000).toFixed(1)} s`));
  const step = (title: string) => console.log(`\n${bold(`## ${title}`)}`);
  const run = (args: string[]) => {
    console.log(bold(`$ kubectl ${args.join(' ')}`));
    const result = e2e.kubectl(args);
    const out = `${result.stdout}${result.stderr}`.trimEnd();
    if (out) console.log(out);
    return result;
  };
  /** The watch delivers the fix within moments: apply for real once a server-side dry run is accepted. */
  const applyOnceAccepted = async (manifest: string) => {
    await until(`${manifest} is accepted`, () => e2e.kubectl(['apply', '--dry-run=server', '-f', file(manifest)]).code === 0, 15_000);
    run(['apply', '-f', file(manifest)]);
  };

  step('The cluster: legacy (no injection label, web-1 without sidecar), shop (injected), batch (no sidecar)');
  run(['apply', '-f', file('cluster.yaml')]);
  await until('mtls-guard sees the pods', async () => (await https(e2e.webhookPort, e2e.ca, '/readyz')).json().resources.pods.objects === 3);
  await e2e.register();
  console.log(dim('mtls-guard registered as a ValidatingWebhookConfiguration (url + caBundle)'));

  step('STRICT on a namespace whose pods have no sidecar: denied, with the fix');
  run(['apply', '-f', file('strict-legacy.yaml')]);
  step('Server-side dry run: the same verdict, nothing stored');
  run(['apply', '--dry-run=server', '-f', file('strict-legacy.yaml')]);

  step('Inject, then protect');
  run(['label', 'namespace', 'legacy', 'istio-injection=enabled']);
  run(['delete', 'pod', 'web-1', '-n', 'legacy', '--grace-period=0', '--force']);
  console.log(dim('(no sidecar injector runs here: the restarted pod is applied as the injector would leave it)'));
  run(['apply', '-f', file('web-1-injected.yaml')]);
  await applyOnceAccepted('strict-legacy.yaml');

  step('Mesh-wide STRICT while batch still has a pod without sidecar: denied');
  run(['apply', '-f', file('mesh-strict.yaml')]);
  step('Leave batch PERMISSIVE (a warning), then mesh-wide STRICT is accepted');
  run(['apply', '-f', file('batch-permissive.yaml')]);
  await applyOnceAccepted('mesh-strict.yaml');

  step('A Deployment in a namespace without injection: rejected at apply time');
  run(['apply', '-f', file('reports-deployment.yaml')]);
  step('Pods without the sidecar are refused too');
  run(['run', 'debug', '-n', 'legacy', '--image=busybox:1.36', '--restart=Never']);

  step('Deleting a STRICT policy: allowed, with a warning');
  run(['delete', '-f', file('strict-legacy.yaml')]);
  console.log(`\n${bold('Done.')} Tearing everything down.`);
} finally {
  await stop();
}
