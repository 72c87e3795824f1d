/**
 * doc2query for memories (Nogueira et al., 2019, "Document Expansion by Query Prediction"): when the LLM
 * is reachable, formation asks it for the memory as one canonical fact and a few questions the memory
 * answers, in other words than the user's. They go into the memory's lower-weight full-text column
 * (recall terms), so a later question phrased like one of them finds the memory even when WordNet
 * knows no link ("What car do I own?" for "I drive an old green Volvo").
 */

/** Questions kept per memory. */
export const DOC2QUERY_QUESTIONS = 3;
/** Longest text kept (fact and questions together). */
export const DOC2QUERY_MAX_CHARS = 400;

export function doc2queryPrompt(personaName: string, memory: string): string {
  return (
    `Here is something ${personaName} remembers from a conversation with the user:\n"${memory}"\n\n` +
    `First restate it as one short fact about the user, in the third person, on a line starting with "Fact:". ` +
    `Then write ${DOC2QUERY_QUESTIONS} different questions, each on its own line starting with "Q:", that someone ` +
    `might ask later and that this fact answers. Use other words than the original where you can. Write nothing else.`
  );
}

/**
 * The fact and questions of the model's answer, as one text; null when the answer has no "Fact:" line
 * (a refusal or a chat reply is not stored).
 */
export function parseDoc2Query(answer: string): string | null {
  const lines = answer
    .split('\n')
    .map((line) => line.trim().replace(/^[-*\d.)\s]+(?=(fact|q)\s*:)/i, ''))
    .filter((line) => line.length > 0);
  const fact = lines.find((line) => /^fact\s*:/i.test(line))?.replace(/^fact\s*:\s*/i, '');
  if (fact === undefined) return null;
  const questions = lines.filter((line) => /^q(uestion)?\s*\d*\s*:/i.test(line)).map((line) => line.replace(/^q(uestion)?\s*\d*\s*:\s*/i, ''));
  return restatedText(fact, questions);
}

/**
 * A memory's doc2query text from its fact and questions, however the model gave them (lines of text, or
 * the turn appraisal's JSON): the fact, then at most DOC2QUERY_QUESTIONS non-empty questions, on one
 * line, at most DOC2QUERY_MAX_CHARS; null without a fact.
 */
export function restatedText(fact: string, questions: readonly string[]): string | null {
  if (fact.trim().length === 0) return null;
  const asked = questions.map((question) => question.trim()).filter((question) => question.length > 0).slice(0, DOC2QUERY_QUESTIONS);
  const text = [fact, ...asked].join(' ').replace(/\s+/g, ' ').trim();
  return text.slice(0, DOC2QUERY_MAX_CHARS);
}

/**
 * One prompt for several memories of the same message (one model call per message, not per memory):
 * the memories numbered, and for each a "Memory N:" line before its fact and questions. A message with
 * one memory uses {@link doc2queryPrompt}.
 */
export function doc2queryBatchPrompt(personaName: string, memories: readonly string[]): string {
  const numbered = memories.map((memory, index) => `${index + 1}. "${memory}"`).join('\n');
  return (
    `Here are ${memories.length} things ${personaName} remembers from a conversation with the user:\n${numbered}\n\n` +
    `For each of them, in order: first a line "Memory N:" with its number; then restate it as one short fact about the user, ` +
    `in the third person, on a line starting with "Fact:"; then write ${DOC2QUERY_QUESTIONS} different questions, each on its own line ` +
    `starting with "Q:", that someone might ask later and that this fact answers. Use other words than the original where you can. ` +
    `Write nothing else.`
  );
}

/** A "Memory N:" heading (also "**Memory 2.**", "## Memory 3"), with what follows it on the line. */
const MEMORY_HEADING = /^[#*\s]*memory\s*(\d+)\s*[:.)]?[*\s]*(.*)$/i;

/**
 * Each memory's fact and questions from the answer to {@link doc2queryBatchPrompt}, in the memories'
 * order: null for a memory the answer has no "Fact:" line for. Sections are found by their "Memory N:"
 * headings; an answer without headings is split at its "Fact:" lines, but only when there is one per
 * memory (otherwise which fact belongs to which memory is a guess, and none is kept).
 */
export function parseDoc2QueryBatch(answer: string, count: number): Array<string | null> {
  const sections = new Map<number, string[]>();
  let current: string[] | null = null;
  for (const line of answer.split('\n')) {
    const heading = MEMORY_HEADING.exec(line.trim());
    if (heading !== null) {
      const number = Number(heading[1]);
      current = number >= 1 && number <= count && !sections.has(number) ? [] : null;
      if (current !== null) sections.set(number, current);
      if (current !== null && heading[2]!.length > 0) current.push(heading[2]!);
      continue;
    }
    current?.push(line);
  }
  if (sections.size > 0) return Array.from({ length: count }, (_, index) => parseDoc2Query((sections.get(index + 1) ?? []).join('\n')));
  const blocks = answer.split(/\n(?=\s*(?:[-*\d.)\s]+)?fact\s*:)/i).filter((block) => /^\s*(?:[-*\d.)\s]+)?fact\s*:/im.test(block));
  if (blocks.length !== count) return Array.from({ length: count }, () => null);
  return blocks.map((block) => parseDoc2Query(block));
}
