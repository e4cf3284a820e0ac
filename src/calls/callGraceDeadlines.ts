/**
 * The calls' disconnect grace as state, not only as a timer: when a party of an active call has no socket left, the
 * moment they drop out of it unless they come back. In this process's memory on one server; in PostgreSQL's
 * `call_grace_deadlines` with DATABASE_URL, so a deadline survives a restart and any instance's timer pass finds it
 * (ring deadlines and the maximum duration need no state of their own: they are read from the calls collection).
 */
export interface CallGraceDeadlines {
  readonly kind: 'memory' | 'postgres';
  /** Arms the user's deadline; one already armed keeps the earlier moment. */
  arm(userId: string, dueAt: Date): Promise<void>;
  /** The user is back: no deadline. */
  disarm(userId: string): Promise<void>;
  /** Removes the user's deadline if it is due; whether it was (only one caller gets true). */
  claim(userId: string, now: Date): Promise<boolean>;
  /** Removes every due deadline and returns their users, each once. */
  takeDue(now: Date): Promise<string[]>;
  /** Every armed deadline (tests, operators). */
  list(): Promise<Array<{ userId: string; dueAt: string }>>;
  close(): Promise<void>;
}

export class MemoryCallGraceDeadlines implements CallGraceDeadlines {
  readonly kind = 'memory';
  private readonly deadlines = new Map<string, number>();

  async arm(userId: string, dueAt: Date): Promise<void> {
    const armed = this.deadlines.get(userId);
    this.deadlines.set(userId, armed === undefined ? dueAt.getTime() : Math.min(armed, dueAt.getTime()));
  }

  async disarm(userId: string): Promise<void> {
    this.deadlines.delete(userId);
  }

  async claim(userId: string, now: Date): Promise<boolean> {
    const dueAt = this.deadlines.get(userId);
    if (dueAt === undefined || dueAt > now.getTime()) return false;
    this.deadlines.delete(userId);
    return true;
  }

  async takeDue(now: Date): Promise<string[]> {
    const due: string[] = [];
    for (const [userId, dueAt] of this.deadlines) {
      if (dueAt > now.getTime()) continue;
      this.deadlines.delete(userId);
      due.push(userId);
    }
    return due.sort();
  }

  async list(): Promise<Array<{ userId: string; dueAt: string }>> {
    return [...this.deadlines]
      .map(([userId, dueAt]) => ({ userId, dueAt: new Date(dueAt).toISOString() }))
      .sort((a, b) => (a.userId < b.userId ? -1 : 1));
  }

  async close(): Promise<void> {
    this.deadlines.clear();
  }
}
