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

  it('without a cgroup namespace (a systemd unit, --cgroupns=host) reads the quota of its own cgroup and those above it', () => {
    // The root cgroup has no cpu.max; the process's cgroup, named by /proc/self/cgroup, has it.
    const unit = cgroup({
      'cgroup.controllers': 'cpu memory\n',
      'system.slice/app.service/cpu.max': '200000 100000\n',
      'system.slice/cpu.max': 'max 100000\n',
      self: '0::/system.slice/app.service\n',
    });
    expect(cgroupCpuLimit(unit, join(unit, 'self'))).toBe(2);
    // A quota on a parent (a slice) limits the units below it; the lowest wins.
    const slice = cgroup({
      'system.slice/app.service/cpu.max': '400000 100000\n',
      'system.slice/cpu.max': '150000 100000\n',
      self: '0::/system.slice/app.service\n',
    });
    expect(cgroupCpuLimit(slice, join(slice, 'self'))).toBe(2);
    // cgroup v1: the cpu controller's line names the folder under the cpu mount.
    const v1 = cgroup({
      'cpu,cpuacct/system.slice/app.service/cpu.cfs_quota_us': '300000\n',
      'cpu,cpuacct/system.slice/app.service/cpu.cfs_period_us': '100000\n',
      'cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      self: '5:memory:/system.slice/app.service\n4:cpu,cpuacct:/system.slice/app.service\n0::/\n',
    });
    expect(cgroupCpuLimit(v1, join(v1, 'self'))).toBe(3);
    // Docker on v1 mounts the container's own cgroup at the root while the file names the host's path.
    const docker = cgroup({
      'cpu/cpu.cfs_quota_us': '100000\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      self: '4:cpu,cpuacct:/docker/0123abcd\n',
    });
    expect(cgroupCpuLimit(docker, join(docker, 'self'))).toBe(1);
    // A path that climbs out of a cgroup namespace names nothing here: the root alone is read.
    const outside = cgroup({ 'cpu.max': '100000 100000\n', 'x/cpu.max': '900000 100000\n', self: '0::/../x\n' });
    expect(cgroupCpuLimit(outside, join(outside, 'self'))).toBe(1);
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
