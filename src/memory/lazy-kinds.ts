/**
 * Shared kinds and error classes a thread registers only when one first arrives. A pool worker
 * (src/worker-preload.ts) leaves the modules that register most of them unloaded until a value
 * names a kind, or an error record a class, that this thread does not know yet: it then loads them
 * all at once, synchronously (so the value being decoded still arrives live), through the loader
 * set here. Each layer's modules register what they define when loaded (handle.ts
 * `registerReviver`, error-codec.ts `registerErrorClasses`), so after the load the lookup that
 * missed is made again.
 * Internal (not a package export).
 */

let loader: (() => unknown) | undefined;

/** Sets what loads the kinds not loaded yet (replacing one not yet run). */
export function setLazyKinds(load: () => unknown): void {
  loader = load;
}

/**
 * Runs the loader once, on the first lookup of a kind or error class that missed; true if it ran
 * now (the caller looks again), false if there was none left to run. Its error (a module that could
 * not load) goes to the caller: the value being decoded fails with it, not silently as a dead clone.
 */
export function loadLazyKinds(): boolean {
  const load = loader;
  if (load === undefined) return false;
  loader = undefined;
  load();
  return true;
}
