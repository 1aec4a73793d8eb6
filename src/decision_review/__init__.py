"""decision-review: the engine between a credit or fraud model and the people who review its cases."""

__version__ = "0.1.0"
