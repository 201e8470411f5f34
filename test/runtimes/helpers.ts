// Shared by the runtime tests: they run the built package (dist/, build/, hosts/) the way each
// runtime loads it, so dist/ is rebuilt first when src/ is newer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DIST = join(ROOT, 'dist');

type SL = typeof import('../../dist/index.js');

function newest(dir: string, ext: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (e.name.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const mtime = (p: string) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};

const fresh = () => mtime(join(DIST, 'index.js')) >= newest(join(ROOT, 'src'), '.ts') && mtime(join(ROOT, 'build/kernels.wasm')) > 0;

/**
 * Rebuilds dist/ (and the kernels if missing) when src/ changed; one test file at a time. Type
 * errors elsewhere in src/ do not stop the emit (these tests check behaviour; `npm run build`
 * and typecheck check types); they are printed.
 */
export async function ensureBuilt(): Promise<void> {
  if (fresh()) return;
  const lock = join(ROOT, 'node_modules/.seqlayers-build-lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() - mtime(lock) > 120_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (mtime(join(ROOT, 'build/kernels.wasm')) < 0) execFileSync('npm', ['run', 'build:wasm'], { cwd: ROOT, stdio: 'pipe' });
    if (!fresh()) {
      try {
        execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noEmitOnError', 'false'], { cwd: ROOT, stdio: 'pipe' });
      } catch (e) {
        const out = (e as { stdout?: Buffer }).stdout?.toString() ?? String(e);
        if (!fresh()) throw new Error(`building dist/ for the runtime tests failed:\n${out}`);
        console.warn(`[runtime tests] dist/ was built from a tree with type errors:\n${out}`);
      }
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The library as the package exports it to Node (after ensureBuilt). */
export async function loadDist(): Promise<SL> {
  await ensureBuilt();
  return import('../../dist/index.js');
}

/**
 * The test model: causal Conv1D + ReLU + dilated causal Conv1D + Dense over 8 channels, with
 * seeded random weights written to safetensors (what a user ships).
 */
export function testModel(sl: SL) {
  const config = sl.Serial([
    sl.Conv1D({ filters: 16, kernelSize: 3, padding: 'causal' }),
    sl.Relu(),
    sl.Conv1D({ filters: 16, kernelSize: 2, dilationRate: 2, padding: 'causal' }),
    sl.Dense({ features: 4 }),
  ]);
  const inputShape = [8];
  const model = sl.build(config, { inputShape, seed: 7 });
  return { model, config: JSON.parse(JSON.stringify(model.toConfig())), inputShape, weights: sl.writeSafetensors(model.getWeights()) };
}

/** x cut into blocks of `block` steps. */
export function blocksOf(x: import('../../dist/index.js').Sequence, block: number) {
  const out = [];
  for (let t = 0; t < x.time; t += block) out.push(x.sliceTime(t, t + block));
  return out;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.html': 'text/html',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/**
 * Where a bundler targeting browsers sends a bare import: seqlayers[/subpath] through the
 * package's `browser` export condition, comlink to its ESM build (its `module` field).
 */
function browserPath(specifier: string): string | null {
  if (specifier === 'comlink') return '/node_modules/comlink/dist/esm/comlink.mjs';
  const m = /^seqlayers(\/.+)?$/.exec(specifier);
  if (!m) return null;
  const exp = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports[`.${m[1] ?? ''}`] as Record<string, string> | undefined;
  const target = exp?.browser ?? exp?.default;
  return target ? target.slice(1) : null;
}

/**
 * A static server for the repository root on 127.0.0.1. Bare imports are rewritten as a bundler
 * or dev server does (browsers resolve no bare specifiers, and module workers take no import
 * maps), except under /unbundled/, which serves the same files as they are.
 */
export async function serveRoot(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const unbundled = path.startsWith('/unbundled/');
    const file = join(ROOT, unbundled ? path.slice('/unbundled'.length) : path);
    if (!file.startsWith(ROOT)) {
      res.writeHead(403).end();
      return;
    }
    try {
      let body: Buffer | string = await readFile(file);
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      if (type === 'text/javascript' && !unbundled) body = body.toString().replace(/from '([^.'/][^']*)'/g, (all, spec: string) => (browserPath(spec) ? `from '${browserPath(spec)}'` : all));
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Median of numbers. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
