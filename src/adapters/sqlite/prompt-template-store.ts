/** The `prompt_templates` table (migration 0007): versions of personas' prompt templates. */
import type { TemplateTask } from '../../domain/prompt-template.js';
import type { PromptTemplateStore, TemplateVersion } from '../../ports/prompt-templates.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';

interface Row {
  persona_id: string;
  task: TemplateTask;
  version: number;
  template: string;
  created_at: number;
  created_by: string | null;
}

const COLUMNS = 'persona_id, task, version, template, created_at, created_by';

export class SqlitePromptTemplateStore implements PromptTemplateStore {
  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {}

  async versions(personaId: string, task: TemplateTask): Promise<TemplateVersion[]> {
    return this.run(() =>
      this.db.prepare<[string, string], Row>(`SELECT ${COLUMNS} FROM prompt_templates WHERE persona_id = ? AND task = ? ORDER BY version DESC`).all(personaId, task).map(toVersion),
    );
  }

  async current(personaId: string, task: TemplateTask): Promise<TemplateVersion | null> {
    return this.run(() => {
      const row = this.db
        .prepare<[string, string], Row>(`SELECT ${COLUMNS} FROM prompt_templates WHERE persona_id = ? AND task = ? ORDER BY version DESC LIMIT 1`)
        .get(personaId, task);
      return row === undefined ? null : toVersion(row);
    });
  }

  async add(personaId: string, task: TemplateTask, template: string, now: number, createdBy: string | null): Promise<TemplateVersion> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const next = (this.db.prepare<[string, string], { version: number | null }>('SELECT max(version) AS version FROM prompt_templates WHERE persona_id = ? AND task = ?').get(personaId, task)?.version ?? 0) + 1;
          this.db
            .prepare<[string, string, number, string, number, string | null]>(`INSERT INTO prompt_templates (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
            .run(personaId, task, next, template, now, createdBy);
          return { personaId, task, version: next, template, createdAt: now, createdBy };
        })
        .immediate(),
    );
  }

  private run<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }
}

function toVersion(row: Row): TemplateVersion {
  return { personaId: row.persona_id, task: row.task, version: row.version, template: row.template, createdAt: row.created_at, createdBy: row.created_by };
}
