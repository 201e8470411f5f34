// Activations, pointwise and utility layers. Port of sequence_layers/jax/simple.py.
import { builder, defineLayer } from '../config.js';
import { Layer, product, type RunContext, type WSeq } from '../layer.js';
import type { Kernels } from '../runtime/kernels.js';

/** A unary kernel over n contiguous floats: (n, x, y). */
type UnaryKernel = (k: Kernels, n: number, x: number, y: number) => void;

/**
 * A stateless layer applying one elementwise kernel to the values; the mask passes through.
 * An activation is a kernel plus a registration line.
 */
export class Pointwise extends Layer {
  constructor(
    config: ConstructorParameters<typeof Layer>[0],
    ctx: ConstructorParameters<typeof Layer>[1],
    private readonly kernel: UnaryKernel,
  ) {
    super(config, ctx);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.kernel(ctx.rt.k, x.batch * x.time * product(this.input.shape), x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/** Returns its input. */
export class IdentityLayer extends Layer {
  runLayer(x: WSeq): WSeq {
    return x;
  }
}

const pointwise = (type: string, kernel: UnaryKernel) =>
  defineLayer({ type, fields: {}, create: (c, ctx) => new Pointwise(c, ctx, kernel) });

export const simpleDefs = [
  defineLayer({ type: 'Identity', fields: {}, create: (c, ctx) => new IdentityLayer(c, ctx) }),
  pointwise('Relu', (k, n, x, y) => k.f32_vrelu(n, x, y)),
];

export const Identity = builder(simpleDefs[0]!);
export const Relu = builder(simpleDefs[1]!);
