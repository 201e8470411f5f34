#!/usr/bin/env node
// Random differential test against Google's SequenceLayers (JAX), the second half: reads the
// cases tools/refdiff.py wrote (random configs run by the reference), builds each with seqlayers
// (its flax variables loaded with naming 'flax'), and compares with the reference: layer()'s
// values at valid steps and its mask, the output dtype, the metadata (block size, output ratio,
// latencies, supports_step, receptive field), and step() over a few block splits (one block,
// three, a random mix) against the reference's layer(). Prints per family how many cases
// matched, departed (matched but for a documented departure from the reference's metadata,
// DEPARTURES below), mismatched and were refused by seqlayers (a coded error at build: listed,
// not failed), and for each mismatch its config on one line and the worst difference. Exits 1
// on any mismatch. Not part of `npm test` (CI has no jax); the cases file is not committed.
//
// Set-up and the reference's half: see the header of tools/refdiff.py. Then, against dist/
// (`npx tsc -p tsconfig.build.json` first), in both kernel builds:
//
//   node tools/refdiff.js /tmp/cases.json [--case I] [--family F]
//   node --experimental-wasm-relaxed-simd tools/refdiff.js /tmp/cases.json
//
// --case I compares case I alone (its index is printed with each mismatch), --family F one family.

const sl = await import(new URL('../dist/index.js', import.meta.url).href);
const { readFileSync } = await import('node:fs');

/** A value is close when |ours - reference| <= ATOL + RTOL * |reference|. */
const RTOL = 2e-4, ATOL = 1e-4;

/**
 * Where our metadata departs from the reference's on purpose (README, the reference section;
 * test/reference.test.ts DEPARTURES): the fields, when a config departs, why.
 */
const DEPARTURES = [
  {
    fields: ['supports_step'],
    when: (json) => /"max_past_horizon":-1/.test(json),
    why: 'an unlimited past steps here with a growing KV cache; the reference cannot step it',
  },
  {
    fields: ['receptive_field'],
    when: (json) => /_network":\{"type":"(ApplyRotaryPositionalEncoding|AddTimingSignal)"/.test(json),
    why: "a query or key network counting valid steps reads every earlier mask; the reference leaves its networks out of the field",
  },
  {
    fields: ['input_latency', 'output_latency'],
    when: (json) => json.includes('"type":"Repeat"'),
    why: "a Repeat's latency is num_repeats times its child's; the reference declares twice the child's",
  },
  {
    fields: ['receptive_field'],
    when: (json) => /"type":"(InverseSTFT|OverlapAdd)"[^{}]*"semicausal_full"/.test(json),
    why: 'the reference declares receptive fields for semicausal_full InverseSTFT and OverlapAdd that leave out steps its output depends on',
  },
  {
    fields: ['receptive_field'],
    when: (json) => json.includes('"type":"Serial"') && /"type":"(Conv1DTranspose|Conv2DTranspose|Upsample1D|Upsample2D)"/.test(json),
    why: 'the reference declares receptive fields for Serials through upsamplers that leave out a step the output depends on',
  },
];

/**
 * Where our values depart from the reference's on purpose: when a case departs, the values it
 * accounts for (ours, the reference's, the case, batch item, step), why.
 */
const VALUE_DEPARTURES = [
  {
    when: (json, c) => fullyMaskedQueries(c).size > 0,
    // Only at the steps of such queries (a later layer mixing steps may spread the difference further, and fail).
    values: (ours, reference, c, b, t) => fullyMaskedQueries(c).has(`${b},${t}`),
    why: 'a streaming cross attention query with no valid source step in its window outputs zero here; the reference (without zero_fully_masked) the mean of every value it holds (src/layers/attention/streaming-dot-product-attention.ts)',
  },
  {
    when: (json) => json.includes('"type":"MaskedDense"'),
    values: (ours, reference) => Number.isNaN(reference) && Number.isFinite(ours),
    why: "MaskedDense: a NaN input at a later step (an id out of a SequenceEmbedding's range) reaches every output in the reference (0 × NaN in its masked kernel), only the later ones here (src/layers/time-varying.ts)",
  },
];

/** The layer configs in a config, depth first. */
function* layersOf(config) {
  if (Array.isArray(config)) for (const v of config) yield* layersOf(v);
  else if (config && typeof config === 'object') {
    if (config.type) yield config;
    for (const v of Object.values(config)) yield* layersOf(v);
  }
}

/**
 * The valid query steps `${b},${t}` at which a streaming cross attention (without
 * zero_fully_masked; the case's first layer, or one reading its streamed source unchanged) finds
 * no valid step of its source in its window [t - past, t + future]. The query mask is the
 * input's: a layer before it that moves steps is not followed. Computed once per case.
 */
const maskedQueries = new WeakMap();
function fullyMaskedQueries(c) {
  if (maskedQueries.has(c)) return maskedQueries.get(c);
  const found = new Set();
  const attention = [...layersOf(c.config)].find((l) => /^Streaming(Local)?DotProductAttention$/.test(l.type) && !l.zero_fully_masked);
  const source = attention && c.constants[attention.source_name];
  if (source) {
    const past = attention.max_past_horizon ?? 0, future = attention.max_future_horizon ?? 0;
    const [batch, time] = c.input.shape, sourceTime = source.shape[1];
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < time; t++) {
        if (!c.input.mask[b * time + t]) continue;
        let any = false;
        for (let s = past < 0 ? 0 : Math.max(0, t - past); s <= Math.min(sourceTime - 1, t + future); s++) any ||= source.mask[b * sourceTime + s] === 1;
        if (!any) found.add(`${b},${t}`);
      }
    }
  }
  maskedQueries.set(c, found);
  return found;
}

/** A number from the cases file (NaN and infinities are strings there). */
const num = (v) => (typeof v === 'string' ? Number(v.replace('inf', 'Infinity')) : v);

/** A Sequence from the file's {shape, dtype, values, mask}; complex64 values are (re, im) pairs. */
function sequenceOf(s) {
  const values = s.dtype === 'int32' ? Int32Array.from(s.values) : Float32Array.from(s.values, num);
  const mask = s.mask ? Uint8Array.from(s.mask) : new Uint8Array(s.shape[0] * s.shape[1]).fill(1);
  return new sl.Sequence(values, mask, s.shape, s.dtype);
}

/** The case's constants as seqlayers takes them, and the names streamed with the steps. */
function constantsOf(c) {
  const constants = {}, streamed = [];
  for (const [name, k] of Object.entries(c.constants)) {
    constants[name] = k.kind === 'array' ? { values: Float32Array.from(k.values, num), shape: k.shape } : sequenceOf(k);
    if (k.kind === 'stream' || k.kind === 'ids') streamed.push(name);
  }
  return { constants: streamed.length || Object.keys(constants).length ? constants : undefined, streamed };
}

/** Our model's metadata in the reference's terms. */
function metadataOf(model) {
  const rf = model.receptiveField;
  return {
    block_size: model.blockSize,
    output_ratio: [model.outputRatio.num, model.outputRatio.den],
    input_latency: model.inputLatency,
    output_latency: model.outputLatency,
    supports_step: model.supportsStep,
    receptive_field: rf && rf.map((v) => (Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf')),
  };
}

/** The reference's receptive field: an empty one (its receptive_field raises "start=inf > end=-inf") is our null. */
const referenceField = (rf) => (typeof rf === 'string' && rf.includes('start=inf > end=-inf') ? null : rf);

/**
 * How ours (a Sequence) differs from the reference's output {shape, dtype, values, mask}: null,
 * or a message naming the first mask difference or the worst value. Lengths may differ by
 * invalid steps; two non-finite values agree (README, numbers), and so do the values a value
 * departure accounts for (counted in departed.values).
 */
function difference(ours, ref, what, departed) {
  const [batch, refTime, ...refChannels] = ref.shape;
  if (ours.dtype !== ref.dtype) return `${what}: dtype ${ours.dtype}, reference ${ref.dtype}`;
  if (ours.channelShape.join() !== refChannels.join()) return `${what}: channels [${ours.channelShape}], reference [${refChannels}]`;
  const row = refChannels.reduce((a, b) => a * b, 1) * (ref.dtype === 'complex64' ? 2 : 1);
  let worst = 0, where = '';
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < Math.max(ours.time, refTime); t++) {
      const m = t < ours.time ? ours.mask[b * ours.time + t] : 0, rm = t < refTime ? ref.mask[b * refTime + t] : 0;
      if (m !== rm) return `${what}: mask at batch ${b} step ${t}: ${m}, reference ${rm} (${ours.time} steps, reference ${refTime})`;
      if (!m) continue;
      for (let j = 0; j < row; j++) {
        const a = ours.values[(b * ours.time + t) * row + j], e = num(ref.values[(b * refTime + t) * row + j]);
        if (a === e || (!Number.isFinite(a) && !Number.isFinite(e))) continue;
        if (departed.departure?.values(a, e, departed.case, b, t)) {
          departed.values++;
          continue;
        }
        const excess = Math.abs(a - e) - ATOL - RTOL * Math.abs(e);
        if (!(excess <= worst)) {
          worst = Number.isNaN(excess) ? Infinity : excess;
          where = `batch ${b} step ${t} element ${j}: ${a}, reference ${e}`;
        }
      }
    }
  }
  return where ? `${what}: worst value at ${where}` : null;
}

/** Block splits for step(): one block, three, and a seeded mix of 1 to 3 blocks. */
function splits(total, block, seed) {
  let s = seed + 1;
  const random = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const mixed = [];
  for (let t = 0; t < total;) {
    const n = Math.min(total - t, block * (1 + Math.floor(random() * 3)));
    mixed.push(n);
    t += n;
  }
  return [block, 3 * block, mixed];
}

/** Compares one case: { outcome: 'matched' | 'departed' | 'mismatched' | 'refused', notes }. */
function compareCase(c, index) {
  const json = JSON.stringify(c.config);
  const { constants, streamed } = constantsOf(c);
  let model;
  try {
    model = sl.build(c.config, { inputShape: c.input_shape, inputDtype: c.input_dtype, constants });
    const weights = Object.fromEntries(Object.entries(c.weights).map(([k, w]) => [k, { dtype: 'F32', shape: w.shape, data: Float32Array.from(w.values, num) }]));
    if (Object.keys(weights).length) model.loadWeights(weights, { naming: 'flax' });
  } catch (e) {
    model?.dispose();
    if (e instanceof sl.SeqLayersError) return { outcome: 'refused', notes: [e.message] };
    return { outcome: 'mismatched', notes: [`build threw: ${e?.stack ?? e}`] };
  }
  const issues = [], departures = [];
  const departed = { departure: VALUE_DEPARTURES.find((d) => d.when(json, c)), values: 0, case: c };
  try {
    const ours = metadataOf(model);
    for (const [field, want] of Object.entries({ ...c.metadata, receptive_field: referenceField(c.metadata.receptive_field) })) {
      if (JSON.stringify(ours[field]) === JSON.stringify(want)) continue;
      const departure = DEPARTURES.find((d) => d.fields.includes(field) && d.when(json));
      if (departure) departures.push(`${field}: ${departure.why}`);
      else issues.push(`metadata ${field}: ${JSON.stringify(ours[field])}, reference ${JSON.stringify(want)}`);
    }
    const x = sequenceOf(c.input);
    const y = model.layer(x, { constants });
    const layerDifference = difference(y, c.output, 'layer()', departed);
    if (layerDifference) issues.push(layerDifference);
    if (model.supportsStep) {
      const xs = x.padTime(0, model.inputLatency, false);
      for (const split of splits(xs.padToMultiple(model.blockSize).time, model.blockSize, index)) {
        const stepped = sl.stepByStep(model, xs, split, constants, streamed).sliceTime(model.outputLatency);
        const stepDifference = difference(stepped, c.output, `step() in blocks of ${JSON.stringify(split)}`, departed);
        if (stepDifference) {
          issues.push(stepDifference);
          break;
        }
      }
    }
  } catch (e) {
    issues.push(`threw: ${e instanceof sl.SeqLayersError ? e.message : e?.stack ?? e}`);
  } finally {
    model.dispose();
  }
  if (departed.values) departures.push(`${departed.values} values: ${departed.departure.why}`);
  if (issues.length) return { outcome: 'mismatched', notes: issues };
  return { outcome: departures.length ? 'departed' : 'matched', notes: departures };
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
  const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  if (!file) {
    console.error('usage: node [--experimental-wasm-relaxed-simd] tools/refdiff.js CASES.json [--case I] [--family F]');
    process.exit(2);
  }
  const { cases, rejected, seed } = JSON.parse(readFileSync(file, 'utf8'));
  const only = option('case') === undefined ? undefined : Number(option('case')), family = option('family');
  const info = await sl.init();
  const tally = {};
  let mismatches = 0;
  cases.forEach((c, i) => {
    if ((only !== undefined && i !== only) || (family && c.family !== family)) return;
    const { outcome, notes } = compareCase(c, i);
    const t = (tally[c.family] ??= { matched: 0, departed: 0, mismatched: 0, refused: 0 });
    t[outcome]++;
    if (outcome === 'mismatched' || outcome === 'refused' || only !== undefined) {
      mismatches += outcome === 'mismatched';
      console.log(`${outcome} case ${i} (${c.family}, input [${c.input_shape}] ${c.input_dtype}, ${c.input.shape[1]} steps): ${JSON.stringify(c.config)}`);
      for (const n of notes) console.log(`  ${n}`);
    }
  });
  console.log(`${file} (seed ${seed}), kernel build ${info.build}:`);
  for (const [f, t] of Object.entries(tally)) {
    console.log(`  ${f}: ${t.matched} matched, ${t.departed} departed (documented), ${t.mismatched} mismatched, ${t.refused} refused by seqlayers; ${rejected[f]?.length ?? 0} rejected by the reference`);
  }
  process.exitCode = mismatches ? 1 : 0;
}

await main();
