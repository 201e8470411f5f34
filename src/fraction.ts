/** An exact non-negative rational number, used for output ratios (output steps per input step). */
export class Fraction {
  readonly num: number;
  readonly den: number;

  constructor(num: number, den = 1) {
    if (!Number.isInteger(num) || !Number.isInteger(den) || den === 0) {
      throw new RangeError(`Fraction needs integers and a non-zero denominator, got ${num}/${den}`);
    }
    const g = gcd(Math.abs(num), Math.abs(den)) || 1;
    const sign = den < 0 ? -1 : 1;
    this.num = (sign * num) / g;
    this.den = (sign * den) / g;
  }

  static readonly ONE = new Fraction(1);

  mul(o: Fraction): Fraction {
    return new Fraction(this.num * o.num, this.den * o.den);
  }
  div(o: Fraction): Fraction {
    return new Fraction(this.num * o.den, this.den * o.num);
  }
  equals(o: Fraction): boolean {
    return this.num === o.num && this.den === o.den;
  }
  /** floor(n * this) for an integer n. */
  floorMul(n: number): number {
    return Math.floor((n * this.num) / this.den);
  }
  /** ceil(n * this) for an integer n. */
  ceilMul(n: number): number {
    return Math.ceil((n * this.num) / this.den);
  }
  /** floor(n / this) for an integer n (Python's n // Fraction). */
  floorDiv(n: number): number {
    return Math.floor((n * this.den) / this.num);
  }
  toNumber(): number {
    return this.num / this.den;
  }
  toString(): string {
    return this.den === 1 ? `${this.num}` : `${this.num}/${this.den}`;
  }
  toJSON(): { num: number; den: number } {
    return { num: this.num, den: this.den };
  }
}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function lcm(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : Math.abs(a * b) / gcd(a, b);
}
