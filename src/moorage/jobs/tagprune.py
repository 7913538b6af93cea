"""The ``tagprune`` action: apply a repository's pruning policies and tag limit (queued by a
tag push to a repository that has them, in the push's transaction: ``pruning.schedule``)."""

from __future__ import annotations

from moorage.jobs.context import JobContext
from moorage.registry import pruning


async def run(ctx: JobContext) -> None:
    repository_id = int(ctx.parameters.get("repositoryID", 0))
    pruned = await pruning.prune(ctx.db, repository_id)
    await ctx.log(
        f"pruned {len(pruned)} tags: {', '.join(pruned)}" if pruned else "nothing to prune"
    )
