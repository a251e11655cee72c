"""Optimisation passes: an ordered tuple of pure functions ``Pipeline -> Pipeline``."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Pipeline
from .fuse_stateless_chains import fuse_stateless_chains
from .prune_dead_nodes import prune_dead_nodes

PASSES = (prune_dead_nodes, fuse_stateless_chains)


def optimize(pipeline: Pipeline, passes: Sequence = PASSES) -> Pipeline:
    """Apply each pass in order; the input pipeline is never modified."""
    for apply in passes:
        pipeline = apply(pipeline)
    return pipeline
