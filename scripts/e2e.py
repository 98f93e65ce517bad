"""End to end through the two Lambda binaries (scripts/e2e.sh builds them), under cargo-lambda's
Runtime API emulator (scripts/local_lambda.py): the replaced key's retirement, the operator
actions and the notifications. scripts/player.py plays Secrets Manager and EventBridge.

Run by scripts/e2e.sh (next to moto, see scripts/with-moto.sh). Every check raises on failure;
the exit code says whether all passed. Secret keys are never printed.

1. A rotation under the defaults leaves the replaced key Active.
2. The audit's sweep, with OLD_KEY_IDLE_HOURS a few seconds' worth, deactivates a replaced key
   nobody used since whose consumer moved to the new key, and keeps (and reports) one a consumer
   keeps using, signing STS calls.
3. Rollback restores the previous key, which authenticates as the user through STS.
4. Cancel ends a stuck rotation (testSecret could not reach STS), and the next rotation works.
5. The SNS messages of 2-4 arrive (moto SNS -> SQS), one per event, without a secret.
6. A scheduled audit writes its report to S3 and one finding per resource to Security Hub; a key
   fixed between two runs has its one finding turn PASSED; a KeyRotationExempt key (with a
   KeyRotationExemptUntil 30 days ahead) is EXEMPT with its reason and day; a secret without
   rotation and a stopped rotation are NON_COMPLIANT.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import player  # noqa: E402
from local_lambda import Emulator, Function  # noqa: E402
from player import ACCOUNT, REGION, client, scheduled_event  # noqa: E402

# 0.002 hours = 7.2 s: the idle window the sweep applies in this run.
IDLE_HOURS = "0.002"
IDLE_SECONDS = 7.2


class Failed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)
    print(f"  ok  {what}")


class World:
    def __init__(self) -> None:
        self.unsigned = os.environ["MOTO_UNSIGNED_ENDPOINT"]
        self.iam = client("iam")
        self.sm = client("secretsmanager")
        # SNS and SQS on the moto server that checks no signature (see scripts/with-moto.sh).
        self.sns = client("sns", self.unsigned, "AKIAUNSIGNED", "unsigned")
        self.sqs = client("sqs", self.unsigned, "AKIAUNSIGNED", "unsigned")

    identity = staticmethod(player.identity)

    def keys(self, user: str) -> dict[str, str]:
        out = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in out}

    def value(self, secret: str, stage: str) -> dict:
        return json.loads(self.sm.get_secret_value(SecretId=secret, VersionStage=stage)["SecretString"])

    def bound_user(self, name: str) -> tuple[str, str]:
        """A user with one key, its secret, and the binding; returns (user, secret ARN)."""
        arn, _ = player.bound_user(self.iam, self.sm, name, f"e2e/{name}", path="/key-rotation/")
        return name, arn

    def start_rotation(self, secret: str) -> str:
        return player.start_rotation(self.sm, secret)

    def rotate(self, rotator: Function, secret: str) -> None:
        try:
            player.rotate(self.sm, rotator, secret)
        except player.StepFailed as e:
            raise Failed(str(e)) from None

    def inbox(self) -> tuple[str, str]:
        topic = self.sns.create_topic(Name="key-rotation-notices")["TopicArn"]
        queue = self.sqs.create_queue(QueueName="key-rotation-notices")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                           Attributes={"RawMessageDelivery": "true"})
        return topic, queue

    def take(self, queue: str) -> list[dict]:
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def closing_endpoint() -> str:
    """An endpoint that closes every connection at once: STS that cannot be reached."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def wait_until(when: float) -> None:
    """Waits for the wall clock to reach `when` (epoch seconds)."""
    while time.time() < when:
        time.sleep(0.1)


def notices(messages: list[dict], secrets: list[str]) -> None:
    text = json.dumps(messages)
    check(not any(s in text for s in secrets), "no secret access key in the notifications")


def exported(w: World, auditor: Function, stopped_secret: str) -> None:
    kms = client("kms")
    s3 = client("s3")
    hub = client("securityhub")
    s3.create_bucket(Bucket="e2e-reports")
    fixed = kms.create_key()["KeyMetadata"]["KeyId"]
    exempt = kms.create_key()["KeyMetadata"]["KeyId"]
    until = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    kms.tag_resource(KeyId=exempt, Tags=[{"TagKey": "KeyRotationExempt", "TagValue": "HSM team rotates it, SEC-42"},
                                         {"TagKey": "KeyRotationExemptUntil", "TagValue": until}])
    plain = w.sm.create_secret(Name="e2e/plain", SecretString="{}")["ARN"]
    # A rotation that stopped: carol's next rotation, never carried on (AWSPENDING left behind).
    w.start_rotation(stopped_secret)
    # The audit function again, now configured to export (a new environment: a new process).
    auditor.restart({"AUDIT_REGIONS": REGION, "REPORT_BUCKET": "e2e-reports", "SECURITY_HUB": "true"})

    def run() -> dict:
        ok, report = auditor.invoke(scheduled_event(), timeout=120)
        if not ok:
            raise Failed(f"audit: {report}")
        return report

    def finding(report: dict, resource_part: str) -> dict:
        return next(f for f in report["findings"] if resource_part in f["resource"])

    def hub_status(resource_part: str) -> list[str]:
        found = hub.get_findings(MaxResults=100)["Findings"]
        return [f["Compliance"]["Status"] for f in found if resource_part in f["Resources"][0]["Id"]]

    report = run()
    stored = report["export"]["s3"]
    body = json.loads(s3.get_object(Bucket="e2e-reports", Key=stored["key"])["Body"].read())
    check(stored["stored"] and len(body["findings"]) == len(report["findings"]),
          f"the whole report is in s3://e2e-reports/{stored['key']}")
    check(finding(report, fixed)["verdict"] == "NON_COMPLIANT" and hub_status(fixed) == ["FAILED"],
          "a key with rotation off: NON_COMPLIANT, one FAILED finding in Security Hub")
    e = finding(report, exempt)
    check(e["verdict"] == "EXEMPT" and "HSM team rotates it, SEC-42" in e["reason"] and until in e["reason"]
          and any(x["resource"] == e["resource"] and x["until"] == until for x in report["exemptions"]),
          "the KeyRotationExempt key (until in 30 days) is EXEMPT with its reason and day, listed in exemptions")
    check(finding(report, plain)["verdict"] == "NON_COMPLIANT", "a secret without rotation: NON_COMPLIANT")
    stopped = finding(report, stopped_secret)
    check(stopped["verdict"] == "NON_COMPLIANT" and "a rotation stopped" in stopped["reason"],
          "a stopped rotation: NON_COMPLIANT")
    kms.enable_key_rotation(KeyId=fixed)
    report = run()
    check(finding(report, fixed)["verdict"] == "COMPLIANT" and hub_status(fixed) == ["PASSED"],
          "fixed between two runs: its one finding turned PASSED")


def main() -> int:
    bin_dir = os.environ.get("E2E_BIN_DIR", "target/ci")
    w = World()
    topic, queue = w.inbox()
    notify = {"NOTIFY_TOPIC_ARN": topic, "AWS_ENDPOINT_URL_SNS": w.unsigned}
    rotator_env = {"TEST_TIMEOUT_SECONDS": "20", **notify}
    # The operator deployment of the same code: Status, Rollback and Cancel.
    operator_env = {**rotator_env, "OPERATOR_ACTIONS": "true"}
    # The rotator's environment for a rotation whose testSecret cannot reach STS (step 4).
    no_sts_env = {"TEST_TIMEOUT_SECONDS": "2", "AWS_ENDPOINT_URL_STS": closing_endpoint()}
    emulator = Emulator()
    print(f"cargo lambda watch --only-lambda-apis on {emulator.address} (log: {emulator.log_path})")
    rotator = emulator.function(os.path.join(bin_dir, "rotate-access-key"), rotator_env)
    auditor = emulator.function(os.path.join(bin_dir, "audit-key-rotation"), {
        "SWEEP": "true", "OLD_KEY_IDLE_HOURS": IDLE_HOURS, "AUDIT_REGIONS": REGION, **notify,
    })
    all_secrets: list[str] = []
    try:
        print("1. a rotation under the defaults leaves the replaced key Active")
        alice, alice_secret = w.bound_user("e2e-alice")
        bob, bob_secret = w.bound_user("e2e-bob")
        a0 = w.value(alice_secret, "AWSCURRENT")
        b0 = w.value(bob_secret, "AWSCURRENT")
        w.rotate(rotator, alice_secret)
        w.rotate(rotator, bob_secret)
        a1 = w.value(alice_secret, "AWSCURRENT")
        b1 = w.value(bob_secret, "AWSCURRENT")
        all_secrets += [v["SecretAccessKey"] for v in (a0, a1, b0, b1)]
        check(w.keys(alice) == {a0["AccessKeyId"]: "Active", a1["AccessKeyId"]: "Active"},
              "alice: new key current, replaced key still Active")
        check(w.identity(a1["AccessKeyId"], a1["SecretAccessKey"]).endswith(f":user/key-rotation/{alice}"),
              "alice's new key authenticates as alice")
        rotated_at = time.time()

        print("2. the sweep deactivates the idle replaced key and keeps the one in use")
        wait_until(rotated_at + IDLE_SECONDS + 1)
        # Alice's consumer has moved: it signs with the new key, after the switch.
        check(w.identity(a1["AccessKeyId"], a1["SecretAccessKey"]).endswith(f":user/key-rotation/{alice}"),
              "alice's consumer signs STS calls with the new key")
        # Bob's consumer still holds the replaced key and signs with it just before the audit.
        check(w.identity(b0["AccessKeyId"], b0["SecretAccessKey"]).endswith(f":user/key-rotation/{bob}"),
              "bob's consumer still signs STS calls with the replaced key")
        ok, report = auditor.invoke(scheduled_event(), timeout=120)
        if not ok:
            raise Failed(f"audit: {report}")
        by_key = {f["resource"]: f for f in report["findings"] if f["kind"] == "iam-access-key"}
        check(w.keys(alice)[a0["AccessKeyId"]] == "Inactive", "alice's idle replaced key is Inactive")
        check((by_key[a0["AccessKeyId"]].get("action") or {}).get("action") == "UpdateAccessKey",
              "the report names the deactivation")
        check(w.keys(bob)[b0["AccessKeyId"]] == "Active", "bob's replaced key, still in use, stays Active")
        reason = by_key[b0["AccessKeyId"]]["reason"]
        check("retiring: still in use" in reason and "by sts in" in reason,
              f"its finding says where it is used: {reason!r}")
        messages = w.take(queue)
        check([(m["detail-type"], m["detail"]["keyIds"]) for m in messages]
              == [("Replaced access key deactivated", [a0["AccessKeyId"]])],
              "one notification: alice's key deactivated")
        notices(messages, all_secrets)

        print("3. Rollback restores the previous key, in the operator deployment only")
        # The rotator, which every team that calls RotateSecret may invoke, refuses any action.
        ok, answer = rotator.invoke({"Action": "Rollback", "SecretId": alice_secret,
                                     "ReactivateKey": True}, timeout=60)
        check(not ok and answer.get("errorType") == "Rotation.OperatorActionsDisabled",
              f"the rotator refuses an operator action ({answer.get('errorType')})")
        check(w.value(alice_secret, "AWSCURRENT")["AccessKeyId"] == a1["AccessKeyId"], "nothing changed")
        rotator.restart(operator_env)
        # The sweep deactivated the previous key: without the operator's word it stays so.
        ok, answer = rotator.invoke({"Action": "Rollback", "SecretId": alice_secret}, timeout=60)
        check(ok and answer.get("Result") == "refused" and "ReactivateKey" in answer.get("Reason", ""),
              f"Rollback without ReactivateKey is refused: {answer}")
        ok, status = rotator.invoke({"Action": "Status", "SecretId": alice_secret}, timeout=60)
        previous = [v for v in status.get("Versions", []) if v.get("AccessKeyId") == a0["AccessKeyId"]]
        check(ok and previous and "sweep" in previous[0].get("DeactivatedBy", ""),
              f"Status says the sweep deactivated it: {previous}")
        ok, answer = rotator.invoke({"Action": "Rollback", "SecretId": alice_secret,
                                     "ReactivateKey": True}, timeout=60)
        if not ok:
            raise Failed(f"Rollback: {answer}")
        current = w.value(alice_secret, "AWSCURRENT")
        check(current["AccessKeyId"] == a0["AccessKeyId"], "AWSCURRENT holds the previous key again")
        check(w.keys(alice) == {a0["AccessKeyId"]: "Active", a1["AccessKeyId"]: "Inactive"},
              "the previous key is Active, the rolled-back one Inactive")
        check(w.identity(current["AccessKeyId"], current["SecretAccessKey"]) == f"arn:aws:iam::{ACCOUNT}:user/key-rotation/{alice}",
              "the restored key authenticates as alice through STS")
        messages = w.take(queue)
        check([m["detail-type"] for m in messages] == ["Access key rotation rolled back"],
              "one notification: the rollback")
        notices(messages, all_secrets)

        print("4. Cancel ends a stuck rotation")
        carol, carol_secret = w.bound_user("e2e-carol")
        c0 = w.value(carol_secret, "AWSCURRENT")
        token = w.start_rotation(carol_secret)
        rotator.restart(no_sts_env)
        for step in ("createSecret", "setSecret"):
            done = player.step(rotator, carol_secret, token, step)
            if not done.ok:
                raise Failed(f"{step}: {done.result}")
        done = player.step(rotator, carol_secret, token, "testSecret")
        check(not done.ok, f"testSecret fails without STS ({done.result.get('errorType')})")
        rotator.restart(operator_env)
        pending = json.loads(w.sm.get_secret_value(SecretId=carol_secret, VersionId=token,
                                                   VersionStage="AWSPENDING")["SecretString"])
        all_secrets += [c0["SecretAccessKey"], pending["SecretAccessKey"]]
        ok, answer = rotator.invoke({"Action": "Cancel", "SecretId": carol_secret}, timeout=60)
        if not ok:
            raise Failed(f"Cancel: {answer}")
        stages = w.sm.describe_secret(SecretId=carol_secret)["VersionIdsToStages"]
        check(all("AWSPENDING" not in s for s in stages.values()), "AWSPENDING removed")
        check(w.keys(carol) == {c0["AccessKeyId"]: "Active"}, "the stuck attempt's key deleted")
        # Rotation steps go to the rotation function; the operator function refuses them.
        rotator.restart(rotator_env)
        w.rotate(rotator, carol_secret)
        c1 = w.value(carol_secret, "AWSCURRENT")
        all_secrets.append(c1["SecretAccessKey"])
        check(c1["AccessKeyId"] != c0["AccessKeyId"]
              and w.identity(c1["AccessKeyId"], c1["SecretAccessKey"]).endswith(f":user/key-rotation/{carol}"),
              "the next rotation works")
        messages = w.take(queue)
        check([(m["detail-type"], m["detail"]["keyIds"]) for m in messages]
              == [("Access key rotation cancelled", [pending["AccessKeyId"]])],
              "one notification: the cancel")
        notices(messages, all_secrets)

        print("6. the report in S3, the findings in Security Hub")
        exported(w, auditor, carol_secret)

        print("7. remove-root-keys refuses what it must not touch, before any AssumeRoot")
        # moto has no sts:AssumeRoot: what the binary decides before it (the event, the
        # Organization, the management account) runs here; the root session is covered with mocks.
        root = emulator.function(os.path.join(bin_dir, "remove-root-keys"),
                                 {"REMEDIATE_ROOT_KEYS": "true", **notify})
        ok, answer = root.invoke({"Account": "12345"}, timeout=60)
        check(not ok and answer.get("errorType") == "RootKeys.InvalidEvent",
              f"a malformed account id is refused ({answer.get('errorType')})")
        ok, answer = root.invoke({"Account": "999999999999"}, timeout=60)
        check(not ok and answer.get("errorType") == "RootKeys.AccountNotInOrganization",
              f"an account outside the Organization is refused ({answer.get('errorType')})")
        ok, answer = root.invoke({"Account": ACCOUNT}, timeout=60)
        check(ok and [(f["account"], f["status"]) for f in answer.get("findings", [])] == [(ACCOUNT, "SKIPPED")]
              and answer.get("keys_deleted") == 0,
              f"the management account is skipped, never opened: {answer}")
        check(w.take(queue) == [], "no notification")

        # Every line every process of the functions wrote, and the emulator's own log.
        logs = "\n".join(line.text for fn in (rotator, auditor, root) for line in fn.all_logs())
        with open(emulator.log_path) as f:
            logs += f.read()
        check(not any(s in logs for s in all_secrets), "no secret access key in any log line")
    except Failed as e:
        print(f"  FAILED  {e}", file=sys.stderr)
        for fn in (rotator, auditor):
            for line in fn.logs()[-10:]:
                print(f"    {fn.name}: {line.text[:300]}", file=sys.stderr)
        return 1
    finally:
        emulator.close()
    print("e2e: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
