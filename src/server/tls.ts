/**
 * The serving certificate: loaded from files, checked as a pair, and re-read when the files change.
 * Secret volumes update by swapping a symlink, so the files are polled rather than watched.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';

export interface KeyPair {
  cert: string;
  key: string;
  /** Fingerprint of the certificate, for logs. */
  fingerprint: string;
  notAfter: string;
}

export const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const satisfies SecureContextOptions;

/** Check that the key matches the certificate and the certificate is currently valid. Throws with the reason. */
export function checkPair(cert: string, key: string, now = new Date()): KeyPair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`certificate is not valid PEM: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`key is not a valid PEM private key: ${(error as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error('key does not match the certificate');
  if (new Date(x509.validTo) < now) throw new Error(`certificate expired on ${x509.validTo}`);
  return { cert, key, fingerprint: x509.fingerprint256, notAfter: x509.validTo };
}

export async function loadPair(certFile: string, keyFile: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return checkPair(cert, key);
}

export interface ReloadEvents {
  onReload: (pair: KeyPair) => void;
  onRejected: (reason: string) => void;
}

/** Polls the files; a changed, valid pair is handed to onReload, a bad one to onRejected (the old pair stays). */
export class CertificateReloader {
  #timer: NodeJS.Timeout | undefined;
  #current: string;
  #rejected = '';

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    initial: KeyPair,
    private readonly events: ReloadEvents,
    private readonly intervalMs = 2000,
  ) {
    this.#current = digest(initial.cert, initial.key);
  }

  start(): void {
    this.#timer = setInterval(() => void this.poll(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async poll(): Promise<void> {
    let cert: string;
    let key: string;
    try {
      [cert, key] = await Promise.all([readFile(this.certFile, 'utf8'), readFile(this.keyFile, 'utf8')]);
    } catch (error) {
      this.reject(`cannot read ${this.certFile} or ${this.keyFile}: ${(error as Error).message}`, 'unreadable');
      return;
    }
    const seen = digest(cert, key);
    if (seen === this.#current) return;
    try {
      const pair = checkPair(cert, key);
      this.#current = seen;
      this.#rejected = '';
      this.events.onReload(pair);
    } catch (error) {
      // Between the two file writes of a rotation the pair can mismatch for a moment: report each bad state once.
      this.reject((error as Error).message, seen);
    }
  }

  private reject(reason: string, state: string): void {
    if (this.#rejected === state) return;
    this.#rejected = state;
    this.events.onRejected(reason);
  }
}

function digest(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
