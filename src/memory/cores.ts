/**
 * How many threads can run at once: `os.availableParallelism()` (CPU affinity, a container's
 * cpuset), lowered to a cgroup CPU quota where one is set (`docker --cpus 2`, a Kubernetes CPU
 * limit, a systemd unit's `CPUQuota=`). libuv honours the quota itself only from 1.49 (Node 20 ships
 * 1.46), so it is read here: cgroup v2 `cpu.max` ("max 100000", or "<quota> <period>"), else v1
 * `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us`, under `/sys/fs/cgroup`. Which folder:
 * the process's own cgroup, as `/proc/self/cgroup` names it, and each folder above it up to the
 * hierarchy's root, the lowest quota winning (a quota on a parent, a systemd slice say, limits its
 * children). In a container with a cgroup namespace (Docker's and Kubernetes' default) that cgroup
 * is the root itself; without one (a systemd service, `--cgroupns=host`) it is a folder below the
 * root, which holds the quota while the root has none. A fractional quota rounds up (1.5 CPUs: 2
 * threads), as Go's and the JVM's defaults do. Anything unreadable means no quota.
 * Internal (the pool's, the flow layer's and the CLI's defaults, and whether spinning pays; tests
 * reach it through skein/internal).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/**
 * The CPU quota of this process's cgroup (or of a cgroup above it) under `root`, in CPUs (rounded
 * up, at least 1); undefined if none. `self` is the file naming the process's cgroups.
 */
export function cgroupCpuLimit(root = '/sys/fs/cgroup', self = '/proc/self/cgroup'): number | undefined {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const ratio = (quota: number, period: number): number | undefined =>
    quota > 0 && period > 0 && Number.isFinite(quota / period) ? Math.max(1, Math.ceil(quota / period)) : undefined;
  const lower = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  // "<id>:<controllers>:<path>" per hierarchy; v2's is "0::<path>". A path that climbs out of a
  // cgroup namespace ("/../..") names nothing under root: then only the root is read.
  const lines = read(self)?.split('\n') ?? [];
  const pathOf = (isIt: (controllers: string) => boolean): string[] => {
    for (const line of lines) {
      const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
      if (m && isIt(m[1])) {
        const parts = m[2].split('/').filter((p) => p !== '' && p !== '.');
        return parts.includes('..') ? [] : parts;
      }
    }
    return [];
  };
  /** The folders from the process's cgroup up to `base` (a folder that is absent reads as no quota). */
  const upFrom = (base: string, parts: string[]): string[] =>
    Array.from({ length: parts.length + 1 }, (_, i) => join(base, ...parts.slice(0, parts.length - i)));

  let v2Seen = false;
  let limit: number | undefined;
  for (const dir of upFrom(root, pathOf((c) => c === ''))) {
    const v2 = read(join(dir, 'cpu.max'));
    if (v2 === undefined) continue;
    v2Seen = true;
    const [quota, period] = v2.split(/\s+/);
    if (quota !== 'max') limit = lower(limit, ratio(Number(quota), Number(period ?? 100_000)));
  }
  if (v2Seen) return limit;
  const v1Parts = pathOf((c) => c.split(',').includes('cpu'));
  for (const mount of ['cpu', 'cpu,cpuacct']) {
    for (const dir of upFrom(join(root, mount), v1Parts)) {
      const quota = read(join(dir, 'cpu.cfs_quota_us'));
      const period = read(join(dir, 'cpu.cfs_period_us'));
      if (quota !== undefined && period !== undefined) limit = lower(limit, ratio(Number(quota), Number(period)));
    }
  }
  return limit;
}

let cached: number | undefined;

/** Threads that can run at once here: availableParallelism, lowered to a cgroup CPU quota. */
export function availableCores(): number {
  if (cached === undefined) {
    const limit = process.platform === 'linux' ? cgroupCpuLimit() : undefined;
    cached = Math.max(1, Math.min(os.availableParallelism(), limit ?? Number.POSITIVE_INFINITY));
  }
  return cached;
}
