/**
 * Channel throughput against `MessagePort.postMessage`, measured in the same run with the same
 * message counts: worker -> worker and worker -> main, for int32 messages, small objects
 * (`{ id, name, tags: [3 strings] }`) and 64 KiB byte arrays.
 *
 * Each measurement starts two fresh workers (or one, for worker -> main) from this same file, lets
 * them reach a start gate in shared memory, opens it, and sends `count / 10` untimed warm-up
 * messages (so both transports are measured with their code optimized), then takes the time from
 * the producer's first timed send to the consumer's last receive on the process-wide monotonic
 * clock. Every case runs `--runs` times (default 3), alternating the transports; the table shows
 * the median. Channels: capacity 1024 and the default ring (1 MiB); for 64 KiB messages capacity 64
 * and a 1 MiB ring (15 messages in flight).
 *
 * ```sh
 * npm run bench:channel
 * node dist/bench/channel.js --runs 5 --only int,small --scale 0.5 --routes worker->worker
 * node --cpu-prof --cpu-prof-dir bench/out/profiles dist/bench/channel.js --only small   # profile
 * ```
 */

import os from 'node:os';
import { MessageChannel, type MessagePort, parentPort, Worker, workerData } from 'node:worker_threads';
import { Channel, now } from '../src/internal.js';

type Kind = 'int' | 'small' | 'bytes64k';
type Transport = 'channel' | 'postMessage';
type Route = 'worker->worker' | 'worker->main';

const COUNTS: Record<Kind, number> = { int: 2_000_000, small: 500_000, bytes64k: 20_000 };
const PAYLOAD = new Uint8Array(64 * 1024).map((_, i) => i & 255);

function makeMessage(kind: Kind): (i: number) => unknown {
  if (kind === 'int') return (i) => i;
  if (kind === 'small') return (i) => ({ id: i, name: `item-${i}`, tags: ['red', 'green', 'blue'] });
  return () => PAYLOAD;
}

function makeChannel(kind: Kind): Channel<unknown> {
  return kind === 'bytes64k'
    ? new Channel({ capacity: 64, bytes: 1 << 20 })
    : new Channel({ capacity: 1024 });
}

interface Job {
  role: 'send' | 'recv';
  transport: Transport;
  kind: Kind;
  count: number;
  /** Untimed messages sent first. */
  warm: number;
  gate: SharedArrayBuffer;
  ch?: unknown;
  port?: MessagePort;
}

// ------------------------------------------------------------------------------------- worker side

function waitGate(gate: SharedArrayBuffer): void {
  const g = new Int32Array(gate);
  Atomics.add(g, 1, 1);
  Atomics.notify(g, 1);
  Atomics.wait(g, 0, 0);
}

async function workerMain(job: Job): Promise<void> {
  const msg = makeMessage(job.kind);
  const { count: n, warm } = job;
  if (job.transport === 'channel') {
    const ch = Channel.from(job.ch);
    waitGate(job.gate);
    if (job.role === 'send') {
      for (let i = 0; i < warm; i++) ch.sendSync(msg(i));
      const t0 = now();
      for (let i = 0; i < n; i++) ch.sendSync(msg(i));
      parentPort?.postMessage({ t0, t1: now() });
    } else {
      let sum = 0;
      for (let i = 0; i < warm; i++) ch.recvSync();
      for (let i = 0; i < n; i++) {
        const r = ch.recvSync();
        if (r.ok && job.kind === 'int') sum += r.value as number;
      }
      if (job.kind === 'int' && sum !== (n * (n - 1)) / 2) throw new Error(`bad sum ${sum}`);
      parentPort?.postMessage({ t1: now() });
    }
    return;
  }
  const port = job.port as MessagePort;
  if (job.role === 'send') {
    waitGate(job.gate);
    for (let i = 0; i < warm; i++) port.postMessage(msg(i));
    const t0 = now();
    for (let i = 0; i < n; i++) port.postMessage(msg(i));
    parentPort?.postMessage({ t0, t1: now() });
    port.close();
  } else {
    let got = 0;
    port.on('message', () => {
      if (++got === n + warm) {
        parentPort?.postMessage({ t1: now() });
        port.close();
      }
    });
    waitGate(job.gate);
  }
}

// --------------------------------------------------------------------------------------- main side

const SELF = new URL(import.meta.url);

function start(
  job: Job,
  transfer: MessagePort[] = [],
): { w: Worker; done: Promise<{ t0?: number; t1: number }> } {
  const w = new Worker(SELF, { workerData: job, transferList: transfer });
  const done = new Promise<{ t0?: number; t1: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return { w, done };
}

async function openGate(gate: SharedArrayBuffer, parties: number): Promise<void> {
  const g = new Int32Array(gate);
  while (Atomics.load(g, 1) < parties) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, 20));
  Atomics.store(g, 0, 1);
  Atomics.notify(g, 0);
}

/** Seconds from the first send to the last receive. */
async function measure(transport: Transport, route: Route, kind: Kind, count: number): Promise<number> {
  const gate = new SharedArrayBuffer(8);
  const warm = Math.ceil(count / 10);
  const base = { transport, kind, count, warm, gate };
  if (transport === 'channel') {
    const ch = makeChannel(kind);
    const prod = start({ ...base, role: 'send', ch });
    if (route === 'worker->worker') {
      const cons = start({ ...base, role: 'recv', ch });
      await openGate(gate, 2);
      const [p, c] = await Promise.all([prod.done, cons.done]);
      return (c.t1 - (p.t0 as number)) / 1000;
    }
    await openGate(gate, 1);
    const first = await new Promise<number>((resolve) => {
      // the producer's t0 comes with its done message; time the receive loop here
      void (async () => {
        let sum = 0;
        for (let i = 0; i < warm; i++) await ch.recv();
        for (let i = 0; i < count; i++) {
          const r = await ch.recv();
          if (r.ok && kind === 'int') sum += r.value as number;
        }
        if (kind === 'int' && sum !== (count * (count - 1)) / 2) throw new Error(`bad sum ${sum}`);
        resolve(now());
      })();
    });
    const p = await prod.done;
    return (first - (p.t0 as number)) / 1000;
  }
  if (route === 'worker->worker') {
    const { port1, port2 } = new MessageChannel();
    const cons = start({ ...base, role: 'recv', port: port2 }, [port2]);
    const prod = start({ ...base, role: 'send', port: port1 }, [port1]);
    await openGate(gate, 2);
    const [p, c] = await Promise.all([prod.done, cons.done]);
    return (c.t1 - (p.t0 as number)) / 1000;
  }
  const { port1, port2 } = new MessageChannel();
  const prod = start({ ...base, role: 'send', port: port1 }, [port1]);
  let got = 0;
  const end = new Promise<number>((resolve) => {
    port2.on('message', () => {
      if (++got === count + warm) resolve(now());
    });
  });
  await openGate(gate, 1);
  const t1 = await end;
  port2.close();
  const p = await prod.done;
  return (t1 - (p.t0 as number)) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function fmtRate(perSec: number): string {
  return perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)}M/s` : `${(perSec / 1e3).toFixed(0)}k/s`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(arg('--runs') ?? 3);
  const scale = Number(arg('--scale') ?? 1);
  const kinds = (arg('--only')?.split(',') ?? ['int', 'small', 'bytes64k']) as Kind[];
  const routes = (arg('--routes')?.split(',') ?? ['worker->worker', 'worker->main']) as Route[];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `Node ${process.version}, ${os.availableParallelism()} cores (${cpu}), ${os.platform()} ${os.arch()}; median of ${runs} runs\n`,
  );
  console.log('| messages | route | count | Channel | postMessage | ratio |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const kind of kinds) {
    const count = Math.round(COUNTS[kind] * scale);
    for (const route of routes) {
      const t: Record<Transport, number[]> = { channel: [], postMessage: [] };
      for (let r = 0; r < runs; r++) {
        for (const transport of ['channel', 'postMessage'] as Transport[]) {
          t[transport].push(await measure(transport, route, kind, count));
        }
      }
      const ch = count / median(t.channel);
      const pm = count / median(t.postMessage);
      const unit = (rate: number) =>
        kind === 'bytes64k' ? `${fmtRate(rate)} (${((rate * 65536) / 1e9).toFixed(2)} GB/s)` : fmtRate(rate);
      console.log(`| ${kind} | ${route} | ${count} | ${unit(ch)} | ${unit(pm)} | ${(ch / pm).toFixed(2)}x |`);
    }
  }
}

if (workerData) await workerMain(workerData as Job);
else await main();
