"""Every boto3 client of the product, made in one place so they all find their region the same way.

botocore reads only ``AWS_DEFAULT_REGION`` (and the profile's ``region``); ``AWS_REGION``, which the other AWS
SDKs, the Lambda runtime and this project's compose and k8s files set, it ignores, and an SQS client then
fails with NoRegionError. Here the region is ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the one an
AWS endpoint URL names (``https://sqs.<region>.amazonaws.com/...``), else botocore's own chain (profile).
Endpoints (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``) and credentials stay botocore's."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlparse

import boto3

# sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>..., and the
# China partition's .amazonaws.com.cn
_REGION_IN_HOST = re.compile(r"(?:^|[.-])([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d)\.(?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?$")


def region_from_url(url: str | None) -> str | None:
    """The AWS region an AWS service URL names (None for any other host: ElasticMQ, MinIO, moto)."""
    if not url:
        return None
    host = urlparse(url).hostname or ""
    match = _REGION_IN_HOST.search(host)
    return match.group(1) if match else None


def region(url: str | None = None) -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION, else the region in ``url``; None leaves it to botocore."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or region_from_url(url)


def client(service: str, *, url: str | None = None, config: Any = None) -> Any:
    """``boto3.client(service)`` with the region above. ``url``: the queue or endpoint the client is for."""
    return boto3.client(service, region_name=region(url), config=config)
