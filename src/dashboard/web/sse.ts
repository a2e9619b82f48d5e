/**
 * Server-Sent Events read from a text stream, as EventSource reads them
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * the dashboard reads GET /v1/logs?follow=1 with fetch, because EventSource cannot send the
 * bearer token. No DOM: a unit test runs it in Node.
 */
export interface SseEvent {
  /** `message` unless the event named another (`dropped`). */
  type: string;
  data: string;
  /** The last event id given so far, which a reconnect sends as Last-Event-ID. */
  lastEventId: string | undefined;
}

export class SseParser {
  /** The last event id seen: where a reconnect resumes. */
  lastEventId: string | undefined;
  /** An unfinished line from the previous chunk. */
  private pending = '';
  private data: string[] = [];
  private type = '';

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  /** Feeds the next chunk of text; every event it completes is dispatched before this returns. */
  push(text: string): void {
    const all = this.pending + text;
    // A CR at the end may be the first half of a CRLF: it waits for the next chunk.
    const hold = all.endsWith('\r') ? 1 : 0;
    const lines = all.slice(0, all.length - hold).split(/\r\n|\r|\n/);
    this.pending = lines.pop()! + (hold ? '\r' : '');
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // a comment: the stream's keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
  }

  private dispatch(): void {
    const data = this.data;
    const type = this.type || 'message';
    this.data = [];
    this.type = '';
    if (data.length > 0) this.onEvent({ type, data: data.join('\n'), lastEventId: this.lastEventId });
  }
}
