/** What a task function receives as its second argument. */
export interface TaskContext {
  /** Aborts when the caller's signal aborts or the task times out. */
  readonly signal: AbortSignal;
  /** The pool's id of the worker running the task. */
  readonly workerId: number;
}
