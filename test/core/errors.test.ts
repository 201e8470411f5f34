// show(): how an error message names what arrived. Every coded error says what was expected
// and what arrived, so show() must name any value recognisably and briefly.
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { show } from '../../src/errors.js';

describe('show', () => {
  it('names binary data, functions, collections and class instances instead of printing "{}"', () => {
    expect(show(new ArrayBuffer(12))).toBe('ArrayBuffer(12 bytes)');
    expect(show(new SharedArrayBuffer(8))).toBe('SharedArrayBuffer(8 bytes)');
    expect(show(new DataView(new ArrayBuffer(3)))).toBe('DataView(3 bytes)');
    expect(show(new Float64Array(4))).toBe('Float64Array(4)');
    expect(show(new Map([['a', 1]]))).toBe('Map(1)');
    expect(show(new Set())).toBe('Set(0)');
    expect(show(5n)).toBe('5n');
    expect(show(function weights() {})).toBe('function weights() {}');
    expect(show(Symbol('s'))).toBe('Symbol(s)');
    expect(show(sl.Sequence.zeros([1, 1, 1]))).toMatch(/^Sequence \{"shape":\[1,1,1\]/);
    class Node {
      self = this;
    }
    expect(show(new Node()), 'an instance inside is named, not walked').toBe('Node {"self":Node}');
    // Plain objects and short arrays as before; long arrays elided with their length.
    expect(show({ a: 1 })).toBe('{"a":1}');
    expect(show([1, 'a', null])).toBe('[1, "a", null]');
    expect(show(Array.from({ length: 40 }, (_, i) => i))).toBe(`[${Array.from({ length: 16 }, (_, i) => i).join(', ')}, ... (40 items)]`);
    expect(show({ a: NaN, b: [1, { c: 'x' }], d: undefined })).toBe('{"a":NaN,"b":[1,{"c":"x"}],"d":undefined}');
    expect(show({ deep: { er: { still: { x: 1 } } } })).toBe('{"deep":{"er":{"still":{...}}}}');
  });

  it('calls nothing on what it shows: a proxy to another thread (every read a remote call) or a getter stays untouched', () => {
    // A Comlink proxy answers any property read (toJSON, toString) with a callable that posts a
    // call to its worker; JSON.stringify reading toJSON on a stream's worker proxy sent one whose
    // rejection nobody handled, and Node exited.
    const touched: string[] = [];
    const remote = new Proxy(function () {}, {
      get: (_, key) => void touched.push(`get ${String(key)}`),
      apply: () => void touched.push('apply'),
    });
    class Stream {
      worker = { api: remote };
      batch = 1;
    }
    const withGetter = {
      get value() {
        touched.push('getter');
        return 1;
      },
    };
    expect(show(new Stream())).toBe('Stream {"worker":{"api":function () { [native code] }},"batch":1}');
    expect(show(remote)).toBe('function () { [native code] }');
    expect(show([remote])).toBe('[function () { [native code] }]');
    expect(show(withGetter)).toBe('{"value":(getter)}');
    expect(touched).toEqual([]);
  });

  it('restoreState takes an ArrayBuffer of a snapshot, or names it when refusing it', async () => {
    await sl.init();
    const m = sl.build(sl.Dense({ features: 2 }), { inputShape: [2] });
    const buffer = m.initialState(1).toBytes().slice().buffer;
    let restored: sl.State | undefined;
    try {
      restored = m.restoreState(buffer as never);
    } catch (e) {
      expect(e).toBeInstanceOf(sl.SeqLayersError);
      expect((e as sl.SeqLayersError).code).toBe('BAD_SNAPSHOT');
      expect((e as Error).message).toMatch(/expected a Uint8Array from State\.toBytes\(\), got ArrayBuffer\(\d+ bytes\)/);
    }
    if (restored) expect(restored.batch).toBe(1);
  });
});

describe('ErrorCode', () => {
  it("keeps each code's meaning in the published .d.ts, and BAD_STATE's says a disposed state is DISPOSED (found in review)", () => {
    const source = readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8');
    const dts = ts.transpileDeclaration(source, { fileName: 'errors.ts' }).outputText;
    const union = /export type ErrorCode =([^;]*);/.exec(dts)![1]!;
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes).toContain('BAD_ARGUMENT');
    const doc = dts.slice(0, dts.indexOf('export type ErrorCode'));
    for (const code of codes) expect(doc, code).toMatch(new RegExp(`- \`${code}\`: \\w`));
    const badState = doc.split('- `').find((item) => item.startsWith('BAD_STATE`'));
    expect(badState).toMatch(/a disposed state is `DISPOSED`/);
  });
});
