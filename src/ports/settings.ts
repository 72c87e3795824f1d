/** Where runtime settings are persisted (the `settings` table in SQLite). */
export interface StoredSetting {
  key: string;
  /** The value as it was set (already validated when it was stored; validated again on load). */
  value: unknown;
  updatedAt: number;
  updatedBy: string | null;
}

export interface SettingsRepository {
  list(): Promise<StoredSetting[]>;
  /** Sets and removes (`null`) several keys in one transaction. */
  save(changes: Array<{ key: string; value: unknown | null }>, now: number, updatedBy: string | null): Promise<void>;
}
