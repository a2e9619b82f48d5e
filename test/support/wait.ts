/** Polling with a bound, for end-to-end tests: never a bare sleep, never an unbounded wait. */

/** Polls `find` every 20 ms until it returns something, for at most `ms`; then throws naming `what`. */
export async function waitFor<T>(find: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`not seen in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
