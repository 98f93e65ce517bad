//! End-to-end audits against moto (run through `scripts/with-moto.sh`).
//!
//! moto is shared by tests running at the same time: each test puts its KMS keys in a region
//! no other test uses and names its IAM users uniquely, and asserts only on what it created.
//! moto makes IAM keys "now": key age is covered by running the audit with a clock set ahead.

use crate::common::audit::*;
use crate::common::moto::*;
use crate::common::*;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::verdict::Verdict;
use aws_sdk_sts::config::Credentials;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn kms_findings_in<'a>(report: &'a Report, region: &'a str) -> impl Iterator<Item = &'a Finding> {
    report
        .findings_of(Kind::KmsKey)
        .filter(move |f| f.region.as_deref() == Some(region))
}

fn iam_findings_of<'a>(report: &'a Report, user: &'a str) -> Vec<&'a Finding> {
    report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.user() == Some(user))
        .collect()
}

fn assert_finding(f: &Finding, verdict: Verdict, reason: &str) {
    assert_eq!(f.verdict, verdict, "{f:#?}");
    assert!(f.reason.contains(reason), "{:?} lacks {reason:?}", f.reason);
}

/// A mixed account: every class of KMS key the contract names that moto can make, and IAM users
/// with fresh, inactive and (with the clock 100 days ahead) old keys, one of them managed by a
/// rotation secret.
#[tokio::test]
async fn full_audit_of_a_mixed_account() {
    const R: &str = "eu-west-2";
    const REPLICA_REGION: &str = "eu-north-1";
    let kms = kms(R);

    let (rot_on, _) = create_key(&kms, SYMMETRIC).await;
    enable_rotation(&kms, &rot_on).await;
    kms.encrypt()
        .key_id(&rot_on)
        .plaintext(aws_sdk_kms::primitives::Blob::new("in use"))
        .send()
        .await
        .unwrap();
    let (rot_off, _) = create_key(&kms, SYMMETRIC).await;
    let (on_demand, _) = create_key(&kms, SYMMETRIC).await;
    kms.rotate_key_on_demand()
        .key_id(&on_demand)
        .send()
        .await
        .unwrap();
    let (disabled, _) = create_key(&kms, SYMMETRIC).await;
    enable_rotation(&kms, &disabled).await;
    kms.disable_key().key_id(&disabled).send().await.unwrap();
    let (pending_deletion, _) = create_key(&kms, SYMMETRIC).await;
    kms.schedule_key_deletion()
        .key_id(&pending_deletion)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let (rsa, _) = create_key(&kms, key_of("RSA_2048", "SIGN_VERIFY")).await;
    let (ecc, _) = create_key(&kms, key_of("ECC_NIST_P256", "SIGN_VERIFY")).await;
    let (hmac, _) = create_key(&kms, key_of("HMAC_256", "GENERATE_VERIFY_MAC")).await;
    let (imported, _) = create_key(&kms, IMPORTED).await;
    let (primary, primary_arn) = create_key(&kms, MULTI_REGION).await;
    enable_rotation(&kms, &primary).await;
    kms.replicate_key()
        .key_id(&primary)
        .replica_region(REPLICA_REGION)
        .send()
        .await
        .unwrap();

    let iam = iam();
    let fresh_user = unique("audit-fresh");
    let fresh = user_with_keys(&iam, &fresh_user, 1).await;
    let managed_user = unique("audit-managed");
    let managed = user_with_keys(&iam, &managed_user, 1).await;
    let inactive_user = unique("audit-inactive");
    let inactive = user_with_keys(&iam, &inactive_user, 1).await;
    deactivate(&iam, &inactive_user, &inactive[0]).await;
    let secret_arn = rotation_secret(
        &secrets(R),
        &unique("audit/managed"),
        Held::of(&managed_user, &managed[0], None),
    )
    .await;

    let cfg = config(&[("AUDIT_REGIONS", &format!("{R},{REPLICA_REGION}"))]);

    // Today: every IAM key is young, so no rotation secret is read.
    let (auditor, emitted) = auditor_at(cfg.clone(), R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(report.trigger, "schedule");
    assert_summary_consistent(&report);

    let ours: BTreeSet<String> = [
        &rot_on,
        &rot_off,
        &on_demand,
        &disabled,
        &pending_deletion,
        &rsa,
        &ecc,
        &hmac,
        &imported,
        &primary,
    ]
    .into_iter()
    .cloned()
    .collect();
    let seen: BTreeSet<String> = kms_findings_in(&report, R)
        .map(|f| f.kms.as_ref().unwrap().key_id.clone())
        .collect();
    assert_eq!(
        seen, ours,
        "every key of the region has exactly one finding"
    );
    assert_eq!(kms_findings_in(&report, R).count(), ours.len());

    let f = the_finding(&report, Kind::KmsKey, &rot_on);
    assert_finding(
        f,
        Verdict::Compliant,
        "rotation enabled (period not reported)",
    );
    assert_eq!(f.account.as_deref(), Some("123456789012"));
    assert_eq!(f.kms.as_ref().unwrap().rotation_enabled, Some(true));
    let f = the_finding(&report, Kind::KmsKey, &rot_off);
    assert_finding(f, Verdict::NonCompliant, "rotation disabled");
    assert!(
        f.remediable() && f.action.is_none(),
        "report-only by default"
    );
    // GetKeyLastUsage (scripts/moto_server.py): a key never used says so from its tracking
    // start; it is not yet "unused" for KMS_UNUSED_DAYS, so no line and no change of verdict.
    let d = f.kms.as_ref().unwrap();
    assert_eq!(d.last_use_unknown, None, "{d:?}");
    assert!(
        d.last_use_tracked_since.is_some() && d.unused_since.is_some(),
        "{d:?}"
    );
    assert_eq!((d.last_used.as_ref(), d.unused_days), (None, None), "{d:?}");
    assert!(!f.reason.contains("consider disabling it"), "{}", f.reason);
    let used = the_finding(&report, Kind::KmsKey, &rot_on)
        .kms
        .as_ref()
        .unwrap();
    assert!(
        used.last_used.is_some() && used.unused_since.is_none(),
        "{used:?}"
    );
    assert_eq!(used.last_used_operation.as_deref(), Some("Encrypt"));
    let f = the_finding(&report, Kind::KmsKey, &on_demand);
    assert_finding(
        f,
        Verdict::NonCompliant,
        "rotation disabled; rotated on demand",
    );
    assert!(f.kms.as_ref().unwrap().last_on_demand_rotation.is_some());
    for (key, verdict, reason) in [
        (
            &disabled,
            Verdict::NotApplicable,
            "key state Disabled; saved rotation setting: enabled",
        ),
        (
            &pending_deletion,
            Verdict::NotApplicable,
            "key state PendingDeletion, deletion on",
        ),
        (&rsa, Verdict::NotApplicable, "asymmetric key (RSA_2048)"),
        (
            &ecc,
            Verdict::NotApplicable,
            "asymmetric key (ECC_NIST_P256)",
        ),
        (&hmac, Verdict::NotApplicable, "HMAC key (HMAC_256)"),
        // moto lists no key material: the material is dated by the key's creation (today).
        (
            &imported,
            Verdict::Compliant,
            "imported key material (origin EXTERNAL): current material in use since",
        ),
    ] {
        assert_finding(the_finding(&report, Kind::KmsKey, key), verdict, reason);
    }
    let f = the_finding(&report, Kind::KmsKey, &primary_arn);
    assert_eq!(f.region.as_deref(), Some(R));
    assert_finding(f, Verdict::Compliant, "rotation enabled");
    assert_eq!(
        f.kms.as_ref().unwrap().primary_key_arn,
        None,
        "the primary names no primary"
    );
    let replica: Vec<&Finding> = kms_findings_in(&report, REPLICA_REGION)
        .filter(|f| f.kms.as_ref().unwrap().key_id == primary)
        .collect();
    assert_eq!(replica.len(), 1, "{replica:#?}");
    assert_finding(
        replica[0],
        Verdict::NotApplicable,
        &format!("follows its primary {primary_arn}"),
    );
    assert_eq!(
        replica[0].kms.as_ref().unwrap().primary_key_arn.as_deref(),
        Some(primary_arn.as_str())
    );

    // GetKeyRotationStatus only for the keys that can rotate (and the disabled one), one
    // ListKeyRotations per rotation-off key and per imported key. The replica's primary is
    // audited in this run: the replica costs a DescribeKey only.
    assert_eq!(report.stats.aws_calls.get("kms:DescribeKey"), Some(&11));
    assert_eq!(
        report.stats.aws_calls.get("kms:GetKeyRotationStatus"),
        Some(&5)
    );
    assert_eq!(report.stats.aws_calls.get("kms:ListKeyRotations"), Some(&3));

    for (user, key, verdict, reason) in [
        // A young key's last use changes nothing: not asked (GetAccessKeyLastUsed).
        (&fresh_user, &fresh[0], Verdict::Compliant, "age 0 days"),
        (&managed_user, &managed[0], Verdict::Compliant, "age 0 days"),
        (
            &inactive_user,
            &inactive[0],
            Verdict::NotApplicable,
            "inactive",
        ),
    ] {
        let found = iam_findings_of(&report, user);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(&found[0].resource, key);
        assert_finding(found[0], verdict, reason);
        assert!(!found[0].reason.contains("used"), "{}", found[0].reason);
    }
    // The secrets are listed (their rotation is judged, and they name the keys they hold);
    // no value is read.
    assert!(
        !report
            .stats
            .aws_calls
            .contains_key("secretsmanager:GetSecretValue"),
        "no secret value is read ({:?})",
        report.stats.aws_calls
    );
    // EMF: one document per region, IAM under "global".
    let docs = emitted.lock().unwrap().clone();
    let regions: BTreeSet<&str> = docs.iter().filter_map(|d| d["Region"].as_str()).collect();
    assert_eq!(regions, BTreeSet::from([R, REPLICA_REGION, "global"]));
    let eu = docs.iter().find(|d| d["Region"] == R).unwrap();
    // Two KMS keys, and the rotation secret (rotation is not turned on for it here); the
    // imported key's material is young.
    assert_eq!(eu["NonCompliant"], json!(3));
    assert_eq!(eu["Compliant"], json!(3));
    assert_eq!(eu["NotApplicable"], json!(5));

    // 100 days on: the active keys are old; the managed one names its secret.
    let (auditor, _) = auditor_at(cfg, R, 100);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_summary_consistent(&report);
    let f = iam_findings_of(&report, &managed_user)[0];
    assert_finding(
        f,
        Verdict::NonCompliant,
        "age 100 days, at or over the 90-day maximum; never used; managed by secret",
    );
    assert_eq!(f.managed_by(), Some(secret_arn.as_str()));
    let f = iam_findings_of(&report, &fresh_user)[0];
    assert_finding(f, Verdict::NonCompliant, "age 100 days");
    // And the KMS keys unused for 100 days (over KMS_UNUSED_DAYS, 90) get their line: the key
    // never used since tracking began, and the key last used 100 days ago.
    let f = the_finding(&report, Kind::KmsKey, &rot_off);
    assert_finding(
        f,
        Verdict::NonCompliant,
        "(no use recorded since tracking began, 100 days), consider disabling it",
    );
    assert_eq!(f.kms.as_ref().unwrap().unused_days, Some(100));
    let f = the_finding(&report, Kind::KmsKey, &rot_on);
    assert_finding(
        f,
        Verdict::Compliant,
        "(last used, 100 days), consider disabling it",
    );
    assert!(report.summary.kms_unused >= 2, "{:?}", report.summary);
    assert_eq!(f.managed_by(), None);
    assert_finding(
        iam_findings_of(&report, &inactive_user)[0],
        Verdict::NotApplicable,
        "inactive",
    );
    assert!(report
        .stats
        .aws_calls
        .get("secretsmanager:ListSecrets")
        .is_some_and(|n| *n >= 1));
    assert_eq!(
        report.stats.aws_calls.get("secretsmanager:GetSecretValue"),
        None,
        "the audit reads no secret value"
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        !json.contains("never-logged"),
        "a secret value leaked into the report"
    );

    let v: Value = serde_json::to_value(&report).unwrap();
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
}

/// REMEDIATE=true enables rotation on remediable keys only. moto would accept EnableKeyRotation
/// on the asymmetric and imported keys too, so their rotation staying off proves the audit did
/// not call it for them.
#[tokio::test]
async fn remediation_turns_rotation_on_for_remediable_keys_only() {
    const R: &str = "ap-southeast-2";
    let kms = kms(R);
    let (off, _) = create_key(&kms, SYMMETRIC).await;
    let (on, _) = create_key(&kms, SYMMETRIC).await;
    enable_rotation(&kms, &on).await;
    let (rsa, _) = create_key(&kms, key_of("RSA_3072", "ENCRYPT_DECRYPT")).await;
    let (imported, _) = create_key(&kms, IMPORTED).await;
    let (disabled, _) = create_key(&kms, SYMMETRIC).await;
    kms.disable_key().key_id(&disabled).send().await.unwrap();

    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("REMEDIATE", "true"),
        ("REMEDIATE_ROTATION_DAYS", "180"),
    ]);
    let (auditor, emitted) = auditor_at(cfg, R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();

    let f = the_finding(&report, Kind::KmsKey, &off);
    assert_eq!(
        f.verdict,
        Verdict::NonCompliant,
        "the verdict is the state the audit found"
    );
    let action = f.action.as_ref().expect("remediated");
    assert!(
        action.succeeded && action.action == "EnableKeyRotation",
        "{action:?}"
    );
    assert_eq!(action.detail, "rotation enabled every 180 days");
    for k in [&on, &rsa, &imported, &disabled] {
        assert!(
            the_finding(&report, Kind::KmsKey, k).action.is_none(),
            "{k} was touched"
        );
    }
    assert_eq!(report.actions.remediated, 1);
    assert_eq!(
        report.stats.aws_calls.get("kms:EnableKeyRotation"),
        Some(&1)
    );
    assert!(rotation_enabled(&kms, &off).await);
    assert!(!rotation_enabled(&kms, &rsa).await);
    assert!(!rotation_enabled(&kms, &imported).await);
    assert!(!rotation_enabled(&kms, &disabled).await);
    let doc = emitted_for(&emitted, R);
    assert_eq!(doc["Remediated"], json!(1));

    // The next (report-only) audit finds the key compliant.
    let (auditor, _) = auditor_at(config(&[("AUDIT_REGIONS", R)]), R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(
        the_finding(&report, Kind::KmsKey, &off).verdict,
        Verdict::Compliant
    );
    assert_eq!(
        report.summary.non_compliant,
        report
            .findings
            .iter()
            .filter(|f| f.verdict == Verdict::NonCompliant)
            .count()
    );
}

/// The notifications among `messages` about `users`' keys: (key id, detail-type).
fn notices_to(messages: &[Value], users: &[&str]) -> BTreeSet<(String, String)> {
    messages
        .iter()
        .filter(|m| users.iter().any(|u| m["detail"]["user"] == *u))
        .map(|m| {
            assert_eq!(m["source"], "aws-key-rotation");
            (
                m["detail"]["keyIds"][0].as_str().unwrap().to_owned(),
                m["detail-type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A user with two keys, bound to a rotation secret whose tags say `k[1]` replaced `k[0]`, both
/// recorded on the user as keys the rotator created for that binding (as the rotator does).
async fn replaced_pair(
    iam: &aws_sdk_iam::Client,
    sm: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    bound: bool,
) -> (String, Vec<String>, String) {
    let user = unique(prefix);
    let k = user_with_keys(iam, &user, 2).await;
    let secret = rotation_secret(
        sm,
        &unique(&format!("sweep/{prefix}")),
        Held::of(&user, &k[1], Some(&k[0])),
    )
    .await;
    if bound {
        bind(iam, &user, &secret).await;
        record_own_keys(iam, &user, &secret, &[&k[0], &k[1]]).await;
    }
    (user, k, secret)
}

/// SWEEP=true deactivates a replaced key once IAM shows it idle for OLD_KEY_IDLE_HOURS (here with
/// no consumer on the current key, once OLD_KEY_MAX_WAIT_DAYS, 1 day, have passed), deletes it
/// OLD_KEY_GRACE_DAYS after that, and touches nothing else: not a key some secret holds, not a
/// key no secret names, not the key of a user bound to no secret.
#[tokio::test]
async fn sweep_retires_replaced_keys_once_idle_and_deletes_them_after_the_grace_period() {
    const R: &str = "us-west-2";
    let iam = iam();
    let sm = secrets(R);

    // Replaced, left Active (the rotator's default), unused since: deactivated, later deleted.
    let (idle, idle_keys, _) = replaced_pair(&iam, &sm, "sweep-idle", true).await;
    // Replaced and already Inactive (OLD_KEY_ACTION=deactivate): deleted after the grace period.
    let (done, done_keys, _) = replaced_pair(&iam, &sm, "sweep-done", true).await;
    deactivate(&iam, &done, &done_keys[0]).await;

    // Inactive, claimed as AWSCURRENT by a secret its user is not bound to, named as replaced by
    // the one it is bound to, but never recorded as a key the rotator created: kept (the claim
    // is reported, and is not why).
    let current = unique("sweep-current");
    let k = user_with_keys(&iam, &current, 2).await;
    deactivate(&iam, &current, &k[0]).await;
    let claimant = rotation_secret(
        &sm,
        &unique("sweep/current-a"),
        Held::of(&current, &k[0], None),
    )
    .await;
    let secret = rotation_secret(
        &sm,
        &unique("sweep/current-b"),
        Held::of(&current, &k[1], Some(&k[0])),
    )
    .await;
    bind(&iam, &current, &secret).await;
    let current_keys = k;

    // Inactive, known to no secret: left alone.
    let stray = unique("sweep-stray");
    let stray_keys = user_with_keys(&iam, &stray, 1).await;
    deactivate(&iam, &stray, &stray_keys[0]).await;

    // Not bound to the secret that names its keys (a secret anyone who can create secrets
    // could have written, tags included): kept, Active or not.
    let (unbound, unbound_keys, _) = replaced_pair(&iam, &sm, "sweep-unbound", false).await;

    let (notifier, inbox, _) =
        crate::common::notifications::notifier_with_inbox(R, &unique("sweep-notices")).await;
    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("SWEEP", "true"),
        ("OLD_KEY_GRACE_DAYS", "7"),
        ("OLD_KEY_MAX_WAIT_DAYS", "1"),
    ]);
    let ours = [&idle, &done, &current, &stray, &unbound];
    let acted_on = |report: &Report| -> BTreeSet<(String, String)> {
        report
            .findings
            .iter()
            .filter(|f| ours.iter().any(|u| f.user() == Some(u.as_str())))
            .filter_map(|f| Some((f.resource.clone(), f.action.as_ref()?.action.to_owned())))
            .collect()
    };
    let users: Vec<&str> = ours.iter().map(|u| u.as_str()).collect();
    let notices = |messages: &[Value]| notices_to(messages, &users);

    // Two days after the rotation: the idle replaced key is deactivated; the Inactive one is
    // inside its grace period.
    let (auditor, _) = auditor_at(cfg.clone(), R, 2);
    let report = auditor
        .with_notifier(notifier.clone())
        .handle(scheduled_event())
        .await
        .unwrap();
    assert_eq!(
        acted_on(&report),
        BTreeSet::from([(idle_keys[0].clone(), "UpdateAccessKey".to_owned())])
    );
    let f = the_finding(&report, Kind::IamAccessKey, &idle_keys[0]);
    assert!(f.reason.contains("deactivated by the sweep"), "{f:#?}");
    assert!(f.action.as_ref().unwrap().succeeded);
    let f = the_finding(&report, Kind::IamAccessKey, &done_keys[0]);
    assert!(
        f.action.is_none() && f.reason.contains("inside the 7-day grace period"),
        "{f:#?}"
    );
    let keys = key_status(&iam, &idle).await;
    assert_eq!(keys[&idle_keys[0]], "Inactive");
    assert_eq!(keys[&idle_keys[1]], "Active");
    let tags: BTreeMap<String, String> = user_tags(&iam, &idle).await.into_iter().collect();
    assert!(
        tags.get(aws_key_rotation::binding::DEACTIVATED_TAG)
            .is_some_and(|v| v.starts_with(&format!("{}:", idle_keys[0]))),
        "{tags:?}"
    );
    assert_eq!(
        notices(&inbox.take().await),
        BTreeSet::from([(
            idle_keys[0].clone(),
            "Replaced access key deactivated".to_owned()
        )])
    );

    // Ten days after: both replaced keys have been Inactive longer than 7 days and go.
    let (auditor, _) = auditor_at(cfg, R, 10);
    let report = auditor
        .with_notifier(notifier)
        .handle(scheduled_event())
        .await
        .unwrap();
    assert_eq!(
        acted_on(&report),
        BTreeSet::from([
            (idle_keys[0].clone(), "DeleteAccessKey".to_owned()),
            (done_keys[0].clone(), "DeleteAccessKey".to_owned()),
        ])
    );
    assert_eq!(key_ids_of(&iam, &idle).await, vec![idle_keys[1].clone()]);
    assert_eq!(key_ids_of(&iam, &done).await, vec![done_keys[1].clone()]);
    assert_eq!(
        notices(&inbox.take().await),
        BTreeSet::from([
            (
                idle_keys[0].clone(),
                "Replaced access key deleted".to_owned()
            ),
            (
                done_keys[0].clone(),
                "Replaced access key deleted".to_owned()
            ),
        ])
    );

    let f = the_finding(&report, Kind::IamAccessKey, &current_keys[0]);
    assert!(
        f.action.is_none()
            && f.reason
                .contains("not a key the rotator created for secret")
            && f.reason.contains(&format!(
                "secret {claimant} names it as its AWSCURRENT key, a claim that changes nothing"
            )),
        "{f:#?}"
    );
    for key in &unbound_keys {
        let f = the_finding(&report, Kind::IamAccessKey, key);
        assert!(f.action.is_none(), "{f:#?}");
    }
    assert!(the_finding(&report, Kind::IamAccessKey, &unbound_keys[0])
        .reason
        .contains("not bound"));
    for (user, mut keys) in [
        (&current, current_keys),
        (&stray, stray_keys),
        (&unbound, unbound_keys),
    ] {
        keys.sort();
        assert_eq!(key_ids_of(&iam, user).await, keys, "{user} lost a key");
    }
}

/// A replaced key a consumer still uses stays Active and is reported with the service and
/// region of its last use, so that a person can find the consumer.
#[tokio::test]
async fn a_replaced_key_still_in_use_is_kept_and_reported() {
    const R: &str = "us-west-2";
    let iam = iam();
    let sm = secrets(R);
    let user = unique("sweep-inuse");
    create_user(&iam, &user).await;
    let create_key = || iam.create_access_key().user_name(&user).send();
    let old = create_key().await.unwrap();
    let old = old.access_key().unwrap();
    let new = create_key().await.unwrap();
    let new_id = new.access_key().unwrap().access_key_id().to_owned();
    let secret = rotation_secret(
        &sm,
        &unique("sweep/inuse"),
        Held::of(&user, &new_id, Some(old.access_key_id())),
    )
    .await;
    bind(&iam, &user, &secret).await;
    record_own_keys(&iam, &user, &secret, &[old.access_key_id(), &new_id]).await;
    // IAM dates are whole seconds, and a use in the second the replacing key was made counts as
    // before the switch: the consumer's call comes in the next second.
    clock::wait_past_second(new.access_key().unwrap().create_date().unwrap().secs()).await;
    // A consumer that still holds the replaced key signs a call with it.
    let consumer = aws_sdk_sts::Client::new(&sdk_config_with(
        "eu-central-1",
        Credentials::new(
            old.access_key_id(),
            old.secret_access_key(),
            None,
            None,
            "consumer",
        ),
    ));
    consumer.get_caller_identity().send().await.unwrap();

    let report = sweep_at(R, 1, &[("OLD_KEY_IDLE_HOURS", "72")]).await;
    let f = the_finding(&report, Kind::IamAccessKey, old.access_key_id());
    assert!(f.action.is_none(), "{f:#?}");
    assert!(
        f.reason.contains("retiring: still in use") && f.reason.contains("by sts in eu-central-1"),
        "{f:#?}"
    );
    assert_eq!(key_status(&iam, &user).await[old.access_key_id()], "Active");
}

/// A replaced key is judged by its retirement, not its age (CONTRACT §5), so Security Hub does not
/// flap with each rotation. With the audit's clock 90 days ahead (moto makes keys "now", so both
/// keys are 90 days old) and the switch recorded at that clock (the rotation just happened), the
/// replaced key is COMPLIANT, "retiring"; once OLD_KEY_MAX_WAIT_DAYS (7) have passed and it is
/// still Active, NON_COMPLIANT. The same without the sweep and with SWEEP=report.
#[tokio::test]
async fn a_replaced_old_key_is_compliant_while_it_retires_and_non_compliant_after_the_wait() {
    use aws_key_rotation::binding::{key_time_value, SWITCHED_TAG};
    const R: &str = "me-central-1";
    let iam = iam();
    let sm = secrets(R);
    let (user, k, secret) = replaced_pair(&iam, &sm, "retiring", true).await;
    // What finishSecret records, at the audit's clock: the switch to k[1].
    let switched = now() + 90 * DAY;
    tag_user(&iam, &user, SWITCHED_TAG, &key_time_value(&k[1], switched)).await;
    let replaced_on = aws_key_rotation::time::rfc3339(switched);

    for sweep in ["false", "report"] {
        let cfg = config(&[("AUDIT_REGIONS", R), ("SWEEP", sweep)]);
        // Right after the rotation: 90 days old, and COMPLIANT while it retires.
        let (auditor, _) = auditor_at(cfg.clone(), R, 90);
        let report = auditor.handle(scheduled_event()).await.unwrap();
        let f = the_finding(&report, Kind::IamAccessKey, &k[0]);
        assert_finding(
            f,
            Verdict::Compliant,
            &format!(
                "age 90 days; replaced on {replaced_on} (as the rotator recorded it) by a rotation of secret {secret}, retiring: waiting for dormant consumers"
            ),
        );
        assert!(f.action.is_none(), "{sweep}: {f:#?}");
        // The current key is judged by its age, as every key no bound secret replaced.
        assert_eq!(
            the_finding(&report, Kind::IamAccessKey, &k[1]).verdict,
            Verdict::NonCompliant
        );

        // Eight days on, still Active: the wait for dormant consumers is over.
        let (auditor, _) = auditor_at(cfg, R, 98);
        let report = auditor.handle(scheduled_event()).await.unwrap();
        let f = the_finding(&report, Kind::IamAccessKey, &k[0]);
        assert_finding(
            f,
            Verdict::NonCompliant,
            "still Active 7 days after (OLD_KEY_MAX_WAIT_DAYS): waiting for dormant consumers",
        );
        assert_eq!(
            key_status(&iam, &user).await[&k[0]],
            "Active",
            "{sweep}: nothing changed"
        );
    }
}

/// The hard stop (CONTRACT §5; THREATS: a key kept "in use" by whoever holds it still retires).
/// A rotation on moto records the switch on the user; a consumer that keeps signing with the
/// replaced key keeps it Active (and NON_COMPLIANT past the wait), with a notification the day
/// before OLD_KEY_FORCE_DAYS (30) after the switch, and on that day the sweep deactivates it
/// whatever its use.
#[tokio::test]
async fn a_replaced_key_kept_in_use_is_deactivated_at_the_hard_stop() {
    use aws_key_rotation::binding::{switched_at, SWITCHED_TAG};
    use aws_key_rotation::rotation::config::RotationConfig;
    const R: &str = "af-south-1";
    let h = crate::common::rotation::Harness::in_region(R);
    let iam = iam();
    let user = unique("hard-stop");
    let (secret, old_id, old_secret) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(RotationConfig {
        test_timeout: std::time::Duration::from_secs(10),
        ..RotationConfig::default()
    });
    let before = now();
    h.rotate(&rotator, &secret).await;
    let new_id = h.current(&secret).await["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // finishSecret recorded the switch to the new key on the user.
    let tags: BTreeMap<String, String> = user_tags(&iam, &user).await.into_iter().collect();
    let switch = switched_at(tags.get(SWITCHED_TAG).map(String::as_str), &new_id)
        .unwrap_or_else(|| panic!("no switch to {new_id} recorded: {tags:?}"));
    assert!((before..=now()).contains(&switch), "{switch}");
    // A consumer that still holds the replaced key signs a call with it, after the switch.
    clock::wait_past_second(switch).await;
    let consumer = aws_sdk_sts::Client::new(&sdk_config_with(
        "eu-central-1",
        Credentials::new(&old_id, &old_secret, None, None, "consumer"),
    ));
    consumer.get_caller_identity().send().await.unwrap();

    let (notifier, inbox, _) =
        crate::common::notifications::notifier_with_inbox(R, &unique("hard-stop-notices")).await;
    // An idle window of a year: the one call keeps the key "in use" to the end.
    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("SWEEP", "true"),
        ("OLD_KEY_IDLE_HOURS", "8760"),
    ]);
    let mine = |messages: Vec<Value>| notices_to(&messages, &[&user]);

    // The day before the hard stop: kept, NON_COMPLIANT, and its owner is told.
    let (auditor, _) = auditor_at(cfg.clone(), R, 29);
    let report = auditor
        .with_notifier(notifier.clone())
        .handle(scheduled_event())
        .await
        .unwrap();
    let f = the_finding(&report, Kind::IamAccessKey, &old_id);
    assert!(f.action.is_none(), "{f:#?}");
    assert_finding(f, Verdict::NonCompliant, "still in use (last used ");
    assert!(
        f.reason.contains("by sts in eu-central-1")
            && f.reason.contains("deactivated whatever its use on"),
        "{f:#?}"
    );
    assert_eq!(key_status(&iam, &user).await[&old_id], "Active");
    assert_eq!(
        mine(inbox.take().await),
        BTreeSet::from([(
            old_id.clone(),
            "Replaced access key to be deactivated within a day".to_owned()
        )])
    );

    // OLD_KEY_FORCE_DAYS after the switch: deactivated, in use or not.
    let (auditor, _) = auditor_at(cfg, R, 30);
    let report = auditor
        .with_notifier(notifier)
        .handle(scheduled_event())
        .await
        .unwrap();
    let f = deactivated_by_the_sweep(&report, &old_id);
    assert_finding(
        f,
        Verdict::NotApplicable,
        "deactivated by the sweep: 30 days after the switch, whatever its use (OLD_KEY_FORCE_DAYS)",
    );
    let keys = key_status(&iam, &user).await;
    assert_eq!(
        (keys[&old_id].as_str(), keys[&new_id].as_str()),
        ("Inactive", "Active")
    );
    assert_eq!(
        mine(inbox.take().await),
        BTreeSet::from([(old_id.clone(), "Replaced access key deactivated".to_owned())])
    );
}

/// SWEEP=report decides exactly as SWEEP=true and says in each finding, reason and action, what
/// it would do, but makes no IAM write and sends no notification. Then SWEEP=true does it.
#[tokio::test]
async fn sweep_report_changes_nothing_and_says_what_it_would_do() {
    use aws_key_rotation::audit::report::{WOULD_DEACTIVATE, WOULD_DELETE};
    const R: &str = "eu-central-2";
    let iam = iam();
    let sm = secrets(R);
    // Replaced, Active, unused, current key unused: idle past the wait for dormant consumers.
    let (idle, idle_keys, _) = replaced_pair(&iam, &sm, "report-idle", true).await;
    // Replaced and Inactive: past its grace period.
    let (done, done_keys, _) = replaced_pair(&iam, &sm, "report-done", true).await;
    deactivate(&iam, &done, &done_keys[0]).await;
    let tags_before = (user_tags(&iam, &idle).await, user_tags(&iam, &done).await);

    let (notifier, inbox, _) =
        crate::common::notifications::notifier_with_inbox(R, &unique("report-notices")).await;
    let ours = |messages: Vec<Value>| notices_to(&messages, &[&idle, &done]).len();
    let run = |sweep: &str| {
        let cfg = config(&[("AUDIT_REGIONS", R), ("SWEEP", sweep)]);
        let (auditor, _) = auditor_at(cfg, R, 10);
        auditor.with_notifier(notifier.clone())
    };
    let why = |f: &Finding, said: &str| -> String {
        f.reason
            .split_once(said)
            .unwrap_or_else(|| panic!("{said:?} not in {:?}", f.reason))
            .1
            .to_owned()
    };

    let report = run("report").handle(scheduled_event()).await.unwrap();
    let f = the_finding(&report, Kind::IamAccessKey, &idle_keys[0]);
    let action = f.action.as_ref().expect("the action it would take");
    assert_eq!(action.action, WOULD_DEACTIVATE);
    assert!(
        !action.succeeded && action.detail.starts_with("would deactivate: "),
        "{f:#?}"
    );
    let would = why(f, "; would deactivate it (SWEEP=report): ");
    assert!(would.contains("(OLD_KEY_MAX_WAIT_DAYS)"), "{would}");
    // Still Active, past the wait: NON_COMPLIANT, as with SWEEP=true before it acts.
    assert_eq!(f.verdict, Verdict::NonCompliant, "{f:#?}");
    let f = the_finding(&report, Kind::IamAccessKey, &done_keys[0]);
    let action = f.action.as_ref().expect("the action it would take");
    assert_eq!(action.action, WOULD_DELETE);
    assert!(
        f.reason.contains("; would delete it (SWEEP=report)"),
        "{f:#?}"
    );
    assert_eq!(
        (
            report.actions.swept,
            report.actions.sweep_failed,
            report.actions.sweep_report_only
        ),
        (0, 0, 2)
    );
    for call in ["iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:TagUser"] {
        assert_eq!(report.stats.aws_calls.get(call), None, "{call}");
    }
    // Nothing changed in IAM, nobody was told.
    assert_eq!(key_status(&iam, &idle).await[&idle_keys[0]], "Active");
    assert_eq!(key_status(&iam, &done).await[&done_keys[0]], "Inactive");
    assert_eq!(
        (user_tags(&iam, &idle).await, user_tags(&iam, &done).await),
        tags_before
    );
    assert_eq!(ours(inbox.take().await), 0);

    // SWEEP=true, same day: the same decisions, made.
    let report = run("true").handle(scheduled_event()).await.unwrap();
    let f = the_finding(&report, Kind::IamAccessKey, &idle_keys[0]);
    assert!(f.action.as_ref().is_some_and(|a| a.succeeded), "{f:#?}");
    assert_eq!(why(f, "; deactivated by the sweep: "), would);
    let f = the_finding(&report, Kind::IamAccessKey, &done_keys[0]);
    assert!(
        f.action
            .as_ref()
            .is_some_and(|a| a.action == "DeleteAccessKey" && a.succeeded),
        "{f:#?}"
    );
    assert_eq!(key_status(&iam, &idle).await[&idle_keys[0]], "Inactive");
    assert_eq!(key_ids_of(&iam, &done).await, vec![done_keys[1].clone()]);
    assert_eq!(ours(inbox.take().await), 2);
}

/// The attack a secret writer could make: a secret whose value (or tags) names a victim's
/// Inactive key as replaced, with a date in the past and no user. The audit reads no value,
/// the tags name no user the victim could be, and the victim is bound to nothing: kept.
#[tokio::test]
async fn a_secret_writer_cannot_aim_the_sweep_at_another_user() {
    const R: &str = "us-west-2";
    let iam = iam();
    let sm = secrets(R);
    let victim = unique("sweep-victim");
    let k = user_with_keys(&iam, &victim, 2).await;
    deactivate(&iam, &victim, &k[0]).await;
    // The value alone (what the sweep used to trust).
    create_secret(
        &sm,
        &unique("attack/value"),
        &json!({"PreviousAccessKeyId": k[0], "CreateDate": "2000-01-01T00:00:00Z"}).to_string(),
        &[("RotationType", "iam-access-key")],
    )
    .await;
    // Tags naming the victim's key without a user, then with the victim as user.
    rotation_secret(
        &sm,
        &unique("attack/tags"),
        Held {
            user: None,
            ..Held::of(&victim, &k[1], Some(&k[0]))
        },
    )
    .await;
    let attacker = rotation_secret(
        &sm,
        &unique("attack/user"),
        Held::of(&victim, &k[1], Some(&k[0])),
    )
    .await;
    // Even bound to a secret of its own, the victim's key is not the attacker secret's to retire.
    let own = rotation_secret(&sm, &unique("victim/own"), Held::of(&victim, &k[1], None)).await;
    bind(&iam, &victim, &own).await;

    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("SWEEP", "true"),
        ("OLD_KEY_GRACE_DAYS", "7"),
    ]);
    // A year on: any grace period has passed.
    let (auditor, _) = auditor_at(cfg, R, 365);
    let event = cloudtrail_event(
        "aws.iam",
        "UpdateAccessKey",
        "us-east-1",
        "123456789012",
        json!({"userName": victim, "accessKeyId": k[0], "status": "Inactive"}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    let f = the_finding(&report, Kind::IamAccessKey, &k[0]);
    assert!(f.action.is_none(), "{f:#?}");
    assert!(
        f.reason
            .contains(&format!("not bound to secret {attacker}")),
        "{f:#?}"
    );
    let mut keys = k.clone();
    keys.sort();
    assert_eq!(key_ids_of(&iam, &victim).await, keys);
    assert_eq!(
        report.stats.aws_calls.get("secretsmanager:GetSecretValue"),
        None
    );
}

/// The secret's tags select candidates, never proof: the sweep retires only a key the rotator
/// recorded on the user (`KeyRotationOwnKeys`) as created for the binding to that very secret.
/// A secret writer who points a secret's tags at a bound user's other key (the user bound to
/// that secret by an administrator who trusted it) retires nothing.
#[tokio::test]
async fn the_sweep_retires_only_keys_the_rotator_created_for_the_binding() {
    const R: &str = "ap-northeast-2";
    let iam = iam();
    let sm = secrets(R);
    // The rotator's own replaced key (control): retired.
    let (own, own_keys, _) = replaced_pair(&iam, &sm, "own-keys", true).await;
    // Bound, tags name a replaced key, no record at all (a key a person made, named by whoever
    // wrote the secret's tags): kept, Active or Inactive.
    let mut unrecorded = Vec::new();
    for inactive in [false, true] {
        let (user, k, secret) = replaced_pair(&iam, &sm, "own-keys-none", false).await;
        bind(&iam, &user, &secret).await;
        if inactive {
            deactivate(&iam, &user, &k[0]).await;
        }
        unrecorded.push((user, k, secret));
    }
    // Recorded, but for another secret (the record names the secret's ARN), or without this key.
    let (elsewhere, elsewhere_keys, elsewhere_secret) =
        replaced_pair(&iam, &sm, "own-keys-other", false).await;
    bind(&iam, &elsewhere, &elsewhere_secret).await;
    let other = format!("{elsewhere_secret}-other");
    record_own_keys(
        &iam,
        &elsewhere,
        &other,
        &[&elsewhere_keys[0], &elsewhere_keys[1]],
    )
    .await;
    let (partial, partial_keys, partial_secret) =
        replaced_pair(&iam, &sm, "own-keys-partial", false).await;
    bind(&iam, &partial, &partial_secret).await;
    record_own_keys(&iam, &partial, &partial_secret, &[&partial_keys[1]]).await;

    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("SWEEP", "true"),
        ("OLD_KEY_GRACE_DAYS", "7"),
    ]);
    // Ten days on: idle past its window, Inactive past its grace period.
    let (auditor, _) = auditor_at(cfg.clone(), R, 10);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    let f = the_finding(&report, Kind::IamAccessKey, &own_keys[0]);
    assert!(f.action.as_ref().is_some_and(|a| a.succeeded), "{f:#?}");
    assert_eq!(key_status(&iam, &own).await[&own_keys[0]], "Inactive");

    let mut kept = vec![
        (
            elsewhere.clone(),
            elsewhere_keys.clone(),
            elsewhere_secret.clone(),
        ),
        (
            partial.clone(),
            partial_keys.clone(),
            partial_secret.clone(),
        ),
    ];
    kept.extend(unrecorded);
    for (user, keys, secret) in &kept {
        let f = the_finding(&report, Kind::IamAccessKey, &keys[0]);
        assert!(f.action.is_none(), "{f:#?}");
        assert!(
            f.reason.contains(&format!(
                "not a key the rotator created for secret {secret} (the secret's tags name it, which proves nothing"
            )),
            "{f:#?}"
        );
        let mut want = keys.clone();
        want.sort();
        assert_eq!(key_ids_of(&iam, user).await, want, "{user} lost a key");
    }
    for (user, keys, _) in &kept[..3] {
        assert_eq!(key_status(&iam, user).await[&keys[0]], "Active", "{user}");
    }
}

/// Reproduced attack: anyone who can create or tag a secret writes
/// `KeyRotationAccessKeyId=<a victim's replaced key>` (or the pending tag) on a secret of their
/// own, which used to keep the victim's replaced key Active forever. Only the secret the key's
/// user is bound to holds a key; other secrets' tags are claims, reported in the finding (and a
/// WARN line), and change nothing.
#[tokio::test]
async fn a_forged_key_id_tag_on_another_secret_never_keeps_a_replaced_key() {
    const R: &str = "ap-southeast-1";
    let iam = iam();
    let sm = secrets(R);
    let (victim, k, _) = replaced_pair(&iam, &sm, "claimed", true).await;
    let forged_current = create_secret(
        &sm,
        &unique("attack/claim-current"),
        "{}",
        &[("KeyRotationAccessKeyId", k[0].as_str())],
    )
    .await;
    let forged_pending = create_secret(
        &sm,
        &unique("attack/claim-pending"),
        "{}",
        &[
            ("KeyRotationUserName", victim.as_str()),
            ("KeyRotationAccessKeyId", "AKIAUNRELATED0000000"),
            ("KeyRotationPendingAccessKeyId", k[0].as_str()),
        ],
    )
    .await;

    // Two days on, idle, and the wait for consumers of the current key (1 day here) is over.
    let report = sweep_at(R, 2, &[("OLD_KEY_MAX_WAIT_DAYS", "1")]).await;
    let f = deactivated_by_the_sweep(&report, &k[0]);
    for (secret, stage) in [
        (&forged_current, "AWSCURRENT"),
        (&forged_pending, "AWSPENDING"),
    ] {
        assert!(
            f.reason.contains(&format!(
                "secret {secret} names it as its {stage} key, a claim that changes nothing"
            )),
            "{f:#?}"
        );
    }
    let keys = key_status(&iam, &victim).await;
    assert_eq!(
        (keys[&k[0]].as_str(), keys[&k[1]].as_str()),
        ("Inactive", "Active")
    );
}

/// Reproduced attack: one rotation secret with rotation on and no key-id tags (anyone who can
/// create a secret can make one) used to keep every replaced key of the account. Now it keeps
/// only the keys of users bound to it, and is itself reported NON_COMPLIANT once a day old.
#[tokio::test]
async fn an_untracked_rotation_secret_blocks_only_the_users_bound_to_it() {
    const R: &str = "ap-northeast-3";
    let iam = iam();
    let sm = secrets(R);
    let untracked = untracked_rotation_secret(&sm, &unique("untracked/legacy")).await;
    // A bound user's replaced key elsewhere in the account: retired all the same.
    let (other, other_keys, _) = replaced_pair(&iam, &sm, "untracked-other", true).await;
    // A user bound to the untracked secret, whose key another secret names as replaced: kept.
    let legacy = unique("untracked-bound");
    let legacy_keys = user_with_keys(&iam, &legacy, 2).await;
    bind(&iam, &legacy, &untracked).await;
    rotation_secret(
        &sm,
        &unique("untracked/names-legacy"),
        Held::of(&legacy, &legacy_keys[1], Some(&legacy_keys[0])),
    )
    .await;

    let report = sweep_at(R, 2, &[("OLD_KEY_MAX_WAIT_DAYS", "1")]).await;
    deactivated_by_the_sweep(&report, &other_keys[0]);
    assert_eq!(key_status(&iam, &other).await[&other_keys[0]], "Inactive");
    let f = the_finding(&report, Kind::IamAccessKey, &legacy_keys[0]);
    assert!(f.action.is_none(), "{f:#?}");
    assert!(
        f.reason.contains(&format!(
            "its user is bound to secret {untracked}, which has no key-id tags"
        )),
        "{f:#?}"
    );
    assert_eq!(key_status(&iam, &legacy).await[&legacy_keys[0]], "Active");
    // The secret itself: the rotator has never finished a rotation for it.
    assert_finding(
        the_finding(&report, Kind::Secret, &untracked),
        Verdict::NonCompliant,
        "rotation secret with no key-id tags: the rotator has never finished a rotation for it",
    );
}

/// Under AUDIT_ORG_ROLE_NAME, the account a CloudTrail event names (anyone with PutEvents on a
/// bus the audit listens to writes it) is checked with Organizations before any role is
/// assumed: an account outside the Organization is one ERROR and no AssumeRole; a member is
/// audited through its role.
#[tokio::test]
async fn an_event_naming_an_account_outside_the_organization_assumes_no_role() {
    const R: &str = "ap-south-2";
    let role = crate::common::env::org_role_name();
    let member = crate::common::env::org_member_accounts()[0].clone();
    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", &role), ("AUDIT_REGIONS", R)]);
    let (auditor, _) = auditor_at(cfg, R, 0);
    let event = |account: &str| {
        cloudtrail_event(
            "aws.kms",
            "DisableKeyRotation",
            R,
            account,
            json!({"keyId": "00000000-0000-0000-0000-000000000000"}),
            Value::Null,
        )
    };

    let forged = auditor.handle(event("999999999999")).await.unwrap();
    assert!(forged.accounts.is_empty(), "{:?}", forged.accounts);
    assert!(
        !forged.stats.aws_calls.contains_key("sts:AssumeRole"),
        "{:?}",
        forged.stats.aws_calls
    );
    assert_eq!(
        forged.stats.aws_calls.get("organizations:DescribeAccount"),
        Some(&1)
    );
    assert_eq!(forged.findings.len(), 1, "{:#?}", forged.findings);
    let f = &forged.findings[0];
    assert_eq!((f.kind, f.verdict), (Kind::Scope, Verdict::Error));
    assert_eq!(f.account.as_deref(), Some("999999999999"));
    assert!(
        f.reason
            .contains("not an ACTIVE account of the Organization"),
        "{f:#?}"
    );

    let report = auditor.handle(event(&member)).await.unwrap();
    assert_eq!(report.accounts, std::slice::from_ref(&member));
    assert_eq!(report.stats.aws_calls.get("sts:AssumeRole"), Some(&1));
    assert_eq!(
        report.stats.aws_calls.get("organizations:DescribeAccount"),
        Some(&1)
    );
}

/// A cross-account audit through AUDIT_ROLE_ARNS; an account whose role is unusable is reported
/// as ERROR findings and the other account is audited all the same.
#[tokio::test]
async fn one_failing_account_does_not_stop_the_others() {
    const R: &str = "us-west-1";
    let other = aws_sdk_kms::Client::new(&sdk_config_with(R, cross_account_credentials().await));
    let (key, arn) = create_key(&other, SYMMETRIC).await;
    assert!(arn.contains(":111111111111:"), "{arn}");

    // moto lets anyone assume a role that does not exist; every call made with it then fails.
    let broken = "arn:aws:iam::222222222222:role/Missing";
    let roles = format!("{},{broken}", crate::common::env::cross_account_role());
    let (auditor, _) = auditor_at(
        config(&[("AUDIT_REGIONS", R), ("AUDIT_ROLE_ARNS", &roles)]),
        R,
        0,
    );
    let report = auditor.handle(scheduled_event()).await.unwrap();

    let f = the_finding(&report, Kind::KmsKey, &key);
    assert_eq!(f.account.as_deref(), Some("111111111111"));
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(f.resource, arn);
    let failed: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.account.as_deref() == Some("222222222222"))
        .collect();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|f| f.kind == Kind::Scope && f.verdict == Verdict::Error),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.resource == "kms:ListKeys" && f.region.as_deref() == Some(R)),
        "{failed:#?}"
    );
    // The own account is not audited when roles are given, and the report says so: one
    // NOT_APPLICABLE finding, no resource of it.
    let own: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.account.as_deref() == Some("123456789012"))
        .collect();
    assert_eq!(own.len(), 1, "{own:#?}");
    assert_eq!(
        (own[0].kind, own[0].verdict, own[0].resource.as_str()),
        (
            Kind::Scope,
            Verdict::NotApplicable,
            "123456789012/own-account-not-covered"
        )
    );
    assert_eq!(report.accounts, ["111111111111", "222222222222"]);
}

/// REMEDIATE acts only inside AUDIT_REGIONS: an event from another region is reported, and the
/// key's rotation stays as its owner left it.
#[tokio::test]
async fn an_event_outside_the_audited_regions_is_reported_never_remediated() {
    const AUDITED: &str = "ap-southeast-2";
    const OTHER: &str = "sa-east-1";
    let kms_other = kms(OTHER);
    let (key, key_arn) = create_key(&kms_other, SYMMETRIC).await;
    let cfg = config(&[("AUDIT_REGIONS", AUDITED), ("REMEDIATE", "true")]);
    let (auditor, _) = auditor_at(cfg, AUDITED, 0);
    let event = cloudtrail_event(
        "aws.kms",
        "DisableKeyRotation",
        OTHER,
        "123456789012",
        json!({"keyId": key}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    let f = the_finding(&report, Kind::KmsKey, &key);
    assert_eq!(f.resource, key_arn);
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert!(f.action.is_none(), "{f:#?}");
    assert!(
        f.reason
            .contains("not remediated: sa-east-1 is not one of the audited regions"),
        "{}",
        f.reason
    );
    assert_eq!(report.stats.aws_calls.get("kms:EnableKeyRotation"), None);
    assert!(!rotation_enabled(&kms_other, &key).await);

    // The same event inside the audited regions is remediated.
    let kms_audited = kms(AUDITED);
    let (inside, _) = create_key(&kms_audited, SYMMETRIC).await;
    let event = cloudtrail_event(
        "aws.kms",
        "DisableKeyRotation",
        AUDITED,
        "123456789012",
        json!({"keyId": inside}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    let action = the_finding(&report, Kind::KmsKey, &inside).action.clone();
    assert!(action.is_some_and(|a| a.succeeded), "{report:#?}");
    assert!(rotation_enabled(&kms_audited, &inside).await);
}

/// A batch of the Organization's event queue (`AUDIT_EVENT_QUEUE_ARN`): a burst of events for
/// one key, by id and by ARN, is one audit of that key; a record from another queue is refused
/// alone, without its body.
#[tokio::test]
async fn a_burst_of_queued_events_audits_the_key_once() {
    const R: &str = "eu-west-3";
    let queue = "arn:aws:sqs:eu-west-3:123456789012:audit-events";
    let kms = kms(R);
    let (named, named_arn) = create_key(&kms, SYMMETRIC).await;
    let cfg = config(&[("AUDIT_REGIONS", R), ("AUDIT_EVENT_QUEUE_ARN", queue)]);
    let (auditor, _) = auditor_at(cfg, R, 0);
    let record = |i: usize, from: &str, key: &str| {
        let body = cloudtrail_event(
            "aws.kms",
            "DisableKeyRotation",
            R,
            "123456789012",
            json!({"keyId": key}),
            Value::Null,
        );
        json!({"messageId": format!("{i:08}-0000-0000-0000-000000000000"), "receiptHandle": "h",
               "body": body.to_string(), "attributes": {}, "messageAttributes": {},
               "eventSource": "aws:sqs", "eventSourceARN": from, "awsRegion": R})
    };
    let mut records: Vec<Value> = (0..6)
        .map(|i| record(i, queue, if i % 2 == 0 { &named } else { &named_arn }))
        .collect();
    records.push(record(
        6,
        "arn:aws:sqs:eu-west-3:123456789012:other",
        &named,
    ));
    let report = auditor.handle(json!({ "Records": records })).await.unwrap();

    assert_eq!(report.trigger, "events (7 received, 1 audited)");
    let f = the_finding(&report, Kind::KmsKey, &named);
    assert_eq!(f.resource, named_arn);
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(report.stats.aws_calls.get("kms:DescribeKey"), Some(&1));
    assert!(!report.stats.aws_calls.contains_key("kms:ListKeys"));
    let counts = report.events.unwrap();
    assert_eq!(
        (counts.audited, counts.duplicates, counts.refused),
        (1, 5, 1)
    );
    let refused: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].verdict, Verdict::Error);
    assert!(!refused[0].reason.contains("DisableKeyRotation"));
}

/// Events audit just what they name.
#[tokio::test]
async fn events_audit_only_the_key_or_user_they_name() {
    const R: &str = "eu-west-3";
    let kms = kms(R);
    let (named, named_arn) = create_key(&kms, SYMMETRIC).await;
    let (bystander, _) = create_key(&kms, SYMMETRIC).await;
    let (auditor, _) = auditor_at(config(&[("AUDIT_REGIONS", R)]), R, 0);

    let event = cloudtrail_event(
        "aws.kms",
        "DisableKeyRotation",
        R,
        "123456789012",
        json!({"keyId": named}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    assert_eq!(report.trigger, "kms:DisableKeyRotation");
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert_eq!(report.findings[0].resource, named_arn);
    assert_eq!(report.findings[0].verdict, Verdict::NonCompliant);
    assert!(!report
        .findings
        .iter()
        .any(|f| f.resource.contains(&bystander)));
    assert!(!report.stats.aws_calls.contains_key("kms:ListKeys"));

    // A native KMS event, by key ARN.
    let native = json!({"version": "0", "id": "1", "detail-type": "KMS CMK Rotation", "source": "aws.kms",
        "account": "123456789012", "time": "2026-11-22T09:00:00Z", "region": R, "resources": [named_arn],
        "detail": {"key-id": named}});
    let report = auditor.handle(native).await.unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        the_finding(&report, Kind::KmsKey, &named).verdict,
        Verdict::NonCompliant
    );

    // A key deleted since: not an error.
    let gone = json!({"version": "0", "id": "2", "detail-type": "KMS CMK Deletion", "source": "aws.kms",
        "account": "123456789012", "time": "2026-11-22T09:00:00Z", "region": R, "resources": [],
        "detail": {"key-id": "00000000-1111-2222-3333-444444444444"}});
    let report = auditor.handle(gone).await.unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].verdict, Verdict::NotApplicable);
    assert_eq!(report.findings[0].reason, "key no longer exists");

    // An IAM event: the user's keys only, and no root check.
    let iam = iam();
    let user = unique("audit-event");
    let keys = user_with_keys(&iam, &user, 2).await;
    let event = cloudtrail_event(
        "aws.iam",
        "CreateAccessKey",
        "us-east-1",
        "123456789012",
        json!({"userName": user}),
        json!({"accessKey": {"accessKeyId": keys[1], "status": "Active", "userName": user}}),
    );
    let report = auditor.handle(event).await.unwrap();
    assert_eq!(report.trigger, "iam:CreateAccessKey");
    let ids: BTreeSet<&str> = report
        .findings
        .iter()
        .map(|f| f.resource.as_str())
        .collect();
    assert_eq!(ids, keys.iter().map(String::as_str).collect());
    assert!(report
        .findings
        .iter()
        .all(|f| f.user() == Some(user.as_str()) && f.verdict == Verdict::Compliant));
    assert!(!report.stats.aws_calls.contains_key("iam:ListUsers"));

    // A user deleted since.
    let event = cloudtrail_event(
        "aws.iam",
        "DeleteAccessKey",
        "us-east-1",
        "123456789012",
        json!({"userName": unique("audit-nobody"), "accessKeyId": "AKIA0000000000000000"}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        (report.findings[0].kind, report.findings[0].verdict),
        (Kind::IamUser, Verdict::NotApplicable)
    );

    // An account the audit does not cover.
    let event = cloudtrail_event(
        "aws.kms",
        "EnableKeyRotation",
        R,
        "999999999999",
        json!({"keyId": named}),
        Value::Null,
    );
    let report = auditor.handle(event).await.unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        (report.findings[0].kind, report.findings[0].verdict),
        (Kind::Scope, Verdict::Error)
    );
    assert!(report.findings[0].reason.contains("999999999999"));

    // Anything else: an error, before any AWS call.
    let err = auditor
        .handle(json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Audit.InvalidEvent");
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Audit.InvalidEvent");
}

/// Exemptions expire (CONTRACT §5). With the audit's clock 100 days ahead (so moto's new IAM
/// keys are old): a KMS key and an IAM user tagged `KeyRotationExempt` with a
/// `KeyRotationExemptUntil` ahead of that clock are EXEMPT with their reason and day, and listed
/// in the report (the user's, 5 days ahead, as expiring soon); tagged with a day that has passed,
/// or with no day, they keep their real verdict (the key stays remediable) and the reason says
/// why the exemption was ignored. Tags are read only for failing keys.
#[tokio::test]
async fn exemptions_hold_until_their_day_and_are_ignored_once_it_has_passed() {
    use aws_key_rotation::time::rfc3339;
    const R: &str = "us-east-2";
    const AHEAD: i64 = 100;
    // A day relative to the audit's clock, which stands still at `at` (and a day later, for the
    // second audit): an hour past AHEAD days, so that keys made below are AHEAD days old.
    let at = now() + AHEAD * DAY + 3600;
    let day = |days: i64| rfc3339(at + days * DAY)[..10].to_owned();
    let kms = kms(R);
    let tag_key = |key: String, tags: Vec<(&'static str, String)>| {
        let kms = kms.clone();
        async move {
            let mut req = kms.tag_resource().key_id(&key);
            for (k, v) in tags {
                req = req.tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key(k)
                        .tag_value(v)
                        .build()
                        .unwrap(),
                );
            }
            req.send().await.expect("TagResource");
        }
    };
    const REASON: &str = "rotated by the HSM team, SEC-42";
    let (honoured, honoured_arn) = create_key(&kms, SYMMETRIC).await;
    tag_key(
        honoured.clone(),
        vec![
            ("KeyRotationExempt", REASON.into()),
            ("KeyRotationExemptUntil", day(30)),
        ],
    )
    .await;
    let (expired, _) = create_key(&kms, SYMMETRIC).await;
    tag_key(
        expired.clone(),
        vec![
            ("KeyRotationExempt", REASON.into()),
            ("KeyRotationExemptUntil", day(-1)),
        ],
    )
    .await;
    // Tagged as before expiries existed.
    let (no_expiry, _) = create_key(&kms, SYMMETRIC).await;
    tag_key(
        no_expiry.clone(),
        vec![("KeyRotationExempt", REASON.into())],
    )
    .await;
    // A compliant key: its tags change nothing and are not read.
    let (compliant, _) = create_key(&kms, SYMMETRIC).await;
    enable_rotation(&kms, &compliant).await;
    tag_key(
        compliant.clone(),
        vec![
            ("KeyRotationExempt", REASON.into()),
            ("KeyRotationExemptUntil", day(-1)),
        ],
    )
    .await;

    let iam = iam();
    let tag_user = |user: String, until: String| {
        let iam = iam.clone();
        async move {
            iam.tag_user()
                .user_name(&user)
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("KeyRotationExempt")
                        // No space: moto checks the signature of a form body with spaces
                        // as "+" (scripts/with-moto.sh).
                        .value("contractor-leaves-in-January:SEC-7")
                        .build()
                        .unwrap(),
                )
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("KeyRotationExemptUntil")
                        .value(until)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("TagUser");
        }
    };
    let exempt_user = unique("audit-exempt");
    let exempt_keys = user_with_keys(&iam, &exempt_user, 1).await;
    tag_user(exempt_user.clone(), day(5)).await;
    let lapsed_user = unique("audit-lapsed");
    let lapsed_keys = user_with_keys(&iam, &lapsed_user, 1).await;
    tag_user(lapsed_user.clone(), day(-1)).await;
    // Exemptions ending in 13, 14 and 15 days: the one entering its last 14 days today is
    // announced, the next one tomorrow, the one already inside them never.
    let mut ending = BTreeMap::new();
    for days in [13, 14, 15] {
        let (key, arn) = create_key(&kms, SYMMETRIC).await;
        tag_key(
            key,
            vec![
                ("KeyRotationExempt", REASON.into()),
                ("KeyRotationExemptUntil", day(days)),
            ],
        )
        .await;
        ending.insert(days, arn);
    }
    let (notifier, inbox, _) =
        crate::common::notifications::notifier_with_inbox(R, &unique("exemption-notices")).await;
    // A user whose exemption also enters its last 14 days: named in the same notice.
    let soon_user = unique("audit-exempt-soon");
    let soon_keys = user_with_keys(&iam, &soon_user, 1).await;
    tag_user(soon_user.clone(), day(14)).await;
    // The exemption notices: (account, the key ids they name, their text).
    let announced = |messages: Vec<Value>| -> Vec<(String, BTreeSet<String>, String)> {
        messages
            .iter()
            .filter(|m| m["detail"]["event"] == "ExemptionExpiringSoon")
            .map(|m| {
                let ids = m["detail"]["keyIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                (
                    m["account"].as_str().unwrap_or_default().to_owned(),
                    ids.iter()
                        .filter_map(|k| Some(k.as_str()?.to_owned()))
                        .collect(),
                    m["detail"]["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    };
    let audit_on = |clock: i64| {
        let (auditor, _) = auditor_at(config(&[("AUDIT_REGIONS", R)]), R, AHEAD);
        auditor
            .with_clock(std::sync::Arc::new(move || clock))
            .with_notifier(notifier.clone())
    };

    let report = audit_on(at).handle(scheduled_event()).await.unwrap();
    // One notice for the account: the key and the user's access key, the day, and not the
    // tag's free text (whoever tags writes it).
    assert_eq!(
        announced(inbox.take().await),
        vec![(
            "123456789012".to_owned(),
            BTreeSet::from([ending[&14].clone(), soon_keys[0].clone()]),
            format!(
                "2 exemption(s) (KeyRotationExempt) end on {} (14 days); from the day after, \
                 the rotation verdict applies again; users: {soon_user}",
                day(14)
            )
        )],
        "one notice, for the exemptions entering their last 14 days"
    );
    assert_summary_consistent(&report);

    let f = the_finding(&report, Kind::KmsKey, &honoured);
    assert_finding(
        f,
        Verdict::Exempt,
        &format!("exempt (KeyRotationExempt) until {}: {REASON}", day(30)),
    );
    assert!(f
        .reason
        .contains("would be non-compliant: rotation disabled"));
    assert!(!f.remediable(), "an exempt key is never remediated");
    let e = f.exemption.as_ref().expect("the exemption");
    assert_eq!(
        (e.until.as_str(), e.reason.as_str()),
        (day(30).as_str(), REASON)
    );
    assert!(!e.expiring_soon);

    let f = the_finding(&report, Kind::KmsKey, &expired);
    assert_finding(
        f,
        Verdict::NonCompliant,
        &format!(
            "rotation disabled; exemption ignored: KeyRotationExemptUntil {} has passed",
            day(-1)
        ),
    );
    assert!(f.remediable() && f.exemption.is_none());
    let f = the_finding(&report, Kind::KmsKey, &no_expiry);
    assert_finding(
        f,
        Verdict::NonCompliant,
        "rotation disabled; exemption ignored: KeyRotationExemptUntil missing",
    );
    assert!(f.remediable() && f.exemption.is_none());
    let f = the_finding(&report, Kind::KmsKey, &compliant);
    assert_eq!(f.verdict, Verdict::Compliant, "{f:#?}");
    assert!(!f.reason.contains("exempt"), "{}", f.reason);
    assert_eq!(
        report.stats.aws_calls.get("kms:ListResourceTags"),
        Some(&(3 + ending.len() as u64)),
        "tags are read for the failing keys only"
    );

    let f = iam_findings_of(&report, &exempt_user);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        f[0],
        Verdict::Exempt,
        &format!(
            "exempt (KeyRotationExempt) until {} (expires in 5 days): contractor-leaves-in-January:SEC-7;",
            day(5)
        ),
    );
    assert!(f[0].exemption.as_ref().is_some_and(|e| e.expiring_soon));
    let f = iam_findings_of(&report, &lapsed_user);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].resource, lapsed_keys[0]);
    assert_finding(
        f[0],
        Verdict::NonCompliant,
        &format!(
            "age 100 days, at or over the 90-day maximum; never used; exemption ignored: \
             KeyRotationExemptUntil {} has passed",
            day(-1)
        ),
    );
    assert!(f[0].exemption.is_none());

    // The report lists the honoured exemptions, once per tagged resource, and counts those
    // expiring within 14 days.
    let listed: BTreeMap<&str, _> = report
        .exemptions
        .iter()
        .map(|e| (e.resource.as_str(), e))
        .collect();
    let k = listed[honoured_arn.as_str()];
    assert_eq!(
        (k.kind, k.account.as_deref(), k.region.as_deref()),
        (Kind::KmsKey, Some("123456789012"), Some(R))
    );
    assert_eq!((k.reason.as_str(), k.until.clone()), (REASON, day(30)));
    assert!(!k.expiring_soon);
    let u = listed[exempt_user.as_str()];
    assert_eq!(
        (u.kind, u.until.clone(), u.expiring_soon),
        (Kind::IamUser, day(5), true)
    );
    assert_eq!(u.access_keys, exempt_keys);
    assert!(report.exemptions_expiring_soon >= 1);
    for gone in [&expired, &no_expiry, &compliant, &lapsed_user] {
        assert!(
            !report
                .exemptions
                .iter()
                .any(|e| e.resource.contains(gone.as_str())),
            "{gone} is listed as exempt"
        );
    }
    let v: Value = serde_json::to_value(&report).unwrap();
    assert!(v["exemptions_expiring_soon"]
        .as_u64()
        .is_some_and(|n| n >= 1));
    assert!(v["exemptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["resource"] == exempt_user.as_str() && e["until"] == day(5).as_str()));

    // The next day's audit announces the next one, and not the first one again.
    audit_on(at + DAY).handle(scheduled_event()).await.unwrap();
    let next: Vec<BTreeSet<String>> = announced(inbox.take().await)
        .into_iter()
        .map(|(_, keys, _)| keys)
        .collect();
    assert_eq!(next, vec![BTreeSet::from([ending[&15].clone()])]);
}

/// An Organization (moto_bootstrap.py: two member accounts, each with the audit role): one
/// scheduled audit lists its accounts and judges each member's keys in that member's account,
/// through the role, with no ERROR.
#[tokio::test]
async fn an_organization_is_audited_through_the_role_of_each_member_account() {
    const R: &str = "ca-west-1";
    let role = crate::common::env::org_role_name();
    let members = crate::common::env::org_member_accounts();
    assert_eq!(members.len(), 2);
    let mut keys = BTreeMap::new();
    for member in &members {
        let kms = member_kms(member, R).await;
        let (on, _) = create_key(&kms, SYMMETRIC).await;
        enable_rotation(&kms, &on).await;
        let (off, _) = create_key(&kms, SYMMETRIC).await;
        keys.insert(member.clone(), (on, off));
    }

    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", &role), ("AUDIT_REGIONS", R)]);
    let (auditor, _) = auditor_at(cfg, R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_summary_consistent(&report);

    for (member, (on, off)) in &keys {
        let mine: BTreeMap<String, &Finding> = kms_findings_in(&report, R)
            .filter(|f| f.account.as_deref() == Some(member.as_str()))
            .map(|f| (f.kms.as_ref().unwrap().key_id.clone(), f))
            .collect();
        assert_eq!(
            mine.keys().collect::<BTreeSet<_>>(),
            BTreeSet::from([on, off]),
            "{member}: every key of the member, in the member's account"
        );
        assert_finding(mine[on], Verdict::Compliant, "rotation enabled");
        assert_finding(mine[off], Verdict::NonCompliant, "rotation disabled");
        assert!(mine[on].resource.contains(&format!(":{member}:key/")));
    }
    let audited: BTreeSet<&str> = report.accounts.iter().map(String::as_str).collect();
    for member in &members {
        assert!(audited.contains(member.as_str()), "{audited:?}");
    }
    assert!(
        audited.contains(ACCOUNT),
        "the management account, with its own credentials"
    );
    // (The management account is shared with the tests running meanwhile: its findings are
    // theirs to check.)
    let errors: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Error)
        .filter(|f| {
            f.kind == Kind::Scope || f.account.as_ref().is_some_and(|a| members.contains(a))
        })
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.stats.aws_calls.get("sts:AssumeRole"), Some(&2));
}

/// The fan-out through SQS (AUDIT_FANOUT_QUEUE_URL): the scheduled run only queues one message
/// per account of the Organization; each message, delivered as SQS delivers it, audits that
/// account alone; a message naming an account outside the Organization assumes nothing.
#[tokio::test]
async fn a_scheduled_audit_fans_the_organization_out_one_message_per_account() {
    const R: &str = "ap-south-2";
    let role = crate::common::env::org_role_name();
    let members = crate::common::env::org_member_accounts();
    let mut keys = BTreeMap::new();
    for member in &members {
        let kms = member_kms(member, R).await;
        keys.insert(member.clone(), create_key(&kms, SYMMETRIC).await.0);
    }
    // SQS on the moto that checks no signature (see scripts/with-moto.sh).
    let sqs = aws_sdk_sqs::Client::new(&crate::common::notifications::unsigned_config(R));
    let queue_url = crate::common::notifications::create_queue(&sqs, &unique("audit-fanout")).await;
    let cfg = config(&[
        ("AUDIT_ORG_ROLE_NAME", &role),
        ("AUDIT_REGIONS", R),
        ("AUDIT_FANOUT_QUEUE_URL", &queue_url),
    ]);
    let (auditor, _) = auditor_at(cfg, R, 0);
    let auditor = auditor.with_queue(sqs.clone());

    let report = auditor.handle(scheduled_event()).await.unwrap();
    let mut expected: BTreeSet<String> = members.iter().cloned().collect();
    expected.insert(ACCOUNT.to_owned());
    assert_eq!(
        report.accounts.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(!report.stats.aws_calls.contains_key("sts:AssumeRole"));

    let bodies: Vec<String> = crate::common::notifications::Inbox::of(sqs, &queue_url)
        .take()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(bodies.len(), expected.len(), "{bodies:?}");
    let delivery = |body: &str| {
        json!({"Records": [{
            "messageId": uuid_like(), "receiptHandle": "r", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:ap-south-2:123456789012:q",
            "awsRegion": R
        }]})
    };
    for body in &bodies {
        let account: Value = serde_json::from_str(body).unwrap();
        let account = account["audit_account"].as_str().unwrap().to_owned();
        let report = auditor.handle(delivery(body)).await.unwrap();
        assert_eq!(
            report.accounts,
            std::slice::from_ref(&account),
            "one account per message"
        );
        assert!(kms_findings_in(&report, R).all(|f| f.account.as_deref() == Some(account.as_str())));
        if let Some(key) = keys.get(&account) {
            let f = the_finding(&report, Kind::KmsKey, key);
            assert_finding(f, Verdict::NonCompliant, "rotation disabled");
            assert_eq!(report.stats.aws_calls.get("sts:AssumeRole"), Some(&1));
            assert_eq!(
                report.stats.aws_calls.get("organizations:DescribeAccount"),
                Some(&1)
            );
        }
    }

    // Whoever can write to the queue cannot aim the audit at an account outside the
    // Organization: no role is assumed there.
    let forged = auditor
        .handle(delivery(r#"{"audit_account":"999999999999"}"#))
        .await
        .unwrap();
    assert!(forged.accounts.is_empty());
    assert!(!forged.stats.aws_calls.contains_key("sts:AssumeRole"));
    let errors: Vec<&Finding> = forged.findings_of(Kind::Scope).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .reason
            .contains("not an ACTIVE account of the Organization"),
        "{}",
        errors[0].reason
    );
}
