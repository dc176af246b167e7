"""tsync: turn Tripleseat events into Revel POS orders, exactly once each."""

__version__ = "0.1.0"
