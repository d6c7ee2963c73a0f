// In-memory storage for oidc-provider, one store per provider instance (several IdPs can run in one
// process, e.g. in tests). Nothing is persisted. oidc-provider's own MemoryAdapter would do, but it
// prints a production warning at every start; this one is just as small and says what it does.

import type { Adapter, AdapterFactory, AdapterPayload } from "oidc-provider";

interface Entry {
  payload: AdapterPayload;
  expiresAt: number; // epoch milliseconds; Infinity when the model has no expiry
}

const SWEEP_EVERY = 500;

export function createMemoryAdapter(): AdapterFactory {
  const entries = new Map<string, Entry>();
  const sessionsByUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const grantMembers = new Map<string, Set<string>>();
  let writes = 0;

  function live(key: string): AdapterPayload | undefined {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  function sweep(): void {
    const now = Date.now();
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
  }

  return class MemoryAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    key(id: string): string {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.key(id);
      const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
      entries.set(key, { payload, expiresAt });
      if (this.model === "Session" && typeof payload.uid === "string") sessionsByUid.set(payload.uid, id);
      if (typeof payload.userCode === "string") byUserCode.set(payload.userCode, id);
      if (typeof payload.grantId === "string") {
        const members = grantMembers.get(payload.grantId) ?? new Set<string>();
        members.add(key);
        grantMembers.set(payload.grantId, members);
      }
      writes += 1;
      if (writes % SWEEP_EVERY === 0) sweep();
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(this.key(id));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = sessionsByUid.get(uid);
      return id === undefined ? undefined : live(this.key(id));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : live(this.key(id));
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      const key = this.key(id);
      const payload = entries.get(key)?.payload;
      entries.delete(key);
      if (!payload) return;
      if (typeof payload.uid === "string" && sessionsByUid.get(payload.uid) === id) sessionsByUid.delete(payload.uid);
      if (typeof payload.userCode === "string" && byUserCode.get(payload.userCode) === id) byUserCode.delete(payload.userCode);
      if (typeof payload.grantId === "string") grantMembers.get(payload.grantId)?.delete(key);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of grantMembers.get(grantId) ?? []) entries.delete(key);
      grantMembers.delete(grantId);
    }
  };
}
