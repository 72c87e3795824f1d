/**
 * The held-out paraphrase set: 40 more facts, each asked in other words, written (18:58 UTC, 27 Nov) before
 * any of the changes measured against it and never used to choose a constant. The development set
 * (paraphrase-set.ts) is the one we look at query by query while tuning; this one is only ever reported,
 * so its figure says how the tuning generalises. Same rule as the development set: no content word of a
 * question occurs in its fact, after stemming (`checkParaphrasePairs` in eval.ts fails the run otherwise).
 */
import type { ParaphrasePair } from './paraphrase-set.js';

export const HELD_OUT_PAIRS: readonly ParaphrasePair[] = [
  { fact: 'I was raised in Norway.', question: 'Which nation am I originally from?' },
  { fact: 'I ride a red bicycle everywhere.', question: 'How do I get around town?' },
  { fact: 'I knit scarves in the evenings.', question: 'What craft do I do at night?' },
  { fact: 'I can read Latin.', question: 'Which ancient tongue do I understand?' },
  { fact: 'My brother is a pilot.', question: 'What does my sibling do for work?' },
  { fact: 'I cannot eat gluten.', question: 'Is there anything in bread that upsets my stomach?' },
  { fact: 'I have a parrot called Rio.', question: 'Do I own a bird?' },
  { fact: 'I work as a plumber.', question: 'What trade am I in?' },
  { fact: 'My son started school this autumn.', question: 'Is my boy a pupil yet?' },
  { fact: 'I play the drums in a band.', question: 'Which percussion instrument do I perform on?' },
  { fact: 'I spent my youth in Naples.', question: 'Which Italian city did I grow up in?' },
  { fact: 'My wife is a lawyer.', question: "What is my spouse's profession?" },
  { fact: 'I dislike the sea.', question: 'Do I enjoy the ocean?' },
  { fact: 'I swim every morning.', question: 'What exercise do I do daily?' },
  { fact: 'I adore chocolate cake.', question: 'Which dessert is my favourite?' },
  { fact: 'I sprained my ankle playing tennis.', question: 'Have I hurt my foot?' },
  { fact: 'I rent a cottage near Dublin.', question: 'Which Irish town do I reside close to?' },
  { fact: 'I am studying law.', question: 'What degree am I pursuing?' },
  { fact: 'I do not drink alcohol.', question: 'Would I like a glass of wine?' },
  { fact: 'My aunt lives in Tokyo.', question: 'Where is my relative based?' },
  { fact: 'I am vegan.', question: 'Do I eat cheese or eggs?' },
  { fact: 'I repair old clocks.', question: 'What do I fix?' },
  { fact: 'My grandfather came from Poland.', question: 'What are my roots?' },
  { fact: 'I am scared of snakes.', question: 'Which reptile do I fear?' },
  { fact: 'I got divorced two years ago.', question: 'Am I still married?' },
  { fact: 'I take the train to my office.', question: 'How do I travel to work?' },
  { fact: 'I am allergic to cats.', question: 'Which animal makes me sneeze?' },
  { fact: 'My daughter loves ballet.', question: 'What kind of dance does my girl enjoy?' },
  { fact: 'I run a small bookshop.', question: 'What store do I own?' },
  { fact: 'I enjoy fishing on the lake.', question: 'What hobby do I have by the water?' },
  { fact: 'My mother was a nurse.', question: "What was my mum's occupation?" },
  { fact: 'I have high blood pressure.', question: 'Do I have hypertension?' },
  { fact: 'I am learning the guitar.', question: 'Which instrument am I taking lessons in?' },
  { fact: 'I grow tomatoes on my balcony.', question: 'What vegetables do I plant?' },
  { fact: 'My husband snores loudly.', question: 'Does my partner make noise while sleeping?' },
  { fact: 'I retired last year.', question: 'Do I still have a job?' },
  { fact: 'I turned forty in April.', question: "What's my age?" },
  { fact: 'I compose film music.', question: 'What do I write for movies?' },
  { fact: 'My horse is called Thunder.', question: "What is my pony's name?" },
  { fact: 'I donate blood every three months.', question: 'How often do I visit the donor clinic?' },
];

/** Held-out unrelated questions (written with the pairs above): they should bring no memory lines. */
export const HELD_OUT_UNRELATED: readonly string[] = [
  'Who wrote the first dictionary of English?',
  'Why is the sky blue during the day?',
  'Sing me a song about dragons.',
  'How far away is the moon?',
  'What do owls eat at night?',
  'Is it going to rain tomorrow in the valley?',
  'Recommend a good book about pirates.',
  'How do bridges stay up?',
];
