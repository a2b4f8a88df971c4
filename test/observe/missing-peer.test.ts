// prom-client is an optional peer dependency. Without it skein still loads and runs, and the metrics
// path alone fails, with MissingPeerDependencyError saying how to install it. Simulated for real:
// the built package is copied where no node_modules can be found (as in an app that never installed
// the peer), and a child process uses that copy.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'skein-no-peer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
const skein = await import(process.argv[2]);
const pool = new skein.FixedWorkerPool(1, { filename: process.argv[3] });
const ran = await pool.submit(21, { fn: 'double' }).catch((e) => 'pool failed: ' + e.message);
await pool.close();
let error;
try {
  const server = await skein.serveMetrics({ port: 0, objects: { pool } });
  await server.close();
} catch (e) {
  error = { name: e.name, message: e.message, isClass: e instanceof skein.MissingPeerDependencyError, cause: e.cause?.code };
}
console.log(JSON.stringify({ ran, error }));
`;

describe('without the optional peer prom-client', () => {
  it('skein loads and runs; serveMetrics rejects with MissingPeerDependencyError naming the package and the fix', async () => {
    cpSync(join(ROOT, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app-without-prom-client', type: 'module' }));
    writeFileSync(join(dir, 'tasks.mjs'), 'export function double(x) { return x * 2; }\n');
    writeFileSync(join(dir, 'app.mjs'), SCRIPT);
    // The copy must really not see prom-client, or the test would prove nothing.
    expect(() => createRequire(join(dir, 'dist/src/observe/prometheus.js')).resolve('prom-client')).toThrow(/Cannot find module/);

    const env = { ...process.env };
    delete env.NODE_PATH;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(dir, 'app.mjs'), pathToFileURL(join(dir, 'dist/src/index.js')).href, join(dir, 'tasks.mjs')],
        { cwd: dir, env, timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(out) as { ran: unknown; error?: { name: string; message: string; isClass: boolean; cause: string } };
    expect(r.ran).toBe(42);
    expect(r.error).toMatchObject({ name: 'MissingPeerDependencyError', isClass: true, cause: 'MODULE_NOT_FOUND' });
    expect(r.error?.message).toContain('prom-client');
    expect(r.error?.message).toContain('npm install prom-client');
  });
});
