/** One request through a component runner, answered to the pool; then the runner's next instance is made. */
import type { GuestRequest, GuestResponse } from '../../dispatch/protocol.js';
import { classify, postFailure, postResponse, type Failure, type Post } from '../answer.js';
import type { LineSink } from '../output.js';
import { explainFailure, type LastWords } from '../guest-failure.js';
import type { GuestScope } from '../scope.js';
import type { ComponentRunner } from './runner.js';

export interface ComponentContext {
  scope: GuestScope;
  post: Post;
  stdout: LineSink;
  stderr: LineSink;
  lastWords: LastWords;
}

export function serveComponent(ctx: ComponentContext, runner: ComponentRunner, req: GuestRequest, deadlineAt: number | undefined): void {
  const { scope, post, stdout, stderr } = ctx;
  const { spec } = runner;
  const { spans } = scope.begin({ id: req.id, version: req.version, component: spec.component, grants: spec.grants, deadlineAt, maxResponseBytes: spec.maxResponseBytes, trace: req.trace });
  spans?.queued();
  stdout.reset();
  stderr.reset();
  ctx.lastWords.reset();
  let response: GuestResponse | undefined;
  let failure: Failure | undefined;
  let thrown: unknown;
  try {
    response = runner.run(req, spans, scope.measures);
  } catch (err) {
    failure = classify(err);
    thrown = err;
  }
  stdout.flush();
  stderr.flush();
  // A component's core modules are inside its glue: the names V8 knows are all there is.
  if (failure) explainFailure(failure, thrown, undefined, ctx.lastWords);
  scope.end();
  // Making the next instance takes milliseconds: the pool sends the next request elsewhere meanwhile.
  const settling = runner.hasNext() ? undefined : (true as const);
  const records = spans?.encode();
  if (response) postResponse(post, req.id, response, settling === true, records, scope.measures);
  else postFailure(post, req.id, failure!, settling, records, scope.measures);
  try {
    runner.prepareNext();
  } catch {
    // The next request instantiates again and fails with the reason.
  }
  if (settling) post({ t: 'settled' });
}
