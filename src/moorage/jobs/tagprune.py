"""The ``tagprune`` action (DTR's ``tag_pruning``): apply a repository's pruning policies and
tag limit. Queued by a tag push to a repository that has them, in the push's transaction
(``pruning.schedule``), and by a policy created or updated with ``initialEvaluation``; without
a ``repositoryID`` (a cron an administrator sets, DTR's periodic evaluation) it goes through
every repository that has an enabled policy or a limit. Scan rules read the scanning layer's
results (``scanning.pruning_facts``)."""

from __future__ import annotations

from moorage.jobs.context import JobContext
from moorage.registry import pruning
from moorage.scanning import pruning_facts


async def run(ctx: JobContext) -> None:
    repository_id = int(ctx.parameters.get("repositoryID", 0) or 0)
    if repository_id:
        targets = [repository_id]
    else:
        targets = await pruning.repositories_to_prune(ctx.db)
        await ctx.log(f"evaluating the pruning of {len(targets)} repositories")
    for target in targets:
        pruned = await pruning.prune(ctx.db, target, pruning_facts.load)
        where = "" if repository_id else f"repository {target}: "
        await ctx.log(
            f"{where}pruned {len(pruned)} tags: {', '.join(pruned)}"
            if pruned
            else f"{where}nothing to prune"
        )
