// Server-sent events read from a fetch body: unlike EventSource, fetch can send the token in
// the Authorization header.

/** Reads a server-sent event stream, calling `onEvent(event, data)` per dispatched event. */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (data.length) onEvent(event, data.join('\n'));
        event = 'message';
        data = [];
      } else if (line.startsWith(':')) {
        continue; // comment: "connected", pings
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
      }
    }
  }
}

export interface EventHandlers {
  open: () => void;
  error: () => void;
  index: (data: string) => void;
}

/** Follows the stream at `url`, reconnecting 3 s after a drop, until the returned controller
 * is aborted. `headers` is asked again for each connection. */
export function followEvents(url: string, headers: () => Headers, handlers: EventHandlers): AbortController {
  const controller = new AbortController();
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(url, { headers: headers(), signal: controller.signal, cache: 'no-store' });
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        handlers.open();
        await readEvents(response.body, (event, data) => {
          if (event === 'index') handlers.index(data);
        });
      } catch {
        if (controller.signal.aborted) return;
      }
      handlers.error();
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  };
  void run();
  return controller;
}
