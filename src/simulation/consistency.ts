/**
 * Persona consistency, offline: how much each of a persona's lines sounds like the persona (its own
 * example lines, speaking style and description are the reference) and whether it contradicts what
 * it said before or what it was told. Pure and deterministic; the method and its limits are in
 * docs/simulation.md.
 *
 * Per line:
 *   style      = 1 − mean over five style markers of min(1, |marker(line) − marker(reference)| / scale)
 *   vocabulary = min(1, cosine(content words of line, content words of reference) / VOCABULARY_SATURATION)
 *   score      = (STYLE_WEIGHT × style + (1 − STYLE_WEIGHT) × vocabulary) × CONTRADICTION_FACTOR^contradictions
 * Overall: the mean of the line scores.
 */
import type { PersonaInfo, ToldFact, TranscriptEntry } from './run-record.js';

/** Share of the score from style markers (the rest from vocabulary). */
export const STYLE_WEIGHT = 0.5;
/**
 * A line whose word-count cosine with the reference reaches this counts as fully in vocabulary: a
 * short reply shares only a few words with a page of reference text even when it is perfectly in voice.
 */
export const VOCABULARY_SATURATION = 0.25;
/** Each contradiction in a line halves its score. */
export const CONTRADICTION_FACTOR = 0.5;

/** The style markers and the difference that counts as "completely different" for each. */
const MARKERS: ReadonlyArray<{ name: string; scale: number; of: (text: string) => number }> = [
  { name: 'words per sentence', scale: 15, of: (text) => wordsOf(text).length / Math.max(1, sentencesOf(text).length) },
  { name: 'exclamations per sentence', scale: 1, of: (text) => count(text, /!/g) / Math.max(1, sentencesOf(text).length) },
  { name: 'questions per sentence', scale: 1, of: (text) => count(text, /\?/g) / Math.max(1, sentencesOf(text).length) },
  { name: 'first person per word', scale: 0.15, of: (text) => wordsOf(text).filter((word) => FIRST_PERSON.has(word)).length / Math.max(1, wordsOf(text).length) },
  { name: 'letters per word', scale: 2.5, of: (text) => wordsOf(text).join('').length / Math.max(1, wordsOf(text).length) },
];

const FIRST_PERSON = new Set(['i', "i'm", "i've", "i'd", "i'll", 'me', 'my', 'mine', 'myself']);
const STOP_WORDS = new Set(
  'a an and are as at be but by for from has have he her his i if in into is it its me my of on or our she so that the their them then there they this to was we were what when which who will with you your yes no not do does did can could would should just very than too also'.split(' '),
);

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}
function sentencesOf(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).filter((sentence) => sentence.trim().length > 0);
}
function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
function contentCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of wordsOf(text)) if (word.length > 2 && !STOP_WORDS.has(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}
function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (const [word, value] of a) {
    normA += value * value;
    dot += value * (b.get(word) ?? 0);
  }
  for (const value of b.values()) normB += value * value;
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

export interface Contradiction {
  turn: number;
  /** What the line says, and what it contradicts. */
  says: string;
  against: string;
  kind: 'own_statement' | 'told_fact';
}

export interface LineConsistency {
  turn: number;
  style: number;
  vocabulary: number;
  /** The LLM judge's rating mapped to 0..1 (1→0, 5→1), when a judge rated the line. */
  judge?: number | null;
  contradictions: number;
  score: number;
}

export interface ConsistencyScore {
  persona: string;
  method: 'offline-stylistic' | 'llm-judge' | 'llm-judge (partly offline)';
  overall: number | null;
  lines: LineConsistency[];
  contradictions: Contradiction[];
}

/** A claim a line makes: "i am tired" (true) vs "i am not tired" (false); "my horse is Nell". */
interface Claim {
  key: string;
  value: string;
  isPositive: boolean;
  text: string;
}

const SELF_CLAIM = /\bi\s+(?:(am|'m|was|have|had|love|like|hate|live|play|know|own)\s+(not\s+|never\s+)?|(?:(?:do|did)\s*(?:n't|not)|never)\s+(have|love|like|hate|live|play|know|own)\s+)([\p{L}'-]+(?:\s+[\p{L}'-]+)?)/giu;
const POSSESSION = /\b(my|your)\s+([\p{L}-]+)\s+(?:is|was|'s)\s+(?:called\s+|named\s+)?(?:a\s+|an\s+|the\s+)?([\p{L}'-]+)/giu;

function normaliseVerb(verb: string): string {
  return verb === "'m" || verb === 'was' ? 'am' : verb === 'had' ? 'have' : verb;
}

/** Claims in a line, from the speaker's point of view ("my" = the speaker's; "your" = the listener's). */
export function claimsOf(text: string): Array<Claim & { owner: 'speaker' | 'listener' }> {
  const claims: Array<Claim & { owner: 'speaker' | 'listener' }> = [];
  for (const match of text.matchAll(SELF_CLAIM)) {
    const verb = normaliseVerb((match[1] ?? match[3] ?? '').toLowerCase());
    const negated = match[2] !== undefined || match[3] !== undefined;
    const object = (match[4] ?? '')
      .toLowerCase()
      .split(/\s+/)
      .filter((word) => !STOP_WORDS.has(word))
      .join(' ');
    if (object.length === 0) continue;
    claims.push({ key: `i ${verb} ${object}`, value: '', isPositive: !negated, text: match[0], owner: 'speaker' });
  }
  for (const match of text.matchAll(POSSESSION)) {
    claims.push({
      key: `${match[2]!.toLowerCase()}`,
      value: match[3]!.toLowerCase(),
      isPositive: true,
      text: match[0],
      owner: match[1]!.toLowerCase() === 'my' ? 'speaker' : 'listener',
    });
  }
  return claims;
}

/** The consistency of one persona's lines in a transcript. */
export function scoreConsistency(persona: PersonaInfo, transcript: readonly TranscriptEntry[], facts: readonly ToldFact[]): ConsistencyScore {
  const reference = [...persona.exampleLines, persona.speakingStyle, persona.description].filter((text) => text.length > 0).join('\n');
  const referenceExamples = persona.exampleLines.length > 0 ? persona.exampleLines.join(' ') : reference;
  const referenceMarkers = MARKERS.map((marker) => marker.of(referenceExamples));
  const referenceWords = contentCounts(reference);
  const lines: LineConsistency[] = [];
  const contradictions: Contradiction[] = [];
  const ownClaims: Claim[] = [];
  // What users said about themselves ("my sister is Mira"), as the persona would say it back ("your sister").
  const toldClaims = facts.flatMap((fact) => claimsOf(fact.text).filter((claim) => claim.owner === 'speaker' && claim.value !== ''));

  for (const entry of transcript) {
    if (entry.kind !== 'persona' || entry.speaker !== persona.id) continue;
    const style = 1 - MARKERS.reduce((sum, marker, index) => sum + Math.min(1, Math.abs(marker.of(entry.content) - referenceMarkers[index]!) / marker.scale), 0) / MARKERS.length;
    const vocabulary = Math.min(1, cosine(contentCounts(entry.content), referenceWords) / VOCABULARY_SATURATION);
    let found = 0;
    const claims = claimsOf(entry.content);
    for (const claim of claims) {
      if (claim.owner === 'speaker') {
        const earlier = ownClaims.find((other) => other.key === claim.key && (other.isPositive !== claim.isPositive || other.value !== claim.value));
        if (earlier !== undefined) {
          contradictions.push({ turn: entry.turn, says: claim.text, against: earlier.text, kind: 'own_statement' });
          found += 1;
        }
      } else {
        const told = toldClaims.find((other) => other.key === claim.key && other.value !== claim.value);
        if (told !== undefined) {
          contradictions.push({ turn: entry.turn, says: claim.text, against: told.text, kind: 'told_fact' });
          found += 1;
        }
      }
    }
    for (const claim of claims) if (claim.owner === 'speaker') ownClaims.push(claim);
    const score = (STYLE_WEIGHT * style + (1 - STYLE_WEIGHT) * vocabulary) * CONTRADICTION_FACTOR ** found;
    lines.push({ turn: entry.turn, style: round(style), vocabulary: round(vocabulary), contradictions: found, score: round(score) });
  }
  const overall = lines.length === 0 ? null : round(lines.reduce((sum, line) => sum + line.score, 0) / lines.length);
  return { persona: persona.id, method: 'offline-stylistic', overall, lines, contradictions };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
