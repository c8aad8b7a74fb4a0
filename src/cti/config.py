"""Configuration: one pydantic-settings model fed by `CTI_*` variables and a TOML file.

Precedence (highest first): explicit overrides, environment (`CTI_AMI__PORT=5038`,
`CTI_DATABASE_URL=...`), the TOML file given with `--config`, defaults.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The languages of the pages (and of the names in the data files people see).
Language = Literal["en", "bg", "ru", "hu"]
# A name per language, as a data file gives it: {en: Employment, bg: Заетост}.
Names = dict[Language, Annotated[str, Field(min_length=1, max_length=300)]]


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"must be 1..65535, got {value}")
    return value


def check_timezone(value: str) -> str:
    """A pydantic validator: an IANA time zone name (Europe/Sofia)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(check_timezone)]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


Port = Annotated[int, AfterValidator(_port)]
Seconds = Annotated[float, AfterValidator(_positive)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    """How to reach Asterisk's manager interface."""

    host: str = "127.0.0.1"
    port: Port = 5038
    username: str = "cti"
    secret: SecretStr = SecretStr("")
    # md5 = Challenge/Login with Key: the secret never crosses the wire.
    auth: Literal["plain", "md5"] = "md5"
    connect_timeout_s: Seconds = 5.0
    action_timeout_s: Seconds = 10.0
    # A silent peer is detected within two ping intervals.
    ping_interval_s: Seconds = 10.0
    reconnect_min_s: Seconds = 0.5
    reconnect_max_s: Seconds = 30.0
    # The service-level threshold for Asterisk's own queues (app_queue: the fallback),
    # whose live figures the CTI follows; our ACD's queues have theirs in the ACD file.
    queue_service_level_s: Seconds = 20.0
    # A message larger than this is dropped (logged); memory stays bounded.
    max_message_bytes: Annotated[int, AfterValidator(_positive)] = 1_048_576


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"an origin is scheme://host[:port], got {value!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    # Pages on other origins allowed to open the websockets (a browser sends Origin);
    # the server's own origin is always allowed, clients without Origin too.
    allowed_origins: list[Annotated[str, AfterValidator(_origin)]] = []


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: readable console on a terminal, JSON lines otherwise.
    format: Literal["auto", "json", "console"] = "auto"


class OutboundSettings(_Section):
    """Calls the centre places to citizens (telling them a case's result)."""

    # (Inbound first and the lines lent to tasks are the ACD's: `outbound` in acd.yaml.)
    max_attempts: Annotated[int, AfterValidator(_positive)] = 3
    retry_after_s: Seconds = 3600.0  # after no answer or busy
    # The IVR calendar that says when citizens may be called (`deploy/ivr.yaml`);
    # a definition without it uses its `default` calendar.
    calendar: str = "calling"
    # Due tasks offered to ready agents as previews: checked every `preview_every_s`;
    # the desktop dials `preview_dial_in_s` after showing one unless she acts first.
    preview_every_s: Seconds = 5.0
    preview_dial_in_s: Seconds = 15.0


class IvrSettings(_Section):
    """The FastAGI server and the IVR definition it runs (None: no FastAGI server)."""

    file: Path | None = None  # deploy/ivr.yaml
    host: str = "127.0.0.1"  # where Asterisk reaches us; keep it off public networks
    port: Port = 4573
    max_sessions: Annotated[int, AfterValidator(_positive)] = 200
    # A peer must send its environment within this, and answer the first (quick)
    # command within `quick_timeout_s`: a silent peer frees its slot in seconds.
    env_timeout_s: Seconds = 3.0
    # Commands Asterisk answers at once (variables, channel status, verbose).
    quick_timeout_s: Seconds = 5.0
    # Commands that play or wait for keys (STREAM FILE, GET DATA, WAIT FOR DIGIT, EXEC).
    command_timeout_s: Seconds = 30.0


class WebhookSettings(_Section):
    """One integrator endpoint: which events (glob on the bus type: "case.*",
    "call.InteractionEnded"), the HMAC secret, retries."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: SecretStr
    events: list[str] = ["case.*", "call.InteractionEnded"]
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8
    retry_initial_s: Seconds = 0.5
    timeout_s: Seconds = 10.0

    @field_serializer("url", when_used="json")
    def _shown(self, url: str) -> str:
        return mask_url(url)


def mask_url(url: str) -> str:
    """A URL fit to print or log: user and password and every query value as `***`
    (integrators put tokens in either)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "***"
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    query = "&".join(f"{key}=***" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RecordingSettings(_Section):
    """MixMonitor on answer. `dir` is where Asterisk writes and the CTI reads the files
    (same host or a shared mount)."""

    enabled: bool = False
    dir: Path = Path("/var/spool/asterisk/recording")


class StoreSettings(_Section):
    """Where call records wait when the database is down, and local conventions."""

    # None: `<embedded_pg_dir or its default>/../outbox`, i.e. next to the data.
    spill_dir: Path | None = None
    memory_limit: Annotated[int, AfterValidator(_positive)] = 10_000
    country_code: Annotated[str, Field(pattern=r"^[1-9]\d{0,2}$")] = "359"
    classifier: Path | None = None  # topics file to load at start (deploy/classifier.yaml)
    # Days to keep, per kind (recordings, cdr, agent_states, surveys, recording_access,
    # callbacks); unset kinds keep their defaults (recordings 1 year, CDR 5 years...).
    retention_days: dict[str, Annotated[int, Field(ge=1, le=36500)]] = {}
    purge_every_h: Annotated[float, Field(ge=0)] = 24.0  # 0: never from `cti serve`


class DeadlineSettings(_Section):
    """Warnings before and after a case's deadline (docs/organisations.md)."""

    due_soon_days: Annotated[int, Field(ge=0, le=60)] = 2  # "due soon": today..today+N
    check_every_s: Seconds = 60.0  # how often the leader looks (and retries e-mail)


class SmtpSettings(_Section):
    """The SMTP server deadline alerts are e-mailed through; no host: no e-mail."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = ""
    port: Port = 25
    sender: str = Field("cti@localhost", alias="from")  # `from` in the file
    starttls: bool = False
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout_s: Seconds = 10.0  # every wait on the server
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 6
    retry_after_s: Seconds = 120.0  # doubled after each failure


class HaSettings(_Section):
    """Several CTIs on one database and Asterisk: one leads (docs/ha.md)."""

    enabled: bool = False
    # Nodes with the same cluster name on one database compete for one lease.
    cluster: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "cti"
    # This node's name in the lease and the logs; empty: host name and process id.
    node: Annotated[str, Field(max_length=100)] = ""
    # How clients reach this node (e.g. http://cti1.example:8080): what standbys tell them.
    url: Annotated[str, Field(max_length=500)] = ""
    # A leader lost (killed, cut off, paused) is replaced within about lease_s + poll_s +
    # the new leader's start; a leader whose loop stalls for more than about
    # 0.9 * lease_s - renew_s (1.7 s by default) steps down.
    lease_s: Seconds = 3.0
    renew_s: Seconds = 1.0  # at most half of lease_s
    poll_s: Seconds = 0.5  # how often a standby tries to take an expired lease

    @model_validator(mode="after")
    def _renew_within_lease(self) -> HaSettings:
        if self.renew_s * 2 > self.lease_s:
            raise ValueError(
                f"renew_s ({self.renew_s:g}) must be at most half of lease_s ({self.lease_s:g})"
            )
        return self


class Settings(BaseSettings):
    """Everything `cti` can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="CTI_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    ami: AmiSettings = AmiSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    store: StoreSettings = StoreSettings()
    ivr: IvrSettings = IvrSettings()
    outbound: OutboundSettings = OutboundSettings()
    recording: RecordingSettings = RecordingSettings()
    webhooks: list[WebhookSettings] = []
    ha: HaSettings = HaSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    smtp: SmtpSettings = SmtpSettings()
    # None: an embedded PostgreSQL server in `embedded_pg_dir` (default: /var/lib/cti/postgres
    # as root, ~/.local/share/cti/postgres otherwise).
    database_url: SecretStr | None = None
    embedded_pg_dir: Path | None = None
    # The ACD's queues and agents (YAML, see deploy/acd.yaml); None: no ACD, calls are
    # only tracked.
    acd: Path | None = None
    # The centre's time zone (reports' days and hours); None: the IVR's, else UTC.
    timezone: TimeZone | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load_settings); listing the
        # environment first makes it win over the file.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """The configuration is invalid; `str()` lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif "input" in err and err["type"] not in ("missing",) and "got" not in msg:
            shown = err["input"]
            if "secret" in where or "url" in where:
                shown = "***"
            msg = f"{msg}, got {shown!r}"
        problems.append(f"{where}: {msg}")
    return problems


def load_settings(path: Path | None = None) -> Settings:
    """Build the settings from a TOML file (optional) and the environment.

    Raises ConfigError naming every bad field ("ami.port: must be 1..65535, got 70000").
    """
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(read_text(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


_M = TypeVar("_M", bound=BaseModel)
MAX_FILE_BYTES = 16 * 1024 * 1024  # a configuration file larger than this is a mistake


def read_text(path: Path) -> str:
    """A configuration file's text; ConfigError (one line) for what cannot be one: missing,
    a directory, unreadable, too large, not UTF-8."""
    try:
        if path.is_dir():
            raise ConfigError([f"{path}: is a directory, not a file"])
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None


def load_yaml_model(path: Path, model: type[_M]) -> _M:
    """Read a YAML file into a pydantic model; ConfigError names the file and every bad field."""
    import yaml

    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {p}" for p in format_validation_error(exc)]) from None
