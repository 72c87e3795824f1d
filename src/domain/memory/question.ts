/**
 * Questions ask for a fact in words the fact rarely says. Some of that is an idiom of questions rather
 * than a meaning WordNet can link: "How old is my child?" asks for an age, and its "old" would match "an
 * old friend" literally; "Which dish do I like best?" asks for a favourite; "What kind of books…" asks
 * about books, not kinds. And some facts answer a question by their form alone: "I was born in 1985"
 * answers "How old am I?" without any word of age. Two small rules of English, not of any test sentence
 * (docs/memory.md, "Paraphrase recall"):
 *
 * - `searchTextOf`: the words a question is searched with, its idioms replaced by the word a fact says;
 * - `factSlotTerms`: the question words a fact answers by its form, added to its recall terms.
 */

/** Question idioms and the words facts say for them. */
const QUESTION_IDIOMS: ReadonlyArray<readonly [RegExp, string]> = [
  // "How old am I?", "How old is my daughter?": an age, not something old.
  [/\bhow old\b/giu, 'age'],
  // "Which dish do I like best?", "What do I love most?": a favourite (both spellings: they stem apart).
  [/\b(?:like|love|enjoy)s? (?:best|most)\b/giu, 'favourite favorite'],
  // "What kind of books…", "Which sort of music…": the noun is what is asked about.
  [/\b(?:kind|kinds|sort|sorts|type|types) of\b/giu, ' '],
];

/** The text a question is searched with: its idioms replaced by the words facts say (see above). */
export function searchTextOf(question: string): string {
  let text = question;
  for (const [idiom, words] of QUESTION_IDIOMS) text = text.replace(idiom, words);
  return text;
}

const NUMBER_WORDS = 'one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|\\d+';
/** A statement of age or birth: "born", "birthday", "N years old", "turns six", a year of birth. */
const AGE_STATEMENT = new RegExp(`\\b(?:born|birthday|aged? (?:${NUMBER_WORDS})|(?:${NUMBER_WORDS}) years? old|turn(?:s|ed|ing)? (?:${NUMBER_WORDS}))\\b`, 'iu');

/** The question words a fact answers by its form alone: "age" for a statement of age or birth. */
export function factSlotTerms(fact: string): string[] {
  return AGE_STATEMENT.test(fact) ? ['age'] : [];
}
