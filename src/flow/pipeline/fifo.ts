/** A FIFO that frees its front without shifting the array each time. */
export class Fifo<T> {
  #a: (T | undefined)[] = [];
  #h = 0;
  get length(): number {
    return this.#a.length - this.#h;
  }
  push(x: T): void {
    this.#a.push(x);
  }
  shift(): T {
    const x = this.#a[this.#h] as T;
    this.#a[this.#h++] = undefined;
    if (this.#h === this.#a.length) {
      this.#a = [];
      this.#h = 0;
    } else if (this.#h > 1024 && this.#h * 2 > this.#a.length) {
      this.#a = this.#a.slice(this.#h);
      this.#h = 0;
    }
    return x;
  }
  clear(): void {
    this.#a = [];
    this.#h = 0;
  }
}
