/**
 * Reads a Server-Sent Events stream (the WHATWG event-stream format) as it arrives in chunks:
 * `event`, `data` (several lines joined by "\n") and `id` fields, a blank line ending each
 * event, comment lines (":") ignored. What `verge logs --follow` reads from GET /v1/logs.
 */
export interface StreamEvent {
  /** "message" when the event names none. */
  type: string;
  data: string;
  id: string | undefined;
}

export function createEventStreamParser(onEvent: (event: StreamEvent) => void): { push(chunk: string): void } {
  let buffered = '';
  let type = '';
  let data: string[] = [];
  let id: string | undefined;
  const line = (text: string) => {
    if (text === '') {
      if (data.length > 0) onEvent({ type: type || 'message', data: data.join('\n'), id });
      type = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  };
  return {
    push(chunk) {
      buffered += chunk;
      const eol = /\r\n|\r|\n/g;
      let start = 0;
      let m: RegExpExecArray | null;
      while ((m = eol.exec(buffered)) !== null) {
        // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
        if (m[0] === '\r' && m.index === buffered.length - 1) break;
        line(buffered.slice(start, m.index));
        start = m.index + m[0].length;
      }
      buffered = buffered.slice(start);
    },
  };
}
