"""Topic declarations (topology/topics.yaml) and the command that applies them."""

from homeward.topology.model import (
    POLICE_ONLY_PREFIX,
    Topic,
    Topology,
    answer_topic_id,
    current_topology,
)

__all__ = ["POLICE_ONLY_PREFIX", "Topic", "Topology", "answer_topic_id", "current_topology"]
