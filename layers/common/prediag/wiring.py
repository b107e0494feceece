"""Adapters built once per execution environment from the settings (cold start only)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from prediag.analysis import JobPolicy
from prediag.clinic_registry import DynamoClinics
from prediag.errors import ConfigurationError
from prediag.models import Lane
from prediag.queue import LaneQueues, SqsJobQueue
from prediag.quota import DynamoSubmissionQuota, QuotaPolicy
from prediag.repository import DynamoRepository
from prediag.settings import get_settings

if TYPE_CHECKING:
    from prediag.notifier import SnsNotifier


def quiet_aws_client_logs() -> None:
    """The records hold the owner's own words, and botocore logs whole request and response
    bodies at DEBUG: the AWS clients log warnings and errors only, whatever the root level."""
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def repository() -> DynamoRepository:
    return DynamoRepository(get_settings().table_name)


@lru_cache(maxsize=1)
def job_queue() -> SqsJobQueue:
    s = get_settings()
    return SqsJobQueue(
        [
            LaneQueues(Lane.URGENT, s.urgent_queue_url, s.urgent_dlq_url),
            LaneQueues(Lane.NORMAL, s.normal_queue_url, s.normal_dlq_url),
        ]
    )


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier:
    # imported here: only the notify function notifies (it loads the module at import anyway,
    # through prediag.notification); the API and analyze functions need not load it
    from prediag.notifier import SnsNotifier

    topic = get_settings().vet_topic_arn
    if not topic:
        raise ConfigurationError("VET_TOPIC_ARN is not set")
    return SnsNotifier(topic)


@lru_cache(maxsize=1)
def idempotency_store() -> DynamoDBPersistenceLayer:
    """The idempotency table (Powertools layout: key `id`, TTL attribute `expiration`)."""
    table = get_settings().idempotency_table_name
    if not table:
        raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")
    return DynamoDBPersistenceLayer(table_name=table)


@lru_cache(maxsize=1)
def clinics() -> DynamoClinics:
    table = get_settings().clinics_table_name
    if not table:
        raise ConfigurationError("CLINICS_TABLE_NAME is not set")
    return DynamoClinics(table)


@lru_cache(maxsize=1)
def submission_quota() -> DynamoSubmissionQuota:
    s = get_settings()
    if not s.quota_table_name:
        raise ConfigurationError("QUOTA_TABLE_NAME is not set")
    policy = QuotaPolicy(limit=s.submissions_per_window, window_seconds=s.quota_window_seconds)
    return DynamoSubmissionQuota(s.quota_table_name, policy)


def job_policy() -> JobPolicy:
    s = get_settings()
    return JobPolicy(
        max_attempts=s.max_attempts,
        backoff_base_seconds=s.backoff_base_seconds,
        attempt_timeout_seconds=s.attempt_timeout_seconds,
    )


def reset() -> None:
    """Forget the settings and adapters (the environment changed)."""
    get_settings.cache_clear()
    for built in (repository, job_queue, notifier, idempotency_store, clinics, submission_quota):
        built.cache_clear()
