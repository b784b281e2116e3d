/**
 * `npm run demo`: a local control plane with mtls-guard registered, and a walk through what a user sees with
 * kubectl. No cluster needed. When istiod is built (tools/build-istiod.sh), the pods are made by
 * kube-controller-manager and injected by Istio's own injector; without it, an injected pod is applied as the
 * injector would leave it.
 */
import { spawnSync } from 'node:child_process';
import { relative } from 'node:path';
import { repoPath } from '../support/helpers.js';
import { installIstioBase, startIstiod, type Istiod } from '../support/istiod.js';
import { https } from '../support/webhook-helpers.js';
import { startE2E, until } from './harness.js';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
const file = (name: string) => relative(process.cwd(), repoPath(`test/e2e/manifests/${name}`));

/** pilot-discovery when it is already built and current (tools/build-istiod.sh --if-cached): the demo never starts a build. */
function cachedIstiodBinary(): string | undefined {
  if (process.env['MTLS_GUARD_ISTIOD']) return process.env['MTLS_GUARD_ISTIOD'];
  const run = spawnSync('bash', [repoPath('tools/build-istiod.sh'), '--if-cached'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return run.status === 0 ? run.stdout.trim().split('\n').pop() : undefined;
}

const istiodBinary = cachedIstiodBinary();
if (istiodBinary) process.env['MTLS_GUARD_ISTIOD'] = istiodBinary;
console.log(
  bold(`Starting etcd, kube-apiserver${istiodBinary ? ', kube-controller-manager, istiod' : ''} and mtls-guard on 127.0.0.1 …`),
);
if (!istiodBinary) {
  console.log(dim('istiod is not built, so this run has no sidecar injector (bash tools/build-istiod.sh builds it; then run the demo again).'));
}
const started = Date.now();
const e2e = await startE2E({ controllerManager: istiodBinary !== undefined });
let istiod: Istiod | undefined;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await istiod?.stop();
  await e2e.stop();
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));

const step = (title: string) => console.log(`\n${bold(`## ${title}`)}`);
const run = (args: string[]) => {
  console.log(bold(`$ kubectl ${args.join(' ')}`));
  const result = e2e.kubectl(args);
  const out = `${result.stdout}${result.stderr}`.trimEnd();
  if (out) console.log(out);
  return result;
};
/** The watch delivers the fix within moments: run for real once a server-side dry run is accepted. */
const runOnceAccepted = async (args: string[]) => {
  await until(`kubectl ${args.join(' ')} is accepted`, () => e2e.kubectl([...args, '--dry-run=server']).code === 0, 15_000);
  return run(args);
};

/** The story with Istio's own injector: Deployments, ReplicaSets and Pods, injected by istiod. */
async function withIstiod(): Promise<void> {
  installIstioBase(e2e.plane);
  istiod = await startIstiod(e2e.plane, { values: ['env.ENABLE_NATIVE_SIDECARS=false'] });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(dim(`control plane ${e2e.plane.version}, istiod (${istiod.injectionUrl}) and mtls-guard up in ${seconds} s`));
  const injectedPods = (namespace: string) =>
    (JSON.parse(e2e.plane.must(['get', 'pods', '-n', namespace, '-o', 'json']))['items'] as Record<string, any>[]).filter(
      (p) => p['metadata'].annotations?.['sidecar.istio.io/status'],
    ).length;

  step('The cluster: legacy and batch were never labelled for injection; shop has istio-injection=enabled');
  run(['apply', '-f', file('istiod-cluster.yaml')]);
  await until('the ReplicaSets made their pods', () => e2e.kubectl(['get', 'pods', '-A', '--no-headers']).stdout.trim().split('\n').length >= 4);
  run(['get', 'pods', '-n', 'shop', '-o', 'custom-columns=POD:.metadata.name,CONTAINERS:.spec.containers[*].name']);
  console.log(dim('(istiod injected istio-proxy into shop/api; no kubelet runs here, so pods stay Pending)'));
  await e2e.register();
  console.log(dim('mtls-guard registered as a ValidatingWebhookConfiguration (url + caBundle)'));

  step('STRICT on a namespace whose pods have no sidecar: denied, with the fix');
  run(['apply', '-f', file('strict-legacy.yaml')]);

  step('Inject, then protect: label, restart, check 2/2, then STRICT');
  run(['label', 'namespace', 'legacy', 'istio-injection=enabled']);
  // The restart is a Deployment UPDATE mtls-guard reviews (it has no server-side dry run): retried until mtls-guard has seen the label.
  const restart = ['rollout', 'restart', 'deployment/web', '-n', 'legacy'];
  await until('the restart is accepted', () => e2e.kubectl(restart).code === 0, 15_000);
  console.log(bold(`$ kubectl ${restart.join(' ')}`));
  console.log('deployment.apps/web restarted');
  await until(
    'the new pods are injected',
    () => injectedPods('legacy') === 2 && e2e.kubectl(['get', 'pods', '-n', 'legacy', '--no-headers']).stdout.trim().split('\n').length === 2,
  );
  run(['get', 'pods', '-n', 'legacy', '-o', 'custom-columns=POD:.metadata.name,CONTAINERS:.spec.containers[*].name']);
  const calls = () => istiod?.injectionRequests().filter((r) => r.pod.startsWith('legacy/')) ?? [];
  // Its log is read while this process waits; the pods are injected, so the lines are on their way.
  await until("istiod's log shows both injections", () => calls().length >= 2, 10_000).catch(() => undefined);
  console.log(dim(`istiod's injection webhook: ${calls().map((r) => `${r.path} for ${r.pod}`).join('; ')}`));
  await runOnceAccepted(['apply', '-f', file('strict-legacy.yaml')]);

  step('Mesh-wide STRICT while batch still runs a pod without sidecar: denied');
  run(['apply', '-f', file('mesh-strict.yaml')]);
  step('Leave batch PERMISSIVE (a warning), then mesh-wide STRICT is accepted');
  run(['apply', '-f', file('batch-permissive.yaml')]);
  await runOnceAccepted(['apply', '-f', file('mesh-strict.yaml')]);

  step('A Deployment in a namespace without injection: rejected at apply time');
  run(['apply', '-f', file('reports-deployment.yaml')]);
  step('A pod that opts out of injection is refused too');
  run(['run', 'debug', '-n', 'legacy', '--image=busybox:1.36', '--restart=Never', '--labels=sidecar.istio.io/inject=false']);

  step('Deleting a STRICT policy: allowed, with a warning');
  run(['delete', '-f', file('strict-legacy.yaml')]);
  console.log(dim(`\nistiod's injection webhook was called ${istiod.injectionRequests().length} times in this run`));
}

/** Without an injector: an injected pod is written as the injector would leave it. */
async function withoutInjector(): Promise<void> {
  console.log(dim(`control plane ${e2e.plane.version} and webhook up in ${((Date.now() - started) / 1000).toFixed(1)} s`));
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
  await runOnceAccepted(['apply', '-f', file('strict-legacy.yaml')]);

  step('Mesh-wide STRICT while batch still has a pod without sidecar: denied');
  run(['apply', '-f', file('mesh-strict.yaml')]);
  step('Leave batch PERMISSIVE (a warning), then mesh-wide STRICT is accepted');
  run(['apply', '-f', file('batch-permissive.yaml')]);
  await runOnceAccepted(['apply', '-f', file('mesh-strict.yaml')]);

  step('A Deployment in a namespace without injection: rejected at apply time');
  run(['apply', '-f', file('reports-deployment.yaml')]);
  step('Pods without the sidecar are refused too');
  run(['run', 'debug', '-n', 'legacy', '--image=busybox:1.36', '--restart=Never']);

  step('Deleting a STRICT policy: allowed, with a warning');
  run(['delete', '-f', file('strict-legacy.yaml')]);
}

try {
  await (istiodBinary ? withIstiod() : withoutInjector());
  console.log(`\n${bold('Done.')} Tearing everything down.`);
} finally {
  await stop();
}
