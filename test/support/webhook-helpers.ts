/** Real HTTPS against a real mtls-guard webhook: certificates, requests, AdmissionReviews built from manifests. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { generateCertificates, writeCertificates, type Certificates } from '../../src/certs/generate.js';
import { serve, serveDefaults, type ServeOptions } from '../../src/cli/serve.js';

export interface Webhook {
  port: number;
  metricsPort: number;
  ca: string;
  dir: string;
  close: () => Promise<void>;
}

/** A fresh certificate directory: ca.crt, tls.crt, tls.key. */
export async function certificateDir(): Promise<{ dir: string; certs: Certificates }> {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-certs-'));
  const certs = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  await writeCertificates(dir, certs);
  return { dir, certs };
}

/** Start the webhook in this process on free ports, with its own certificates. */
export async function startWebhook(options: Partial<ServeOptions> = {}): Promise<Webhook> {
  const { dir, certs } = await certificateDir();
  const server = await serve({
    ...serveDefaults(),
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    tlsCertFile: join(dir, 'tls.crt'),
    tlsKeyFile: join(dir, 'tls.key'),
    logLevel: 'silent',
    certPollMs: 100,
    ...options,
  });
  return { port: server.port, metricsPort: server.metricsPort, ca: certs.caCert, dir, close: server.close };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => any;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

export function https(
  port: number,
  ca: string | string[],
  path: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; tls?: RequestOptions } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        ca,
        servername: 'localhost',
        agent: false,
        headers: { 'content-type': 'application/json', ...options.headers },
        ...options.tls,
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate?.().fingerprint256 ?? '';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text), fingerprint });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

/** The AdmissionReview the API server would send for applying (or deleting) this manifest. */
export function admissionReview(
  object: Record<string, any> | undefined,
  operation: Operation = 'CREATE',
  oldObject?: Record<string, any>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const subject = (object ?? oldObject) as Record<string, any>;
  const [group, version] = String(subject['apiVersion']).includes('/') ? String(subject['apiVersion']).split('/') : ['', subject['apiVersion']];
  const request: Record<string, unknown> = {
    uid: randomUUID(),
    kind: { group, version, kind: subject['kind'] },
    resource: { group, version, resource: `${String(subject['kind']).toLowerCase()}s` },
    name: subject['metadata']?.name,
    namespace: subject['metadata']?.namespace,
    operation,
    userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    dryRun: false,
    ...extra,
  };
  if (object) request['object'] = object;
  if (oldObject) request['oldObject'] = oldObject;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

export async function postReview(webhook: Pick<Webhook, 'port' | 'ca'>, review: unknown): Promise<HttpResult> {
  return https(webhook.port, webhook.ca, '/validate', { body: JSON.stringify(review) });
}
