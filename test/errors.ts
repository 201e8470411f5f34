// The SeqLayersError that `f` throws (failing the test when it throws nothing or another kind).
import { expect } from 'vitest';
import * as sl from '../src/index.js';

export function codedError(f: () => unknown): sl.SeqLayersError {
  try {
    f();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(sl.SeqLayersError);
    return e as sl.SeqLayersError;
  }
  throw new Error('expected an error');
}

// Expects `f` to throw a SeqLayersError of `code` whose message matches `message`.
export function expectCoded(code: string, f: () => unknown, message: RegExp): void {
  const e = codedError(f);
  expect(e.code, e.message).toBe(code);
  expect(e.message).toMatch(message);
}

// The SeqLayersError that the promise `p` rejects with (failing the test when it resolves or rejects with another kind).
export async function codedRejection(p: Promise<unknown>): Promise<sl.SeqLayersError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(sl.SeqLayersError);
    return e as sl.SeqLayersError;
  }
  throw new Error('expected a rejection');
}
