"""The ACD: agents, skills, queues and routing as a pure core (see engine.py)."""

from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.models import AcdConfig, AgentProfile, AgentState, QueueConfig, load_acd_config

__all__ = [
    "Acd",
    "AcdConfig",
    "AcdError",
    "AgentProfile",
    "AgentState",
    "QueueConfig",
    "load_acd_config",
]
