"""The Python peer of the cold-start benchmark: what a Python rotation Lambda does at init.

It imports boto3 and creates the IAM, Secrets Manager, STS and KMS clients (at module level, as
such functions do), then asks the Runtime API for its first event, which ends the cold start.
"""

import os
import urllib.request

import boto3

iam = boto3.client("iam")
secretsmanager = boto3.client("secretsmanager")
sts = boto3.client("sts")
kms = boto3.client("kms")

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as response:
    response.read()
