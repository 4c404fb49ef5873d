import { ReviewCommitter } from "../../controller/review-committer.js";
import { GitSource, isRemoteLocation } from "../../dataset/source.js";
import { datasetCheckOfCommit } from "../../review/commit.js";
import { ReviewDecisions } from "../../review/decisions.js";
import type { Inbox } from "../../review/inbox.js";
import { systemClock } from "../../util/clock.js";
import { gitCredentials, type CommandContext } from "../context.js";

/**
 * The review committer of `faceops up`: pending review decisions become commits to the watched
 * repository, with the controller's credentials, checked by the dataset check first; each commit
 * wakes the controller (`kick`) so it trains on the new faces at once.
 */
export function buildReviewCommitter(context: CommandContext, inbox: Inbox, kick: (trigger: string) => void): ReviewCommitter {
  const { config } = context.loaded;
  const { store, log, env } = context;
  const credentials = gitCredentials(context);
  const location = config.source.repo;
  return new ReviewCommitter({
    decisions: new ReviewDecisions(store.inbox),
    inbox,
    openTarget: async () => ({
      source: await GitSource.open(location, { store, log, env, credentials }),
      branch: config.review.branch || config.source.branch,
      remote: isRemoteLocation(location),
      committer: { name: config.review.committerName, email: config.review.committerEmail },
    }),
    check: datasetCheckOfCommit({ location, dataset: config.dataset, store, log, env, credentials }),
    clock: systemClock,
    log,
    onCommitted: () => kick("review"),
    intervalMs: config.controller.pollInterval,
  });
}
