/**
 * The scene of a conversation, as the personas are told it: where they are, when, the weather, who
 * is present and anything else the user described. One paragraph, so that a small model reads it as
 * the setting rather than as instructions.
 */

export interface Scene {
  location: string | null;
  timeOfDay: string | null;
  weather: string | null;
  present: readonly string[];
  description: string | null;
}

/** Longest text of one scene field, in characters; the prompt pays for every one on every turn. */
export const SCENE_FIELD_MAX_CHARS = 200;
/** Longest free description, in characters. */
export const SCENE_DESCRIPTION_MAX_CHARS = 2_000;
/** At most this many names in `present`. */
export const SCENE_MAX_PRESENT = 30;

/** Whether nothing about the scene is known (then the prompt says nothing of it). */
export function isEmptyScene(scene: Scene): boolean {
  return scene.location === null && scene.timeOfDay === null && scene.weather === null && scene.present.length === 0 && scene.description === null;
}

/**
 * "a busy tavern, late evening; the weather: rain on the windows. Present: Aria, Kira and an old
 * sailor. The fire is low and …" — or "" for an empty scene. The prompt puts it after "The scene: "
 * (`PromptSituation.scene`).
 */
export function describeScene(scene: Scene): string {
  if (isEmptyScene(scene)) return '';
  const setting = [scene.location, scene.timeOfDay].filter((part): part is string => part !== null && part.trim() !== '').map((part) => part.trim());
  const sentences: string[] = [];
  let first = setting.join(', ');
  if (scene.weather !== null && scene.weather.trim() !== '') first = first === '' ? `The weather: ${scene.weather.trim()}` : `${first}; the weather: ${scene.weather.trim()}`;
  if (first !== '') sentences.push(endSentence(first));
  const present = scene.present.map((name) => name.trim()).filter((name) => name !== '');
  if (present.length > 0) sentences.push(`Present: ${joinNames(present)}.`);
  if (scene.description !== null && scene.description.trim() !== '') sentences.push(endSentence(scene.description.trim()));
  return sentences.join(' ');
}

function endSentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

function joinNames(names: string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
