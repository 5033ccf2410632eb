"""The data access layer: statements and the batched `apply` entry point."""

from analytics.dal.apply import ApplyResult, Rejection, apply, apply_changes

__all__ = ["ApplyResult", "Rejection", "apply", "apply_changes"]
