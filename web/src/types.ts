/** Wire shapes the app reads (a subset of docs/API.md; field names as the server sends them). */

export interface PersonaSummary {
  id: string;
  name: string;
  description: string;
  available: boolean;
  social_energy: number;
  current_priority: string;
  cooldown_remaining: number;
  model: string;
  /** Relative URL of the avatar: the uploaded image, or the generated one. */
  avatar_url?: string;
}

export interface PersonaDetail {
  persona_id: string;
  name: string;
  description: string;
  backstory: string;
  personality_traits: Record<string, number>;
  speaking_style: string;
  topic_preferences: Record<string, number>;
  example_lines: string[];
  model: string | null;
  avatar: string | null;
  is_builtin: boolean;
  social_energy_profile: { max_energy: number; available_time: number; cost_per_turn: number; recovery_per_minute: number };
}

export interface PersonaStatus {
  persona_id: string;
  name: string;
  social_energy: number;
  max_social_energy: number;
  is_available: boolean;
  mood: string;
  mood_description: string;
}

export interface Attachment {
  id: string;
  kind: 'image' | 'audio';
  mime_type: string;
  url: string;
  thumbnail_url: string | null;
  bytes: number;
}

export interface Message {
  id: number;
  role: 'user' | 'assistant' | 'system';
  persona_id: string | null;
  content: string;
  tokens: number;
  created_at: string;
  attachments?: Attachment[];
}

export interface ChatResult {
  response: string;
  continue_score: number;
  continue_decision: string;
  tokens_used: number;
  processing_time: number;
  conversation_id: string;
  message_id: number;
  persona_name: string;
  model: string;
}

export interface Memory {
  id: string;
  content: string;
  importance: number;
  similarity: number;
  created_at: string;
  persona_id?: string;
  memory_type?: string;
}

export interface Scene {
  conversation_id: string;
  location: string | null;
  time_of_day: string | null;
  weather: string | null;
  present: string[];
  description: string | null;
  image_url: string | null;
  updated_at: string | null;
}

export interface GroupStatus {
  conversation_id: string;
  status: 'running' | 'paused' | 'finished';
  status_reason: string | null;
  max_turns: number;
  is_running: boolean;
  members: { persona_id: string; present: boolean }[];
}

/** One stored sample of `emotional.history`. */
export interface MoodSample {
  id: number;
  at: string;
  cause: 'turn' | 'chat' | 'group' | 'manual' | 'rest';
  mood: string;
  valence: number;
  arousal: number;
  stress_level: number;
  curiosity: number;
  social_battery: number;
  max_social_energy: number;
  energy_level: number;
  interaction_fatigue: number;
}
