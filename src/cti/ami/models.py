"""Typed AMI events, built from raw header dicts at one boundary (`parse_event`).

Field aliases are Asterisk's header names, exactly as Asterisk 22 spells them in
the captures in `tests/transcripts/` (which win over the docs). Quirks kept on purpose:
- `OriginateResponse` is an *event* that also carries `Response:`;
- `Cdr` and `CEL` spell `UniqueID` / `LinkedID` (channel events say `Uniqueid`);
- `AgentRingNoAnswer.RingTime` is milliseconds, `AgentConnect.RingTime` seconds;
- `<unknown>` in caller-id fields means "not known" and becomes "".
Unknown event names become `GenericEvent`; a known event with a malformed field
becomes `GenericEvent` with `error` set. Nothing here raises on bad input.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _unknown_to_empty(value: Any) -> Any:
    return "" if value == "<unknown>" else value


def _int_or_zero(value: Any) -> Any:
    return 0 if value in ("", None) else value


CallerId = Annotated[str, BeforeValidator(_unknown_to_empty)]
Int = Annotated[int, BeforeValidator(_int_or_zero)]
_CFG = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class ChannelInfo(BaseModel):
    """The standard block of channel headers (`Channel`, `Uniqueid`, `Linkedid`, ...)."""

    model_config = _CFG

    channel: str = Field("", alias="Channel")
    channel_state: Int = Field(0, alias="ChannelState")
    channel_state_desc: str = Field("", alias="ChannelStateDesc")
    caller_id_num: CallerId = Field("", alias="CallerIDNum")
    caller_id_name: CallerId = Field("", alias="CallerIDName")
    connected_line_num: CallerId = Field("", alias="ConnectedLineNum")
    connected_line_name: CallerId = Field("", alias="ConnectedLineName")
    language: str = Field("", alias="Language")
    account_code: str = Field("", alias="AccountCode")
    context: str = Field("", alias="Context")
    exten: str = Field("", alias="Exten")
    priority: Int = Field(0, alias="Priority")
    uniqueid: str = Field("", alias="Uniqueid")
    linkedid: str = Field("", alias="Linkedid")


class AmiEvent(BaseModel):
    """Base of every typed event."""

    model_config = _CFG
    # Header prefixes whose channel block is nested as a ChannelInfo (see parse_event).
    nested: ClassVar[dict[str, str]] = {}

    event: str = Field(alias="Event")
    privilege: str = Field("", alias="Privilege")
    action_id: str = Field("", alias="ActionID")


class GenericEvent(AmiEvent):
    """An event this code has no model for (or could not validate): kept, never fatal."""

    fields: dict[str, str] = Field(default_factory=dict)
    error: str = ""


class ChannelEvent(AmiEvent, ChannelInfo):
    """An event about one channel."""


# --- channel life cycle -------------------------------------------------------------


class Newchannel(ChannelEvent):
    pass


class Newstate(ChannelEvent):
    pass


class Newexten(ChannelEvent):
    extension: str = Field("", alias="Extension")
    application: str = Field("", alias="Application")
    app_data: str = Field("", alias="AppData")


class NewCallerid(ChannelEvent):
    cid_calling_pres: str = Field("", alias="CID-CallingPres")


class NewConnectedLine(ChannelEvent):
    pass


class NewAccountCode(ChannelEvent):
    old_account_code: str = Field("", alias="OldAccountCode")


class Hangup(ChannelEvent):
    cause: Int = Field(0, alias="Cause")
    cause_txt: str = Field("", alias="Cause-txt")


class HangupRequest(ChannelEvent):
    cause: Int = Field(0, alias="Cause")


class SoftHangupRequest(ChannelEvent):
    cause: Int = Field(0, alias="Cause")


class VarSet(ChannelEvent):
    variable: str = Field(alias="Variable")
    value: str = Field("", alias="Value")


class DTMFBegin(ChannelEvent):
    digit: str = Field(alias="Digit")
    direction: str = Field("", alias="Direction")


class DTMFEnd(ChannelEvent):
    digit: str = Field(alias="Digit")
    duration_ms: Int = Field(0, alias="DurationMs")
    direction: str = Field("", alias="Direction")


class MusicOnHoldStart(ChannelEvent):
    moh_class: str = Field("", alias="Class")


class MusicOnHoldStop(ChannelEvent):
    pass


class Hold(ChannelEvent):
    moh_class: str = Field("", alias="MusicClass")


class Unhold(ChannelEvent):
    pass


class MixMonitorStart(ChannelEvent):
    pass


class MixMonitorStop(ChannelEvent):
    pass


class MixMonitorMute(ChannelEvent):
    direction: str = Field("", alias="Direction")
    state: str = Field("", alias="State")


class AGIExecStart(ChannelEvent):
    command_id: str = Field("", alias="CommandId")
    command: str = Field("", alias="Command")


class AGIExecEnd(AGIExecStart):
    result_code: Int = Field(0, alias="ResultCode")
    result: str = Field("", alias="Result")


# --- dialing, bridges, local channels ------------------------------------------------


class _DestEvent(ChannelEvent):
    """Events with a caller channel (unprefixed, may be absent) and a `Dest*` channel."""

    nested: ClassVar[dict[str, str]] = {"Dest": "dest"}
    dest: ChannelInfo = Field(default_factory=ChannelInfo)


class DialBegin(_DestEvent):
    dial_string: str = Field("", alias="DialString")


class DialState(_DestEvent):
    dial_status: str = Field("", alias="DialStatus")


class DialEnd(_DestEvent):
    dial_status: str = Field("", alias="DialStatus")
    forward: str = Field("", alias="Forward")


class BridgeInfo(AmiEvent):
    bridge_uniqueid: str = Field("", alias="BridgeUniqueid")
    bridge_type: str = Field("", alias="BridgeType")
    bridge_technology: str = Field("", alias="BridgeTechnology")
    bridge_creator: str = Field("", alias="BridgeCreator")
    bridge_name: str = Field("", alias="BridgeName")
    bridge_num_channels: Int = Field(0, alias="BridgeNumChannels")


class BridgeCreate(BridgeInfo):
    pass


class BridgeDestroy(BridgeInfo):
    pass


class BridgeListItem(BridgeInfo):
    pass


class BridgeEnter(BridgeInfo, ChannelInfo):
    swap_uniqueid: str = Field("", alias="SwapUniqueid")


class BridgeLeave(BridgeInfo, ChannelInfo):
    pass


class BridgeInfoChannel(ChannelEvent):
    pass


class LocalBridge(AmiEvent):
    nested: ClassVar[dict[str, str]] = {"LocalOne": "local_one", "LocalTwo": "local_two"}
    local_one: ChannelInfo = Field(default_factory=ChannelInfo)
    local_two: ChannelInfo = Field(default_factory=ChannelInfo)
    context: str = Field("", alias="Context")
    exten: str = Field("", alias="Exten")
    local_optimization: str = Field("", alias="LocalOptimization")


class LocalOptimizationBegin(LocalBridge):
    pass


class LocalOptimizationEnd(LocalBridge):
    success: str = Field("", alias="Success")


class ChanSpyStart(AmiEvent):
    nested: ClassVar[dict[str, str]] = {"Spyer": "spyer", "Spyee": "spyee"}
    spyer: ChannelInfo = Field(default_factory=ChannelInfo)
    spyee: ChannelInfo = Field(default_factory=ChannelInfo)


class ChanSpyStop(ChanSpyStart):
    pass


class _ParkEvent(AmiEvent):
    nested: ClassVar[dict[str, str]] = {"Parkee": "parkee"}
    parkee: ChannelInfo = Field(default_factory=ChannelInfo)
    parkinglot: str = Field("", alias="Parkinglot")
    parking_space: str = Field("", alias="ParkingSpace")
    parking_timeout: Int = Field(0, alias="ParkingTimeout")
    parking_duration: Int = Field(0, alias="ParkingDuration")


class ParkedCall(_ParkEvent):
    pass


class ParkedCallGiveUp(_ParkEvent):
    pass


class ParkedCallTimeOut(_ParkEvent):
    pass


class UnParkedCall(_ParkEvent):
    pass


# OriginateResponse.Reason `Reason` is an AST_CONTROL_* code.
ORIGINATE_REASONS = {
    0: "failed (no such extension or channel could not be created)",
    1: "hung up",
    3: "no answer",
    4: "answered",
    5: "busy",
    8: "congestion",
}


class OriginateResponse(AmiEvent):
    """Async Originate result: an event that also carries `Response: Success|Failure`."""

    response: str = Field(alias="Response")
    channel: str = Field("", alias="Channel")
    context: str = Field("", alias="Context")
    exten: str = Field("", alias="Exten")
    application: str = Field("", alias="Application")
    data: str = Field("", alias="Data")
    reason: Int = Field(0, alias="Reason")
    uniqueid: CallerId = Field("", alias="Uniqueid")
    caller_id_num: CallerId = Field("", alias="CallerIDNum")
    caller_id_name: CallerId = Field("", alias="CallerIDName")


# --- queues (app_queue) --------------------------------------------------------------


class QueueCallerJoin(ChannelEvent):
    queue: str = Field(alias="Queue")
    position: Int = Field(0, alias="Position")
    count: Int = Field(0, alias="Count")


class QueueCallerLeave(QueueCallerJoin):
    pass


class QueueCallerAbandon(ChannelEvent):
    queue: str = Field(alias="Queue")
    position: Int = Field(0, alias="Position")
    original_position: Int = Field(0, alias="OriginalPosition")
    hold_time: Int = Field(0, alias="HoldTime")


class _AgentEvent(_DestEvent):
    queue: str = Field("", alias="Queue")
    interface: str = Field("", alias="Interface")
    member_name: str = Field("", alias="MemberName")


class AgentCalled(_AgentEvent):
    pass


class AgentRingNoAnswer(_AgentEvent):
    ring_time_ms: Int = Field(0, alias="RingTime")  # milliseconds here, unlike AgentConnect


class AgentConnect(_AgentEvent):
    hold_time: Int = Field(0, alias="HoldTime")
    ring_time: Int = Field(0, alias="RingTime")  # seconds


class AgentComplete(_AgentEvent):
    hold_time: Int = Field(0, alias="HoldTime")
    talk_time: Int = Field(0, alias="TalkTime")
    reason: str = Field("", alias="Reason")


class AgentDump(_AgentEvent):
    pass


class QueueMemberEvent(AmiEvent):
    queue: str = Field(alias="Queue")
    member_name: str = Field("", alias="MemberName")
    interface: str = Field("", alias="Interface")
    state_interface: str = Field("", alias="StateInterface")
    membership: str = Field("", alias="Membership")
    penalty: Int = Field(0, alias="Penalty")
    calls_taken: Int = Field(0, alias="CallsTaken")
    in_call: Int = Field(0, alias="InCall")
    status: Int = Field(0, alias="Status")
    paused: Int = Field(0, alias="Paused")
    paused_reason: str = Field("", alias="PausedReason")


class QueueMemberAdded(QueueMemberEvent):
    pass


class QueueMemberRemoved(QueueMemberEvent):
    pass


class QueueMemberPause(QueueMemberEvent):
    pass


class QueueMemberPenalty(QueueMemberEvent):
    pass


class QueueMemberStatus(QueueMemberEvent):
    pass


class QueueMemberRingInUse(QueueMemberEvent):
    pass


class QueueMember(AmiEvent):
    """QueueStatus list item (note: `Name`/`Location`, not `MemberName`/`Interface`)."""

    queue: str = Field(alias="Queue")
    name: str = Field("", alias="Name")
    location: str = Field("", alias="Location")
    state_interface: str = Field("", alias="StateInterface")
    membership: str = Field("", alias="Membership")
    penalty: Int = Field(0, alias="Penalty")
    calls_taken: Int = Field(0, alias="CallsTaken")
    in_call: Int = Field(0, alias="InCall")
    status: Int = Field(0, alias="Status")
    paused: Int = Field(0, alias="Paused")
    paused_reason: str = Field("", alias="PausedReason")


class QueueParams(AmiEvent):
    queue: str = Field(alias="Queue")
    max: Int = Field(0, alias="Max")
    strategy: str = Field("", alias="Strategy")
    calls: Int = Field(0, alias="Calls")
    holdtime: Int = Field(0, alias="Holdtime")
    talk_time: Int = Field(0, alias="TalkTime")
    completed: Int = Field(0, alias="Completed")
    abandoned: Int = Field(0, alias="Abandoned")
    service_level: Int = Field(0, alias="ServiceLevel")
    service_level_perf: float = Field(0.0, alias="ServicelevelPerf")


class QueueEntry(AmiEvent):
    queue: str = Field(alias="Queue")
    position: Int = Field(0, alias="Position")
    channel: str = Field("", alias="Channel")
    uniqueid: str = Field("", alias="Uniqueid")
    caller_id_num: CallerId = Field("", alias="CallerIDNum")
    caller_id_name: CallerId = Field("", alias="CallerIDName")
    wait: Int = Field(0, alias="Wait")
    priority: Int = Field(0, alias="Priority")


class QueueSummary(AmiEvent):
    queue: str = Field(alias="Queue")
    logged_in: Int = Field(0, alias="LoggedIn")
    available: Int = Field(0, alias="Available")
    callers: Int = Field(0, alias="Callers")
    hold_time: Int = Field(0, alias="HoldTime")
    talk_time: Int = Field(0, alias="TalkTime")
    longest_hold_time: Int = Field(0, alias="LongestHoldTime")


# --- status lists ------------------------------------------------------------------


class Status(ChannelEvent):
    type: str = Field("", alias="Type")
    dnid: str = Field("", alias="DNID")
    bridge_id: str = Field("", alias="BridgeID")
    application: str = Field("", alias="Application")
    data: str = Field("", alias="Data")
    seconds: Int = Field(0, alias="Seconds")
    # `Variable: NAME=value` lines (repeated header), when the action asked for them.
    variables: dict[str, str] = Field(default_factory=dict)


class CoreShowChannel(ChannelEvent):
    application: str = Field("", alias="Application")
    application_data: str = Field("", alias="ApplicationData")
    duration: str = Field("", alias="Duration")  # HH:MM:SS
    bridge_id: str = Field("", alias="BridgeId")

    @property
    def duration_s(self) -> int:
        try:
            h, m, s = (int(x) for x in self.duration.split(":"))
        except ValueError:
            return 0
        return h * 3600 + m * 60 + s


class ListComplete(AmiEvent):
    """The `...Complete` event that closes a list response."""

    event_list: str = Field("", alias="EventList")
    list_items: Int = Field(0, alias="ListItems")


# --- records -----------------------------------------------------------------------


class Cdr(AmiEvent):
    account_code: str = Field("", alias="AccountCode")
    source: str = Field("", alias="Source")
    destination: str = Field("", alias="Destination")
    destination_context: str = Field("", alias="DestinationContext")
    caller_id: str = Field("", alias="CallerID")
    channel: str = Field("", alias="Channel")
    destination_channel: str = Field("", alias="DestinationChannel")
    last_application: str = Field("", alias="LastApplication")
    last_data: str = Field("", alias="LastData")
    start_time: str = Field("", alias="StartTime")
    answer_time: str = Field("", alias="AnswerTime")
    end_time: str = Field("", alias="EndTime")
    duration: Int = Field(0, alias="Duration")
    billable_seconds: Int = Field(0, alias="BillableSeconds")
    disposition: str = Field("", alias="Disposition")
    uniqueid: str = Field("", alias="UniqueID")  # sic: CDR spelling
    user_field: str = Field("", alias="UserField")


class CEL(AmiEvent):
    event_name: str = Field("", alias="EventName")
    channel: str = Field("", alias="Channel")
    caller_id_num: str = Field("", alias="CallerIDnum")  # sic: lower-case n
    caller_id_name: str = Field("", alias="CallerIDname")
    exten: str = Field("", alias="Exten")
    context: str = Field("", alias="Context")
    application: str = Field("", alias="Application")
    app_data: str = Field("", alias="AppData")
    event_time: str = Field("", alias="EventTime")
    uniqueid: str = Field("", alias="UniqueID")  # sic
    linkedid: str = Field("", alias="LinkedID")  # sic
    peer: str = Field("", alias="Peer")
    extra: str = Field("", alias="Extra")


# --- system, security, devices, PJSIP ----------------------------------------------


class FullyBooted(AmiEvent):
    status: str = Field("", alias="Status")
    uptime: Int = Field(0, alias="Uptime")
    last_reload: Int = Field(0, alias="LastReload")


class Shutdown(AmiEvent):
    shutdown: str = Field("", alias="Shutdown")
    restart: str = Field("", alias="Restart")


class Reload(AmiEvent):
    module: str = Field("", alias="Module")
    status: str = Field("", alias="Status")


class SecurityEvent(AmiEvent):
    severity: str = Field("", alias="Severity")
    service: str = Field("", alias="Service")
    account_id: str = Field("", alias="AccountID")
    session_id: str = Field("", alias="SessionID")
    remote_address: str = Field("", alias="RemoteAddress")
    local_address: str = Field("", alias="LocalAddress")


class SuccessfulAuth(SecurityEvent):
    pass


class InvalidPassword(SecurityEvent):
    pass


class ChallengeResponseFailed(SecurityEvent):
    pass


class InvalidAccountID(SecurityEvent):
    pass


class RequestBadFormat(SecurityEvent):
    request_type: str = Field("", alias="RequestType")


class DeviceStateChange(AmiEvent):
    device: str = Field(alias="Device")
    state: str = Field("", alias="State")


class PeerStatus(AmiEvent):
    channel_type: str = Field("", alias="ChannelType")
    peer: str = Field("", alias="Peer")
    peer_status: str = Field("", alias="PeerStatus")
    cause: str = Field("", alias="Cause")


class ContactStatus(AmiEvent):
    uri: str = Field("", alias="URI")
    contact_status: str = Field("", alias="ContactStatus")
    aor: str = Field("", alias="AOR")
    endpoint_name: str = Field("", alias="EndpointName")
    roundtrip_usec: str = Field("", alias="RoundtripUsec")  # "N/A" when not qualified


class _PjsipObject(AmiEvent):
    object_type: str = Field("", alias="ObjectType")
    object_name: str = Field("", alias="ObjectName")


class EndpointList(_PjsipObject):
    transport: str = Field("", alias="Transport")
    aor: str = Field("", alias="Aor")
    contacts: str = Field("", alias="Contacts")
    device_state: str = Field("", alias="DeviceState")
    active_channels: str = Field("", alias="ActiveChannels")


class EndpointDetail(_PjsipObject):
    context: str = Field("", alias="Context")
    aors: str = Field("", alias="Aors")
    device_state: str = Field("", alias="DeviceState")
    active_channels: str = Field("", alias="ActiveChannels")


class AorList(_PjsipObject):
    contacts: str = Field("", alias="Contacts")
    max_contacts: Int = Field(0, alias="MaxContacts")


class AorDetail(AorList):
    total_contacts: Int = Field(0, alias="TotalContacts")
    contacts_registered: Int = Field(0, alias="ContactsRegistered")
    endpoint_name: str = Field("", alias="EndpointName")


class ContactList(_PjsipObject):
    uri: str = Field("", alias="Uri")
    endpoint: str = Field("", alias="Endpoint")
    status: str = Field("", alias="Status")
    roundtrip_usec: str = Field("", alias="RoundtripUsec")  # "N/A" when not qualified
    user_agent: str = Field("", alias="UserAgent")


class ContactStatusDetail(AmiEvent):
    aor: str = Field("", alias="AOR")
    uri: str = Field("", alias="URI")
    status: str = Field("", alias="Status")
    endpoint_name: str = Field("", alias="EndpointName")
    roundtrip_usec: str = Field("", alias="RoundtripUsec")  # "N/A" when not qualified


class TransportDetail(_PjsipObject):
    protocol: str = Field("", alias="Protocol")
    bind: str = Field("", alias="Bind")


class Parkinglot(AmiEvent):
    name: str = Field("", alias="Name")
    start_space: str = Field("", alias="StartSpace")
    stop_space: str = Field("", alias="StopSpace")
    timeout: Int = Field(0, alias="Timeout")
