// Takes turns on the main thread for work that cannot be split, such as parsing one push.
// Node runs every handler whose request ended in the same event-loop turn back to back: 200
// pushes arriving together would parse one after another for a second or more before the loop
// reads anything else, a health probe included. Work that waits its turn here runs one piece
// per event-loop turn once others are waiting, so that the loop reads its sockets in between.

export class MainThreadQueue {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;
  /** Until when the current turn may go on running work that finds nobody waiting. */
  private turnEnds = 0;

  constructor(private readonly sliceMs = 10) {}

  /**
   * Resolves when the caller may run its piece: at once when nobody waits and the current turn
   * has time left, else in a later event-loop turn, in the order the callers came.
   */
  enter(): Promise<void> | undefined {
    if (this.waiting.length === 0 && performance.now() < this.turnEnds) return undefined;
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** How many pieces wait for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate set while immediates run waits for the next loop turn, after the poll phase.
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    this.turnEnds = performance.now() + this.sliceMs;
    this.waiting.shift()?.();
    if (this.waiting.length > 0) this.schedule();
  }
}
