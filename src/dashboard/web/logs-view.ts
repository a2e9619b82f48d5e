/** The logs page: a slot for the node's log stream, which this build does not serve yet. */
import { h, missing, replace } from './dom.js';
import type { View } from './view.js';

export const logsView: View = async (ctx) => {
  replace(
    ctx.main,
    h('h1', null, 'Logs'),
    // The slot for logs filtered by level, app, component, request id and text (GET /v1/logs, with follow=1 to stream).
    missing(
      'No logs API on this node yet',
      'Filtering logs by level, app, component, request id and text needs the node to serve its logs (GET /v1/logs), which this build does not. Until then its logs are JSON lines on its standard output.',
    ),
  );
};
