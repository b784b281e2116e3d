/**
 * One client of the liveness bench, in its own process: from LOCAL_ADDRESS, POSTs an AdmissionReview of a Pod
 * holding LABELS label keys (about 7 MiB at 490,000), again and again on one kept-alive connection, for SECONDS.
 * Prints how many were answered and with which statuses.
 */
import { Agent, request } from 'node:https';
import { admissionReview, pod } from './fixtures.js';

const [port, localAddress, labels, seconds] = [Number(process.argv[2]), process.argv[3] as string, Number(process.argv[4]), Number(process.argv[5])];
const many: Record<string, string> = {};
for (let i = 0; i < labels; i++) many[`k-${i}`] = 'v';
const body = Buffer.from(JSON.stringify(admissionReview(pod('team-1', 'wide', true, many), 'CREATE', `big-${localAddress}`)));
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const until = Date.now() + seconds * 1000;
const statuses: Record<string, number> = {};
const latenciesMs: number[] = [];

function post(): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/validate', method: 'POST', localAddress, agent, rejectUnauthorized: false, servername: 'localhost',
        headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
        res.on('error', () => resolve('cut'));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    req.end(body);
  });
}

while (Date.now() < until) {
  const started = performance.now();
  const status = await post();
  latenciesMs.push(performance.now() - started);
  statuses[status] = (statuses[status] ?? 0) + 1;
}
agent.destroy();
process.stdout.write(`${JSON.stringify({ bytes: body.length, statuses, latenciesMs })}\n`);
