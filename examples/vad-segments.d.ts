/** Speech segments [start, end] in seconds from per-chunk speech probabilities (see vad-segments.js). */
export function speechSegments(p: ArrayLike<number>, chunk: number, sampleRate: number, threshold?: number): [number, number][];
