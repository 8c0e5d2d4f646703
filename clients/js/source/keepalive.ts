// Keeping a session alive without waste: revalidate when the user comes back to the page
// (focus, visible again), at most once per interval; and refresh shortly before the idle
// deadline, but only if the user was active since the server last saw the session. An idle
// user's session is let expire, as the idle timeout means it to.
import { sessionOf } from "./states.js";
import type { SessionState } from "./types.js";

/** The page events and the clock keep-alive uses (tests pass their own). */
export interface KeepAliveEnvironment {
  now(): number;
  /** `back`: the page got focus or became visible; `activity`: pointer, key, scroll, touch. */
  on(event: "back" | "activity", listener: () => void): () => void;
  /** Runs `run` after `ms`; returns what cancels it. */
  timer(ms: number, run: () => void): () => void;
}

export interface KeepAliveOptions {
  /** Least time between two revalidations when the user comes back, in ms (default 30 s). */
  revalidateAfter?: number;
}

export interface KeepAliveActions {
  revalidate(): Promise<unknown>;
  refresh(): Promise<unknown>;
}

/** How long before the idle deadline to refresh: a tenth of what is left, within 30 s–5 min. */
export function refreshLead(msLeft: number): number {
  return Math.min(5 * 60_000, Math.max(30_000, msLeft / 10));
}

export class KeepAlive {
  private lastContact: number;
  private lastActivity = Number.NEGATIVE_INFINITY;
  private lastRevalidation = Number.NEGATIVE_INFINITY;
  private cancelTimer: (() => void) | null = null;
  private readonly stops: Array<() => void>;
  private signedIn = false;
  private readonly revalidateAfter: number;

  constructor(
    private readonly env: KeepAliveEnvironment,
    private readonly actions: KeepAliveActions,
    options: KeepAliveOptions = {},
  ) {
    this.revalidateAfter = options.revalidateAfter ?? 30_000;
    this.lastContact = env.now();
    this.stops = [
      env.on("activity", () => {
        this.lastActivity = env.now();
      }),
      env.on("back", () => this.back()),
    ];
  }

  /** Every new state: a signed-in one is fresh from the server (or from another tab). */
  onState(state: SessionState): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    const session = sessionOf(state);
    this.signedIn = session !== null;
    if (session === null) return;
    const now = this.env.now();
    this.lastContact = now;
    const left = Date.parse(session.expires_at) - now;
    if (!Number.isFinite(left) || left <= 0) return;
    this.arm(now + Math.max(0, left - refreshLead(left)));
  }

  /** At `due`, refresh if the user was active since the last contact (timers hold ~24.8 days
   * at most: a later `due` re-arms on the way). */
  private arm(due: number): void {
    const wait = Math.min(Math.max(0, due - this.env.now()), 2_147_483_647);
    this.cancelTimer = this.env.timer(wait, () => {
      this.cancelTimer = null;
      if (this.env.now() < due) return this.arm(due);
      if (this.lastActivity > this.lastContact) this.actions.refresh().catch(() => {});
    });
  }

  stop(): void {
    this.cancelTimer?.();
    for (const stop of this.stops) stop();
  }

  private back(): void {
    const now = this.env.now();
    if (!this.signedIn || now - this.lastRevalidation < this.revalidateAfter) return;
    if (now - this.lastContact < this.revalidateAfter) return;
    this.lastRevalidation = now;
    this.actions.revalidate().catch(() => {});
  }
}

/** The page's events (`focus`, `visibilitychange`, user input); `null` outside a page. */
export function pageEnvironment(): KeepAliveEnvironment | null {
  const scope = globalThis as {
    document?: { visibilityState?: string; addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void };
    addEventListener?: (t: string, l: () => void, o?: unknown) => void;
    removeEventListener?: (t: string, l: () => void, o?: unknown) => void;
  };
  const document = scope.document;
  if (document === undefined || !scope.addEventListener || !scope.removeEventListener) return null;
  const add = scope.addEventListener.bind(globalThis);
  const remove = scope.removeEventListener.bind(globalThis);
  return {
    now: () => Date.now(),
    on(event, listener) {
      if (event === "back") {
        const onVisible = () => {
          if (document.visibilityState === "visible") listener();
        };
        add("focus", listener);
        document.addEventListener("visibilitychange", onVisible);
        return () => {
          remove("focus", listener);
          document.removeEventListener("visibilitychange", onVisible);
        };
      }
      const kinds = ["pointerdown", "keydown", "scroll", "touchstart"];
      for (const kind of kinds) add(kind, listener, { passive: true, capture: true });
      return () => {
        for (const kind of kinds) remove(kind, listener, { capture: true });
      };
    },
    timer(ms, run) {
      const handle = setTimeout(run, ms);
      return () => clearTimeout(handle);
    },
  };
}
