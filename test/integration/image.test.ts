/**
 * The container image without a Docker engine: the Dockerfile's runtime stage (production dependencies only,
 * compiled dist/src, examples/) is reproduced in a clean directory, and the server must start and serve from
 * it without writing a file (so a read-only root filesystem works). The Dockerfile itself is checked for what
 * the image must be.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { repoPath } from '../support/helpers.js';
import { https } from '../support/webhook-helpers.js';

t.setTimeout(240_000);

t.test('the Dockerfile', async (t) => {
  const text = readFileSync(repoPath('Dockerfile'), 'utf8');
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1] ?? '';
  t.match(image, /^node:\d+\.\d+\.\d+-/, `the Node base is pinned to an exact version (${image})`);
  t.equal((text.match(/^FROM /gm) ?? []).length, 2, 'multi-stage: build and runtime');
  t.match(text, /RUN npm ci --omit=dev/, 'the runtime stage installs production dependencies only');
  t.match(text, /^USER 65532:65532$/m, 'a numeric non-root user');
  t.match(text, /^ENTRYPOINT \["node", "\/app\/dist\/src\/cli\.js", "serve"\]$/m, 'runs mtls-guard serve');
  const ignored = readFileSync(repoPath('.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', 'certs', '.git']) t.ok(ignored.includes(entry), `.dockerignore has ${entry}`);
});

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(`${relative(dir, path)} ${statSync(path).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

t.test('the production install starts and serves from a clean directory, writing nothing', async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'mtls-guard-image-'));
  cpSync(repoPath('package.json'), join(app, 'package.json'));
  cpSync(repoPath('package-lock.json'), join(app, 'package-lock.json'));
  const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8' });
  t.equal(install.status, 0, 'npm ci --omit=dev', { stderr: install.stderr.slice(-2000) });
  const compile = spawnSync(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', repoPath('tsconfig.build.json'), '--outDir', join(app, 'dist')], { encoding: 'utf8' });
  t.equal(compile.status, 0, 'tsc -p tsconfig.build.json', { stdout: compile.stdout });
  cpSync(repoPath('examples'), join(app, 'examples'), { recursive: true });
  for (const dev of ['typescript', 'tap', '@tapjs/core']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no dev dependency ${dev}`);

  const certs = mkdtempSync(join(tmpdir(), 'mtls-guard-image-certs-'));
  const cli = join(app, 'dist', 'src', 'cli.js');
  t.equal(spawnSync(process.execPath, [cli, 'certs', '--out', certs, '--service', 'mtls-guard', '--namespace', 'mtls-guard']).status, 0);
  const before = tree(app);
  const env = { PATH: process.env['PATH'] ?? '', HOME: join(app, 'no-home') };
  const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--metrics-port', '0', '--tls-cert-file', join(certs, 'tls.crt'), '--tls-key-file', join(certs, 'tls.key')], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout.on('data', (c) => (output += c));
  server.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 20_000);
    server.stdout.on('data', () => {
      const match = /"port":(\d+).*"msg":"mtls-guard webhook listening"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  const ca = readFileSync(join(certs, 'ca.crt'), 'utf8');
  const review = readFileSync(join(app, 'examples', 'admission-review.json'), 'utf8');
  const res = await https(port, ca, '/validate', { body: review });
  t.equal(res.json().response.allowed, false, 'the example review is denied by the installed build');
  t.equal((await https(port, ca, '/readyz')).status, 200);
  server.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');
  t.same(tree(app), before, 'nothing in the app directory was written or changed');
  t.notMatch(output, /\n\s+at /, 'no stack trace');
});
