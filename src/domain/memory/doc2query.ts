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
  if (fact === undefined || fact.length === 0) return null;
  const questions = lines
    .filter((line) => /^q(uestion)?\s*\d*\s*:/i.test(line))
    .map((line) => line.replace(/^q(uestion)?\s*\d*\s*:\s*/i, ''))
    .filter((question) => question.length > 0)
    .slice(0, DOC2QUERY_QUESTIONS);
  const text = [fact, ...questions].join(' ').replace(/\s+/g, ' ').trim();
  return text.length === 0 ? null : text.slice(0, DOC2QUERY_MAX_CHARS);
}
