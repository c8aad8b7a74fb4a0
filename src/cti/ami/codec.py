"""The one boundary where raw AMI header dicts become typed events."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cti.ami import models as m
from cti.ami.wire import RawMessage

_EVENT_CLASSES: tuple[type[m.AmiEvent], ...] = (
    m.Newchannel, m.Newstate, m.Newexten, m.NewCallerid, m.NewConnectedLine,
    m.NewAccountCode, m.Hangup, m.HangupRequest, m.SoftHangupRequest, m.VarSet,
    m.DTMFBegin, m.DTMFEnd, m.MusicOnHoldStart, m.MusicOnHoldStop, m.Hold, m.Unhold,
    m.MixMonitorStart, m.MixMonitorStop, m.MixMonitorMute, m.AGIExecStart, m.AGIExecEnd,
    m.DialBegin, m.DialState, m.DialEnd, m.BridgeCreate, m.BridgeDestroy,
    m.BridgeListItem, m.BridgeEnter, m.BridgeLeave, m.BridgeInfoChannel, m.LocalBridge,
    m.LocalOptimizationBegin, m.LocalOptimizationEnd, m.ChanSpyStart, m.ChanSpyStop,
    m.ParkedCall, m.ParkedCallGiveUp, m.ParkedCallTimeOut, m.UnParkedCall,
    m.OriginateResponse, m.QueueCallerJoin, m.QueueCallerLeave, m.QueueCallerAbandon,
    m.AgentCalled, m.AgentRingNoAnswer, m.AgentConnect, m.AgentComplete, m.AgentDump,
    m.QueueMemberAdded, m.QueueMemberRemoved, m.QueueMemberPause, m.QueueMemberPenalty,
    m.QueueMemberStatus, m.QueueMemberRingInUse, m.QueueMember, m.QueueParams,
    m.QueueEntry, m.QueueSummary, m.Status, m.CoreShowChannel, m.Cdr, m.CEL,
    m.FullyBooted, m.Shutdown, m.Reload, m.SuccessfulAuth, m.InvalidPassword,
    m.ChallengeResponseFailed, m.InvalidAccountID, m.RequestBadFormat,
    m.DeviceStateChange, m.PeerStatus, m.ContactStatus, m.EndpointList, m.EndpointDetail,
    m.AorList, m.AorDetail, m.ContactList, m.ContactStatusDetail, m.TransportDetail,
    m.Parkinglot,
)  # fmt: skip

EVENT_MODELS: dict[str, type[m.AmiEvent]] = {cls.__name__: cls for cls in _EVENT_CLASSES}


def _nest(headers: dict[str, str], nested: dict[str, str]) -> dict[str, Any]:
    """Move `DestChannel`, `DestUniqueid`, ... into `{"dest": {"Channel": ...}}`."""
    out: dict[str, Any] = dict(headers)
    for prefix, name in nested.items():
        cut = len(prefix)
        out[name] = {k[cut:]: v for k, v in headers.items() if k.startswith(prefix)}
    return out


def parse_event(msg: RawMessage) -> m.AmiEvent:
    """Build the typed event for one raw message that has an `Event` header."""
    headers = msg.headers
    name = headers.get("Event", "")
    cls = EVENT_MODELS.get(name)
    if cls is None:
        cls = m.ListComplete if name.endswith("Complete") else None
    if cls is None:
        return m.GenericEvent.model_validate({"Event": name, "fields": headers})
    data: dict[str, Any] = _nest(headers, cls.nested) if cls.nested else headers
    if cls is m.Status and "Variable" in headers:
        data = dict(data)
        data["variables"] = dict(v.partition("=")[::2] for v in msg.all("Variable"))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return m.GenericEvent.model_validate({"Event": name, "fields": headers, "error": where})
