"""The one place that builds the running server and hands each part its dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import asyncpg
import structlog

from cti.ami import events as ce
from cti.ami.client import AmiClient
from cti.ami.errors import AmiError
from cti.ami.events import CallEvent
from cti.ami.service import AmiFeed, parse_endpoints, parse_queue_status
from cti.ami.tracker import CallTracker
from cti.api.server import ApiServer
from cti.bus import EventBus
from cti.config import Settings, load_yaml_model
from cti.ha.lease import Deposed, Lease
from cti.ha.node import Keeper, make_lease, stand_by
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.queues import Acd, AcdConfig
from cti.queues.asterisk import MEMBER_EVENTS, AsteriskQueues
from cti.queues.events import Event as AcdEvent
from cti.queues.restore import restore_agents
from cti.queues.service import AcdService
from cti.recording.service import RecordingService
from cti.store.cdr import CdrBuilder
from cti.store.migrate import migrate
from cti.store.outbox import Record
from cti.store.records import earlier_open
from cti.store.service import StoreService

log = structlog.get_logger("cti")
_BUS_CALL_EVENTS = (
    ce.InteractionStarted,
    ce.InteractionAnswered,
    ce.InteractionEnded,
    ce.RecordingStarted,
    ce.RecordingStopped,
)
_E = TypeVar("_E")


def log_call_event(event: CallEvent) -> None:
    """Until the event bus exists, domain events go to the log (with the interaction id)."""
    fields = event.to_dict()
    fields.pop("interaction_id")
    fields.pop("type")
    log.info(f"call.{event.kind}", interaction=event.interaction_id, **fields)


def log_acd_event(event: AcdEvent) -> None:
    fields = event.to_dict()
    kind = fields.pop("type")
    log.info(f"acd.{kind}", **fields)


class Core:
    """AMI client, call tracker and (when configured) the ACD, wired together.

    `acd_time_scale` < 1 runs the ACD's clock faster than the wall clock (0.05: twenty
    times), in step with a time-scaled simulated PBX in tests and studies.
    """

    def __init__(
        self,
        settings: Settings,
        acd_config: AcdConfig | None = None,
        *,
        publish_call: Callable[[CallEvent], None] = log_call_event,
        publish_acd: Callable[[AcdEvent], None] = log_acd_event,
        acd_time_scale: float = 1.0,
        store: StoreService | None = None,
        ivr: IvrService | None = None,
        may_act: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ivr = ivr
        self.bus = EventBus()
        # The client calls into the feed only once started, so it can come first.
        self.ami = AmiClient(
            settings.ami,
            on_event=lambda raw: self.feed.on_raw(raw),
            on_connected=self._on_connected,
            on_session_start=lambda: self.feed.begin_session(),
            may_act=may_act,  # several CTIs: only the leader acts on Asterisk (cti.ha)
        )
        publish_call = _both(publish_call, self._to_bus_call)
        publish_acd = _both(publish_acd, self._to_bus_acd)
        self.records: CdrBuilder | None = None
        self._vanished_asked = False
        if store is not None:
            self.records = CdrBuilder(store.put, time.time, agent_of=self._agent_of)
            publish_call = _both(publish_call, self.records.on_call_event)
            publish_acd = _both(publish_acd, self.records.on_acd_event)
        self.recording: RecordingService | None = None
        if acd_config is not None and store is not None and settings.recording.enabled:
            self.recording = RecordingService(
                self.ami, self._caller_channel, settings.recording.dir, time.time
            )
            publish_call = _both(publish_call, self.recording.on_call_event)
            publish_acd = _both(publish_acd, self.recording.on_acd_event)
        # Asterisk's own queues (the fallback), followed whoever routes.
        self.asterisk_queues = AsteriskQueues(settings.ami.queue_service_level_s)
        publish_call = _both(publish_call, self.asterisk_queues.on_call_event)
        self.tracker = CallTracker()
        self.feed = AmiFeed(self.tracker, publish=publish_call, clock=time.time)
        for member_event in MEMBER_EVENTS:
            self.feed.subscribe(member_event, self.asterisk_queues.on_member)
        self.acd: AcdService | None = None
        if acd_config is not None:

            def acd_clock() -> float:
                return time.monotonic() / acd_time_scale

            acd = Acd(acd_config, acd_clock())
            self.acd = AcdService(acd, self.ami, acd_clock, publish_acd, acd_time_scale)
            self.acd.attach(self.feed)

    def _to_bus_call(self, event: CallEvent) -> None:
        # The interaction's milestones; channel-level detail stays in the tracker (it
        # is most of the traffic and no client needs it yet).
        if isinstance(event, _BUS_CALL_EVENTS):
            self.bus.publish(f"call.{event.kind}", event.to_dict())

    def _to_bus_acd(self, event: AcdEvent) -> None:
        data = event.to_dict()
        self.bus.publish(f"acd.{data.pop('type')}", data)

    def _agent_of(self, endpoint: str) -> str | None:
        """The agent whose phone `endpoint` (`PJSIP/a1`) is, by the ACD's profiles."""
        return self.acd.agent_of(endpoint) if self.acd is not None else None

    def _caller_channel(self, call: str) -> str | None:
        return self.acd.caller_channel(call) if self.acd is not None else None

    async def _restore(self, store: StoreService) -> None:
        """Before the AMI link: the agents as they were (profiles changed over the API,
        last states) and what an earlier CTI knew of the calls then in progress."""
        try:
            conn = await store.connect()
            try:
                await migrate(conn)
                if self.records is not None:
                    self.records.earlier(await earlier_open(conn))
                if self.acd is not None:
                    changes, states = await restore_agents(conn, self.acd)
                    log.info("cti.agents_restored", profile_changes=changes, states=states)
            finally:
                await conn.close()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.error("cti.not_restored", error=str(exc))  # agents log in again

    async def _on_connected(self) -> None:
        """After every AMI login: rebuild the calls from Asterisk, then the ACD agrees
        with them (ends what is gone, adopts what it does not know), then the phones'
        reachability and Asterisk's own queues."""
        await self._until_booted()
        await self.feed.resync(self.ami)
        if self.store is not None and not self._vanished_asked:
            # Once per process: calls a previous CTI had open that Asterisk no longer
            # has ended while no CTI was running (records.py, interactions_vanished).
            self._vanished_asked = True
            at, live = time.time(), sorted(self.tracker.interactions)
            self.store.put(Record("interactions_vanished", f"{at:.6f}", {"live": live, "at": at}))
            if self.records is not None:
                self.records.resynced()
        if self.acd is not None:
            self.acd.resync(self.tracker, time.time())
            await self._resync_reachability(self.acd)
        await self._resync_asterisk_queues()

    async def _until_booted(self, timeout_s: float = 10.0) -> None:
        """Asterisk takes AMI logins a moment before it is fully booted; its boot time
        (FullyBooted) tells a crash from a lost link, and routing waits for it."""
        deadline = time.monotonic() + timeout_s
        while not self.tracker.lifecycle.booted_this_session:
            if time.monotonic() > deadline:
                log.warning("cti.not_fully_booted", waited_s=timeout_s)
                return
            await asyncio.sleep(0.02)

    async def _resync_reachability(self, acd: AcdService) -> None:
        """Which agents' phones Asterisk can reach now. A restarted Asterisk restores
        registrations as unqualified (`Unavailable`) and qualifies each at a random moment
        within `qualify_frequency` (2-28 s seen): asking it to qualify those at once
        (`PJSIPQualify`) gets its agents routable again within a round trip; the answer
        comes as the usual ContactStatus/PeerStatus events."""
        try:
            listing = await self.ami.send_action({"Action": "PJSIPShowEndpoints"})
        except AmiError as exc:  # no PJSIP, or no endpoints yet: events will tell
            log.info("cti.endpoints_unavailable", error=str(exc))
            return
        unreachable = acd.set_reachability(parse_endpoints(listing))
        asked = await asyncio.gather(
            *(self._qualify(name) for name in unreachable), return_exceptions=True
        )
        if unreachable:
            log.info("cti.qualify_asked", endpoints=unreachable, ok=asked.count(True))

    async def _qualify(self, endpoint: str) -> bool:
        try:
            await self.ami.send_action({"Action": "PJSIPQualify", "Endpoint": endpoint})
        except AmiError:  # e.g. a phone that never registered: nothing to qualify
            return False
        return True

    async def _resync_asterisk_queues(self) -> None:
        """Members and waiting callers of app_queue's queues, as Asterisk has them now."""
        try:
            listing = await self.ami.send_action({"Action": "QueueStatus"})
        except AmiError as exc:  # no app_queue loaded: nothing to follow
            log.info("cti.asterisk_queues_unavailable", error=str(exc))
            return
        members, entries = parse_queue_status(listing)
        channels = self.tracker.channels
        entries = [
            e.model_copy(update={"uniqueid": channels[e.uniqueid].linkedid})
            if e.uniqueid in channels
            else e
            for e in entries
        ]
        self.asterisk_queues.resync(members, entries, time.time())

    async def start(self, *, wait_for_ami: bool = False) -> None:
        """Start the parts; the AMI link last. `wait_for_ami`: if Asterisk is not up (or
        refuses the login), keep trying in the background instead of raising."""
        if self.store is not None:
            await self.store.start()
            await self._restore(self.store)
        if self.acd is not None:
            await self.acd.start()
        if self.ivr is not None:
            await self.ivr.start()
        if self.recording is not None:
            await self.recording.start()
        await self.ami.start(wait=wait_for_ami)

    async def close(self) -> None:
        if self.ivr is not None:
            await self.ivr.close()
        await self.ami.close()
        if self.acd is not None:
            await self.acd.close()
        if self.recording is not None:
            await self.recording.close()
        if self.store is not None:
            await self.store.close()


def _both(first: Callable[[_E], None], second: Callable[[_E], None]) -> Callable[[_E], None]:
    def publish(event: _E) -> None:
        first(event)
        second(event)

    return publish


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL: the configured one, or an embedded server started here (in the
    main thread: it dies with the thread that started it), restarted whenever it exits
    (`cti.store.supervisor`) and stopped on the way out."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    from cti.store.embedded import EmbeddedPostgres
    from cti.store.supervisor import Supervisor

    pg = EmbeddedPostgres(settings.embedded_pg_dir)
    log.info("cti.embedded_database", dir=str(pg.root))
    supervisor = Supervisor(pg)
    try:
        url = pg.start()
        supervisor.start()
        yield url
    finally:
        supervisor.stop()


def build_store(settings: Settings, url: str, lease: Lease | None = None) -> StoreService:
    """The store, its outbox in `store.spill_dir`, else in a folder of this database's
    own (`default_spill_dir`): never one another CTI's database shares. With a `lease`
    (cti.ha), every write is fenced by its epoch and records made after it ran out are
    dropped."""
    from cti.store.classifier import load_classifier
    from cti.store.embedded import default_root
    from cti.store.service import default_spill_dir, warn_of_shared_spill

    root = (settings.embedded_pg_dir or default_root()).absolute()
    embedded = root if settings.database_url is None else None
    spill_dir = settings.store.spill_dir
    if spill_dir is None:
        spill_dir = default_spill_dir(embedded, url, default_root().parent)
        warn_of_shared_spill(root.parent / "outbox")  # the default of earlier versions
    classifier = load_classifier(settings.store.classifier) if settings.store.classifier else None
    return StoreService(
        url,
        spill_dir,
        settings.store.memory_limit,
        classifier,
        dict(settings.store.retention_days),
        settings.store.purge_every_h,
        fence=lease.fence if lease is not None else None,
        leading=lease.may_act if lease is not None else None,
    )


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    database_url: str | None = None,
    *,
    fail_fast: bool = False,
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM): AMI client, tracker, feed, ACD, and
    the store when a database URL is given. Asterisk need not be up yet: the AMI link is
    retried with backoff (logged, shown by `/ready`) unless `fail_fast`, which raises
    at once if Asterisk cannot be reached or refuses the login."""
    stop = stop or asyncio.Event()
    acd_config = load_yaml_model(settings.acd, AcdConfig) if settings.acd else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lease, keeper = None, None
    if settings.ha.enabled:
        # A standby reads its IVR file when it leads; SIGHUP must not end it meanwhile.
        loop.add_signal_handler(signal.SIGHUP, lambda: log.info("ha.reload_when_leading"))
        if database_url is None:
            raise ValueError("ha.enabled needs database_url: every node uses one PostgreSQL")
        lease = make_lease(settings, database_url)
        try:
            leading = await stand_by(lease, settings, stop)
        except BaseException:
            await lease.close()
            raise
        if not leading:  # stopped while standing by
            await lease.close()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("cti.stopped")
            return
        keeper = Keeper(lease)  # renewing from now on, through start-up and shutdown
    may_act = lease.may_act if lease is not None else None
    store = build_store(settings, database_url, lease) if database_url else None
    ivr = None
    if settings.ivr.file is not None:
        ivr = IvrService(settings.ivr, load_ivr(settings.ivr.file), store, may_act=may_act)
        loop.add_signal_handler(signal.SIGHUP, ivr.reload)
    core = Core(settings, acd_config, store=store, ivr=ivr, may_act=may_act)
    api = ApiServer(core, database_url, settings.http.host, settings.http.port, may_act=may_act)
    deposed = None
    try:
        await core.start(wait_for_ami=not fail_fast)
        await api.start()
        log.info(
            "cti.started",
            ami=f"{settings.ami.host}:{settings.ami.port}",
            acd=str(settings.acd) if settings.acd else None,
        )
        if keeper is None:
            await stop.wait()
        else:
            deposed = await keeper.until(stop)
    finally:
        await api.close()
        await core.close()
        if lease is not None and keeper is not None:
            deposed = deposed or await keeper.end()
            if deposed is None:
                await lease.release()  # a clean stop: a standby leads at its next look
            await lease.close()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("cti.stopped")
    if deposed is not None:
        raise Deposed(deposed)
