// Code loaded on demand (a dynamic import), for `getToken` and the lock fallbacks: loaded once
// and shared by every caller; a failed load (a network blip, a deploy swapping the chunks) is
// forgotten, so that caller fails with it and the next one loads again.

/** `load`, called by the first caller only, then again only after it failed. */
export function onDemand<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | null = null;
  return () =>
    (loading ??= load().catch((error: unknown) => {
      loading = null;
      throw error;
    }));
}
