"""Classic specs: the older linear format, lowered to the DAG form before anything else happens."""

from __future__ import annotations

from .lower import lower_classic
from .spec import ClassicJobSpec, ClassicOverrides, ClassicSpec

__all__ = ["ClassicJobSpec", "ClassicOverrides", "ClassicSpec", "lower_classic"]
