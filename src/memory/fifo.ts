/**
 * A FIFO whose front leaves in O(1): `Array#shift` copies the array past ~16k items, so n items
 * through a plain array queue cost O(n^2). The array is reset when it empties, and compacted once
 * more than half of it (and over 1024 slots) lies before the front.
 */
export class Fifo<T> {
  #a: (T | undefined)[] = [];
  #h = 0;

  get length(): number {
    return this.#a.length - this.#h;
  }

  /** The front item, undefined when empty. */
  first(): T | undefined {
    return this.#a[this.#h];
  }

  push(x: T): void {
    this.#a.push(x);
  }

  /** Removes and returns the front item (undefined when empty). */
  shift(): T {
    const x = this.#a[this.#h] as T;
    if (this.#h === this.#a.length) return x;
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

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#h; i < this.#a.length; i++) yield this.#a[i] as T;
  }
}
