/**
 * Valid AdmissionReviews to mutate: the README's example review, and one review per object of the bundled
 * examples and of every Istio-guide scenario (CREATE; PeerAuthentications also UPDATE and DELETE), shaped as
 * the API server sends them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoPath } from '../helpers.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

function manifests(relative: string): JsonObject[] {
  const text = readFileSync(repoPath(relative), 'utf8');
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Json)
    .filter((object): object is JsonObject => typeof object === 'object' && object !== null && !Array.isArray(object));
}

let counter = 0;

/** The AdmissionReview the API server would send for this change (uid deterministic, so runs replay). */
export function reviewFor(operation: 'CREATE' | 'UPDATE' | 'DELETE', object: JsonObject, oldObject?: JsonObject): JsonObject {
  const subject = operation === 'DELETE' ? (oldObject ?? object) : object;
  const apiVersion = String(subject['apiVersion']);
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const kind = String(subject['kind']);
  const metadata = (subject['metadata'] ?? {}) as JsonObject;
  counter += 1;
  const request: JsonObject = {
    uid: `00000000-f022-4000-8000-${counter.toString(16).padStart(12, '0')}`,
    kind: { group: group ?? '', version: version ?? '', kind },
    resource: { group: group ?? '', version: version ?? '', resource: `${kind.toLowerCase()}s` },
    requestKind: { group: group ?? '', version: version ?? '', kind },
    name: metadata['name'] ?? null,
    operation,
    userInfo: { username: 'jane@example.com', groups: ['platform-team', 'system:authenticated'] },
    object: operation === 'DELETE' ? null : object,
    oldObject: operation === 'CREATE' ? null : (oldObject ?? object),
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: `${operation === 'CREATE' ? 'Create' : operation === 'UPDATE' ? 'Update' : 'Delete'}Options` },
  };
  if (typeof metadata['namespace'] === 'string') request['namespace'] = metadata['namespace'];
  if (request['name'] === null) delete request['name'];
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

export function corpus(): JsonObject[] {
  const files = [
    ...readdirSync(repoPath('examples')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join('examples', f)),
    ...readdirSync(repoPath('test/scenarios')).sort().map((d) => join('test/scenarios', d, 'manifests.yaml')),
  ];
  const reviews: JsonObject[] = [JSON.parse(readFileSync(repoPath('examples/admission-review.json'), 'utf8')) as JsonObject];
  for (const file of files) {
    for (const object of manifests(file)) {
      reviews.push(reviewFor('CREATE', object));
      if (object['kind'] === 'PeerAuthentication') {
        const spec = (object['spec'] ?? {}) as JsonObject;
        const older = { ...object, spec: { ...spec, mtls: { mode: 'STRICT' } } };
        reviews.push(reviewFor('UPDATE', object, older));
        reviews.push(reviewFor('DELETE', object, older));
      }
    }
  }
  return reviews;
}
