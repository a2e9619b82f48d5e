/** One request through a component runner, answered to the pool; then the runner's next instance is made. */
import type { EncodedSpans, GuestRequest, GuestResponse } from '../../dispatch/protocol.js';
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
  const { scope, post } = ctx;
  const { answer, spans } = executeComponent(ctx, runner, req, deadlineAt);
  // Making the next instance takes milliseconds: the pool sends the next request elsewhere meanwhile.
  const settling = runner.hasNext() ? undefined : (true as const);
  if ('response' in answer) postResponse(post, req.id, answer.response, settling === true, spans, scope.measures);
  else postFailure(post, req.id, answer.failure, settling, spans, scope.measures);
  prepareNext(runner);
  if (settling) post({ t: 'settled' });
}

/** Runs `req` on the runner's instance: its response or why it has none, and its spans when sampled. */
export function executeComponent(ctx: ComponentContext, runner: ComponentRunner, req: GuestRequest, deadlineAt: number | undefined): { answer: { response: GuestResponse } | { failure: Failure }; spans: EncodedSpans | undefined } {
  const { scope, stdout, stderr } = ctx;
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
  return { answer: response ? { response } : { failure: failure! }, spans: spans?.encode() };
}

/** After the answer: the runner recycles what the request left and makes its next instance. */
export function prepareNext(runner: ComponentRunner): void {
  try {
    runner.prepareNext();
  } catch {
    // The next request instantiates again and fails with the reason.
  }
}
