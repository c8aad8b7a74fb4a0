"""What the soak runs: the reference workload at `load` times its calls, everything the
simulator does `speed` times faster, and the ACD file `cti serve` gets with its timers
shortened to match (the CTI itself runs on the wall clock)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cti.demo import DEFAULT_IVR
from cti.queues.models import AcdConfig, QueueConfig, RelaxationStep
from cti.sim.routing import skills_router
from cti.sim.workload import Workload, default_workload_path, load_workload


def workload(load: float) -> Workload:
    w = load_workload(default_workload_path())
    arrivals = w.arrivals.model_copy(update={"calls_per_hour": w.arrivals.calls_per_hour * load})
    return w.model_copy(update={"arrivals": arrivals})


def acd_config(w: Workload, speed: float) -> AcdConfig:
    """The skills router's configuration with every timer `speed` times shorter, except
    the ring timeout: the CTI hands it to the dialplan (`CTI_RING_TIMEOUT`), where the
    simulator shortens it itself."""
    config = skills_router(w).config
    queues = {name: _faster(q, speed) for name, q in config.queues.items()}
    return config.model_copy(update={"queues": queues, "ageing_per_s": config.ageing_per_s * speed})


def _faster(q: QueueConfig, speed: float) -> QueueConfig:
    def s(value: float | None) -> float | None:
        return None if value is None else value / speed

    steps = tuple(
        RelaxationStep.model_validate({**r.model_dump(), "after_s": r.after_s / speed})
        for r in q.relaxation
    )
    return q.model_copy(
        update={
            "service_level_s": s(q.service_level_s),
            "wrap_up_s": s(q.wrap_up_s),
            "max_wait_s": s(q.max_wait_s),
            "announce_every_s": s(q.announce_every_s),
            "default_handle_s": s(q.default_handle_s),
            "relaxation": steps,
        }
    )


def write_files(folder: Path, config: AcdConfig) -> tuple[Path, Path]:
    """acd.yaml and ivr.yaml (the deployment's IVR, open around the clock) in `folder`."""
    acd = folder / "acd.yaml"
    acd.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    ivr = folder / "ivr.yaml"
    definition = yaml.safe_load(DEFAULT_IVR.read_text())
    # Every calendar open around the clock (the callback slots' too: they name theirs).
    always = {"weekly": {"daily": "24h"}}
    definition["calendars"] = {name: always for name in definition.get("calendars") or {}}
    definition["calendars"].setdefault("default", always)
    ivr.write_text(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True))
    return acd, ivr
