// A Cloudflare Worker streaming a seqlayers model: one Durable Object per stream id, holding the
// stream's state snapshot in its storage between requests.
//
//   POST   /stream/<id>  body: float32 frames [time, channels] (little-endian)
//                        -> float32 outputs [time, output channels]
//   DELETE /stream/<id>  forgets the stream
//   GET    /info         model metadata and WebAssembly memory use
//
// The `workerd` export condition of seqlayers imports the kernels as compiled WebAssembly
// modules (Workers cannot compile bytes). The weights ship as a data module.
import * as sl from 'seqlayers';
import weights from './weights.safetensors';
import { config, inputShape } from './model.js';

// Once per isolate, in the global scope: every Durable Object in the isolate shares this model
// and its WebAssembly memory, under the isolate's 128 MB limit (memory never shrinks).
sl.initSync({ maxMemoryBytes: 32 * 1024 * 1024 });
const model = sl.build(config, { inputShape });
model.loadWeights(sl.readSafetensors(new Uint8Array(weights)));
const channels = inputShape[0];

export class StreamObject {
  constructor(ctx) {
    this.storage = ctx.storage;
  }

  async fetch(request) {
    if (request.method === 'DELETE') {
      await this.storage.delete('state');
      return new Response(null, { status: 204 });
    }
    const x = new Float32Array(await request.arrayBuffer());
    if (x.length % channels !== 0) return Response.json({ error: `expected frames of ${channels} float32 values` }, { status: 400 });
    // The state lives in WebAssembly memory only while this request runs: an evicted object
    // leaves nothing behind, and a restarted one continues from the stored snapshot.
    const saved = await this.storage.get('state');
    const state = saved ? model.restoreState(new Uint8Array(saved)) : model.initialState(1);
    try {
      const y = model.step(sl.Sequence.fromValues(x, [1, x.length / channels, channels]), state);
      await this.storage.put('state', state.toBytes());
      return new Response(y.values);
    } catch (e) {
      return Response.json({ error: e.message, code: e.code }, { status: 400 });
    } finally {
      state.dispose();
    }
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stream = /^\/stream\/([\w-]+)$/.exec(url.pathname);
    if (stream) return env.STREAMS.get(env.STREAMS.idFromName(stream[1])).fetch(request);
    if (url.pathname === '/info') {
      const rt = sl.getRuntime();
      return Response.json({
        build: rt.build,
        blockSize: model.blockSize,
        outputShape: model.outputShape(),
        parameterBytes: model.params().reduce((n, p) => n + p.size * 4, 0),
        heapBytesInUse: rt.heap.inUse,
        memoryBytes: rt.memory.buffer.byteLength,
        maxMemoryBytes: rt.heap.maxBytes,
      });
    }
    return new Response('not found', { status: 404 });
  },
};
