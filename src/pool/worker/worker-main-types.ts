/** What a task function receives as its second argument. */
export interface TaskContext {
  /** Aborts when the caller's signal aborts (its reason an AbortError) or the task times out (a TimeoutError). */
  readonly signal: AbortSignal;
  /** The pool's id of the worker running the task. */
  readonly workerId: number;
}
