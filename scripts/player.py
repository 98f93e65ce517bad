"""Plays, against moto, the AWS services that invoke the two functions; shared by scripts/demo.py,
scripts/e2e.py and bench/bench.py.

  - Secrets Manager: `start_rotation` (RotateSecret as the service does it before createSecret),
    `step` (one of the four steps sent to rotate-access-key), `end_rotation` (AWSPENDING removed
    after finishSecret), `rotate` (all of it);
  - EventBridge: `scheduled_event`, the event of the audit's schedule;
  - an IAM administrator: `bound_user`, a user with one key, its secret and the binding tag.

The Rust tests have the same player in tests/common (they call the handlers in-process; this one
invokes the binaries through scripts/local_lambda.py). Where moto differs from the service, both
do what CONTRACT.md §6 says.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# A Lambda moto does not know: RotateSecret records the pending version, then fails to find it.
ROTATOR_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate-access-key"


class StepFailed(Exception):
    def __init__(self, step: str, secret: str, result: dict):
        super().__init__(f"{step} of {secret}: {result.get('errorType')}: {result.get('errorMessage')}")
        self.step, self.result = step, result


def client(service: str, endpoint: str | None = None, key: str | None = None, secret: str | None = None,
           retries: int = 3):
    """A boto3 client for moto, signed with the admin key unless another is given."""
    return boto3.client(
        service,
        endpoint_url=endpoint or os.environ["MOTO_ENDPOINT"],
        region_name=REGION,
        aws_access_key_id=key or os.environ["MOTO_ADMIN_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["MOTO_ADMIN_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": retries, "mode": "standard"}, max_pool_connections=32),
    )


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity(key: str, secret: str) -> str:
    """GetCallerIdentity signed with the given key: the ARN, or "error <code>"."""
    try:
        return client("sts", key=key, secret=secret, retries=2).get_caller_identity()["Arn"]
    except ClientError as e:
        return "error " + e.response["Error"]["Code"]


def bound_user(iam, sm, user: str, secret_name: str, path: str = "/", description: str | None = None) -> tuple[str, dict]:
    """A user with one access key, a secret holding it (tagged for the rotator) and the user's
    binding to that secret, as an IAM administrator sets it. Returns (secret ARN, value)."""
    iam.create_user(UserName=user, Path=path)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    value = {"UserName": user, "AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"],
             "CreateDate": rfc3339(key["CreateDate"])}
    arn = sm.create_secret(Name=secret_name, SecretString=json.dumps(value),
                           Tags=[{"Key": "RotationType", "Value": "iam-access-key"}],
                           **({"Description": description} if description else {}))["ARN"]
    iam.tag_user(UserName=user, Tags=[{"Key": "KeyRotationSecret", "Value": arn}])
    return arn, value


def start_rotation(sm, secret: str) -> str:
    """What Secrets Manager does before createSecret: a version with a new token, stage
    AWSPENDING, no value. Returns the token."""
    token = str(uuid.uuid4())
    try:
        sm.rotate_secret(SecretId=secret, ClientRequestToken=token, RotationLambdaARN=ROTATOR_ARN,
                         RotationRules={"AutomaticallyAfterDays": 90})
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    stages = sm.describe_secret(SecretId=secret).get("VersionIdsToStages", {})
    if stages.get(token) != ["AWSPENDING"]:
        raise RuntimeError(f"RotateSecret left no AWSPENDING version for the token: {stages}")
    return token


@dataclass
class Outcome:
    step: str
    ok: bool
    result: Any
    seconds: float


def step(fn, secret: str, token: str, name: str, timeout: float = 60.0) -> Outcome:
    """One rotation step sent to the rotator (a scripts/local_lambda.py Function)."""
    t0 = time.monotonic()
    ok, result = fn.invoke({"Step": name, "SecretId": secret, "ClientRequestToken": token}, timeout=timeout)
    return Outcome(name, ok, result, time.monotonic() - t0)


def end_rotation(sm, secret: str, token: str) -> None:
    """Real Secrets Manager removes AWSPENDING once finishSecret succeeds; moto does not."""
    sm.update_secret_version_stage(SecretId=secret, VersionStage="AWSPENDING", RemoveFromVersionId=token)


def rotate(sm, fn, secret: str, timeout: float = 60.0, token: str | None = None,
           on_step: Callable[[Outcome], None] | None = None, before_step: Callable[[str], None] | None = None) -> str:
    """A whole rotation: RotateSecret, the four steps, AWSPENDING removed. Raises StepFailed at
    the first failing step (after `on_step` has seen it). Returns the token."""
    token = token or start_rotation(sm, secret)
    for name in STEPS:
        if before_step:
            before_step(name)
        outcome = step(fn, secret, token, name, timeout)
        if on_step:
            on_step(outcome)
        if not outcome.ok:
            raise StepFailed(name, secret, outcome.result)
    end_rotation(sm, secret, token)
    return token


def scheduled_event(rule: str = "audit-key-rotation-daily") -> dict:
    """The event EventBridge sends on the audit's schedule."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": rfc3339(dt.datetime.now(dt.timezone.utc)), "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"], "detail": {},
    }  # fmt: skip
