/** Saved versions of personas' prompt templates (see `domain/prompt-template.ts`). */
import type { TemplateTask } from '../domain/prompt-template.js';

export interface TemplateVersion {
  personaId: string;
  task: TemplateTask;
  /** 1, 2, 3 ... per persona and task; the highest is current. */
  version: number;
  template: string;
  createdAt: number;
  createdBy: string | null;
}

export interface PromptTemplateStore {
  /** Every version, newest first. */
  versions(personaId: string, task: TemplateTask): Promise<TemplateVersion[]>;
  /** The current version, or null when none was saved. */
  current(personaId: string, task: TemplateTask): Promise<TemplateVersion | null>;
  /** Saves `template` as the next version. */
  add(personaId: string, task: TemplateTask, template: string, now: number, createdBy: string | null): Promise<TemplateVersion>;
}
