"""A plugin function as a config names it: ``tests.support.plugin_example:mid_price``."""


def mid_price(record: dict) -> dict | None:
    """Add the mid price; drop records without a two-sided quote (return None)."""
    if "bid" not in record or "ask" not in record:
        return None
    return {**record, "mid": (record["bid"] + record["ask"]) / 2}
