"""Every run-time flag of the stack, its code default, and how a flag file's answers become the
values in force. Pure: the OpenFeature adapter (``stackkit.flags``) evaluates, this decides.

Three kinds of flag:

- *site faults* ``fault.<site>``: an object (:class:`stackkit.fault_plan.FaultConfig`) per
  dependency call site; default off;
- *named faults*: a boolean that breaks one specific thing (``catalog.cacheZoneADown``);
  default off;
- *design switches*: one of a few named choices that turns a seed decision off so its value
  can be measured; default today's behaviour. Some choices are unsafe and refused in production
  (:data:`UNSAFE_IN_PRODUCTION`, the one list of them).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from stackkit.fault_plan import NO_FAULT, FaultConfig, InvalidFault


class FlagKind(Enum):
    SITE_FAULT = "site_fault"
    NAMED_FAULT = "named_fault"
    SWITCH = "switch"


FlagValue = FaultConfig | bool | str
"""What a flag answers once checked: a fault config, a named fault's on/off, a switch choice."""


@dataclass(frozen=True)
class FlagSpec:
    key: str
    kind: FlagKind
    default: FlagValue
    """The code default: what the flag answers when no file says otherwise (today's behaviour)."""
    description: str
    choices: tuple[str, ...] = ()
    """A switch's choices (the flagd variants and their string values)."""

    def check(self, raw: object) -> FlagValue:
        """The value ``raw`` (what the flag file answered) stands for; ValueError says why not."""
        if self.kind is FlagKind.SITE_FAULT:
            return FaultConfig.from_flag(raw)
        if self.kind is FlagKind.NAMED_FAULT:
            if not isinstance(raw, bool):
                raise ValueError(f"{self.key} is true or false: got {raw!r}")
            return raw
        if raw not in self.choices:
            raise ValueError(f"{self.key} is one of {', '.join(self.choices)}: got {raw!r}")
        assert isinstance(raw, str)
        return raw


FAULT_SITES = (
    "redis",
    "postgres",
    "kafka.produce",
    "cassandra",
    "acquirer",
    "origin",
    "gateway.write",
)
"""The dependency call sites a fault flag reaches: ``fault.<site>``."""

_SITE_DESCRIPTIONS = {
    "redis": "every command (and pipeline) of the Redis clients stackkit opens",
    "postgres": "every connection acquire from the Postgres pools stackkit opens",
    "kafka.produce": "every publish of stackkit's EventProducer",
    "cassandra": "catalog's CQL statements",
    "acquirer": "payments' calls to the acquirers",
    "origin": "the edge's requests to the origins",
    "gateway.write": "the chat gateway's writes to its WebSocket clients",
}


def fault_key(site: str) -> str:
    return f"fault.{site}"


def _switch(key: str, choices: tuple[str, ...], description: str) -> FlagSpec:
    # The first choice is today's behaviour: the default.
    return FlagSpec(key, FlagKind.SWITCH, choices[0], description, choices)


def _named_fault(key: str, description: str) -> FlagSpec:
    return FlagSpec(key, FlagKind.NAMED_FAULT, False, description)


FLAG_SPECS: tuple[FlagSpec, ...] = (
    *(
        FlagSpec(fault_key(site), FlagKind.SITE_FAULT, NO_FAULT, _SITE_DESCRIPTIONS[site])
        for site in FAULT_SITES
    ),
    _named_fault("catalog.cacheZoneADown", "catalog's cache zone A answers nothing"),
    _named_fault("chat.fanoutStall", "chat's fanout stops delivering while on"),
    _named_fault("edge.upperTierDown", "the edge's upper tier PoP is unreachable"),
    _named_fault("payments.acquirerTimeouts", "the acquirers time out"),
    _switch("catalog.cache", ("two_zones", "one_zone", "off"), "catalog's EVCache zones"),
    _switch(
        "catalog.fill",
        ("popularity", "random"),
        "catalog's Open Connect fill: the most popular titles per region, or a random sample",
    ),
    _switch(
        "dispatch.search",
        ("h3_rings", "geosearch", "full_scan"),
        "dispatch's nearby-driver search: H3 rings, Redis GEOSEARCH, or a scan of every driver",
    ),
    _switch(
        "chat.fanout",
        ("per_gateway_batch", "per_member"),
        "chat's fanout: one batch per gateway, or one delivery per member",
    ),
    _switch(
        "payments.idempotency",
        ("enforced", "ignored"),
        "payments' Idempotency-Key guard (ignored: a retried request can charge twice)",
    ),
    _switch("payments.smartRetries", ("on", "off"), "payments' retries on another acquirer"),
    _switch(
        "payments.routing",
        ("best_rate", "single_acquirer"),
        "payments' acquirer routing",
    ),
    _switch("edge.tieredCache", ("on", "off"), "the edge's lower tiers asking the upper tier"),
    _switch("edge.coalescing", ("on", "off"), "the edge's coalescing of concurrent misses"),
    _switch(
        "edge.configPush",
        ("kafka_push", "log_polling"),
        "the edge's config replication: Kafka push plus log, or log polling only",
    ),
)

SPECS_BY_KEY: Mapping[str, FlagSpec] = {spec.key: spec for spec in FLAG_SPECS}

UNSAFE_IN_PRODUCTION: Mapping[str, frozenset[str]] = {
    "payments.idempotency": frozenset({"ignored"}),
}
"""Switch choices production refuses (the switch answers its default, the safe value, instead).
The one place that says which demo modes may cost real money or data."""

DEFAULT_VALUES: Mapping[str, FlagValue] = {spec.key: spec.default for spec in FLAG_SPECS}


def render(value: FlagValue) -> str:
    """A value as logs and the status page show it: ``off``, ``on``, ``latency_ms=200``..."""
    if isinstance(value, FaultConfig):
        return value.describe()
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


@dataclass(frozen=True)
class Evaluated:
    """What the flag provider answered for one flag."""

    value: object = None
    error: str | None = None
    """The provider could not evaluate it from the file (type mismatch, bad variant...)."""
    absent: bool = False
    """Not in the file, or disabled there: the code default applies."""


ABSENT = Evaluated(absent=True)


@dataclass(frozen=True)
class FlagChange:
    key: str
    old: FlagValue
    new: FlagValue


@dataclass(frozen=True)
class Resolution:
    """The values in force after one evaluation of the file, and what to say about it."""

    values: dict[str, FlagValue]
    changes: tuple[FlagChange, ...] = ()
    problems: tuple[str, ...] = ()
    """One line per flag the file got wrong; each such flag keeps its last good value."""
    refused: tuple[str, ...] = ()
    """Unsafe switches asked for in production, as ``key=choice``: they answer their default."""


def resolve(
    evaluated: Mapping[str, Evaluated],
    previous: Mapping[str, FlagValue],
    *,
    production: bool,
    specs: tuple[FlagSpec, ...] = FLAG_SPECS,
) -> Resolution:
    """The values in force given the provider's answers and the values in force before.

    A flag missing from ``evaluated`` or absent from the file answers its code default; a flag
    the file gets wrong keeps its previous value (a broken edit must not undo a fault in
    force, nor turn one on); an unsafe switch in production answers its default.
    """
    values: dict[str, FlagValue] = {}
    changes: list[FlagChange] = []
    problems: list[str] = []
    refused: list[str] = []
    for spec in specs:
        before = previous.get(spec.key, spec.default)
        answer = evaluated.get(spec.key, ABSENT)
        value: FlagValue
        if answer.error is not None:
            problems.append(f"{spec.key}: {answer.error}")
            value = before
        elif answer.absent:
            value = spec.default
        else:
            try:
                value = spec.check(answer.value)
            except (InvalidFault, ValueError) as error:
                problems.append(f"{spec.key}: {error}")
                value = before
        if production and isinstance(value, str) and value in unsafe_choices(spec.key):
            refused.append(f"{spec.key}={value}")
            value = spec.default
        values[spec.key] = value
        if value != before:
            changes.append(FlagChange(spec.key, before, value))
    return Resolution(values, tuple(changes), tuple(problems), tuple(refused))


def unsafe_choices(key: str) -> frozenset[str]:
    return UNSAFE_IN_PRODUCTION.get(key, frozenset())


def armed_faults(values: Mapping[str, FlagValue]) -> dict[str, FaultConfig]:
    """The sites with a fault in force, by site name: what the hot paths look up."""
    armed: dict[str, FaultConfig] = {}
    for site in FAULT_SITES:
        config = values.get(fault_key(site), NO_FAULT)
        if isinstance(config, FaultConfig) and config.armed:
            armed[site] = config
    return armed


def with_default_variant(
    document: Mapping[str, object], key: str, variant: str
) -> dict[str, object]:
    """A copy of a flagd document with ``key``'s ``defaultVariant`` set to ``variant``: how a
    person, a test or the chaos monkey flips a flag. ValueError for an unknown flag or variant."""
    flags = document.get("flags")
    if not isinstance(flags, Mapping) or key not in flags:
        raise ValueError(f"no flag {key!r} in the flag file")
    flag = flags[key]
    variants = flag.get("variants") if isinstance(flag, Mapping) else None
    if not isinstance(variants, Mapping) or variant not in variants:
        known = ", ".join(sorted(variants)) if isinstance(variants, Mapping) else "none"
        raise ValueError(f"flag {key!r} has no variant {variant!r} (variants: {known})")
    new_flags = dict(flags)
    new_flags[key] = {**flag, "defaultVariant": variant}
    return {**document, "flags": new_flags}
