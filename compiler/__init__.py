"""mdp: compile YAML market-data pipelines into standalone Python modules."""

__version__ = "0.1.0"
