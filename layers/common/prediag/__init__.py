"""prediag: the shared package of the pre-diagnosis pipeline (models, rules, adapters, services)."""

__version__ = "0.1.0"
