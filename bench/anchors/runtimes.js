// The anchors, loaded the way their users load them in Node, on one thread each:
// onnxruntime-web (WASM SIMD), onnxruntime-node (native CPU) and tfjs-core on
// tfjs-backend-wasm (XNNPACK). Each anchor missing from node_modules is skipped with a note.

/** Session options shared by both onnxruntime flavours: one thread, every graph optimisation. */
const ORT_OPTIONS = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };

async function onnxAnchor(pkg) {
  const ort = await import(pkg);
  if (pkg === 'onnxruntime-web') {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
  }
  return {
    ort,
    /** An InferenceSession over ONNX model bytes. */
    session: (bytes) => ort.InferenceSession.create(bytes, ORT_OPTIONS),
    tensor: (data, dims) => new ort.Tensor('float32', data, dims),
  };
}

async function tfjsAnchor() {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  return { tf };
}

/**
 * Every anchor that loads: { 'onnxruntime-web': { ort, session, tensor }, 'onnxruntime-node':
 * ..., 'tfjs-wasm': { tf } }, plus `missing`: names that failed to load, with the reason.
 */
export async function loadAnchors() {
  const out = {};
  const missing = {};
  const tries = [
    ['onnxruntime-web', () => onnxAnchor('onnxruntime-web')],
    ['onnxruntime-node', () => onnxAnchor('onnxruntime-node')],
    ['tfjs-wasm', tfjsAnchor],
  ];
  for (const [name, load] of tries) {
    try {
      out[name] = await load();
    } catch (e) {
      missing[name] = e.message;
    }
  }
  return { anchors: out, missing };
}

/** Package names whose versions results.json records. */
export const ANCHOR_PACKAGES = ['onnxruntime-web', 'onnxruntime-node', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'];
