"""A local context for compiled jobs that also records the size of every batch a sink receives."""

from __future__ import annotations

from runtime_lib.context import LocalContext


class BatchContext(LocalContext):
    """A local context that also records the size of every batch each sink receives."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: dict[str, list[int]] = {}

    def sink(self, node_id, node_type, cls, **params):
        collect = super().sink(node_id, node_type, cls, **params)
        sizes = self.batch_sizes.setdefault(node_id, [])

        def record(batch):
            sizes.append(len(batch))
            collect(batch)

        return record
