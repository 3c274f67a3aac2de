"""Topic names. One topic per producing service, keyed by case id so that one case's
events from one producer stay in order on one partition."""

INTAKE = "gov.intake.events"
DEDUP = "gov.dedup.events"
DISPATCH = "gov.dispatch.events"
SUPERVISION = "gov.supervision.events"
DEAD_LETTER = "gov.dead-letter"

CASE_TOPICS = (INTAKE, DEDUP, DISPATCH, SUPERVISION)


def department_topic(department: str) -> str:
    """A department's own work orders (dispatched, co-handling, whistles, ...)."""
    return f"gov.dispatch.dept.{department}"


def _department_topics() -> tuple[str, ...]:
    from shared.catalogue import departments

    return tuple(department_topic(code) for code in departments())


DEPARTMENT_TOPICS = _department_topics()

# Intake topics, one per channel: channel systems publish their submissions here (the
# same payload as the channel's HTTP route) and intake consumes them.
CHANNEL_TOPICS = {
    channel: f"gov.channel.{channel}"
    for channel in ("grid_app", "inspection", "hotline_12345", "police", "petition")
}
ALL_TOPICS = (*CASE_TOPICS, DEAD_LETTER, *DEPARTMENT_TOPICS, *CHANNEL_TOPICS.values())

# Partitions bound the parallelism of each consumer group; see docs/capacity.md.
PARTITIONS = 6
