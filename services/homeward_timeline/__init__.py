"""The case timeline: every event of a case, in order, alert to referrals,
read from the case's partitions in Kafka (`python -m homeward_timeline CASE_ID`,
and intake's GET /v1/cases/{case_id}/timeline)."""

from homeward_timeline.query import Entry, Timeline, TimelineQuery, TimelineUnavailable, assemble

__all__ = ["Entry", "Timeline", "TimelineQuery", "TimelineUnavailable", "assemble"]
