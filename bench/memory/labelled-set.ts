/**
 * A small labelled retrieval set we wrote for persona memories: what a user might have told a persona,
 * and questions that should recall it. Three kinds of query, so the numbers say where an embedder is
 * strong or weak: `lexical` (shares words with the memory), `morphological` (shares word stems or
 * pieces: "gardening" / "gardens") and `paraphrase` (shares no content word: "pet" / "dog").
 */
export interface LabelledQuery {
  query: string;
  /** Indexes into MEMORIES that count as a hit. */
  expected: number[];
  kind: 'lexical' | 'morphological' | 'paraphrase';
}

export const MEMORIES: readonly string[] = [
  'The user said: My daughter Lina was born on a stormy night in March.', // 0
  'The user said: I work as a nurse on the night shift at the city hospital.', // 1
  'The user said: My dog Rex is a old grey wolfhound who hates thunder.', // 2
  'The user said: I am allergic to hazelnuts and peanuts.', // 3
  'The user said: I grew up in a fishing village on the northern coast.', // 4
  'The user said: I play the violin in a small folk band on weekends.', // 5
  'The user said: My favourite book is an old atlas of forgotten kingdoms.', // 6
  'The user said: I am learning to speak Elvish from my grandmother.', // 7
  'The user said: I broke my leg skiing two winters ago.', // 8
  'The user said: My husband Arun bakes bread every Sunday morning.', // 9
  'The user said: I am saving money to buy a sailing boat.', // 10
  'The user said: I am afraid of spiders and dark cellars.', // 11
  'The user said: I love gardening, especially growing tomatoes and roses.', // 12
  'The user said: My best friend moved across the sea last autumn and I miss her.', // 13
  'The user said: I collect antique maps of the old trade roads.', // 14
  'The user said: I am studying astronomy at the academy in the evenings.', // 15
  'The user said: I do not drink wine because it gives me headaches.', // 16
  'The user said: My mother died last year and I still dream about her.', // 17
  'The user said: I run every morning before dawn along the river.', // 18
  'The user said: I am writing a novel about a lighthouse keeper.', // 19
  'The user said: My cat Pip sleeps on my keyboard when I work.', // 20
  'The user said: I want to visit the mountain monasteries next summer.', // 21
  'The user said: I hate crowded taverns and loud music.', // 22
  'The user said: My son Teo plays chess better than me.', // 23
  'The user said: I once saw a dragon over the salt marshes, I swear.', // 24
  'The user said: I am a vegetarian and have been since childhood.', // 25
  'The user said: My birthday is on the first day of winter.', // 26
  'The user said: I keep bees behind my cottage and sell the honey.', // 27
  'The user said: I lost my job at the mill last month and feel anxious.', // 28
  'The user said: I paint watercolours of the harbour at sunset.', // 29
  'The user said: The weather was lovely at the market today.', // 30
  'The user said: I got married by the lake three summers ago.', // 31
  'The user said: I can not swim and boats make me seasick.', // 32
  'The user said: My grandfather was a blacksmith in the old quarter.', // 33
  'The user said: I am training my horse Juniper to jump fences.', // 34
  'The user said: I speak three languages fluently.', // 35
  'The user said: I am recovering from a long fever this spring.', // 36
  'The user said: My sister runs an inn on the crossroads.', // 37
  'The user said: I am terrified of heights and never climb towers.', // 38
  'The user said: I brew my own apple cider in autumn.', // 39
];

export const QUERIES: readonly LabelledQuery[] = [
  { query: 'When was Lina born?', expected: [0], kind: 'lexical' },
  { query: 'What is the user allergic to?', expected: [3], kind: 'lexical' },
  { query: 'Does the user have a dog?', expected: [2], kind: 'lexical' },
  { query: 'Where did the user grow up?', expected: [4], kind: 'lexical' },
  { query: 'Which instrument does the user play?', expected: [5], kind: 'lexical' },
  { query: 'Who bakes bread?', expected: [9], kind: 'lexical' },
  { query: 'What does the user collect?', expected: [14], kind: 'lexical' },
  { query: 'Tell me about the novel the user is writing', expected: [19], kind: 'lexical' },
  { query: "the user's horse", expected: [34], kind: 'lexical' },
  { query: 'bees and honey', expected: [27], kind: 'lexical' },
  { query: 'the user gardens', expected: [12], kind: 'morphological' },
  { query: 'studies of the stars, astronomical', expected: [15], kind: 'morphological' },
  { query: 'running along rivers', expected: [18], kind: 'morphological' },
  { query: 'painting the harbour', expected: [29], kind: 'morphological' },
  { query: 'brewing cider', expected: [39], kind: 'morphological' },
  { query: 'sailboat savings', expected: [10], kind: 'morphological' },
  { query: 'skier with a broken leg', expected: [8], kind: 'morphological' },
  { query: 'What pets does the user have?', expected: [2, 20], kind: 'paraphrase' },
  { query: 'Is the user a parent?', expected: [0, 23], kind: 'paraphrase' },
  { query: 'What food should I never offer?', expected: [3, 25], kind: 'paraphrase' },
  { query: 'What is the user scared of?', expected: [11, 38, 32], kind: 'paraphrase' },
  { query: 'grief and loss', expected: [17, 13], kind: 'paraphrase' },
  { query: 'the user is unemployed', expected: [28], kind: 'paraphrase' },
  { query: 'their spouse', expected: [9, 31], kind: 'paraphrase' },
  { query: 'medical profession', expected: [1], kind: 'paraphrase' },
];
