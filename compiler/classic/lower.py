"""Lower a classic spec to the DAG form, keeping the classic file's positions for every part.

The result is a :class:`Document` like one loaded from a DAG config: its data has ``dag.nodes``
and ``dag.edges``, and its span tables map each lowered path to the classic field it came from
(the source node to ``source:``, the window to ``bar_window_sec``, the store's url to
``database_url``, ...). So building and validating it reports every problem at the classic
YAML's lines, through the same code as for a DAG config.
"""

from __future__ import annotations

import copy

from pydantic import ValidationError

from runtime_lib.timeutil import NS_PER_SECOND, format_duration

from ..components import REGISTRY
from ..diagnostics import Diagnostic, DiagnosticError
from ..ir import node_path
from ..load.document import Document
from ..pydantic_errors import diagnostics_from
from .spec import ClassicJobSpec, ClassicOverrides, ClassicSpec

SPEC = ("classic", "spec")
OVERRIDES = SPEC + ("overrides",)
SOURCE_TYPES = {
    "synthetic": "provider.synthetic",
    "replay": "provider.replay",
    "ibkr": "provider.ibkr.stream",
}
SOURCE_ONLY = {"ticks_per_sec": "synthetic", "replay_path": "replay", "replay_speed": "replay"}
# The older runtime's defaults, kept so that a classic spec behaves as it did there.
DEFAULT_TICKS_PER_SEC = 100.0
DEFAULT_BAR_WINDOW_SEC = 1.0
DEFAULT_LATENESS_SEC = 0.0
DEFAULT_REPLAY_SPEED = 1.0
SOURCE_ID, BARS_ID, STORE_ID = "ticks", "bars", "store"
KAFKA_OVERRIDES = ("kafka_bootstrap", "kafka_topic")
KAFKA_MESSAGE = "Kafka is not supported yet: mdp cannot write to a Kafka topic"
KAFKA_HINT = (
    "fan ticks or bars out through a Redis stream instead: a DAG config with a sink.redis_stream "
    "node (url, stream), read by provider.redis_stream in the consuming job"
)
VENDOR_SCHEMES = {"sqlite": ("sqlite:///",), "postgres": ("postgresql://", "postgres://")}
VENDOR_SCHEMES["postgresql"] = VENDOR_SCHEMES["postgres"]


def seconds_text(seconds: float) -> str:
    """A number of seconds as a duration with a unit, to the nanosecond.

    >>> seconds_text(1), seconds_text(0.25), seconds_text(0)
    ('1s', '250ms', '0s')
    """
    return format_duration(round(seconds * NS_PER_SECOND))


def default_store_url(spec: ClassicSpec) -> str:
    """``sqlite:///mdp-data/<tenant_id>/<pipeline_id>.db``: one database per pipeline."""
    return f"sqlite:///mdp-data/{spec.tenant_id}/{spec.pipeline_id}.db"


def _point(lowered: Document, doc: Document, path: tuple, at: tuple, key: bool = False) -> None:
    """Make ``path`` of the lowered document point where ``at`` is in the classic one (its
    value, or with ``key`` its key; the key of ``path`` always points at the key of ``at``)."""
    lowered.point(path, doc.span(at, prefer_key=key), doc.span(at, prefer_key=True))


def _mapping(data: object, *path: str) -> dict:
    """The mapping at ``path`` inside ``data``, or an empty one if it is absent or not a mapping."""
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _known_source(spec: dict) -> str | None:
    """The spec's ``source`` when it names a known source; anything else the spec model reports."""
    source = spec.get("source")
    return source if isinstance(source, str) and source in SOURCE_TYPES else None


def _source_problems(spec: dict, doc: Document) -> list[Diagnostic]:
    """Problems that leave nothing to lower: the source is unavailable or lacks its input."""
    source = _known_source(spec)
    if source is None:
        return []
    found, at = [], doc.span(SPEC + ("source",))
    overrides = _mapping(spec, "overrides")
    if source in ("synthetic", "ibkr") and spec.get("symbols") is None:
        found.append(
            Diagnostic(
                at,
                f"source {source!r} needs symbols",
                "add symbols to the spec, such as symbols: [AAPL, MSFT]",
            )
        )
    if source == "replay" and overrides.get("replay_path") is None:
        found.append(
            Diagnostic(
                at, "source 'replay' needs overrides.replay_path", "the CSV or CSV.gz file of ticks to replay"
            )
        )
    if SOURCE_TYPES[source] not in REGISTRY:
        known = ", ".join(sorted(t for t in REGISTRY if t.startswith("provider.")))
        found.append(
            Diagnostic(
                at,
                f"the {source} provider is not available: node type "
                f"{SOURCE_TYPES[source]!r} is not registered",
                f"known providers: {known}",
            )
        )
    return found


def _field_problems(spec: dict, run: dict, doc: Document) -> list[Diagnostic]:
    """Fields that the spec cannot honour, each reported at the key to remove."""
    found = []
    source, overrides = _known_source(spec), _mapping(spec, "overrides")
    for name, only in SOURCE_ONLY.items():
        if overrides.get(name) is not None and source is not None and source != only:
            found.append(
                Diagnostic(
                    doc.span(OVERRIDES + (name,), prefer_key=True),
                    f"{name} applies only to source: {only}",
                    f"this spec's source is {source!r}: remove {name}",
                )
            )
    if overrides.get("flush_ms") is not None:
        found.append(
            Diagnostic(
                doc.span(OVERRIDES + ("flush_ms",), prefer_key=True),
                "flush_ms is not supported: the store writes every batch as soon as it "
                "arrives (one transaction per batch), so there is no flush interval to set",
                "remove flush_ms; batch_size sets how many ticks the source hands on at once",
            )
        )
    found += _sink_problems(spec, overrides, doc)
    if spec.get("duration_sec") is not None and run.get("duration") is not None:
        found.append(
            Diagnostic(
                doc.span(SPEC + ("duration_sec",), prefer_key=True),
                "the run duration is given twice: duration_sec and run.duration",
                "keep one of them",
            )
        )
    for name in ("tenant_id", "pipeline_id"):
        if name in _mapping(run, "labels"):
            found.append(
                Diagnostic(
                    doc.span(("run", "labels", name), prefer_key=True),
                    f"label {name!r} comes from the classic spec's {name}",
                    "remove it from run.labels",
                )
            )
    return found


def _sink_problems(spec: dict, overrides: dict, doc: Document) -> list[Diagnostic]:
    """``sink: kafka`` and its overrides, and ``database_*`` overrides that contradict each other."""
    found = []
    kafka = [OVERRIDES + (name,) for name in KAFKA_OVERRIDES if overrides.get(name) is not None]
    if spec.get("sink") == "kafka":
        kafka.insert(0, SPEC + ("sink",))
    for at in kafka:
        found.append(Diagnostic(doc.span(at, prefer_key=at[-1] != "sink"), KAFKA_MESSAGE, KAFKA_HINT))
    vendor, url = overrides.get("database_vendor"), overrides.get("database_url")
    if isinstance(vendor, str) and vendor in VENDOR_SCHEMES:
        schemes = VENDOR_SCHEMES[vendor]
        if isinstance(url, str) and not url.startswith(schemes):
            found.append(
                Diagnostic(
                    doc.span(OVERRIDES + ("database_vendor",)),
                    f"database_vendor {vendor!r} does not match database_url, which is not a {schemes[0]} url",
                    "remove database_vendor (the url's scheme says it) or make the two agree",
                )
            )
        elif url is None and vendor != "sqlite":
            found.append(
                Diagnostic(
                    doc.span(OVERRIDES + ("database_vendor",)),
                    f"database_vendor {vendor!r} needs database_url",
                    "add database_url: postgresql://user:${PGPASSWORD}@host:5432/db",
                )
            )
    timeframe = overrides.get("database_timeframe")
    if timeframe is not None and overrides.get("bar_window_sec") is not None:
        found.append(
            Diagnostic(
                doc.span(OVERRIDES + ("database_timeframe",), prefer_key=True),
                "the bar width is given twice: database_timeframe and bar_window_sec",
                "keep one of them",
            )
        )
    return found


def _given(overrides: ClassicOverrides, name: str, default: object) -> tuple[object, tuple | None]:
    """An override's value and the path it was set at, or the default and None."""
    value = getattr(overrides, name)
    return (value, OVERRIDES + (name,)) if value is not None else (default, None)


def _node(
    lowered: Document, doc: Document, index: int, at: tuple, node: dict, params: dict[str, tuple]
) -> dict:
    """Node ``index`` of the lowered DAG, pointing at the classic field ``at``.

    ``params`` maps each param to its value and the classic path that set it (None: a default,
    which points at ``at`` too). The node's id points at the key of ``at``.
    """
    for part in ((), ("type",), ("params",)):
        _point(lowered, doc, node_path(index, *part), at)
    _point(lowered, doc, node_path(index, "id"), at, key=True)
    for name, (_value, where) in params.items():
        _point(lowered, doc, node_path(index, "params", name), where or at)
    return {**node, "params": {name: value for name, (value, _where) in params.items()}}


def _source(spec: ClassicSpec, overrides: ClassicOverrides, lowered: Document, doc: Document) -> dict:
    node_type = SOURCE_TYPES[spec.source]
    params: dict[str, tuple] = {}
    if spec.symbols is not None:
        params["symbols"] = (list(spec.symbols), SPEC + ("symbols",))
    if overrides.batch_size is not None:
        params["batch_size"] = (overrides.batch_size, OVERRIDES + ("batch_size",))
    if spec.source == "synthetic":
        params["rate"] = _given(overrides, "ticks_per_sec", DEFAULT_TICKS_PER_SEC)
    elif spec.source == "replay":
        params["path"] = _given(overrides, "replay_path", None)
        params["speed"] = _given(overrides, "replay_speed", DEFAULT_REPLAY_SPEED)
    elif "stream" in REGISTRY[node_type].params.model_fields:
        params["stream"] = ("trades", None)  # bars are built from trades, not from quote midpoints
    return _node(lowered, doc, 0, SPEC + ("source",), {"id": SOURCE_ID, "type": node_type}, params)


def _bars(overrides: ClassicOverrides, lowered: Document, doc: Document) -> dict:
    window, window_at = _given(overrides, "bar_window_sec", DEFAULT_BAR_WINDOW_SEC)
    window_text = seconds_text(window)
    if overrides.database_timeframe is not None:
        window_text, window_at = overrides.database_timeframe, OVERRIDES + ("database_timeframe",)
    lateness, lateness_at = _given(overrides, "bar_allowed_lateness_sec", DEFAULT_LATENESS_SEC)
    params = {
        "window": (window_text, window_at),
        "allowed_lateness": (seconds_text(lateness), lateness_at),
    }
    node = {"id": BARS_ID, "type": "operator.resample_ohlc"}
    return _node(lowered, doc, 1, SPEC + ("operator",), node, params)


def _store(spec: ClassicSpec, overrides: ClassicOverrides, lowered: Document, doc: Document) -> dict:
    params: dict[str, tuple] = {"url": _given(overrides, "database_url", default_store_url(spec))}
    retry, retry_at = {}, {}
    if overrides.database_retry_max_attempts is not None:
        retry["max_attempts"] = overrides.database_retry_max_attempts
        retry_at["max_attempts"] = OVERRIDES + ("database_retry_max_attempts",)
    if overrides.database_retry_backoff_ms is not None:
        retry["initial_backoff"] = format_duration(round(overrides.database_retry_backoff_ms * 1_000_000))
        retry_at["initial_backoff"] = OVERRIDES + ("database_retry_backoff_ms",)
    if retry:
        params["retry"] = (retry, next(iter(retry_at.values())))
    node = _node(lowered, doc, 2, SPEC + ("sink",), {"id": STORE_ID, "type": "sink.store"}, params)
    for name, at in retry_at.items():
        _point(lowered, doc, node_path(2, "params", "retry", name), at)
    return node


def _run(spec: ClassicSpec, lowered: Document, doc: Document) -> dict:
    """The file's run section plus the spec's duration and its ids as metrics labels."""
    run = copy.deepcopy(doc.data.get("run") or {})
    lowered.copy_spans(("run",), doc, ("run",))
    if ("run",) not in lowered.values:
        _point(lowered, doc, ("run",), SPEC)
    if spec.duration_sec is not None:
        run["duration"] = seconds_text(spec.duration_sec)
        _point(lowered, doc, ("run", "duration"), SPEC + ("duration_sec",))
    labels = run.setdefault("labels", {})
    if ("run", "labels") not in lowered.values:
        _point(lowered, doc, ("run", "labels"), SPEC)
    for name in ("tenant_id", "pipeline_id"):
        labels[name] = getattr(spec, name)
        _point(lowered, doc, ("run", "labels", name), SPEC + (name,))
    return run


def lower_classic(doc: Document) -> tuple[Document, list[Diagnostic]]:
    """Return a DAG config as it is, or the DAG form of a classic one, with the problems found.

    Problems that leave nothing to lower (a spec that does not validate, an unavailable
    source) raise :class:`DiagnosticError` at once, together with every other problem of the
    spec; the rest are returned so that they are reported with those of the lowered graph.
    """
    if not isinstance(doc.data, dict) or doc.data.get("mode") != "classic":
        return doc, []
    raw_spec = _mapping(doc.data, *SPEC)
    problems = _field_problems(raw_spec, _mapping(doc.data, "run"), doc)
    fatal = _source_problems(raw_spec, doc)
    try:
        job = ClassicJobSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise DiagnosticError(diagnostics_from(exc, doc, ClassicJobSpec) + fatal + problems) from None
    if fatal:
        raise DiagnosticError(fatal + problems)
    spec = job.classic.spec
    overrides = spec.overrides or ClassicOverrides()
    lowered = Document(file=doc.file, text=doc.text, data={}, texts=doc.texts)
    _point(lowered, doc, (), ())
    for key in ("name", "mode", "description"):
        lowered.copy_spans((key,), doc, (key,))
    _point(lowered, doc, ("dag",), ("classic",))
    _point(lowered, doc, ("dag", "nodes"), SPEC)
    nodes = [
        _source(spec, overrides, lowered, doc),
        _bars(overrides, lowered, doc),
        _store(spec, overrides, lowered, doc),
    ]
    _point(lowered, doc, ("dag", "edges"), SPEC)
    for index, at in enumerate(("operator", "sink")):
        _point(lowered, doc, ("dag", "edges", index), SPEC + (at,))
    lowered.data = {
        "name": doc.data["name"],
        "mode": "dag",
        "dag": {"nodes": nodes, "edges": [[SOURCE_ID, BARS_ID], [BARS_ID, STORE_ID]]},
    }
    if "description" in doc.data:
        lowered.data["description"] = doc.data["description"]
    lowered.data["run"] = _run(spec, lowered, doc)
    return lowered, problems
