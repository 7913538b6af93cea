"""The ``webhook`` action: one delivery of one event to one webhook, all its attempts in this
one job row. A failed attempt asks the runner to run the same row again after the backoff
(``RetryLater``) while attempts are left; each attempt is recorded with the delivery
(``webhook_attempts``: time, status, response code, error) and in the job's log. The registry
(settings, storage) completes the payload before the first attempt (``webhooks.delivery``)."""

from __future__ import annotations

from moorage.auth.secretbox import SecretBox
from moorage.jobs.context import JobContext, RetryLater
from moorage.webhooks import delivery


async def run(ctx: JobContext) -> None:
    delivery_id = str(ctx.parameters.get("delivery", ""))
    box = SecretBox.in_data_folder(ctx.registry.settings.data)
    number = ctx.job.attempt
    outcome = await delivery.attempt(
        ctx.registry, box, delivery_id, number, last_attempt=number >= ctx.job.max_attempts
    )
    code = f" (HTTP {outcome.code})" if outcome.code is not None else ""
    detail = f": {outcome.error}" if outcome.error else ""
    await ctx.log(f"delivery {delivery_id} attempt {number}: {outcome.result.value}{code}{detail}")
    if outcome.result is delivery.Result.FAILED:
        raise RetryLater(outcome.error or "the delivery failed")
