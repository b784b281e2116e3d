/**
 * Webhook and `check` give the same verdict for the same state: for every scenario, the webhook serves the
 * scenario's manifests as its cluster state, and each object's AdmissionReview gets exactly the response
 * that `check`'s findings for that object imply.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { check, isEngineFinding } from '../../src/check/check.js';
import { parseConfig } from '../../src/config/config.js';
import { classify, hasStatus } from '../../src/engine/decode.js';
import { policyFor } from '../../src/config/config.js';
import { loadManifests } from '../../src/manifests/load.js';
import { respond } from '../../src/server/admission-review.js';
import { readYaml, repoPath } from '../support/helpers.js';
import { admissionReview, postReview, startWebhook } from '../support/webhook-helpers.js';

const root = repoPath('test/scenarios');
const scratch = mkdtempSync(join(tmpdir(), 'mtls-guard-equivalence-'));

for (const name of readdirSync(root).sort()) {
  t.test(name, async (t) => {
    const dir = join(root, name);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml').map((f) => join(dir, f));
    const { config: configDocument } = readYaml<{ config?: unknown }>(`test/scenarios/${name}/expected.yaml`);
    const parsed = parseConfig(configDocument);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    let configFile: string | undefined;
    if (configDocument !== undefined) {
      configFile = join(scratch, `${name}.yaml`);
      writeFileSync(configFile, stringify(configDocument));
    }
    const webhook = await startWebhook({ state: files, ...(configFile ? { config: configFile } : {}) });
    t.teardown(() => webhook.close());

    const objects = await loadManifests(files, async () => '');
    const result = check(objects, policyFor(parsed.config), 'default');
    let compared = 0;
    for (const { object } of objects) {
      const kind = classify(String(object['apiVersion']), String(object['kind']));
      if (!kind || kind === 'Namespace') continue;
      // The webhook sees a Pod after the injector ran; `check` judges a Pod without status by intent.
      if (kind === 'Pod' && !hasStatus(object)) continue;
      const metadata = object['metadata'] as { name: string; namespace?: string };
      const mine = result.findings
        .filter((f) => f.object.kind === object['kind'] && f.object.name === metadata.name && f.object.namespace === (metadata.namespace ?? 'default'))
        .filter(isEngineFinding)
        .map(({ source: _source, ...finding }) => finding);
      const review = admissionReview(object);
      const uid = (review['request'] as { uid: string }).uid;
      const res = await postReview(webhook, review);
      t.same(res.json(), respond(uid, mine), `${object['kind']} ${metadata.namespace}/${metadata.name}`);
      compared += 1;
    }
    t.ok(compared > 0, `${compared} objects compared`);
  });
}
