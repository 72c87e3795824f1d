/**
 * A third paraphrase set, written by the lead (02:10 UTC, 28 Nov) after the tuning of that session had
 * ended, by someone who had not seen the development or held-out questions' misses, to check how the
 * tuning generalises. The held-out set's overall figure was read after each of ~25 variants, so it
 * guards less than a set nobody tuned against. Like the held-out set it is only ever reported (never
 * shown query by query), and the same rule holds: no content word of a question occurs in its fact,
 * after stemming (`checkParaphrasePairs` in eval.ts fails the run otherwise). When this set too has been
 * used to choose between variants, write a new one.
 */
import type { ParaphrasePair } from './paraphrase-set.js';

export const FRESH_PAIRS: readonly ParaphrasePair[] = [
  { fact: 'I teach chemistry at a high school.', question: 'What subject do I give lessons in?' },
  { fact: 'My husband is a firefighter.', question: "What is my spouse's occupation?" },
  { fact: 'I live in a flat above a bakery.', question: 'What kind of home do I have?' },
  { fact: 'I have two golden retrievers.', question: 'How many dogs do I own?' },
  { fact: 'I was born in Mexico.', question: 'What is my country of origin?' },
  { fact: 'I play chess every Sunday.', question: 'Which board game do I enjoy weekly?' },
  { fact: 'My uncle is a carpenter.', question: 'Does my relative work with wood?' },
  { fact: 'I broke my wrist skiing.', question: 'Did I injure my arm?' },
  { fact: 'I drink green tea every afternoon.', question: 'What beverage do I have after lunch?' },
  { fact: 'I sing in a church choir.', question: 'Am I part of a vocal group?' },
  { fact: 'My cousin moved to Berlin.', question: 'Which German city is my relative in now?' },
  { fact: 'I hate spiders.', question: 'Which creepy crawlies do I loathe?' },
  { fact: 'I bake sourdough bread on weekends.', question: 'What do I cook on Saturdays?' },
  { fact: 'I own a vintage motorbike.', question: 'What vehicle do I have?' },
  { fact: 'I am a retired sailor.', question: 'What was my former career?' },
  { fact: 'My twins are eight years old.', question: 'What age are my children?' },
  { fact: 'I suffer from migraines.', question: 'Do I get bad headaches?' },
  { fact: 'I volunteer at an animal shelter.', question: 'Where do I do unpaid work?' },
  { fact: 'I paint watercolour landscapes.', question: 'What art do I make?' },
  { fact: 'I go hiking in the mountains.', question: 'What outdoor activity do I like?' },
  { fact: 'My best friend is called Tom.', question: "What is my closest pal's name?" },
  { fact: 'I am afraid of flying.', question: 'Do planes frighten me?' },
  { fact: 'I keep bees in the back garden.', question: 'Do I look after any insects?' },
  { fact: 'I speak Portuguese at home.', question: 'Which language does my family use?' },
  { fact: 'My father was a coal miner.', question: "What was my dad's job?" },
  { fact: 'I listen to jazz while working.', question: 'What music do I enjoy?' },
  { fact: 'I am saving up for a house.', question: 'Am I putting money aside for a home?' },
  { fact: 'I had surgery on my knee.', question: 'Was I operated on my leg?' },
  { fact: 'I moved to London last year.', question: 'Which city do I reside in now?' },
  { fact: 'My niece studies medicine.', question: 'Is my relative training to become a doctor?' },
];

/** Unrelated questions written with the pairs above: they should bring no memory lines. */
export const FRESH_UNRELATED: readonly string[] = [
  'What is the boiling point of water?',
  'Who painted the Mona Lisa?',
  'Recommend a good film for tonight.',
  'How many legs does an octopus have?',
  'Tell me a riddle about time.',
];
