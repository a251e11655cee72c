"""An example mdp plugin package: ``operator.example_scale`` and ``sink.example_csv``.

``components`` holds what the compiler reads (params models, schemas); ``runtime`` holds the
classes the generated module imports, which need only ``runtime_lib`` and the standard library.
"""
