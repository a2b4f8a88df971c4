// The default pool size under a container's CPU quota: Node 20's libuv ignores cgroup quotas, so
// skein reads them (src/pool/cores.ts). Real files in a temp dir laid out as /sys/fs/cgroup is.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { availableCores, cgroupCpuLimit } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(os.tmpdir(), 'skein-cgroup-'));
  dirs.push(root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}

describe('cgroupCpuLimit', () => {
  it('reads a cgroup v2 quota, rounding a fractional one up', () => {
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': '150000 100000\n' }))).toBe(2);
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': '50000 100000\n' }))).toBe(1);
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': 'max 100000\n' }))).toBeUndefined();
  });

  it('reads a cgroup v1 quota; -1 is none', () => {
    const v1 = (quota: string): string =>
      cgroup({ 'cpu/cpu.cfs_quota_us': `${quota}\n`, 'cpu/cpu.cfs_period_us': '100000\n' });
    expect(cgroupCpuLimit(v1('400000'))).toBe(4);
    expect(cgroupCpuLimit(v1('-1'))).toBeUndefined();
    expect(
      cgroupCpuLimit(cgroup({ 'cpu,cpuacct/cpu.cfs_quota_us': '300000', 'cpu,cpuacct/cpu.cfs_period_us': '100000' })),
    ).toBe(3);
  });

  it('no cgroup files, or garbage in them, is no quota', () => {
    expect(cgroupCpuLimit(cgroup({}))).toBeUndefined();
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': 'nonsense\n' }))).toBeUndefined();
    expect(cgroupCpuLimit(cgroup({ 'cpu.max': '0 100000\n' }))).toBeUndefined();
  });

  it('availableCores is availableParallelism lowered to this machine\'s quota, if any', () => {
    const limit = cgroupCpuLimit();
    expect(availableCores()).toBe(Math.min(os.availableParallelism(), limit ?? Number.POSITIVE_INFINITY));
    expect(availableCores()).toBeGreaterThanOrEqual(1);
  });
});
