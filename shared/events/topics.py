"""Topic names. One topic per producing service, keyed by case id so that one case's
events from one producer stay in order on one partition."""

INTAKE = "gov.intake.events"
DEDUP = "gov.dedup.events"
DISPATCH = "gov.dispatch.events"
SUPERVISION = "gov.supervision.events"
DEAD_LETTER = "gov.dead-letter"

CASE_TOPICS = (INTAKE, DEDUP, DISPATCH, SUPERVISION)
ALL_TOPICS = (*CASE_TOPICS, DEAD_LETTER)

# Partitions bound the parallelism of each consumer group; see docs/capacity.md.
PARTITIONS = 6
