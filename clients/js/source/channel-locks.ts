// The refresh lock where Web Locks are missing but BroadcastChannel is there: a lock negotiated
// by messages between the tabs.
import { PATIENCE_MS } from "./lease-locks.js";
import type { ChannelLike, LockManagerLike } from "./tabs.js";

/** How long a claimant listens for a `held` answer before it takes the lock, in ms. */
const SETTLE_MS = 50;

interface LockMessage {
  kind: "session-client/lock";
  type: "claim" | "held" | "release";
  name: string;
  from: string;
  at: number;
  to?: string;
}

/**
 * Where Web Locks are missing but `BroadcastChannel` is there: a tab claims a lock by
 * broadcasting a claim and listening for a moment. The holder, and a tab whose own claim is
 * older (by time, then id), answer `held`; a contested claimant waits for the `release` and
 * tries again. A waiter gives up after `patience` and goes ahead (a holder that died sends no
 * release; the server still gives concurrent refreshes of one token one successor).
 */
export function channelLocks(
  channel: ChannelLike,
  options: { now?: () => number; settle?: number; patience?: number } = {},
): LockManagerLike {
  const now = options.now ?? Date.now;
  const settle = options.settle ?? SETTLE_MS;
  const patience = options.patience ?? PATIENCE_MS;
  const me = Math.random().toString(36).slice(2);
  const held = new Set<string>();
  const pending = new Map<string, { at: number; contested: boolean }>();
  const released = new Map<string, Set<() => void>>();
  const post = (message: Omit<LockMessage, "kind" | "from">) =>
    channel.postMessage({ kind: "session-client/lock", from: me, ...message } satisfies LockMessage);
  const earlier = (a: { at: number; from: string }, b: { at: number; from: string }) =>
    a.at < b.at || (a.at === b.at && a.from < b.from);

  channel.addEventListener("message", ({ data }) => {
    const message = data as Partial<LockMessage> | null;
    if (message?.kind !== "session-client/lock" || !message.name || !message.from) return;
    const { name, from } = message;
    const mine = pending.get(name);
    if (message.type === "claim" && typeof message.at === "number") {
      const theirs = { at: message.at, from };
      if (held.has(name) || (mine && earlier({ at: mine.at, from: me }, theirs))) {
        post({ type: "held", name, at: now(), to: from });
      } else if (mine) {
        mine.contested = true; // their claim is older: ours waits
      }
    } else if (message.type === "held" && message.to === me && mine) {
      mine.contested = true;
    } else if (message.type === "release") {
      for (const wake of released.get(name) ?? []) wake();
    }
  });

  const releaseOf = (name: string, ms: number) =>
    new Promise<void>((resolve) => {
      const wakers = released.get(name) ?? new Set<() => void>();
      released.set(name, wakers);
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });

  return {
    async request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      const giveUp = now() + patience;
      for (;;) {
        const claim = { at: now(), contested: false };
        pending.set(name, claim);
        post({ type: "claim", name, at: claim.at });
        await new Promise((resolve) => setTimeout(resolve, settle));
        pending.delete(name);
        if (!claim.contested || now() > giveUp) break;
        await releaseOf(name, Math.max(0, giveUp - now()));
      }
      held.add(name);
      try {
        return await callback();
      } finally {
        held.delete(name);
        post({ type: "release", name, at: now() });
      }
    },
  };
}
