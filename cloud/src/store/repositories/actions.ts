import type { Page, PageRequest, RemoteActionRecord, RemoteActionStatus } from "../records.js";
import { remoteActionRow, toPage } from "../rows.js";
import type { Sql } from "../sql.js";
import type { RemoteActionRepo } from "../store.js";

export class RemoteActions implements RemoteActionRepo {
  constructor(private readonly sql: Sql) {}
  async insert(a: RemoteActionRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO remote_actions (id, lock_holder_id, lock_id, action, status, created_at, expires_at, completed_at,
         event_id, error_code, error_message, nonce, counter, command, binding)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    );
  }
  async get(id: string): Promise<RemoteActionRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM remote_actions WHERE id = ?", [id]);
    return r && remoteActionRow(r);
  }
  async listForLock(lockId: string, page: PageRequest): Promise<Page<RemoteActionRecord>> {
    const rows = await this.sql.all("SELECT * FROM remote_actions WHERE lock_id = ? AND id > ? ORDER BY id LIMIT ?", [
      lockId,
      page.startAfterId ?? "",
      page.limit + 1,
    ]);
    return toPage(rows, page.limit, remoteActionRow, (a) => a.id);
  }
  async markSent(
    id: string,
    c: { nonce: string; counter: number; command: string; binding: string },
  ): Promise<boolean> {
    const changed = await this.sql.run(
      `UPDATE remote_actions SET status = 'sent', nonce = ?, counter = ?, command = ?, binding = ?
         WHERE id = ? AND status = 'pending'`,
      [c.nonce, c.counter, c.command, c.binding, id],
    );
    return changed === 1;
  }
  async close(
    id: string,
    status: Extract<RemoteActionStatus, "succeeded" | "failed" | "expired">,
    f: { completedAt: number; eventId?: string; errorCode?: string; errorMessage?: string | null },
  ): Promise<void> {
    await this.sql.run(
      `UPDATE remote_actions SET status = ?, completed_at = ?, event_id = ?, error_code = ?, error_message = ?
         WHERE id = ?`,
      [status, f.completedAt, f.eventId ?? null, f.errorCode ?? null, f.errorMessage ?? null, id],
    );
  }
  async findByBinding(lockId: string, binding: string): Promise<RemoteActionRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM remote_actions WHERE lock_id = ? AND binding = ?", [lockId, binding]);
    return r && remoteActionRow(r);
  }
  async expireDue(now: number): Promise<number> {
    return this.sql.run(
      `UPDATE remote_actions SET status = 'expired', completed_at = expires_at
         WHERE status IN ('pending', 'sent') AND expires_at <= ?`,
      [now],
    );
  }
  async nextCounter(lockId: string, atLeast: number): Promise<{ previous: number; next: number }> {
    const r = await this.sql.get("SELECT counter FROM lock_command_counters WHERE lock_id = ?", [lockId]);
    const previous: number = r?.counter ?? 0;
    const next = Math.max(previous + 1, atLeast);
    await this.sql.run(
      `INSERT INTO lock_command_counters (lock_id, counter) VALUES (?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET counter = excluded.counter`,
      [lockId, next],
    );
    return { previous, next };
  }
}
