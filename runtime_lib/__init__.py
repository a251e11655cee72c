"""The small runtime that mdp-generated modules run on.

It owns sources, stateful operators, sinks, the run loop and metrics. It imports only the
standard library and prometheus_client, never the compiler or its dependencies, so a generated
module runs wherever ``runtime_lib`` is installed.
"""

__version__ = "0.1.0"
