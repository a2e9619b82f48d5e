/**
 * Who runs a posted request: the worker it was posted to, or nobody because the pool took it back.
 * The pool posts a request behind the one a worker is running (pipelining); if that one runs long,
 * the pool gives the waiting request to another worker. The worker cannot be asked — it is inside
 * a guest and reads no messages — so the two sides race on a shared cell instead, and exactly one
 * wins: the worker's claim before it runs the request, or the pool's revoke before re-dispatching
 * it. A request is never run twice (guests have side effects) and never lost.
 *
 * One SharedArrayBuffer per worker holds CLAIM_CELLS cells. The pool writes a fresh tag into a
 * free cell before posting; the worker swaps tag → -tag to claim; the pool swaps tag → 0 to
 * revoke. A stale run message (taken back, its cell since reused) finds another tag and is skipped.
 */

/** Cells per worker: more than the requests the pool ever has posted and not yet answered there. */
export const CLAIM_CELLS = 64;
const MAX_TAG = 0x7fffffff;

export interface Claim {
  cell: number;
  tag: number;
}

export class JobClaims {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Int32Array;
  private lastTag = 0;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(CLAIM_CELLS * Int32Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.cells = new Int32Array(buffer);
  }

  /** Pool side: a claim for a request about to be posted, in a cell no pending request holds. */
  offer(pending: (cell: number) => boolean): Claim {
    for (;;) {
      this.lastTag = (this.lastTag % MAX_TAG) + 1;
      const cell = this.lastTag % CLAIM_CELLS;
      if (pending(cell)) continue;
      Atomics.store(this.cells, cell, this.lastTag);
      return { cell, tag: this.lastTag };
    }
  }

  /** Pool side: takes a posted request back. False when the worker claimed it first (it runs, or ran). */
  revoke(claim: Claim): boolean {
    return Atomics.compareExchange(this.cells, claim.cell, claim.tag, 0) === claim.tag;
  }

  /** Pool side: the worker has claimed it (it runs, or ran). */
  claimed(claim: Claim): boolean {
    return Atomics.load(this.cells, claim.cell) === -claim.tag;
  }

  /** Worker side: claims a request before running it. False when the pool took it back. */
  claim(claim: Claim): boolean {
    return Atomics.compareExchange(this.cells, claim.cell, claim.tag, -claim.tag) === claim.tag;
  }
}
