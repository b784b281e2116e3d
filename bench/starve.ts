/**
 * The starvation attempt, in its own process: CONNECTIONS TLS connections from 127.0.0.2, each sending all but
 * one byte of a body at the webhook's limit and then nothing; reopened whenever cut. Runs SECONDS, then exits.
 */
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';

const [port, connections, seconds, limit] = process.argv.slice(2).map(Number) as [number, number, number, number];
const until = Date.now() + seconds * 1000;
let opened = 0;
const chunk = Buffer.alloc(256 * 1024, 0x20);

function one(): void {
  if (Date.now() >= until) return;
  opened += 1;
  const raw = tcpConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  raw.on('error', () => undefined);
  const socket = connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
  socket.on('error', () => undefined);
  socket.once('close', () => setTimeout(one, 50));
  socket.once('secureConnect', () => {
    socket.write(`POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${limit}\r\n\r\n`);
    let left = limit - 1;
    const pump = (): void => {
      while (left > 0) {
        const size = Math.min(left, chunk.length);
        left -= size;
        if (!socket.write(chunk.subarray(0, size))) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
}

for (let i = 0; i < connections; i++) one();
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ opened })}\n`);
  process.exit(0);
}, seconds * 1000 + 500);
