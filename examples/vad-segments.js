// Speech segments from Silero VAD's per-chunk speech probabilities, shared by examples/vad.js
// and the browser demo (examples/vad-demo/).

/**
 * After Silero's get_speech_timestamps (silero-vad utils_vad.py; without its
 * max_speech_duration split): speech starts at p >= threshold, ends after 100 ms below
 * threshold - 0.15, lasts at least 250 ms, and is padded by 30 ms on each side.
 * @param {ArrayLike<number>} p speech probability of each chunk
 * @param {number} chunk samples per chunk (512 at 16 kHz)
 * @param {number} sampleRate samples per second
 * @returns {[number, number][]} [start, end] of each segment, in seconds
 */
export function speechSegments(p, chunk, sampleRate, threshold = 0.5) {
  const samples = (ms) => (ms * sampleRate) / 1000;
  const minSpeech = samples(250), minSilence = samples(100), pad = samples(30), total = p.length * chunk;
  const out = [];
  let start = -1, silenceFrom = -1;
  for (let i = 0; i < p.length; i++) {
    const at = i * chunk;
    if (p[i] >= threshold) {
      silenceFrom = -1;
      if (start < 0) start = at;
    } else if (start >= 0 && p[i] < threshold - 0.15) {
      if (silenceFrom < 0) silenceFrom = at;
      if (at - silenceFrom >= minSilence) {
        if (silenceFrom - start > minSpeech) out.push([start, silenceFrom]);
        start = silenceFrom = -1;
      }
    }
  }
  if (start >= 0 && total - start > minSpeech) out.push([start, total]);
  return out.map(([a, b]) => [Math.max(0, a - pad) / sampleRate, Math.min(total, b + pad) / sampleRate]);
}
