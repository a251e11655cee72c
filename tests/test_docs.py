"""Every ``>>>`` example in the compiler and runtime docstrings runs and stays true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import compiler
import runtime_lib


def _modules() -> list[str]:
    names = []
    for package in (compiler, runtime_lib):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
