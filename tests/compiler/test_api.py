"""The Python API: settings precedence, jobs run in the caller's event loop, states, gauges, stop,
located config errors, and node types registered by the calling code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import textwrap

import pytest
from prometheus_client import generate_latest

from compiler.api import (
    ComponentRegistry,
    ConfigError,
    RegistrationError,
    RuntimeMode,
    UnifiedRuntime,
    UnifiedRuntimeSettings,
    UnifiedRuntimeState,
    default_registry,
    registry,
)
from tests.support import seed_ops
from tests.support.jobs import BARS_CONFIG, PYTHON, REPO, make_layout

TIMEOUT_S = 30


def small_job(count: int = 20, name: str = "small") -> dict:
    """Synthetic ticks into a null sink, as a config dict."""
    return {
        "name": name,
        "mode": "dag",
        "dag": {
            "nodes": [
                {"id": "ticks", "type": "provider.synthetic", "params": {"symbols": ["AAA"], "count": count}},
                {"id": "out", "type": "sink.null"},
            ],
            "edges": [["ticks", "out"]],
        },
    }


def endless_job() -> dict:
    """An endless, unpaced synthetic stream into a null sink."""
    job = small_job()
    del job["dag"]["nodes"][0]["params"]["count"]
    return job


def run(coroutine):
    """Run ``coroutine`` in a fresh event loop, the caller's, with a deadline."""
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT_S))


async def run_job(settings: UnifiedRuntimeSettings, job_name: str | None = None, **kwargs):
    """Run one job to its end; the runtime and the result."""
    async with UnifiedRuntime(settings, kwargs.get("registry", ComponentRegistry())) as rt:
        result = await rt.run(job_name)
    return rt, result


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory laid out like the repository, a private run cache and state directory,
    no MDP_UNIFIED_* settings."""
    root = make_layout(tmp_path / "work")
    monkeypatch.chdir(root)
    for name in list(os.environ):
        if name.startswith("MDP_UNIFIED_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MDP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MDP_STATE_DIR", str(tmp_path / "state"))
    return root


def test_settings_resolve_keyword_over_environment_over_config(workdir, monkeypatch):
    config = workdir / "small.yaml"
    config.write_text(json.dumps(small_job(name="filejob")), encoding="utf-8")  # JSON is YAML too

    async def main():
        results = {"file": (await run_job(UnifiedRuntimeSettings.from_file(config)))[1]}
        monkeypatch.setenv("MDP_UNIFIED_JOB_NAME", "envjob")
        monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", '{"nodes": [{"id": "ticks", "params": {"count": 5}}]}')
        results["env over file"] = (await run_job(UnifiedRuntimeSettings.from_file(config)))[1]
        results["env over dict"] = (await run_job(UnifiedRuntimeSettings.from_dict(small_job())))[1]
        results["keyword over env"] = (
            await run_job(UnifiedRuntimeSettings.from_file(config, job_name="kw"))
        )[1]
        results["run() over keyword"] = (
            await run_job(UnifiedRuntimeSettings.from_file(config, job_name="kw"), "runjob")
        )[1]
        monkeypatch.setenv("MDP_UNIFIED_CONFIG", str(config))
        results["from_env"] = (await run_job(UnifiedRuntimeSettings.from_env()))[1]
        return results

    results = run(main())
    seen = {what: (r.job_name, r.nodes["ticks"]["events_out"], r.status) for what, r in results.items()}
    assert seen == {
        "file": ("filejob", 20, 0),
        "env over file": ("envjob", 5, 0),
        "env over dict": ("envjob", 5, 0),
        "keyword over env": ("kw", 5, 0),
        "run() over keyword": ("runjob", 5, 0),
        "from_env": ("envjob", 5, 0),
    }


def test_bars_config_runs_in_the_callers_loop_and_writes_sqlite(workdir):
    async def main():
        rt = UnifiedRuntime(UnifiedRuntimeSettings.from_file(BARS_CONFIG), ComponentRegistry())
        states, handler, beats = [rt.state], signal.getsignal(signal.SIGTERM), []

        async def heartbeat():  # another task of the caller's loop keeps running meanwhile
            while True:
                beats.append(rt.state)
                await asyncio.sleep(0.001)

        beating = asyncio.create_task(heartbeat())
        async with rt:
            await rt.start()
            states.append(rt.state)
            assert signal.getsignal(signal.SIGTERM) is handler  # the caller owns the signals
            result = await rt.wait()
        states.append(rt.state)
        beating.cancel()
        return rt, result, states, beats

    rt, result, states, beats = run(main())
    assert states == [UnifiedRuntimeState.CREATED, UnifiedRuntimeState.RUNNING, UnifiedRuntimeState.STOPPED]
    assert UnifiedRuntimeState.RUNNING in beats
    assert rt.mode is RuntimeMode.dag and result.ok and result.error is None
    assert result.job_name == "bars" and result.rows_written["store"] > 0
    with sqlite3.connect("mdp-data/bars.db") as db:
        assert db.execute("select count(*) from bars").fetchone()[0] == result.rows_written["store"]
    assert result.nodes["liquid"]["dropped"] > 0
    assert "rows written by 'store'" in result.summary


def test_a_classic_spec_runs_in_classic_mode(workdir):
    settings = UnifiedRuntimeSettings.from_file("configs/classic/demo.yaml", duration=0.5)
    assert settings.expected_mode() is RuntimeMode.classic

    rt, result = run(run_job(settings))
    assert rt.mode is RuntimeMode.classic and result.ok and rt.state is UnifiedRuntimeState.STOPPED
    assert result.rows_written["store"] > 0


def test_a_config_mistake_raises_its_located_diagnostics_and_fails(workdir):
    config = workdir / "bad.yaml"
    config.write_text(
        textwrap.dedent("""\
            name: bad
            dag:
              nodes:
                - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], count: 5}}
                - {id: hi, type: operator.filter, params: {where: "prize > 0"}}
                - {id: out, type: sink.null}
              edges: [[ticks, hi], [hi, out]]
            """),
        encoding="utf-8",
    )
    rt = UnifiedRuntime(UnifiedRuntimeSettings.from_file(config), ComponentRegistry())
    with pytest.raises(ConfigError) as caught:
        run(rt.run())
    assert rt.state is UnifiedRuntimeState.FAILED
    span = caught.value.diagnostics[0].span
    assert (span.file, span.line, span.column) == ("bad.yaml", 5, 56)
    assert str(caught.value).startswith(
        "bad.yaml:5:56: error: unknown field 'prize'\n"
        '    5 |     - {id: hi, type: operator.filter, params: {where: "prize > 0"}}\n'
    )


def test_a_mistake_in_a_dict_config_is_located_in_its_json_text(workdir):
    job = small_job()
    job["dag"]["nodes"][0]["params"]["cuont"] = 3
    with pytest.raises(ConfigError) as caught:
        run(run_job(UnifiedRuntimeSettings.from_dict(job, source="eu_job")))
    text = str(caught.value)
    assert text.startswith(
        "eu_job.json:14:11: error: unknown key 'cuont' in params of provider.synthetic\n"
        '   14 |           "cuont": 3\n'
        "      |           ^~~~~~~\n"
        "  = hint: did you mean 'count'?\n"
    )


def test_stop_drains_an_endless_job(workdir):
    async def main():
        rt = UnifiedRuntime(UnifiedRuntimeSettings.from_dict(endless_job()), ComponentRegistry())
        await rt.start()
        await asyncio.sleep(0.3)
        state = rt.state
        return rt, await rt.stop(), state

    rt, result, state = run(main())
    assert state is UnifiedRuntimeState.RUNNING and rt.state is UnifiedRuntimeState.STOPPED
    assert result.ok and result.nodes["out"]["events_in"] == result.nodes["ticks"]["events_out"] > 0


def test_the_runtime_gauges_count_a_running_job(workdir):
    pytest.importorskip("runtime_lib.runtime_gauges")

    async def main():
        rt = UnifiedRuntime(UnifiedRuntimeSettings.from_dict(endless_job()), ComponentRegistry())
        await rt.start()
        await asyncio.sleep(0.1)
        during = generate_latest().decode()
        await rt.stop()
        return during, generate_latest().decode()

    during, after = run(main())
    assert 'runtime_up{mode="dag"} 1.0' in during and 'runtime_jobs_running{mode="dag"} 1.0' in during
    assert 'runtime_up{mode="dag"} 0.0' in after and 'runtime_jobs_running{mode="dag"} 0.0' in after


def test_cancelling_the_waiting_task_stops_the_job_and_ends_its_record(workdir, tmp_path):
    async def main():
        rt = UnifiedRuntime(UnifiedRuntimeSettings.from_dict(endless_job()), ComponentRegistry())
        await rt.start()
        waiter = asyncio.create_task(rt.wait())
        await asyncio.sleep(0.2)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        return rt

    rt = run(main())
    assert rt.state is UnifiedRuntimeState.STOPPED
    [record] = [json.loads(path.read_text()) for path in (tmp_path / "state" / "jobs").glob("*.json")]
    assert (record["job"], record["state"], record["exit_code"]) == ("small", "stopped", 0)
    assert 'runtime_jobs_running{mode="dag"} 0.0' in generate_latest().decode()


def test_duration_ends_an_endless_job(workdir):
    rt, result = run(run_job(UnifiedRuntimeSettings.from_dict(endless_job(), duration=0.2)))
    assert result.ok and rt.state is UnifiedRuntimeState.STOPPED and result.nodes["ticks"]["events_out"] > 0


def counter_job(operator_type: str, params: dict) -> dict:
    """Counter ticks -> a registered operator -> rising (registered) -> JSON lines, no plugins."""
    return {
        "name": "custom",
        "dag": {
            "nodes": [
                {"id": "src", "type": "provider.custom", "params": {"count": 60}},
                {"id": "pick", "type": operator_type, "params": params},
                {"id": "up", "type": "operator.custom.rising"},
                {"id": "out", "type": "sink.jsonl", "params": {"path": "out.jsonl"}},
            ],
            "edges": [["src", "pick"], ["pick", "up"], ["up", "out"]],
        },
    }


async def drain(ticks):
    """What seed_ops.rising yields for ``ticks``, run the ordinary way."""

    async def stream():
        for tick in ticks:
            yield tick

    return [tick async for tick in seed_ops.rising(stream())]


def custom_registry(step=seed_ops.above) -> ComponentRegistry:
    """A registry with the Counter provider, ``step`` as operator.custom.step, and rising."""
    custom = ComponentRegistry()
    custom.register_provider("provider.custom", seed_ops.Counter)
    custom.register_operator("operator.custom.step", step)
    custom.register_operator("operator.custom.rising", seed_ops.rising)
    return custom


def test_registered_types_run_without_plugins_and_each_registry_gets_its_own_module(workdir):
    ticks = seed_ops.Counter("src", 60).ticks()
    expected = {
        "above": run(drain([t for t in ticks if t["price"] > 101])),
        "below": run(drain([t for t in ticks if t["price"] < 101])),
    }
    for name, step in (("above", seed_ops.above), ("below", seed_ops.below)):
        settings = UnifiedRuntimeSettings.from_dict(counter_job("operator.custom.step", {"threshold": 101}))
        rt, result = run(run_job(settings, registry=custom_registry(step)))
        assert result.ok, result.error
        lines = (workdir / "out.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == expected[name] != []
    assert custom_registry().cache_key() != custom_registry(seed_ops.below).cache_key()
    assert len(list((workdir.parent / "cache").glob("custom-*.py"))) == 2


def test_registered_params_are_checked_at_their_place_in_the_dict(workdir):
    job = counter_job("operator.custom.step", {"threshold": "high"})
    with pytest.raises(ConfigError) as caught:
        run(run_job(UnifiedRuntimeSettings.from_dict(job), registry=custom_registry()))
    assert str(caught.value).startswith(
        "from_dict.json:16:24: error: threshold: input should be a valid number, unable to parse string as a "
        "number in params of operator.custom.step\n"
    )


def test_a_type_no_registry_names_is_unknown(workdir):
    with pytest.raises(ConfigError, match="unknown node type 'provider.custom'"):
        run(run_job(UnifiedRuntimeSettings.from_dict(counter_job("operator.custom.step", {}))))


def test_a_registered_generator_that_awaits_something_else_fails_the_job(workdir):
    custom = custom_registry()
    custom.register_operator("operator.custom.rising", seed_ops.napping)
    settings = UnifiedRuntimeSettings.from_dict(counter_job("operator.custom.step", {"threshold": 0}))
    rt, result = run(run_job(settings, registry=custom))
    assert rt.state is UnifiedRuntimeState.FAILED and result.status == 1
    assert result.error.startswith("async operator 'up' awaited something other than its input")


def nested():
    """A function holding a function defined inside it."""

    def inner(record):
        return record

    return inner


@pytest.mark.parametrize(
    "name, obj, message",
    [
        ("operator.custom.x", lambda record: record, "a lambda cannot be registered"),
        (
            "operator.custom.x",
            nested(),
            "is defined inside a function (tests.compiler.test_api.nested.<locals>.inner)",
        ),
        ("operator.filter", seed_ops.above, "'operator.filter' is a built-in type"),
        ("custom.x", seed_ops.above, "'custom.x' is not a operator type name"),
        ("operator.custom.x", seed_ops.Counter, "'tests.support.seed_ops:Counter' is a type, not a function"),
    ],
)
def test_what_the_generated_module_could_not_import_is_refused_when_registered(name, obj, message):
    with pytest.raises(RegistrationError) as caught:
        ComponentRegistry().register_operator(name, obj)
    assert message in str(caught.value)


def test_a_provider_must_be_a_source():
    with pytest.raises(RegistrationError, match="not a subclass of runtime_lib.sources.base.Source"):
        ComponentRegistry().register_provider("provider.custom", ComponentRegistry)


def test_a_function_typed_into_main_is_refused():
    code = textwrap.dedent("""\
        from compiler.api import RegistrationError, registry
        def keep(record):
            return record
        try:
            registry.register_operator("operator.custom.keep", keep)
        except RegistrationError as exc:
            print(exc)
        """)
    done = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.stdout.startswith("'keep' is defined in __main__ without a file"), done.stdout + done.stderr


def test_the_default_registry_is_one_per_process():
    assert default_registry() is registry
