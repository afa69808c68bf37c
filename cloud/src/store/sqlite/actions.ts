import type Database from "better-sqlite3";
import type { Page, PageRequest, RemoteActionRecord, RemoteActionStatus } from "../records.js";
import { type Row, remoteActionRow, toPage } from "../rows.js";
import type { RemoteActionRepo } from "../store.js";
import { prep } from "./statements.js";

export class SqliteRemoteActions implements RemoteActionRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(a: RemoteActionRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO remote_actions (id, lock_holder_id, lock_id, action, status, created_at, expires_at, completed_at,
         event_id, error_code, error_message, nonce, counter, command, binding)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      a.id,
      a.lockHolderId,
      a.lockId,
      a.action,
      a.status,
      a.createdAt,
      a.expiresAt,
      a.completedAt,
      a.eventId,
      a.errorCode,
      a.errorMessage,
      a.nonce,
      a.counter,
      a.command,
      a.binding,
    );
  }
  async get(id: string): Promise<RemoteActionRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM remote_actions WHERE id = ?").get(id);
    return r && remoteActionRow(r);
  }
  async listForLock(lockId: string, page: PageRequest): Promise<Page<RemoteActionRecord>> {
    const rows = prep(this.db, "SELECT * FROM remote_actions WHERE lock_id = ? AND id > ? ORDER BY id LIMIT ?").all(
      lockId,
      page.startAfterId ?? "",
      page.limit + 1,
    );
    return toPage(rows, page.limit, remoteActionRow, (a) => a.id);
  }
  async markSent(
    id: string,
    c: { nonce: string; counter: number; command: string; binding: string },
  ): Promise<boolean> {
    const result = prep(
      this.db,
      `UPDATE remote_actions SET status = 'sent', nonce = ?, counter = ?, command = ?, binding = ?
         WHERE id = ? AND status = 'pending'`,
    ).run(c.nonce, c.counter, c.command, c.binding, id);
    return result.changes === 1;
  }
  async close(
    id: string,
    status: Extract<RemoteActionStatus, "succeeded" | "failed" | "expired">,
    f: { completedAt: number; eventId?: string; errorCode?: string; errorMessage?: string | null },
  ): Promise<void> {
    prep(
      this.db,
      `UPDATE remote_actions SET status = ?, completed_at = ?, event_id = ?, error_code = ?, error_message = ?
         WHERE id = ?`,
    ).run(status, f.completedAt, f.eventId ?? null, f.errorCode ?? null, f.errorMessage ?? null, id);
  }
  async findByBinding(lockId: string, binding: string): Promise<RemoteActionRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM remote_actions WHERE lock_id = ? AND binding = ?").get(lockId, binding);
    return r && remoteActionRow(r);
  }
  async expireDue(now: number): Promise<number> {
    return prep(
      this.db,
      `UPDATE remote_actions SET status = 'expired', completed_at = expires_at
         WHERE status IN ('pending', 'sent') AND expires_at <= ?`,
    ).run(now).changes;
  }
  async nextCounter(lockId: string, atLeast: number): Promise<{ previous: number; next: number }> {
    const r: Row = prep(this.db, "SELECT counter FROM lock_command_counters WHERE lock_id = ?").get(lockId);
    const previous: number = r?.counter ?? 0;
    const next = Math.max(previous + 1, atLeast);
    prep(
      this.db,
      `INSERT INTO lock_command_counters (lock_id, counter) VALUES (?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET counter = excluded.counter`,
    ).run(lockId, next);
    return { previous, next };
  }
}
