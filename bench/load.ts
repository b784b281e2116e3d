/** The load generator, in its own process: autocannon with keep-alive over HTTPS; prints one JSON result. */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [url, payloadFile, duration, connections, rate, path = '/validate'] = process.argv.slice(2);
const bodies = JSON.parse(readFileSync(payloadFile as string, 'utf8')) as string[];
const options: autocannon.Options = {
  url: url as string,
  duration: Number(duration),
  connections: Number(connections),
  pipelining: 1,
  requests: bodies.map((body) => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body })),
};
if (rate && rate !== '0') options.overallRate = Number(rate);
const result = await autocannon(options);
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, p99_9: result.latency.p99_9, max: result.latency.max },
  }),
);
