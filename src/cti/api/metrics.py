"""`/metrics`: the CTI's live figures, read at scrape time (no second copy of state).
Names follow Prometheus conventions: `cti_` prefix, base units, `_total` counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cti.api.ports import CoreView
from cti.api.views import live_queues
from cti.queues import AgentState


class CtiCollector(Collector):
    """Reads the core's parts at scrape time; `desktops` counts connected agent desktops."""

    def __init__(self, core: CoreView, desktops: Callable[[], int] | None = None) -> None:
        self.core = core
        self.desktops = desktops

    def collect(self) -> Iterator[Any]:
        core = self.core
        yield GaugeMetricFamily(
            "cti_ami_connected",
            "1 while logged in to Asterisk's AMI",
            value=int(core.ami.connected),
        )
        yield CounterMetricFamily(
            "cti_ami_connects",
            "AMI logins since start (reconnects = this - 1)",
            value=core.ami.connects,
        )
        events = CounterMetricFamily(
            "cti_ami_events", "AMI events received, by type", labels=["event"]
        )
        for name, count in sorted(core.feed.counts.items()):
            events.add_metric([name], count)
        yield events
        yield GaugeMetricFamily(
            "cti_bus_subscribers",
            "event bus subscribers (websocket clients and others)",
            value=core.bus.subscribers,
        )
        yield CounterMetricFamily(
            "cti_bus_slow_consumers",
            "subscribers cut off for not reading their buffer",
            value=core.bus.cut_off,
        )
        if core.ivr is not None:
            agi = core.ivr.agi
            yield GaugeMetricFamily("cti_agi_sessions", "FastAGI sessions now", value=agi.sessions)
            yield CounterMetricFamily(
                "cti_agi_sessions_refused",
                "FastAGI connections over the cap",
                value=agi.refused,
            )
        if self.desktops is not None:
            yield GaugeMetricFamily(
                "cti_websocket_agents", "agent desktops connected", value=self.desktops()
            )
        if core.store is not None:
            yield GaugeMetricFamily(
                "cti_outbox_depth",
                "records waiting to be written to the database",
                value=core.store.outbox.depth,
            )
            yield CounterMetricFamily(
                "cti_outbox_written",
                "records written to the database",
                value=core.store.outbox.written,
            )
        yield from self._queues()
        acd = core.acd
        if acd is None:
            return
        yield CounterMetricFamily(
            "cti_acd_commands_dropped",
            "PBX commands dropped: the AMI side hopelessly behind",
            value=acd.dropped_commands,
        )
        agents = GaugeMetricFamily("cti_agents", "agents by state", labels=["state"])
        counts = dict.fromkeys((s.value for s in AgentState), 0)
        for a in acd.acd.agents():
            counts[a.state.value] += 1
        for state, n in counts.items():
            agents.add_metric([state], n)
        yield agents

    def _queues(self) -> Iterator[Any]:
        """Every queue, ours and Asterisk's own (the fallback), by name."""
        labels = ["queue"]
        waiting = GaugeMetricFamily("cti_queue_calls_waiting", "calls waiting", labels=labels)
        longest = GaugeMetricFamily(
            "cti_queue_longest_wait_seconds", "longest current wait", labels=labels
        )
        sl = GaugeMetricFamily(
            "cti_queue_service_level_ratio",
            "answered within the threshold / calls that left the line (docs/records.md)",
            labels=labels,
        )
        offered = CounterMetricFamily("cti_queue_calls_offered", "calls offered", labels=labels)
        answered = CounterMetricFamily("cti_queue_calls_answered", "calls answered", labels=labels)
        abandoned = CounterMetricFamily(
            "cti_queue_calls_abandoned", "calls abandoned", labels=labels
        )
        for q in live_queues(self.core):
            v, key = q.view, [q.view.name]
            waiting.add_metric(key, v.waiting)
            longest.add_metric(key, v.longest_wait_s)
            if v.service_level is not None:
                sl.add_metric(key, v.service_level)
            offered.add_metric(key, v.offered)
            answered.add_metric(key, v.answered)
            abandoned.add_metric(key, v.abandoned)
        yield from (waiting, longest, sl, offered, answered, abandoned)
