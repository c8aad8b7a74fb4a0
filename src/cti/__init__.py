"""cti: an asyncio CTI server and ACD that sits in front of an Asterisk PBX."""

__version__ = "0.1.0"
