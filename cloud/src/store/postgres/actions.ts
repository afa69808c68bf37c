import type { Page, PageRequest, RemoteActionRecord, RemoteActionStatus } from "../records.js";
import { remoteActionRow, toPage } from "../rows.js";
import type { RemoteActionRepo } from "../store.js";
import type { Sql } from "./sql.js";

export class PgRemoteActions implements RemoteActionRepo {
  constructor(private readonly sql: Sql) {}
  async insert(a: RemoteActionRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO remote_actions (id, lock_holder_id, lock_id, action, status, created_at, expires_at, completed_at,
         event_id, error_code, error_message, nonce, counter, command, binding)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
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
    const r = await this.sql.one("SELECT * FROM remote_actions WHERE id = $1", [id]);
    return r && remoteActionRow(r);
  }
  async listForLock(lockId: string, page: PageRequest): Promise<Page<RemoteActionRecord>> {
    const rows = await this.sql.all(
      "SELECT * FROM remote_actions WHERE lock_id = $1 AND id > $2 ORDER BY id LIMIT $3",
      [lockId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, remoteActionRow, (a) => a.id);
  }
  async markSent(
    id: string,
    c: { nonce: string; counter: number; command: string; binding: string },
  ): Promise<boolean> {
    const changed = await this.sql.run(
      `UPDATE remote_actions SET status = 'sent', nonce = $1, counter = $2, command = $3, binding = $4
         WHERE id = $5 AND status = 'pending'`,
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
      `UPDATE remote_actions SET status = $1, completed_at = $2, event_id = $3, error_code = $4, error_message = $5
         WHERE id = $6`,
      [status, f.completedAt, f.eventId ?? null, f.errorCode ?? null, f.errorMessage ?? null, id],
    );
  }
  async findByBinding(lockId: string, binding: string): Promise<RemoteActionRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM remote_actions WHERE lock_id = $1 AND binding = $2", [lockId, binding]);
    return r && remoteActionRow(r);
  }
  async expireDue(now: number): Promise<number> {
    return this.sql.run(
      `UPDATE remote_actions SET status = 'expired', completed_at = expires_at
         WHERE status IN ('pending', 'sent') AND expires_at <= $1`,
      [now],
    );
  }
  async nextCounter(lockId: string, atLeast: number): Promise<{ previous: number; next: number }> {
    const r = await this.sql.one("SELECT counter FROM lock_command_counters WHERE lock_id = $1", [lockId]);
    const previous: number = r?.counter ?? 0;
    const next = Math.max(previous + 1, atLeast);
    await this.sql.run(
      `INSERT INTO lock_command_counters (lock_id, counter) VALUES ($1, $2)
         ON CONFLICT (lock_id) DO UPDATE SET counter = excluded.counter`,
      [lockId, next],
    );
    return { previous, next };
  }
}
