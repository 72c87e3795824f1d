/** A generated memory corpus (fixed seed): pseudo-words drawn with a Zipf law, as in real text. */

/** mulberry32: small, fast, seeded. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ren',
  'sa',
  'tor',
  'vel',
  'an',
  'dri',
  'os',
  'ul',
  'be',
  'gar',
  'nis',
  'pha',
  'qu',
  'ry',
  'ste',
  'wen',
  'zo',
];

export class Corpus {
  readonly words: string[];
  private readonly cumulative: Float64Array;

  constructor(
    private readonly random: () => number,
    vocabulary = 8_000,
  ) {
    const words = new Set<string>();
    while (words.size < vocabulary) {
      const length = 2 + Math.floor(random() * 3);
      let word = '';
      for (let i = 0; i < length; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
      words.add(word);
    }
    this.words = [...words];
    // Zipf with exponent 1: the word of rank r is drawn with probability ∝ 1/r.
    this.cumulative = new Float64Array(vocabulary);
    let sum = 0;
    for (let rank = 1; rank <= vocabulary; rank++) this.cumulative[rank - 1] = sum += 1 / rank;
    for (let i = 0; i < vocabulary; i++) this.cumulative[i]! /= sum;
  }

  word(): string {
    const x = this.random();
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return this.words[lo]!;
  }

  sentence(minWords: number, maxWords: number): string {
    const count = minWords + Math.floor(this.random() * (maxWords - minWords + 1));
    return Array.from({ length: count }, () => this.word()).join(' ');
  }
}
