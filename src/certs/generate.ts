/** A CA and a CA-signed serving certificate for the webhook (SHA-256, ECDSA P-256). */
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface Certificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export interface CertificateRequest {
  service: string;
  namespace: string;
  days?: number;
  /** The serving certificate's lifetime from now, in milliseconds, instead of `days` (short-lived certificates). */
  validityMs?: number;
}

/** DNS names and IPs the serving certificate covers: the Service's names, and localhost for local runs. */
export function subjectAltNames(service: string, namespace: string): { dns: string[]; ips: string[] } {
  return {
    dns: [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, 'localhost'],
    ips: ['127.0.0.1'],
  };
}

export async function generateCertificates({ service, namespace, days = 365, validityMs }: CertificateRequest): Promise<Certificates> {
  const notBeforeDate = new Date(Date.now() - 5 * 60 * 1000);
  const caNotAfter = new Date(notBeforeDate.getTime() + 10 * 365 * 86_400_000);
  // A unique CA name: during a rotation a caBundle can hold the old and the new CA, and TLS clients pick the issuer by name.
  const ca = await generate([{ name: 'commonName', value: `${service}-ca-${randomBytes(4).toString('hex')}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: caNotAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const names = subjectAltNames(service, namespace);
  const leaf = await generate([{ name: 'commonName', value: `${service}.${namespace}.svc` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: validityMs === undefined ? new Date(notBeforeDate.getTime() + days * 86_400_000) : new Date(Date.now() + validityMs),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.dns.map((value) => ({ type: 2 as const, value })), ...names.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  return { caCert: ca.cert, caKey: ca.private, cert: leaf.cert, key: leaf.private };
}

/** Write ca.crt, tls.crt and tls.key (the key readable by its owner only). */
export async function writeCertificates(dir: string, certs: Certificates): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ca.crt'), certs.caCert);
  await writeFile(join(dir, 'tls.crt'), certs.cert);
  await writeFile(join(dir, 'tls.key'), certs.key, { mode: 0o600 });
}
