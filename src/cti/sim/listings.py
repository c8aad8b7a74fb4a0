"""The items of the simulated PBX's list answers (BridgeList, CoreShowChannels, Status,
PJSIPShowEndpoints), field for field as Asterisk 22 words them in the transcripts."""

from __future__ import annotations

import time
from collections.abc import Iterable

from cti.sim.models import Channel, Endpoint, Fields, bridge_fields


def bridge_items(bridges: dict[str, list[Channel]]) -> list[Fields]:
    return [
        [
            ("Event", "BridgeListItem"),
            *bridge_fields(bridge),
            ("BridgeNumChannels", str(len(chans))),
            ("BridgeVideoSourceMode", "none"),
        ]
        for bridge, chans in bridges.items()
    ]


def channel_items(channels: Iterable[Channel]) -> list[Fields]:
    now = time.monotonic()
    items = []
    for ch in channels:
        secs = int(now - ch.created)
        items.append(
            [
                ("Event", "CoreShowChannel"),
                *ch.fields(),
                ("Application", ch.app),
                ("ApplicationData", ch.app_data),
                ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                ("BridgeId", ch.bridge or ""),
            ]
        )
    return items


def status_items(channels: Iterable[Channel], wanted: list[str]) -> list[Fields]:
    now = time.monotonic()
    items = []
    for ch in channels:
        item: Fields = [("Event", "Status"), *ch.fields(), ("Type", "PJSIP"), ("DNID", "")]
        # Asterisk answers `(null)` for a variable that is not set (real 22.10.1).
        item += [("Variable", f"{v}={ch.variables.get(v, '(null)')}") for v in wanted]
        item += [
            ("Application", ch.app),
            ("Data", ch.app_data),
            ("Seconds", str(int(now - ch.created))),
            ("BridgeID", ch.bridge or ""),
        ]
        items.append(item)
    return items


def endpoint_list(endpoints: Iterable[Endpoint]) -> list[Fields]:
    """PJSIPShowEndpoints (transcript 08): a phone is `Unavailable` until it answers a
    qualify; one that never registered has no contact and is `Unavailable` too."""
    items = []
    for e in endpoints:
        contacts = f"{e.name}/sip:{e.name}@127.0.0.1:5080," if e.registered else ""
        state = ("In use" if e.busy else "Not in use") if e.reachable else "Unavailable"
        items.append(
            [
                ("Event", "EndpointList"),
                ("ObjectType", "endpoint"),
                ("ObjectName", e.name),
                ("Transport", "transport-udp"),
                ("Aor", e.name),
                ("Auths", ""),
                ("OutboundAuths", ""),
                ("Contacts", contacts),
                ("DeviceState", state),
                ("ActiveChannels", "0"),
            ]
        )
    return items
