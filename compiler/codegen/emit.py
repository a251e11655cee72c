"""Assemble the generated module from the plan: templates, then black, then a parse check."""

from __future__ import annotations

import ast
import gc
import sys
from importlib import resources

import black
import jinja2

from .. import __version__
from ..components.keys import optional_fields
from ..ir import Node
from ..plan import Plan
from .chain import ChainWriter, MemberCount, drops
from .env_refs import with_env_refs
from .format import format_module
from .literals import call, comment_text, py_literal, raw
from .names import Names
from .run_defaults import run_defaults
from .state_nodes import saved_state_call, state_comment

_CORE_IMPORT = "from runtime_lib.job import main, run_local_job"
# Names the module skeleton and the loops use at module level; runtime classes never take them.
_MODULE_NAMES = (
    "main",
    "run_local_job",
    "build",
    "run_local",
    "math",
    "itemgetter",
    "stable_hash",
    "env_text",
    "JOB_NAME",
    "JOB_MODE",
    "CONFIG_PATH",
    "CONFIG_SHA256",
    "RUN_DEFAULTS",
)
BLACK_MODE = black.Mode(line_length=110)  # the project's own, in pyproject.toml


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("mdp_templates").joinpath(name).read_text(encoding="utf-8")
    )
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = py_literal
    env.filters["comment"] = comment_text
    return env


class _ModuleWriter:
    """Collects the pieces of one module while walking the plan."""

    def __init__(self, plan: Plan, env: jinja2.Environment) -> None:
        self.plan = plan
        self.env = env
        self.pipeline = plan.pipeline
        self.names = Names()
        self.imports: set[str] = {_CORE_IMPORT}
        self.classes: dict[str, str] = {}
        for reserved in _MODULE_NAMES:
            self.names.claim(reserved)
        self.constructions: list[dict] = []
        self.functions: list[str] = []
        self.wiring: list[str] = []
        self.entry = {n.id: self.names.take("to", n.id) for n in plan.nodes if n.kind != "provider"}

    def _runtime_class(self, node: Node) -> str:
        """The local name of the node's runtime class, imported under an alias if another class
        (a plugin's, say) or a name the module uses already has that name."""
        if node.component.runtime not in self.classes:
            module, cls = node.component.runtime.split(":")
            local = self.names.claim(cls)
            self.imports.add(f"from {module} import {cls}" + (f" as {local}" if local != cls else ""))
            self.classes[node.component.runtime] = local
        return self.classes[node.component.runtime]

    def _kwargs(self, node: Node) -> dict:
        schema = node.input_schema
        with optional_fields(
            name for name, always in (schema.fields.items() if schema else ()) if not always
        ):
            kwargs = with_env_refs(node.component.kwargs(node.params), node.id)
        for value in kwargs.values():
            self.imports.update(getattr(value, "imports", ()))
        return kwargs

    def _construct(self, node: Node, *lines: str) -> None:
        self.constructions.append(
            {"location": node.location, "id": node.id, "type": node.type, "lines": lines}
        )

    def _targets(self, node: Node) -> list[str]:
        """Push functions of the successors fed by the node's main output."""
        return [self.entry[s.id] for s in self.pipeline.main_successors(node.id)]

    def _output_of(self, node: Node) -> str:
        """The function that receives a source's output (a fan-out if it feeds several nodes)."""
        targets = self._targets(node)
        if len(targets) == 1:
            return targets[0]
        name = self.names.take("fanout", node.id)
        self.functions.append(self.env.get_template("fanout.py.j2").render(fn_name=name, targets=targets))
        return name

    def provider(self, node: Node) -> None:
        cls = self._runtime_class(node)
        self._construct(
            node,
            call("ctx.source", node.id, node.type, raw(cls), **self._kwargs(node)),
            saved_state_call(node),
        )
        self.wiring.append(call("ctx.connect", node.id, raw(self._output_of(node))))

    def sink(self, node: Node) -> None:
        cls = self._runtime_class(node)
        code = f"{self.entry[node.id]} = " + call(
            "ctx.sink", node.id, node.type, raw(cls), **self._kwargs(node)
        )
        self._construct(node, code)

    def stateful(self, node: Node) -> None:
        cls = self._runtime_class(node)
        var = self.names.take("node", node.id)
        self._construct(
            node,
            f"{var} = " + call("ctx.operator", node.id, node.type, raw(cls), **self._kwargs(node)),
            saved_state_call(node),
        )
        out_fn = self.names.take("from", node.id)
        template = self.env.get_template("stateful.py.j2")
        side_outputs = [(port, self.entry[succ.id]) for port, succ in self.pipeline.port_successors(node.id)]
        self.functions.append(
            template.render(
                fn_name=self.entry[node.id],
                out_fn=out_fn,
                node_var=var,
                targets=self._targets(node),
                side_outputs=side_outputs,
                batch_limit=node.component.batch_limit(node.params),
            )
        )
        self.wiring.append(call("ctx.connect", node.id, raw(out_fn)))

    def stateless(self, node: Node) -> None:
        members = node.chain()
        targets = {s.id: self.entry[s.id] for s in self.pipeline.successors(node.id)}
        writer = ChainWriter(self.names, members[0].input_schema, targets)
        fail_var = self.names.take("fail", node.id)
        last_dropper = max((i for i, m in enumerate(members) if drops(m)), default=None)
        for index, member in enumerate(members):
            stats_var = self.names.take("stats", member.id)
            lines = [f"{stats_var} = " + call("ctx.stats", member.id, member.type)]
            if member is members[-1]:
                lines.append(f"{fail_var} = " + call("ctx.failures", tuple(m.id for m in members)))
            self._construct(member, *lines)
            summary = member.component.inline.summary(member.params)
            comment = comment_text(f"{member.location} node {member.id!r}: {summary}")
            writer.add(member, stats_var, comment, count_drops=index != last_dropper)
        code = writer.finish()
        self.imports.update(code.imports)
        counters = _counter_lines(code.members)
        counts_set_aside = counters[0].startswith("set_aside")
        self.functions.append(
            self.env.get_template("fused.py.j2").render(
                fn_name=self.entry[node.id],
                errors_before=f"{code.members[0].stats_var}.errors" if counts_set_aside else None,
                members=[repr(m.id) for m in members],
                setup=code.setup,
                drop_vars=[m.drop_var for m in code.members if m.drop_var],
                body=code.body,
                fail_var=fail_var,
                outputs=code.outputs,
                counters=counters,
            )
        )

    def render(self) -> str:
        for node in self.plan.nodes:
            if node.kind == "provider":
                self.provider(node)
            elif node.kind == "sink":
                self.sink(node)
            elif node.stateless:
                self.stateless(node)
            else:
                self.stateful(node)
        pipeline = self.pipeline
        return self.env.get_template("module.py.j2").render(
            version=__version__,
            config_path=pipeline.config_path,
            sha256=pipeline.config_sha256,
            job_name=pipeline.name,
            mode=pipeline.mode,
            plan_lines=_plan_lines(self.plan),
            imports=_sorted_imports(self.imports),
            constructions=self.constructions,
            functions=self.functions,
            wiring=self.wiring,
            run_defaults=run_defaults(pipeline.run_defaults),
            state_lines=state_comment(self.plan),
        )


def _counter_lines(members: list[MemberCount]) -> list[str]:
    """Per-member counter updates, computed once per batch after the loop.

    Records set aside because an expression raised are counted as errors of the first member
    and leave the chain there, so every member balances: in = out + dropped (+ errors).
    """
    lines, flowing = [], "n"
    for index, member in enumerate(members):
        passed = f"{flowing} - set_aside" if index == 0 else flowing
        if member.drop_var:
            out = f"{passed} - {member.drop_var}"
            lines.append(f"{member.stats_var}.dropped += {member.drop_var}")
        elif member.derived:  # the last member that drops: what it did not pass on, it dropped
            out = "n_out"
            lines.append(f"{member.stats_var}.dropped += {passed} - n_out")
        else:
            out = passed
        if index == len(members) - 1:
            out = "n_out"
        lines.append(f"{member.stats_var}.add({flowing}, {out})")
        flowing = out
    if any("set_aside" in line for line in lines):  # a lone member ending the chain needs no count
        lines.insert(0, f"set_aside = {members[0].stats_var}.errors - errors_before")
    return lines


def _plan_lines(plan: Plan) -> list[str]:
    lines = []
    for node in plan.nodes:
        ports = {n.id: port for port, n in plan.pipeline.port_successors(node.id)}
        succ = ", ".join(
            f"{s.id!r} ({ports[s.id]})" if s.id in ports and not node.splits else repr(s.id)
            for s in plan.pipeline.successors(node.id)
        )
        what = "fused: " + " -> ".join(repr(m.id) for m in node.members) if node.members else node.type
        lines.append(f"{node.id!r} ({what})" + (f" -> {succ}" if succ else ""))
    return lines


def _sorted_imports(imports: set[str]) -> list[str]:
    """Standard-library imports first, then runtime_lib, then plugins, each group sorted."""

    def group(line: str) -> int:
        package = line.split()[1].split(".")[0]
        if package == "runtime_lib":
            return 1
        return 0 if package in sys.stdlib_module_names else 2

    ordered = sorted(imports, key=lambda line: (group(line), line))
    result, previous = [], None
    for line in ordered:
        if previous is not None and group(line) != previous:
            result.append("")
        result.append(line)
        previous = group(line)
    return result


def render(plan: Plan) -> str:
    """The module for ``plan`` as the templates write it, before formatting."""
    return _ModuleWriter(plan, _environment()).render()


def finish(source: str) -> str:
    """A rendered module formatted with black, after proving that it parses."""
    formatted = format_module(source, BLACK_MODE)
    collecting = gc.isenabled()
    gc.disable()  # the syntax tree holds no cycles: collecting while it is built only costs time
    try:
        ast.parse(formatted)
    finally:
        if collecting:
            gc.enable()
    return formatted


def emit(plan: Plan) -> str:
    """Render the module for ``plan``, format it with black, and prove that it parses."""
    return finish(render(plan))
