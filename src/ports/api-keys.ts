/** Storage of API keys (hashed). Implemented in `src/adapters/sqlite/api-key-store.ts`. */
export type ApiKeyRole = 'user' | 'admin';

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The user the key acts as: sessions, conversations and private memories belong to users. */
  userId: string;
  role: ApiKeyRole;
  /** First characters of the key, to tell keys apart in listings. */
  keyPrefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface ApiKeyStore {
  insertKey(record: ApiKeyRecord, keyHash: string): Promise<void>;
  /** The active (not revoked) key with this hash, marking it used at `now`. */
  useKey(keyHash: string, now: number): Promise<ApiKeyRecord | null>;
  listKeys(): Promise<ApiKeyRecord[]>;
  /** Revokes by id or prefix; returns the revoked record, or null when none matched. */
  revokeKey(idOrPrefix: string, now: number): Promise<ApiKeyRecord | null>;
  countActiveKeys(): Promise<number>;
  /** Ids of every revoked key (few: keys are revoked by hand). */
  revokedKeyIds(): Promise<string[]>;
}
