/**
 * The container image without a Docker engine: the Dockerfile's runtime stage (production dependencies only,
 * compiled dist/src, examples/) is reproduced in a clean directory owned by root, and the server must start and
 * serve from it as UID 65532 without writing a file (so a read-only root filesystem works). The Dockerfile itself
 * is checked for what the image must be.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { repoPath } from '../support/helpers.js';
import { https } from '../support/webhook-helpers.js';

t.setTimeout(240_000);

t.test('the Dockerfile', async (t) => {
  const text = readFileSync(repoPath('Dockerfile'), 'utf8');
  const args = Object.fromEntries([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const stages = text.split(/^(?=FROM )/m).slice(1);
  t.equal(stages.length, 3, 'multi-stage: build, production dependencies, runtime');
  for (const stage of stages) {
    const from = /^FROM (\S+)/.exec(stage)?.[1] ?? '';
    const image = from.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? '');
    t.match(image, /^[a-z0-9.\/-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$/, `FROM ${from} is pinned by digest (${image})`);
  }
  t.match(args['NODE_IMAGE'], /^node:24\.\d+\.\d+-bookworm-slim@/, 'the build stages use an exact Node LTS patch');
  t.match(args['RUNTIME_IMAGE'], /^gcr\.io\/distroless\/nodejs24-debian12:?[^@]*@/, 'the runtime is distroless Node 24 (LTS)');
  const runtime = stages[2] ?? '';
  t.match(runtime, /^FROM \$\{RUNTIME_IMAGE\} AS runtime/, 'the last stage is the runtime');
  t.notMatch(runtime, /^RUN /m, 'nothing runs in the runtime stage: it has no shell');
  t.notMatch(runtime, /npm/, 'and no npm');
  t.match(stages[1], /RUN npm ci --omit=dev/, 'production dependencies only, installed in their own stage');
  t.match(runtime, /COPY --from=production-dependencies \/app\/node_modules \.\/node_modules/);
  t.match(runtime, /^USER 65532:65532$/m, 'a numeric non-root user');
  t.match(runtime, /^ENTRYPOINT \["\/nodejs\/bin\/node", "\/app\/dist\/src\/cli\.js", "serve"\]$/m, 'runs mtls-guard serve');
  t.match(runtime, /^ENV PATH=\/nodejs\/bin:/m, 'node is on the PATH (the helm test hook runs `node`)');
  for (const label of ['title', 'description', 'version', 'licenses', 'base.name']) t.match(runtime, `org.opencontainers.image.${label}=`, `OCI label ${label}`);
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
  // As in the image: files owned by root, readable by all, writable by nobody else; the key is the user's (fsGroup).
  chmodSync(app, 0o755);
  chmodSync(certs, 0o755);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(join(certs, 'tls.key'), 65532, 65532);
  const before = tree(app);
  // As in the image, the server loads nothing from outside the app directory. Under tap, every child is given a
  // NODE_OPTIONS that loads tap's process-info hook from the checkout, which UID 65532 may not be able to reach (a
  // clone in a 0700 directory): `env -u NODE_OPTIONS` drops it, whatever the test runner adds.
  const env = { PATH: process.env['PATH'] ?? '', HOME: join(app, 'no-home') };
  const server = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, cli, 'serve', '--port', '0', '--metrics-port', '0', '--tls-cert-file', join(certs, 'tls.crt'), '--tls-key-file', join(certs, 'tls.key')],
    { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot ? { uid: 65532, gid: 65532 } : {}) });
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
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  if (asRoot) {
    t.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m, 'the server runs as UID 65532');
    t.match(status, /^Gid:\s+65532\s+65532\s+65532\s+65532$/m, 'and GID 65532');
  } else {
    // Only root can start a process as another user: run by a non-root user, the server runs as that user.
    const uid = String(process.getuid?.());
    t.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'), `the server runs as this non-root user (UID ${uid}), not root`);
  }
  server.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');
  t.same(tree(app), before, 'nothing in the app directory was written or changed');
  t.notMatch(output, /\n\s+at /, 'no stack trace');
});
