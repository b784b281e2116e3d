/**
 * Baseline: a bare Fastify 5 HTTPS server with the same body handling as bench/bare-server.ts (read, parse, answer
 * a constant AdmissionReview). What the framework costs before any of mtls-guard's work.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [port, certFile, keyFile] = process.argv.slice(2);
const answer = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'bench', allowed: true } };
const app = Fastify({
  https: { cert: readFileSync(certFile as string), key: readFileSync(keyFile as string), minVersion: 'TLSv1.2' },
  keepAliveTimeout: 65_000,
  bodyLimit: 24 * 1024 * 1024,
});
app.post('/validate', async () => answer);
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.stdout.write('listening\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
