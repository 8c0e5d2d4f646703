// The refresh lock where Web Locks are missing and so is BroadcastChannel: a lease in
// localStorage.
import type { LockManagerLike } from "./tabs.js";

/** How long a claimed lease holds, in ms: a holder that died frees it after this. */
const LEASE_MS = 5_000;
/** How long a claimant waits before checking that its claim stuck (the last writer wins). */
const SETTLE_MS = 30;
/** The pause between two looks at a lease held by another tab, plus up to the jitter. */
const RETRY_MS = 20;
const RETRY_JITTER_MS = 30;
/** How long a tab waits for the lease before it goes ahead anyway. */
export const PATIENCE_MS = 10_000;

/** The part of `localStorage` used here. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Where Web Locks are missing: a lease in `localStorage` (owner and expiry), claimed, then
 * confirmed after a short settle (when two tabs claim at once the last writer holds it), and
 * waited for while another tab holds it. A holder that died frees it when the lease expires;
 * a waiter gives up after `patience` and goes ahead (the server still gives concurrent
 * refreshes of one token the same successor).
 */
export function leaseLocks(
  storage: StorageLike,
  options: { now?: () => number; wait?: (ms: number) => Promise<void>; patience?: number } = {},
): LockManagerLike {
  const now = options.now ?? Date.now;
  const wait = options.wait ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const patience = options.patience ?? PATIENCE_MS;
  const read = (key: string): { owner: string; until: number } | null => {
    try {
      const lease = JSON.parse(storage.getItem(key) ?? "null") as { owner?: unknown; until?: unknown } | null;
      return typeof lease?.owner === "string" && typeof lease.until === "number"
        ? { owner: lease.owner, until: lease.until }
        : null;
    } catch {
      return null;
    }
  };
  return {
    async request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      const key = `${name}:lease`;
      const me = Math.random().toString(36).slice(2);
      const giveUp = now() + patience;
      for (;;) {
        const lease = read(key);
        if (lease === null || lease.until < now()) {
          storage.setItem(key, JSON.stringify({ owner: me, until: now() + LEASE_MS }));
          await wait(SETTLE_MS);
          if (read(key)?.owner === me) break;
        } else if (now() > giveUp) {
          break;
        }
        await wait(RETRY_MS + Math.random() * RETRY_JITTER_MS);
      }
      try {
        return await callback();
      } finally {
        if (read(key)?.owner === me) storage.removeItem(key);
      }
    },
  };
}
