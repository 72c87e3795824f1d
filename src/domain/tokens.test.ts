import { describe, expect, it } from 'vitest';

import { estimateMessageTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS, truncateToTokens } from './tokens.js';

describe('estimateTokens', () => {
  it('counts nothing for empty text', () => {
    expect(estimateTokens('')).toBe(0);
  });

  it('uses characters / 3.5 for ordinary prose', () => {
    // 11 chars → ceil(3.14) = 4; 2 words → ceil(2.6) = 3; the larger wins.
    expect(estimateTokens('Hello world')).toBe(4);
    // 44 chars → ceil(12.57) = 13; 9 words → ceil(11.7) = 12.
    expect(estimateTokens('The quick brown fox jumps over the lazy dog.')).toBe(13);
  });

  it('uses words × 1.3 when the words are short, without floating-point drift', () => {
    // 19 chars → 6; 10 words → exactly 13 (not 13.000000000000002 → 14).
    expect(estimateTokens('a b c d e f g h i j')).toBe(13);
  });

  it('counts one token per CJK character', () => {
    expect(estimateTokens('你好世界')).toBe(4);
    expect(estimateTokens('こんにちは')).toBe(5);
    // 2 CJK + "Hello " (6 chars → 2, 1 word → 2).
    expect(estimateTokens('Hello 世界')).toBe(4);
  });

  it('weighs non-ASCII characters double and emoji four times', () => {
    // n a ï v e + space + c a f é = 10 chars, weighted 12 → ceil(3.43) = 4.
    expect(estimateTokens('naïve café')).toBe(4);
    // weight 4 → ceil(1.14) = 2; 1 word → 2.
    expect(estimateTokens('😀')).toBe(2);
  });

  it('overestimates typical English (about 4 characters per token)', () => {
    const text = 'Aria tuned her lute and smiled at the traveller by the fire. '.repeat(10);
    expect(estimateTokens(text)).toBeGreaterThanOrEqual(Math.ceil(text.length / 4));
    expect(estimateTokens(text)).toBe(175); // 610 chars / 3.5 = 174.3 → 175
  });

  it('adds the per-message overhead for chat messages', () => {
    expect(MESSAGE_OVERHEAD_TOKENS).toBe(4);
    expect(estimateMessageTokens('Hello world')).toBe(8);
    expect(estimateMessageTokens('')).toBe(4);
  });
});

/** The estimate as first written, one regex test per character: the fast loop must give the same counts. */
function referenceEstimate(text: string): number {
  let cjk = 0;
  let weighted = 0;
  let words = 0;
  let inWord = false;
  for (const char of text) {
    if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u.test(char)) {
      cjk += 1;
      inWord = false;
    } else if (/\s/u.test(char)) {
      weighted += 1;
      inWord = false;
    } else {
      const code = char.codePointAt(0) ?? 0;
      weighted += code < 0x80 ? 1 : code <= 0xffff ? 2 : 4;
      if (!inWord) words += 1;
      inWord = true;
    }
  }
  return cjk + Math.max(Math.ceil(weighted / 3.5), Math.ceil((words * 13) / 10));
}

describe('estimateTokens, fast loop', () => {
  it('counts like the character-by-character reading on mixed text', () => {
    const samples = [
      'Hello world',
      '  tabs\tand\nnew lines\r\n  ',
      'Ünïcödé wörds and ASCII',
      'emoji 😀😀 glued😀to words',
      '你好世界 and 日本語のテキスト mixed',
      '\u00a0non-breaking\u2003em space\u3000ideographic',
      'lone \ud800 surrogate \udc00 halves',
      'a'.repeat(1000),
    ];
    // Seeded pseudo-random strings over a small alphabet of every kind of character.
    const alphabet = ['a', 'Z', '9', '.', ' ', '\t', '\n', 'é', 'ж', '😀', '中', 'カ', '한', '\u3000', '\u00a0', '\ud800'];
    let seed = 42;
    for (let sample = 0; sample < 200; sample++) {
      let text = '';
      for (let index = 0; index < 40; index++) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        text += alphabet[seed % alphabet.length];
      }
      samples.push(text);
    }
    for (const text of samples) expect(estimateTokens(text), JSON.stringify(text)).toBe(referenceEstimate(text));
  });
});

describe('truncateToTokens', () => {
  const text = 'one two three four five six seven eight nine ten';

  it('returns text that already fits unchanged', () => {
    expect(truncateToTokens(text, 100)).toBe(text);
  });

  it('keeps the longest start that fits, marking the cut', () => {
    // "one two three…": 15 weighted chars → 5, 3 words → 4. One more character adds a fourth word (→ 6).
    expect(truncateToTokens(text, 5)).toBe('one two three…');
  });

  it('keeps the longest end that fits when asked', () => {
    expect(truncateToTokens(text, 5, { keep: 'end' })).toBe('…eight nine ten');
  });

  it('counts a prefix in the budget and keeps it', () => {
    const cut = truncateToTokens(text, 6, { keep: 'end', prefix: 'Kira: ' });
    expect(cut).toBe('Kira: …nine ten');
    expect(estimateTokens(cut)).toBeLessThanOrEqual(6);
  });

  it('gives up with an empty string when not even the marker fits', () => {
    expect(truncateToTokens(text, 0)).toBe('');
  });

  it('never splits a surrogate pair', () => {
    const cut = truncateToTokens('😀😀😀😀😀😀', 5);
    // 3 emoji (weight 12) + marker (2) = 14 → 4 tokens; a fourth emoji makes 18 → 6.
    expect(cut).toBe('😀😀😀…');
    expect(Array.from(cut).every((char) => char !== '\ud83d')).toBe(true);
  });
});

describe('estimateTokens remembered', () => {
  it('gives the same estimate for a text seen before as for a fresh copy of it', () => {
    const text = 'Ünïcödé and 你好 with emoji 🎉 repeated enough to be remembered by the memo';
    const first = estimateTokens(text);
    // A copy built from parts is a different string object with the same contents.
    const copy = ['Ünïcödé and 你好 with emoji 🎉', ' repeated enough to be remembered by the memo'].join('');
    expect(estimateTokens(copy)).toBe(first);
    expect(estimateTokens(text)).toBe(first);
    expect(estimateMessageTokens(text)).toBe(first + MESSAGE_OVERHEAD_TOKENS);
  });

  it('keeps counting correctly after the memo fills up and starts over', () => {
    for (let index = 0; index < 5_000; index++) expect(estimateTokens(`message number ${index} of the long conversation`)).toBe(index < 100 ? 12 : 13);
  });
});
