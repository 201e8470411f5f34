// Serves the repository to a browser for the Silero VAD demo (examples/vad-demo/): a static
// file server on 127.0.0.1; the page maps the bare imports it needs with an import map.
//
//   npm run build && node examples/vad-serve.js [port]    then open the printed URL
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.wav': 'audio/wav', '.onnx': 'application/octet-stream' };

/** Starts the server on `port` (0: any free one); resolves with its URL and a close function. */
export async function serve(port = 0) {
  const server = createServer(async (req, res) => {
    const file = join(ROOT, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!file.startsWith(ROOT)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await serve(Number(process.argv[2] ?? 8080));
  console.log(`Silero VAD demo: ${url}/examples/vad-demo/index.html (Ctrl-C to stop)`);
}
