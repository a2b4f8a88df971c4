/**
 * How many threads can run at once: `os.availableParallelism()` (CPU affinity, a container's
 * cpuset), lowered to a cgroup CPU quota where one is set (`docker --cpus 2`, a Kubernetes CPU
 * limit). libuv honours the quota itself only from 1.49 (Node 20 ships 1.46), so it is read here:
 * cgroup v2 `cpu.max` ("max 100000", or "<quota> <period>"), else v1 `cpu.cfs_quota_us` (-1: none)
 * over `cpu.cfs_period_us`, under `/sys/fs/cgroup`, the container's own cgroup when it has a cgroup
 * namespace (Docker and Kubernetes give one by default). A fractional quota rounds up (1.5 CPUs: 2
 * threads), as Go's and the JVM's defaults do. Anything unreadable means no quota.
 * Internal (the pool's, the flow layer's and the CLI's defaults, and whether spinning pays; tests
 * reach it through skein/internal).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/** The CPU quota of the cgroup under `root`, in CPUs (rounded up, at least 1); undefined if none. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup'): number | undefined {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(join(root, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const ratio = (quota: number, period: number): number | undefined =>
    quota > 0 && period > 0 && Number.isFinite(quota / period) ? Math.max(1, Math.ceil(quota / period)) : undefined;
  const v2 = read('cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return quota === 'max' ? undefined : ratio(Number(quota), Number(period ?? 100_000));
  }
  const quota = read('cpu/cpu.cfs_quota_us') ?? read('cpu,cpuacct/cpu.cfs_quota_us');
  const period = read('cpu/cpu.cfs_period_us') ?? read('cpu,cpuacct/cpu.cfs_period_us');
  return quota === undefined || period === undefined ? undefined : ratio(Number(quota), Number(period));
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
