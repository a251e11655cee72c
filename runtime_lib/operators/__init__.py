"""Stateful operators: pipeline breakers with ``process``, ``on_timer`` and ``flush``."""
