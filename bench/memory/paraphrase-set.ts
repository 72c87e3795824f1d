/**
 * The paraphrase set (issue 13): 40 facts a user tells a persona, each with a question asking for it in
 * other words — no content word of the question occurs in the fact (checked by `checkParaphraseSet`,
 * after Porter stemming), as a user asks days later ("Which country did I come from?" for "I moved here
 * from Canada"). Written by hand before measuring, and not tuned to the thesaurus afterwards.
 * The first 20 are also told and asked over the wire in the end-to-end case of bench/memory/eval.ts.
 */
export interface ParaphrasePair {
  /** What the user said (one chat message). */
  fact: string;
  /** The question asking for it in other words. */
  question: string;
}

export const PARAPHRASE_PAIRS: readonly ParaphrasePair[] = [
  { fact: 'I moved here from Canada.', question: 'Which country did I come from?' },
  { fact: 'I drive an old green Volvo.', question: 'What car do I own?' },
  { fact: 'I collect antique maps.', question: 'What is my hobby?' },
  { fact: 'I speak fluent Japanese.', question: 'Which foreign language do I know?' },
  { fact: 'My sister is a surgeon.', question: "What is my sibling's job?" },
  { fact: 'I am allergic to shellfish.', question: 'Which seafood makes me sick?' },
  { fact: 'I have two cats named Miso and Tofu.', question: 'Do I have any pets?' },
  { fact: 'I work as an accountant.', question: 'What is my profession?' },
  { fact: 'My daughter turns six in May.', question: 'How old is my child?' },
  { fact: 'I play the cello.', question: 'Which musical instrument do I practise?' },
  { fact: 'I grew up on a farm in Iowa.', question: 'Where did I spend my childhood?' },
  { fact: 'My husband is a firefighter.', question: 'What does my spouse do for a living?' },
  { fact: 'I hate flying.', question: 'How do I feel about airplanes?' },
  { fact: 'I am training for a marathon.', question: 'What race am I preparing to run?' },
  { fact: 'My favourite food is ramen.', question: 'Which dish do I like best?' },
  { fact: 'I broke my wrist last winter.', question: 'Did I ever injure my arm?' },
  { fact: 'I live in a small flat in Lisbon.', question: 'Which city is my home?' },
  { fact: 'I study marine biology.', question: 'What subject am I learning at university?' },
  { fact: 'I never drink coffee.', question: 'Do I enjoy espresso?' },
  { fact: 'My brother lives in Berlin.', question: 'Where is my sibling based?' },
  { fact: 'I am a vegetarian.', question: 'Do I eat meat?' },
  { fact: 'I teach piano to children.', question: 'What is my occupation?' },
  { fact: 'My grandmother was born in Greece.', question: 'Where does my family come from?' },
  { fact: 'I am afraid of spiders.', question: 'Which creatures frighten me?' },
  { fact: 'I got married last June.', question: 'When was my wedding?' },
  { fact: 'I ride a motorcycle to work.', question: 'How do I commute to the office?' },
  { fact: 'I have a peanut allergy.', question: 'Which nut should I avoid?' },
  { fact: 'My son plays football every Saturday.', question: 'Which sport does my boy practise?' },
  { fact: 'I own a bakery downtown.', question: 'What kind of shop do I run?' },
  { fact: 'I love hiking in the mountains.', question: 'What outdoor activity do I enjoy?' },
  { fact: 'My father was a sailor.', question: "What was my dad's career?" },
  { fact: 'I suffer from migraines.', question: 'Do I get bad headaches?' },
  { fact: 'I am learning to paint with watercolours.', question: 'What art am I taking up?' },
  { fact: 'I keep bees in my garden.', question: 'Do I raise any insects?' },
  { fact: 'My wife is expecting twins.', question: 'Is my partner pregnant?' },
  { fact: 'I lost my job in March.', question: 'Am I unemployed?' },
  { fact: 'I was born in 1985.', question: 'How old am I?' },
  { fact: 'I write science fiction novels.', question: 'What kind of books do I author?' },
  { fact: 'My dog is a golden retriever.', question: 'What breed is my puppy?' },
  { fact: 'I volunteer at the animal shelter.', question: 'Where do I help out for free?' },
];

/**
 * Unrelated questions: asked of the persona that knows the facts above, they should bring no memory
 * lines into the prompt (the relevance floor).
 */
export const UNRELATED_QUESTIONS: readonly string[] = [
  'What is the capital of Australia?',
  'Can you explain how photosynthesis works?',
  'Tell me a joke about penguins.',
  'How many legs does an octopus have?',
  'What time is sunset in winter?',
];
