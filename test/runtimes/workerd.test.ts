// seqlayers on Cloudflare's workerd (npm `workerd`, no wrangler): the example Worker and its
// Durable Object (examples/runtimes/workerd) served on 127.0.0.1 from a capnp config written
// here. Modules are laid out as wrangler would upload them: the package resolved through its
// `workerd` export condition, .wasm files as compiled WebAssembly modules.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, loadDist } from './helpers.js';

const WORKERD = join(ROOT, 'node_modules/.bin/workerd');
const EXAMPLE = join(ROOT, 'examples/runtimes/workerd');
const MiB = 1024 * 1024;

let sl: Awaited<ReturnType<typeof loadDist>>;
let dir: string;
let port: number;
let checkPort: number;
let proc: ChildProcess | null = null;
let log = '';

/** The package entry wrangler picks: exports["."] under the conditions it sets, in key order. */
function workerdEntry(): string {
  const exp = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports['.'] as Record<string, string>;
  const key = Object.keys(exp).find((k) => ['workerd', 'worker', 'browser', 'import', 'default'].includes(k))!;
  expect(key).toBe('workerd');
  return exp[key]!.replace(/^\.\//, '');
}

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : []));
}

/**
 * A second Worker, served on `checkPort`: init() and initSync() after the global-scope
 * initSync() must keep its runtime, and one asking for another budget is refused.
 */
const INIT_CHECK = `import * as sl from 'seqlayers';
const first = sl.initSync({ maxMemoryBytes: 32 * 1024 * 1024 });
const runtime = sl.getRuntime();
export default {
  async fetch() {
    const again = await sl.init();
    const sync = sl.initSync();
    const otherBudget = await sl.init({ maxMemoryBytes: 16 * 1024 * 1024 }).then(() => 'accepted', (e) => e.code);
    return Response.json({ first, again, sync, same: sl.getRuntime() === runtime, otherBudget });
  },
};
`;

/** Copies the Workers, the package and the model into `dir` and writes config.capnp. */
function writeWorker() {
  const modules: string[] = [];
  const add = (name: string, kind: 'esModule' | 'wasm' | 'data', src: string, into = modules) => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    copyFileSync(src, join(dir, name));
    into.push(`(name = ${JSON.stringify(name)}, ${kind} = embed ${JSON.stringify(name)})`);
  };
  add('worker.js', 'esModule', join(EXAMPLE, 'worker.js'));
  add('model.js', 'esModule', join(EXAMPLE, 'model.js'));
  modules.push('(name = "weights.safetensors", data = embed "weights.safetensors")');
  // The bare "seqlayers" import resolves to the package's workerd entry.
  writeFileSync(join(dir, 'seqlayers.js'), `export * from "./node_modules/seqlayers/${workerdEntry()}";\n`);
  const packageModules = ['(name = "seqlayers", esModule = embed "seqlayers.js")'];
  const pkg = 'node_modules/seqlayers';
  for (const f of [...filesUnder(join(ROOT, 'dist'), '.js').filter((f) => !f.includes('/workers/') && !f.includes('/audio/')), join(ROOT, 'hosts/workerd.js')]) {
    add(`${pkg}/${relative(ROOT, f)}`, 'esModule', f, packageModules);
  }
  for (const f of filesUnder(join(ROOT, 'build'), '.wasm')) add(`${pkg}/${relative(ROOT, f)}`, 'wasm', f, packageModules);
  writeFileSync(join(dir, 'init-check.js'), INIT_CHECK);
  mkdirSync(join(dir, 'do-storage'), { recursive: true });
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "init-check", worker = .initCheck),
    (name = "do-storage", disk = (path = ${JSON.stringify(join(dir, 'do-storage'))}, writable = true)),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:${port}", http = (), service = "main"),
    (name = "init-check", address = "127.0.0.1:${checkPort}", http = (), service = "init-check"),
  ],
);
const worker :Workerd.Worker = (
  modules = [
    ${[...modules, ...packageModules].join(',\n    ')}
  ],
  compatibilityDate = "2025-09-01",
  durableObjectNamespaces = [(className = "StreamObject", uniqueKey = "seqlayers-runtime-test")],
  durableObjectStorage = (localDisk = "do-storage"),
  bindings = [(name = "STREAMS", durableObjectNamespace = "StreamObject")],
);
const initCheck :Workerd.Worker = (
  modules = [
    (name = "init-check.js", esModule = embed "init-check.js"),
    ${packageModules.join(',\n    ')}
  ],
  compatibilityDate = "2025-09-01",
);
`,
  );
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return p;
}

async function startWorkerd(): Promise<void> {
  proc = spawn(WORKERD, ['serve', join(dir, 'config.capnp')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try {
      if ((await fetch(`http://127.0.0.1:${port}/info`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`workerd did not start:\n${log}`);
}

async function stopWorkerd(): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc!.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

async function push(id: string, x: Float32Array): Promise<Float32Array> {
  const res = await fetch(`http://127.0.0.1:${port}/stream/${id}`, { method: 'POST', body: x.slice().buffer });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return new Float32Array(await res.arrayBuffer());
}

let model: import('../../dist/index.js').Model;

beforeAll(async () => {
  sl = await loadDist();
  await sl.init();
  const { config, inputShape } = (await import(/* @vite-ignore */ `${EXAMPLE}/model.js`)) as { config: object; inputShape: number[] };
  model = sl.build(config, { inputShape, seed: 11 });
  dir = mkdtempSync(join(tmpdir(), 'seqlayers-workerd-'));
  port = await freePort();
  checkPort = await freePort();
  writeWorker();
  execFileSync(process.execPath, [join(EXAMPLE, 'make-weights.js'), join(dir, 'weights.safetensors')]);
  await startWorkerd();
}, 60_000);

afterAll(async () => {
  await stopWorkerd();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('workerd', () => {
  it('streams through Durable Objects, one state per object, equal to layer() here, across a restart', async () => {
    const x = sl.randomSequence([1, 120, 8], { randomLengths: false, seed: 12 });
    const y = sl.randomSequence([1, 120, 8], { randomLengths: false, seed: 13 });
    const chunks = [7, 1, 16, 30, 2, 20, 44]; // uneven request sizes
    const streamed: Record<string, Float32Array[]> = { a: [], b: [] };
    let t = 0;
    for (const [i, n] of chunks.entries()) {
      // Two streams interleaved: each Durable Object keeps its own state.
      streamed.a!.push(await push('a', x.sliceTime(t, t + n).values as Float32Array));
      streamed.b!.push(await push('b', y.sliceTime(t, t + n).values as Float32Array));
      t += n;
      if (i === 3) {
        // The process goes away; the objects come back from the snapshots on disk.
        await stopWorkerd();
        await startWorkerd();
      }
    }
    const concat = (parts: Float32Array[]) => Float32Array.from(parts.flatMap((p) => [...p]));
    for (const [id, input] of [['a', x], ['b', y]] as const) {
      const expected = model.layer(input).values;
      const got = concat(streamed[id]!);
      expect(got.length).toBe(expected.length);
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - expected[i]!));
      expect(err, `stream ${id}`).toBeLessThan(1e-5);
    }
    const bad = await fetch(`http://127.0.0.1:${port}/stream/a`, { method: 'POST', body: new Float32Array(5).buffer });
    expect(bad.status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${port}/stream/a`, { method: 'DELETE' })).status).toBe(204);
  });

  it('init() and initSync() after the first keep its runtime; another budget is refused (found in review)', async () => {
    const out = (await (await fetch(`http://127.0.0.1:${checkPort}/`)).json()) as Record<string, unknown>;
    expect(out).toEqual({ first: out.first, again: out.first, sync: out.first, same: true, otherBudget: 'BAD_ARGUMENT' });
    expect(out.first).toMatchObject({ maxMemoryBytes: 32 * MiB });
  });

  it('keeps the model well under the 128 MB isolate limit', async () => {
    const info = (await (await fetch(`http://127.0.0.1:${port}/info`)).json()) as Record<string, number | string>;
    console.log(
      `[workerd] build ${info.build}; parameters ${info.parameterBytes} B; WebAssembly heap in use ${info.heapBytesInUse} B; ` +
        `linear memory ${(Number(info.memoryBytes) / MiB).toFixed(2)} MiB (budget ${Number(info.maxMemoryBytes) / MiB} MiB of the 128 MB isolate)`,
    );
    expect(Number(info.memoryBytes)).toBeLessThan(128 * MiB);
    expect(Number(info.maxMemoryBytes)).toBeLessThanOrEqual(32 * MiB);
    expect(log).not.toMatch(/uncaught|error/i);
  });
});
