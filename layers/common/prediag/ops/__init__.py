"""Operating the pipeline: one module per operation. One implementation serves the admin routes
of the API and the `prediag` CLI; only the clients the adapters are bound to differ."""

from prediag.ops.clean import CleanReport, clean
from prediag.ops.deadletters import LetterItem, sweep
from prediag.ops.jobs import (
    JobDetail,
    JobPage,
    JobQuery,
    JobSummary,
    list_by_status,
    list_jobs,
    read_job,
)
from prediag.ops.pause import EsmControl, EventSourceMapping, analysis_state, set_analysis_enabled
from prediag.ops.redrive import RedriveItem, RedriveReport, redrive, stranded
from prediag.ops.stats import LaneStats, QueueStats, queue_stats, with_analysis_state
from prediag.ops.topology import Adapters, OpsError, Topology

__all__ = [
    "Adapters",
    "CleanReport",
    "EsmControl",
    "EventSourceMapping",
    "JobDetail",
    "JobPage",
    "JobQuery",
    "JobSummary",
    "LaneStats",
    "LetterItem",
    "OpsError",
    "QueueStats",
    "RedriveItem",
    "RedriveReport",
    "Topology",
    "analysis_state",
    "clean",
    "list_by_status",
    "list_jobs",
    "queue_stats",
    "read_job",
    "redrive",
    "set_analysis_enabled",
    "stranded",
    "sweep",
    "with_analysis_state",
]
