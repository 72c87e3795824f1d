/**
 * The chat bench's messages: six sentences combined two at a time, numbered, so a conversation (and the
 * memories its turns form) repeats words as a real one does. bench/suites/chat.ts seeds and sends them;
 * bench/micro-turn.ts and bench/memory/chat-recall.ts replay the same turns in one process.
 */
const SENTENCES = [
  'I walked down to the harbour this morning and the fog was thick enough to lose a boat in.',
  'Do you remember the song about the lighthouse keeper who counted waves instead of sheep?',
  'The library in the old quarter has a map that shows a river nobody can find any more.',
  'My sister says the market is louder on festival days, but I think it is only the drums.',
  'Tell me again how the story ends, the one with the fox and the borrowed lantern.',
  'There is a theory that the stars over the northern pass are arranged like a poem.',
];

/** The `index`th message of the chat bench. */
export function seedText(index: number): string {
  return `${SENTENCES[index % SENTENCES.length]} ${SENTENCES[(index * 7 + 3) % SENTENCES.length]} (note ${index})`;
}
