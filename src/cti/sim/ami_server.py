"""The simulated PBX's manager interface: AMI over TCP on 127.0.0.1, framed and worded
as Asterisk 22 does in the transcripts (banner, plain and MD5 login, a failed login
closes the link, Events on/off, list answers, `Response: Error` texts)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from cti.sim.channels import ENDED_KEPT
from cti.sim.fake_ami import BANNER
from cti.sim.listings import bridge_items, channel_items, endpoint_list, status_items
from cti.sim.models import Channel, Endpoint, Fields, PbxError
from cti.sim.pbx import SimPbx

log = structlog.get_logger(__name__)
RECEIVED_KEPT = 10_000
_UNKNOWN = "Invalid/unknown command: {}. Use Action: ListCommands to show available commands."


def _block(pairs: Fields) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    events: bool = True
    authed: bool = False
    challenge: str = ""
    closing: bool = False


class SimAmiServer:
    """AMI front of a `SimPbx`; every connected, logged-in session with events on
    receives every event."""

    def __init__(
        self,
        endpoints: dict[str, Endpoint] | None = None,
        username: str = "cti",
        secret: str = "ctisecret",
        time_scale: float = 1.0,
        recordings_dir: Path | None = None,
        *,
        keep_actions: int = RECEIVED_KEPT,
        keep_ended: int = ENDED_KEPT,
    ) -> None:
        self.username, self.secret = username, secret
        self.pbx = SimPbx(self._broadcast, endpoints, time_scale, recordings_dir, keep_ended)
        self.port = 0
        # The last actions received, for tests and inspection (a demo runs for days).
        self.received: deque[dict[str, str]] = deque(maxlen=keep_actions)
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[str, Fields], None]] = []  # tests watch events here
        self.booting = False  # a new process takes logins before it is fully booted
        self.boot_s = 0.08  # how long before (Asterisk 22: logins ~80 ms before "Ready")

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        self.pbx.close()
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

    def drop_all(self) -> None:
        """Cut every AMI connection (a network drop, as far as the client can tell)."""
        for session in list(self._sessions):
            session.writer.transport.abort()

    # --- restarts and crashes (sim/restart.py) ----------------------------------------------

    async def restart(self, down_s: float = 1.0) -> None:
        """`core restart now`: every call hung up, `Shutdown` (Restart: True) ~1.1 s
        later, the links close; back after `down_s` (simulated seconds)."""
        self.pbx.restart()
        await asyncio.sleep(1.1 * self.pbx.time_scale)
        shutdown = [("Privilege", "system,all"), ("Shutdown", "Cleanly"), ("Restart", "True")]
        self._broadcast("Shutdown", shutdown)
        await self._down_and_up(down_s)

    async def crash(self, down_s: float = 2.0) -> None:
        """SIGKILL, and a new start after `down_s`: no event, the links just drop."""
        self.pbx.crash()
        await self._down_and_up(down_s)

    async def _down_and_up(self, down_s: float) -> None:
        assert self._server is not None, "start() first"
        self._server.close()
        self.drop_all()
        await self._server.wait_closed()
        await asyncio.sleep(down_s * self.pbx.time_scale)
        self.pbx.boot_sequence.start()
        self.booting = True
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        asyncio.get_running_loop().call_later(self.boot_s * self.pbx.time_scale, self._booted)

    def _booted(self) -> None:
        """Every session that logged in during the boot hears FullyBooted now."""
        self.booting = False
        self._broadcast("FullyBooted", self._fully_booted())

    def _fully_booted(self) -> Fields:
        uptime = str(max(0, int(time.time()) - self.pbx.boot))
        return [
            ("Privilege", "system,all"),
            ("Uptime", uptime),
            ("LastReload", uptime),
            ("Status", "Fully Booted"),
        ]

    # --- events ------------------------------------------------------------------------

    def _broadcast(self, name: str, fields: Fields) -> None:
        data = _block([("Event", name), *fields])
        for session in self._sessions:
            if session.authed and session.events and not session.closing:
                session.writer.write(data)
        for listener in self.listeners:
            listener(name, fields)

    # --- connections ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        try:
            writer.write(BANNER.encode())
            while not session.closing:
                action = await self._read_action(reader)
                if action is None:
                    break
                self.received.append(action)
                self._handle(session, action)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._sessions.discard(session)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
        action: dict[str, str] = {}
        variables: list[str] = []
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if action:
                    if variables:
                        action["Variable"] = "\n".join(variables)
                    return action
                continue
            key, _, value = text.partition(":")
            key, value = key.strip(), value.strip()
            if key.lower() == "variable":
                variables.append(value)
            else:
                action[key] = value

    def _reply(self, session: _Session, action: dict[str, str], *pairs: tuple[str, str]) -> None:
        session.writer.write(
            _block([pairs[0], ("ActionID", action.get("ActionID", "")), *pairs[1:]])
        )

    def _handle(self, session: _Session, action: dict[str, str]) -> None:
        name = action.get("Action", "")
        lname = name.lower()
        if lname == "login":
            self._login(session, action)
        elif lname == "challenge":
            session.challenge = str(random.randint(100_000_000, 999_999_999))
            self._reply(session, action, ("Response", "Success"), ("Challenge", session.challenge))
        elif lname == "logoff":
            self._reply(
                session, action, ("Response", "Goodbye"), ("Message", "Thanks for all the fish.")
            )
            session.closing = True
        elif not session.authed:
            self._reply(session, action, ("Response", "Error"), ("Message", "Permission denied"))
        else:
            handler = getattr(self, f"_act_{lname}", None)
            if handler is None:
                self._reply(
                    session, action, ("Response", "Error"), ("Message", _UNKNOWN.format(name))
                )
                return
            try:
                handler(session, action)
            except PbxError as exc:
                self._reply(session, action, ("Response", "Error"), ("Message", str(exc)))

    def _login(self, session: _Session, action: dict[str, str]) -> None:
        ok = action.get("Username") == self.username
        if action.get("AuthType", "").lower() == "md5":
            expected = hashlib.md5((session.challenge + self.secret).encode()).hexdigest()
            ok = ok and bool(session.challenge) and action.get("Key", "") == expected
        else:
            ok = ok and action.get("Secret") == self.secret
        if not ok:
            self._reply(
                session, action, ("Response", "Error"), ("Message", "Authentication failed")
            )
            session.closing = True
            return
        session.authed = True
        session.events = action.get("Events", "on").lower() != "off"
        self._reply(
            session, action, ("Response", "Success"), ("Message", "Authentication accepted")
        )
        if session.events and not self.booting:
            session.writer.write(_block([("Event", "FullyBooted"), *self._fully_booted()]))

    # --- actions ----------------------------------------------------------------------------

    def _act_ping(self, session: _Session, action: dict[str, str]) -> None:
        self._reply(
            session,
            action,
            ("Response", "Success"),
            ("Ping", "Pong"),
            ("Timestamp", f"{time.time():.6f}"),
        )

    def _act_events(self, session: _Session, action: dict[str, str]) -> None:
        session.events = action.get("EventMask", "on").lower() != "off"
        self._reply(
            session, action, ("Response", "Success"), ("Events", "On" if session.events else "Off")
        )

    def _act_redirect(self, session: _Session, action: dict[str, str]) -> None:
        extra = action.get("ExtraChannel")
        self.pbx.redirect(
            action.get("Channel", ""),
            action.get("Context", ""),
            action.get("Exten", "s"),
            extra=(extra, action.get("ExtraContext", "")) if extra else None,
        )
        # Asterisk's manager.c words it so when it moves two channels at once.
        message = "Dual Redirect successful" if extra else "Redirect successful"
        self._reply(session, action, ("Response", "Success"), ("Message", message))

    def _act_hangup(self, session: _Session, action: dict[str, str]) -> None:
        self.pbx.hangup(action.get("Channel", ""), int(action.get("Cause", "16") or 16))
        self._reply(session, action, ("Response", "Success"), ("Message", "Channel Hungup"))

    def _act_setvar(self, session: _Session, action: dict[str, str]) -> None:
        self.pbx.setvar(
            action.get("Channel") or None, action.get("Variable", ""), action.get("Value", "")
        )
        self._reply(session, action, ("Response", "Success"), ("Message", "Variable Set"))

    def _act_getvar(self, session: _Session, action: dict[str, str]) -> None:
        name = action.get("Variable", "")
        value = self.pbx.getvar(action.get("Channel") or None, name)
        self._reply(session, action, ("Response", "Success"), ("Variable", name), ("Value", value))

    def _act_mixmonitor(self, session: _Session, action: dict[str, str]) -> None:
        channel = action.get("Channel", "")
        self.pbx.channel(channel)
        file = action.get("File") or f"{channel.replace('/', '-')}.wav"
        self.pbx.recording_path(file)
        mixmon_id = self.pbx.new_mixmonitor_id()
        # Asterisk answers first, then reports (transcript 06).
        self._reply(session, action, ("Response", "Success"), ("MixMonitorID", mixmon_id))
        self.pbx.mixmonitor(channel, file, action.get("Options", ""), mixmon_id)

    def _act_mixmonitormute(self, session: _Session, action: dict[str, str]) -> None:
        channel = action.get("Channel", "")
        self.pbx.channel(channel)
        if self.pbx.channel(channel).recording is None:
            raise PbxError(f"Cannot set mute flag on {channel}: no MixMonitor")
        self._reply(session, action, ("Response", "Success"))
        state = action.get("State", "1").strip().lower() in ("1", "true", "yes", "on")
        self.pbx.mixmonitor_mute(channel, action.get("Direction", "both"), state)

    def _act_stopmixmonitor(self, session: _Session, action: dict[str, str]) -> None:
        channel = action.get("Channel", "")
        if self.pbx.channel(channel).recording is None:
            raise PbxError(f"Could not stop MixMonitor on {channel}: none running")
        self._reply(session, action, ("Response", "Success"))
        self.pbx.stop_mixmonitor(channel)

    def _act_playdtmf(self, session: _Session, action: dict[str, str]) -> None:
        channel = action.get("Channel", "")
        self.pbx.channel(channel)
        digit = action.get("Digit", "")
        if len(digit) != 1:
            raise PbxError("No digit specified")
        try:
            duration = int(action.get("Duration", "0") or 0) or 250
        except ValueError:
            raise PbxError("Invalid Duration") from None
        self._reply(
            session, action, ("Response", "Success"), ("Message", "DTMF successfully queued")
        )
        receive = action.get("Receive", "").strip().lower() in ("1", "true", "yes", "on")
        self.pbx.play_dtmf(channel, digit, duration, receive)

    def _act_originate(self, session: _Session, action: dict[str, str]) -> None:
        if action.get("Channel", "").startswith("Local/"):
            self._originate_local(session, action)
            return
        action_id = action.get("ActionID", "")
        variables = dict(
            item.partition("=")[::2]
            for item in action.get("Variable", "").split("\n")
            if "=" in item
        )
        self._reply(
            session, action, ("Response", "Success"), ("Message", "Originate successfully queued")
        )

        def done(ch: Channel, reason: int) -> None:
            pairs: Fields = [
                ("Event", "OriginateResponse"),
                ("Privilege", "call,all"),
                ("ActionID", action_id),
                ("Response", "Success" if reason == 4 else "Failure"),
                ("Channel", ch.name if reason == 4 else action.get("Channel", "")),
                ("Context", action.get("Context", "")),
                ("Exten", action.get("Exten", "")),
                ("Reason", str(reason)),
                ("Uniqueid", ch.uniqueid if reason == 4 else "<unknown>"),
                ("CallerIDNum", "<unknown>"),
                ("CallerIDName", "<unknown>"),
            ]
            if not session.closing:
                session.writer.write(_block(pairs))

        self.pbx.originate(
            action.get("Channel", ""),
            action.get("Context", ""),
            action.get("Exten", "s"),
            variables,
            done,
            action.get("CallerID", ""),
            action.get("ChannelId") or None,
        )

    def _list(
        self,
        session: _Session,
        action: dict[str, str],
        items: list[Fields],
        complete: str,
        message: str,
    ) -> None:
        action_id = action.get("ActionID", "")
        out = [
            _block(
                [
                    ("Response", "Success"),
                    ("ActionID", action_id),
                    ("EventList", "start"),
                    ("Message", message),
                ]
            )
        ]
        for item in items:
            out.append(_block([("Event", item[0][1]), ("ActionID", action_id), *item[1:]]))
        tail: Fields = [
            ("Event", complete),
            ("ActionID", action_id),
            ("EventList", "Complete"),
            ("ListItems", str(len(items))),
        ]
        if complete == "StatusComplete":
            tail.append(("Items", str(len(items))))
        out.append(_block(tail))
        session.writer.write(b"".join(out))

    def _originate_local(self, session: _Session, action: dict[str, str]) -> None:
        target = action["Channel"][len("Local/") :]
        raw = action.get("CallerID", "")
        name, _, rest = raw.partition("<")
        number = rest.rstrip(">") if rest else raw
        caller = (number.strip() or "<unknown>", name.strip().strip('"') or "<unknown>")
        app = action.get("Application")
        self._reply(
            session, action, ("Response", "Success"), ("Message", "Originate successfully queued")
        )
        one = self.pbx.originate_local(
            target,
            caller,
            (action.get("ChannelId"), action.get("OtherChannelId")),
            (app, action.get("Data", "")) if app else None,
        )
        response: Fields = [
            ("Event", "OriginateResponse"),
            ("Privilege", "call,all"),
            ("ActionID", action.get("ActionID", "")),
            ("Response", "Success"),
            ("Channel", one.name),
            *(
                [("Application", app), ("Data", action.get("Data", ""))]
                if app
                else [("Context", action.get("Context", "")), ("Exten", action.get("Exten", ""))]
            ),
            ("Reason", "4"),
            ("Uniqueid", one.uniqueid),
            ("CallerIDNum", one.caller_num),
            ("CallerIDName", one.caller_name),
        ]
        if not session.closing:  # only the originating session hears it, as in Asterisk
            session.writer.write(_block(response))
        if app:
            self.pbx.run_application(one, app, action.get("Data", ""))

    def _act_pjsipnotify(self, session: _Session, action: dict[str, str]) -> None:
        channel = action.get("Channel") or action.get("channel")
        endpoint = action.get("Endpoint")
        if bool(channel) == bool(endpoint):
            raise PbxError("Exactly one of Endpoint, URI or Channel must be specified")
        if channel is not None:
            self.pbx.channel(channel)
        variables = dict(
            item.partition("=")[::2] for item in action.get("Variable", "").split("\n") if item
        )
        self._reply(session, action, ("Response", "Success"), ("Message", "NOTIFY sent"))
        self.pbx.notify(channel, endpoint, variables)

    def _act_pjsipshowendpoints(self, session: _Session, action: dict[str, str]) -> None:
        items = endpoint_list(self.pbx.endpoints.values())
        message = "A listing of Endpoints follows, presented as EndpointList events"
        self._list(session, action, items, "EndpointListComplete", message)

    def _act_pjsipqualify(self, session: _Session, action: dict[str, str]) -> None:
        self.pbx.qualify(action.get("Endpoint", ""))
        self._reply(
            session, action, ("Response", "Success"), ("Message", "Endpoint found, will qualify")
        )

    def _act_bridge(self, session: _Session, action: dict[str, str]) -> None:
        name1, name2 = action.get("Channel1", ""), action.get("Channel2", "")
        for n, name in ((1, name1), (2, name2)):  # check first: Asterisk answers, then acts
            if name not in self.pbx.channels:
                raise PbxError(f"Channel{n} does not exist: {name}")
        self._reply(
            session, action, ("Response", "Success"), ("Message", "Channels have been bridged")
        )
        self.pbx.bridge(name1, name2)

    def _act_bridgelist(self, session: _Session, action: dict[str, str]) -> None:
        items = bridge_items(self.pbx.bridges())
        self._list(session, action, items, "BridgeListComplete", "Bridge listing will follow")

    def _act_coreshowchannels(self, session: _Session, action: dict[str, str]) -> None:
        items = channel_items(self.pbx.channels.values())
        self._list(session, action, items, "CoreShowChannelsComplete", "Channels will follow")

    def _act_status(self, session: _Session, action: dict[str, str]) -> None:
        wanted = [v for v in action.get("Variables", "").split(",") if v]
        items = status_items(self.pbx.channels.values(), wanted)
        self._list(session, action, items, "StatusComplete", "Channel status will follow")
