"""The demo behind `make demo`: both Lambda binaries, run locally against moto.

Plays the two services that invoke the functions in AWS (scripts/player.py):
  - Secrets Manager: RotateSecret, then createSecret, setSecret, testSecret and finishSecret
    sent to `rotate-access-key`, then AWSPENDING removed, as the service does (twice, to show
    what the second rotation does with the key the first one replaced);
  - EventBridge: a "Scheduled Event" sent to `audit-key-rotation`, after seeding KMS keys of
    every class the audit tells apart.
The binaries run under cargo-lambda's Runtime API emulator (`cargo lambda watch
--only-lambda-apis`, scripts/local_lambda.py). Secret keys are never printed.

Needs MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID and MOTO_ADMIN_SECRET_ACCESS_KEY (as
scripts/with-moto.sh exports them) and DEMO_BIN_DIR (default target/debug).
Exit status: 0 when both rotations succeed, 1 otherwise (the audit never fails the demo).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from botocore.exceptions import ClientError, EndpointConnectionError

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import player  # noqa: E402
from local_lambda import Emulator, Function  # noqa: E402
from player import ACCOUNT, REGION, rfc3339  # noqa: E402

USER = "demo-alice"
SECRET = "demo/alice-access-key"
REPORT_BUCKET = "demo-key-rotation-reports"
ROTATOR_ENV = {"OLD_KEY_ACTION": "deactivate", "TEST_TIMEOUT_SECONDS": "20"}
STEP_TIMEOUT = 30.0
AUDIT_TIMEOUT = 60.0
# Fields of the binaries' log lines shown in the digest (the others repeat what the demo prints).
LOG_FIELDS = (
    "user", "key_id", "previous_key_id", "identity", "attempts", "reason", "existed",
    "grace_days", "code", "backoff_ms", "verdict", "resource", "error_type",
)  # fmt: skip

started = time.monotonic()


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 76 - len(title)))


class RotationFailed(Exception):
    pass


class Aws:
    def __init__(self):
        self.key = os.environ["MOTO_ADMIN_ACCESS_KEY_ID"]
        self.iam = self.client("iam")
        self.sm = self.client("secretsmanager")
        self.kms = self.client("kms")

    @staticmethod
    def client(service: str):
        return player.client(service, retries=2)

    identity = staticmethod(player.identity)

    def keys(self) -> list[dict]:
        pages = self.iam.get_paginator("list_access_keys").paginate(UserName=USER)
        return sorted(
            (k for page in pages for k in page["AccessKeyMetadata"]),
            key=lambda k: k["CreateDate"],
        )

    def secret_value(self, stage: str) -> dict | None:
        try:
            value = self.sm.get_secret_value(SecretId=SECRET, VersionStage=stage)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return json.loads(value["SecretString"])

    def pending_value(self, token: str) -> dict | None:
        try:
            value = self.sm.get_secret_value(SecretId=SECRET, VersionId=token, VersionStage="AWSPENDING")
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return json.loads(value["SecretString"])

    def stages(self) -> dict[str, list[str]]:
        return self.sm.describe_secret(SecretId=SECRET).get("VersionIdsToStages", {})


def unquote(value) -> str:
    """tracing's JSON renders Debug-formatted fields (`?x`) as `"x"` or `Some("x")`."""
    text = value if isinstance(value, str) else json.dumps(value)
    if text.startswith("Some(") and text.endswith(")"):
        text = text[5:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


def digest(lines, limit: int = 8) -> None:
    """A short view of what the binary wrote: structured log lines and its EMF metrics."""
    shown = 0
    hidden = 0
    for line in lines:
        doc = line.json()
        if doc is None:
            if line.text.strip():
                say(f"      {line.stream}: {line.text[:150]}")
            continue
        if "_aws" in doc:
            metrics = [m["Name"] for cw in doc["_aws"].get("CloudWatchMetrics", []) for m in cw.get("Metrics", [])]
            counts = [f"{m}={doc[m]}" for m in metrics if doc.get(m) and m not in ("StepSucceeded", "StepFailed")]
            ns = doc["_aws"].get("CloudWatchMetrics", [{}])[0].get("Namespace", "?")
            say(f"      emf  {ns}: " + (", ".join(counts) if counts else "no counts"))
            continue
        fields = doc.get("fields", {})
        message = str(fields.get("message", ""))
        # The runtime also logs the returned error's Debug form; the demo shows the error already.
        if message.startswith(("RotationError {", "Diagnostic {")):
            continue
        if shown >= limit:
            hidden += 1
            continue
        extra = " ".join(f"{k}={unquote(fields[k])}" for k in LOG_FIELDS if unquote(fields.get(k, "")))
        first, *rest = message.splitlines() or [""]
        say(f"      log  {doc.get('level', '?'):5} {first}" + (f"  [{extra}]" if extra else ""))
        for more in rest:
            say(f"                 {more}")
        shown += 1
    if hidden:
        say(f"      log  … {hidden} more line(s)")


def show_keys(aws: Aws, roles: dict[str, str]) -> None:
    for k in aws.keys():
        role = roles.get(k["AccessKeyId"], "")
        say(f"      key  {k['AccessKeyId']}  {k['Status']:8}  created {rfc3339(k['CreateDate'])}  {role}")


def seed_user(aws: Aws) -> dict:
    section("Seed: an IAM user whose access key lives in a secret")
    # The binding (user tag KeyRotationSecret): only an IAM administrator may let a secret
    # rotate a user's keys.
    arn, value = player.bound_user(aws.iam, aws.sm, USER, SECRET,
                                   description=f"Access key of {USER}, rotated by rotate-access-key")
    say(f"  IAM user    {USER}: access key {value['AccessKeyId']} (Active)")
    say(f"  secret      {SECRET}  (tag RotationType=iam-access-key)")
    say(f"              {arn}")
    say(f"  binding     user tag KeyRotationSecret={arn}")
    say("              (set by an IAM administrator: a secret writer cannot aim the rotator at another user)")
    say("              value: the create-access-key output {UserName, AccessKeyId, SecretAccessKey, CreateDate}")
    return value


def rotate(aws: Aws, rotator: Function, number: int) -> None:
    section(f"Rotation {number}: Secrets Manager drives rotate-access-key through four steps")
    current = aws.secret_value("AWSCURRENT") or {}
    old_key = current.get("AccessKeyId")
    roles = {old_key: "(AWSCURRENT)"}
    if current.get("PreviousAccessKeyId"):
        roles[current["PreviousAccessKeyId"]] = "(replaced by the last rotation)"
    # What the service does before it calls createSecret: a version with the token, stage
    # AWSPENDING, no value. moto records it, then fails to find the Lambda (CONTRACT §6).
    token = player.start_rotation(aws.sm, SECRET)
    say(f"  RotateSecret token {token}")
    say("      moto recorded the AWSPENDING version and answered ResourceNotFoundException (it has")
    say("      no Lambda of that name): expected; the demo invokes the function itself")
    say(f"      current key {old_key}")
    show_keys(aws, roles)

    new_key = None

    def shown(o: player.Outcome) -> None:
        nonlocal new_key
        if o.step == "createSecret" and o.ok:
            new_key = (aws.pending_value(token) or {}).get("AccessKeyId")
            roles[new_key] = "(AWSPENDING, new)"
        if o.ok:
            say(f"  {o.step:13} ok      {o.seconds * 1000:6.0f} ms   {old_key} → {new_key or '?'}")
        else:
            say(f"  {o.step:13} FAILED  {o.seconds * 1000:6.0f} ms   {o.result.get('errorType')}")
            say(f"      {o.result.get('errorMessage', '')[:400]}")
        digest(rotator.logs())
        if o.step == "finishSecret" and o.ok:
            roles[new_key] = "(AWSCURRENT, new)"
            roles[old_key] = "(AWSPREVIOUS, replaced)"
        show_keys(aws, roles)

    try:
        player.rotate(aws.sm, rotator, SECRET, STEP_TIMEOUT, token=token, on_step=shown)
    except player.StepFailed as e:
        raise RotationFailed(f"{e.step}: {e.result.get('errorType')}") from None
    say("  Secrets Manager: AWSPENDING removed from the token's version, as the service does after finishSecret")
    for version, labels in sorted(aws.stages().items(), key=lambda kv: kv[0] != token):
        say(f"      version {version}  {', '.join(labels) or '(no staging label)'}")

    keys = aws.keys()
    if len(keys) > 2:
        raise RotationFailed(f"{USER} has {len(keys)} access keys after the rotation")
    now = aws.secret_value("AWSCURRENT")
    if not now or now.get("AccessKeyId") != new_key:
        raise RotationFailed(f"AWSCURRENT holds {now and now.get('AccessKeyId')}, expected {new_key}")
    arn = aws.identity(now["AccessKeyId"], now["SecretAccessKey"])
    say(f"  STS GetCallerIdentity signed with the AWSCURRENT key {now['AccessKeyId']} (secret key not shown):")
    say(f"      {arn}")
    if arn != f"arn:aws:iam::{ACCOUNT}:user/{USER}":
        raise RotationFailed(f"the new key authenticates as {arn}, not as {USER}")
    if now.get("PreviousAccessKeyId") != old_key:
        raise RotationFailed(f"PreviousAccessKeyId is {now.get('PreviousAccessKeyId')}, expected {old_key}")
    say(f"      secret fields: {', '.join(sorted(now))}")
    previous = aws.secret_value("AWSPREVIOUS") or {}
    status = {k["AccessKeyId"]: k["Status"] for k in aws.keys()}.get(old_key, "deleted")
    if previous.get("AccessKeyId") == old_key:
        old_arn = aws.identity(previous["AccessKeyId"], previous["SecretAccessKey"])
        say(f"  replaced key {old_key}: {status} in IAM; STS signed with it answers {old_arn}")
        if status == "Inactive" and old_arn.startswith("arn:"):
            say("      (moto still authenticates Inactive keys; AWS refuses them with InvalidClientTokenId)")


KMS_KEYS = (
    # label, CreateKey arguments, what to do next
    ("symmetric, rotation on", {}, "enable-rotation"),
    ("symmetric, rotation off", {}, None),
    ("symmetric, disabled (rotation on)", {}, "disable"),
    ("symmetric, pending deletion", {}, "schedule-deletion"),
    ("asymmetric RSA_2048 SIGN_VERIFY", {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, None),
    ("HMAC_256 GENERATE_VERIFY_MAC", {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, None),
    ("imported material (EXTERNAL)", {"Origin": "EXTERNAL"}, None),
)


def seed_kms(aws: Aws) -> dict[str, str]:
    section(f"Seed: KMS keys of mixed classes in {REGION}")
    labels = {}
    for label, args, then in KMS_KEYS:
        try:
            meta = aws.kms.create_key(Description=f"demo: {label}", **args)["KeyMetadata"]
            key_id = meta["KeyId"]
            # DisableKey and ScheduleKeyDeletion take the key id: moto answers 500 to an ARN.
            if then == "enable-rotation":
                aws.kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=365)
            elif then == "disable":
                aws.kms.enable_key_rotation(KeyId=key_id)
                aws.kms.disable_key(KeyId=key_id)
            elif then == "schedule-deletion":
                aws.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
            state = aws.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        except ClientError as e:
            say(f"  {label:36} skipped: {e.response['Error']['Code']}: {e.response['Error']['Message']}")
            continue
        try:
            on = aws.kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
            rotation = "rotation " + ("on" if on else "off")
        except ClientError as e:
            rotation = "rotation: " + e.response["Error"]["Code"]
        labels[meta["Arn"]] = label
        note = "  (moto; AWS: PendingImport until material is imported)" if args.get("Origin") == "EXTERNAL" else ""
        say(f"  {label:36} {key_id}  {state:15} {rotation}{note}")
    return labels


def short(resource: str) -> str:
    if resource.startswith("arn:") and ":key/" in resource:
        return resource.rsplit("/", 1)[1]
    return resource


def audit(aws: Aws, auditor: Function, labels: dict[str, str]) -> None:
    section("Audit: EventBridge sends a Scheduled Event to audit-key-rotation")
    event = player.scheduled_event()
    say(f"  event: detail-type {event['detail-type']!r}, source {event['source']}, rule {event['resources'][0]}")
    t0 = time.monotonic()
    ok, result = auditor.invoke(event, timeout=AUDIT_TIMEOUT)
    took = time.monotonic() - t0
    if not ok:
        say(f"  audit: {result.get('errorType')}: {result.get('errorMessage')}  ({took * 1000:.0f} ms)")
        digest(auditor.logs(), limit=4)
        return
    if not (isinstance(result, dict) and isinstance(result.get("findings"), list)):
        say(f"  audit answered ({took * 1000:.0f} ms) without a findings list:")
        say("  " + json.dumps(result)[:1000])
        return
    say(f"  audit report ({took * 1000:.0f} ms), {len(result['findings'])} finding(s):")
    say()
    # What the IAM keys are, from the demo's point of view.
    current = aws.secret_value("AWSCURRENT") or {}
    labels = {
        **labels,
        aws.key: "admin: the demo's own key",
        current.get("AccessKeyId"): f"{USER}: AWSCURRENT",
        current.get("PreviousAccessKeyId"): f"{USER}: replaced (AWSPREVIOUS)",
    }
    rows = []
    for f in result["findings"]:
        resource = str(f.get("resource", ""))
        what = labels.get(resource) or (f"user {f['user']}" if f.get("user") else "")
        if f.get("managed_by"):
            what += " (managed_by: the secret)" if SECRET in f["managed_by"] else f" (managed_by: {f['managed_by']})"
        rows.append((str(f.get("kind", "?")), short(resource), what, str(f.get("verdict", "?")), str(f.get("reason", ""))))
    order = {label: i for i, label in enumerate(label for label, _, _ in KMS_KEYS)}
    rows.sort(key=lambda r: (r[0] != "kms-key", r[0], order.get(r[2], len(order)), r[2], r[1]))
    head = ("kind", "resource", "what", "verdict", "reason")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head[:4])]
    widths = [min(w, 40) for w in widths]
    fmt = "  " + "  ".join(f"{{:{w}.{w}}}" for w in widths) + "  {}"
    say(fmt.format(*head))
    say(fmt.format(*("-" * w for w in widths), "-" * 6))
    for r in rows:
        say(fmt.format(*r))
    say()
    summary = result.get("summary") or {}
    say("  summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    missing = [label for res, label in labels.items() if res and not any(f.get("resource") == res for f in result["findings"])]
    if missing:
        say(f"  not in the report: {', '.join(missing)}")
    export = result.get("export") or {}
    stored = export.get("s3") or {}
    if stored:
        say()
        say(f"  S3: {'stored' if stored.get('stored') else 'NOT stored: ' + str(stored.get('error'))}"
            f"  s3://{stored.get('bucket')}/{stored.get('key')}")
        say(f"      and the CSV beside it: {stored.get('csv_key')}")
    hub = export.get("security_hub")
    if hub is not None:
        say(f"  Security Hub: {hub.get('imported')} finding(s) imported, {hub.get('failed')} failed,"
            f" {hub.get('calls')} BatchImportFindings call(s); a few of them:")
        found = aws.client("securityhub").get_findings(MaxResults=100)["Findings"]
        for f in sorted(found, key=lambda f: f["Compliance"]["Status"])[:5]:
            say(f"      {f['Compliance']['Status']:13} {f['Resources'][0]['Type']:24} {short(f['Resources'][0]['Id'])}")
    digest(auditor.logs(), limit=4)


def main() -> int:
    bin_dir = os.environ.get("DEMO_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "target", "debug")
    bin_dir = os.path.relpath(os.path.abspath(bin_dir))
    aws = Aws()

    say(f"moto        {os.environ['MOTO_ENDPOINT']}  (account {ACCOUNT}, {REGION}, signatures checked)")
    say(f"binaries    {bin_dir}/rotate-access-key, {bin_dir}/audit-key-rotation")
    seed_user(aws)

    with Emulator() as emulator:
        say()
        say(f"cargo lambda watch --only-lambda-apis  on {emulator.address} (up in {emulator.startup_s * 1000:.0f} ms):"
            " the Runtime API the binaries poll, and the Invoke API the demo calls")
        rotator = emulator.function(os.path.join(bin_dir, "rotate-access-key"), ROTATOR_ENV)
        say(f"rotate-access-key  pid {rotator.pid}, AWS_LAMBDA_RUNTIME_API={rotator.env['AWS_LAMBDA_RUNTIME_API']}")
        say(f"                   env: {', '.join(f'{k}={v}' for k, v in ROTATOR_ENV.items())}")
        try:
            rotate(aws, rotator, 1)
            rotate(aws, rotator, 2)
        except RotationFailed as e:
            say()
            say(f"rotation failed: {e}")
            return 1
        rotator.stop()

        labels = seed_kms(aws)
        aws.client("s3").create_bucket(Bucket=REPORT_BUCKET)
        say()
        say(f"  report bucket {REPORT_BUCKET} (REPORT_BUCKET), Security Hub on (SECURITY_HUB=true)")
        auditor = emulator.function(os.path.join(bin_dir, "audit-key-rotation"),
                                    {"REPORT_BUCKET": REPORT_BUCKET, "SECURITY_HUB": "true"})
        say()
        say(f"audit-key-rotation  pid {auditor.pid}, AWS_LAMBDA_RUNTIME_API={auditor.env['AWS_LAMBDA_RUNTIME_API']}")
        audit(aws, auditor, labels)

    section("Done")
    say("  both rotations succeeded; the Lambda processes and the emulator are stopped")
    say(f"  demo time {time.monotonic() - started:.1f} s")
    return 0


def on_term(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except EndpointConnectionError as e:
        print(f"demo: moto does not answer ({e}); stopping", file=sys.stderr)
        sys.exit(1)
