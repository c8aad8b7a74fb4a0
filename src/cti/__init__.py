"""cti: an asyncio CTI server and ACD that sits in front of an Asterisk PBX."""

from cti.version import VERSION as __version__

__all__ = ["__version__"]
