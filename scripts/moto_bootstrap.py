"""Prepares a fresh moto server for the tests and the demo, then turns signature checks on.

While moto still accepts anything, it creates an admin user (account 123456789012) whose key
signs every later call, a role in a second account (111111111111) that the first may assume
for cross-account rotations, and an Organization managed by the first account with two member
accounts, each with the role an Organization-wide audit assumes (KeyRotationAudit). Then it asks moto to check every signature from now on, so that a
wrong SecretAccessKey is refused (SignatureDoesNotMatch) as AWS refuses it.

Prints shell `export` lines for the harness to evaluate.
"""

import json
import sys
import time
import urllib.request

import boto3

ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"
ROLE_NAME = "KeyRotationCrossAccount"
ORG_ROLE_NAME = "KeyRotationAudit"


def client(endpoint, service, key="bootstrap", secret="bootstrap", token=None):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def wait_ready(endpoint, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit(f"moto did not answer at {endpoint} within {seconds}s")
            time.sleep(0.1)


def main(endpoint):
    wait_ready(endpoint)
    iam = client(endpoint, "iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=ALLOW_ALL)
    admin = iam.create_access_key(UserName="admin")["AccessKey"]

    # A role in the second account, made with that account's credentials (moto derives the
    # account of a request from its credentials).
    bootstrap = client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/bootstrap", RoleSessionName="bootstrap"
    )["Credentials"]
    other = client(
        endpoint,
        "iam",
        bootstrap["AccessKeyId"],
        bootstrap["SecretAccessKey"],
        bootstrap["SessionToken"],
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = other.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    other.put_role_policy(RoleName=ROLE_NAME, PolicyName="admin", PolicyDocument=ALLOW_ALL)
    members = organization(endpoint, trust)

    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        if resp.status != 200:
            raise SystemExit(f"moto refused to turn auth on: {resp.status}")

    print(f"export MOTO_ENDPOINT={endpoint}")
    print(f"export MOTO_ADMIN_ACCESS_KEY_ID={admin['AccessKeyId']}")
    print(f"export MOTO_ADMIN_SECRET_ACCESS_KEY={admin['SecretAccessKey']}")
    print(f"export MOTO_CROSS_ACCOUNT_ROLE_ARN={role}")
    print(f"export MOTO_ORG_MEMBER_ACCOUNTS={','.join(members)}")
    print(f"export MOTO_ORG_ROLE_NAME={ORG_ROLE_NAME}")


def organization(endpoint, trust):
    """An Organization of the admin's account with two member accounts, each holding the audit
    role (trusting the admin's account, allowed everything). Returns the members' ids."""
    orgs = client(endpoint, "organizations")
    orgs.create_organization(FeatureSet="ALL")
    members = []
    for n in (1, 2):
        status = orgs.create_account(Email=f"member-{n}@example.com", AccountName=f"member-{n}")
        members.append(status["CreateAccountStatus"]["AccountId"])
    for account in members:
        seed = client(endpoint, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/bootstrap", RoleSessionName="bootstrap"
        )["Credentials"]
        iam = client(endpoint, "iam", seed["AccessKeyId"], seed["SecretAccessKey"], seed["SessionToken"])
        iam.create_role(RoleName=ORG_ROLE_NAME, AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=ORG_ROLE_NAME, PolicyName="audit", PolicyDocument=ALLOW_ALL)
    return members


if __name__ == "__main__":
    main(sys.argv[1])
