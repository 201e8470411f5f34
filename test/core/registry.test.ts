// The layer registry a custom layer goes through (defineLayer, registerLayers, builder), and
// the config field checks it relies on.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import type { WSeq } from '../../src/index.js';

/** A layer of the user's own: passes its input through. */
class Pass extends sl.Layer {
  runLayer(x: WSeq): WSeq {
    return x;
  }
}

const expectCode = (f: () => unknown, code: sl.ErrorCode, message: RegExp) => {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'it throws').toBeInstanceOf(sl.SeqLayersError);
  expect((caught as sl.SeqLayersError).code).toBe(code);
  expect((caught as Error).message).toMatch(message);
};

beforeAll(() => sl.init());

describe('defineLayer and builder', () => {
  it('gives a custom layer a config builder as the built-ins have, defineLayer returning its definition (found in review)', () => {
    const def = { type: 'RegistryPass', fields: { label: sl.f.str().default('') }, create: (c: sl.LayerConfig, ctx: sl.BuildContext) => new Pass(c, ctx) };
    const PassDef = sl.defineLayer(def);
    expect(PassDef).toBe(def);
    sl.registerLayers([PassDef]);
    const RegistryPass = sl.builder(PassDef);
    expect(RegistryPass({ label: 'a' })).toEqual({ type: 'RegistryPass', label: 'a' });
    expect(RegistryPass()).toEqual({ type: 'RegistryPass' });
    const model = sl.build(sl.Serial([RegistryPass({ label: 'a' }), sl.Dense({ features: 2 })]), { inputShape: [3] });
    expect(model.toConfig()).toMatchObject({ layers: [{ type: 'RegistryPass', label: 'a' }, { type: 'Dense' }] });
    model.dispose();
  });
});

describe('registerLayers', () => {
  const create = (c: sl.LayerConfig, ctx: sl.BuildContext) => new Pass(c, ctx);

  it('refuses malformed definitions with BAD_ARGUMENT naming what is wrong, registering none of the list (found in review)', () => {
    const before = sl.registeredTypes();
    sl.registerLayers([{ type: 'RegistryGood', fields: {}, create }]);
    const cases: [unknown, RegExp][] = [
      [null, /defs\[0\]: expected a layer definition \{ type, fields, create \}, got null/],
      [{ tpye: 'X', fields: {}, create }, /defs\[0\]\.type: expected a non-empty string \(the layer type's name\), got undefined/],
      [{ type: '', fields: {}, create }, /defs\[0\]\.type: expected a non-empty string .*, got ""/],
      [{ type: 'RegistryX', create }, /defs\[0\]\.fields: expected an object of fields made with f .*, got undefined/],
      [{ type: 'RegistryX', fields: { units: 'int' }, create }, /defs\[0\]\.fields\.units: expected a field made with f .*, got "int"/],
      [{ type: 'RegistryX', fields: {} }, /defs\[0\]\.create: expected a function \(config, ctx\) => Layer, got undefined/],
      [{ type: 'RegistryX', fields: {}, create, storesInt8: true }, /defs\[0\]\.storesInt8: expected a function .*, got true/],
      [{ type: 'Conv1D', fields: {}, create }, /defs\[0\]\.type: layer type "Conv1D" is already registered \(a built-in type or an earlier registration\)/],
      [{ type: 'RegistryGood', fields: {}, create }, /defs\[0\]\.type: layer type "RegistryGood" is already registered/],
    ];
    for (const [def, message] of cases) {
      expectCode(() => sl.registerLayers([def as sl.LayerDef]), 'BAD_ARGUMENT', new RegExp(`^\\[BAD_ARGUMENT\\] registerLayers: ${message.source}`));
    }
    expectCode(() => sl.registerLayers('Pass' as never), 'BAD_ARGUMENT', /registerLayers: expected a list of layer definitions \(from defineLayer\), got "Pass"/);
    // A good definition before a bad one, or two of one name, are not registered either.
    expectCode(() => sl.registerLayers([{ type: 'RegistryFirst', fields: {}, create }, { type: 'RegistryX', fields: {} } as never]), 'BAD_ARGUMENT', /defs\[1\]\.create/);
    expectCode(() => sl.registerLayers([{ type: 'RegistryTwin', fields: {}, create }, { type: 'RegistryTwin', fields: {}, create }]), 'BAD_ARGUMENT', /defs\[1\]\.type: layer type "RegistryTwin" is already registered/);
    expect(sl.registeredTypes()).toEqual([...before, 'RegistryGood'].sort());
  });

  it('a create() that returns no Layer is BAD_CONFIG at build, naming the type and the path (found in review)', () => {
    sl.registerLayers([sl.defineLayer({ type: 'RegistryNotALayer', fields: {}, create: () => ({}) as sl.Layer })]);
    expectCode(
      () => sl.build(sl.Serial([sl.Relu(), { type: 'RegistryNotALayer' }]), { inputShape: [1] }),
      'BAD_CONFIG',
      /^\[BAD_CONFIG\] config\.layers\[1\]: the create\(\) of layer type "RegistryNotALayer" returned \{\}, expected a Layer \(an instance of a Layer subclass\)$/,
    );
  });
});

describe('f.str({ nonEmpty: true })', () => {
  it('an empty source_name is BAD_CONFIG at the config, as the reference refuses it, not a missing constants[""] (found in review)', () => {
    const source = sl.Sequence.fromValues(new Float32Array(2 * 3), [1, 2, 3]);
    const configs = [
      { type: 'DotProductAttention', num_heads: 2, units_per_head: 3 },
      { type: 'StreamingDotProductAttention', num_heads: 2, units_per_head: 3, max_past_horizon: 2 },
    ];
    for (const config of configs) {
      sl.build({ ...config, source_name: 'src' }, { inputShape: [4], constants: { src: source } }).dispose();
      expectCode(
        () => sl.build({ ...config, source_name: '' }, { inputShape: [4], constants: { '': source } }),
        'BAD_CONFIG',
        /^\[BAD_CONFIG\] config\.source_name: expected a non-empty string, got ""$/,
      );
    }
  });
});
