//! The sweep of cross-account rotations: a rotation secret of the central account (the audit's
//! own) bound to an IAM user of a member account. The member's replaced key is swept in the
//! member's run, through the member's audit role, from the central secret's tags as the audit
//! reads them with its own credentials, under the same binding and retirement rules.

use crate::common::audit::*;
use crate::common::moto::*;
use crate::common::*;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::binding::{
    CURRENT_KEY_TAG, DEACTIVATED_TAG, PREVIOUS_KEY_TAG, USER_ACCOUNT_TAG, USER_TAG,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A rotation secret of the central account as the rotator leaves it after a cross-account
/// rotation: `user` (in the account `user_account`) holds `current`, which replaced `previous`.
async fn central_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    user: &str,
    user_account: &str,
    current: &str,
    previous: &str,
) -> String {
    let value = json!({"UserName": user, "AccessKeyId": current, "SecretAccessKey": "never-logged",
                       "PreviousAccessKeyId": previous});
    create_secret(
        sm,
        name,
        &value.to_string(),
        &[
            ("RotationType", "iam-access-key"),
            (USER_TAG, user),
            (USER_ACCOUNT_TAG, user_account),
            (CURRENT_KEY_TAG, current),
            (PREVIOUS_KEY_TAG, previous),
        ],
    )
    .await
}

/// A user of `member` with two keys, bound to a new central secret that says `k[1]` replaced
/// `k[0]`, both recorded on the user as keys the rotator created for that binding.
async fn cross_account_pair(
    iam: &aws_sdk_iam::Client,
    sm: &aws_sdk_secretsmanager::Client,
    member: &str,
    prefix: &str,
) -> (String, Vec<String>, String) {
    let user = unique(prefix);
    let k = user_with_keys(iam, &user, 2).await;
    let secret = central_secret(sm, &unique("xsweep/"), &user, member, &k[1], &k[0]).await;
    bind(iam, &user, &secret).await;
    record_own_keys(iam, &user, &secret, &[&k[0], &k[1]]).await;
    (user, k, secret)
}

fn org_config(region: &str, sweep: &str) -> aws_key_rotation::audit::config::AuditConfig {
    config(&[
        ("AUDIT_ORG_ROLE_NAME", &crate::common::env::org_role_name()),
        ("AUDIT_REGIONS", region),
        ("SWEEP", sweep),
        ("OLD_KEY_GRACE_DAYS", "7"),
        ("OLD_KEY_MAX_WAIT_DAYS", "1"),
    ])
}

/// The findings of `user`'s keys, with the action taken on each.
fn actions_on(report: &Report, account: &str, user: &str) -> BTreeMap<String, Option<String>> {
    report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.account.as_deref() == Some(account) && f.user() == Some(user))
        .map(|f| {
            let action = f.action.as_ref().map(|a| {
                format!(
                    "{}{}",
                    a.action,
                    if a.succeeded { "" } else { " (not done)" }
                )
            });
            (f.resource.clone(), action)
        })
        .collect()
}

/// The replaced key of a member user whose secret lives in the central account is deactivated
/// once idle (here past OLD_KEY_MAX_WAIT_DAYS) and deleted after the grace period, through the
/// member's audit role, with one finding per key; SWEEP=report changes nothing. A secret of the
/// member account that claims the replaced key as its current one, and names the current key
/// as replaced, changes nothing: the member's own data never says which keys the central
/// secret owns.
#[tokio::test]
async fn a_central_secret_sweeps_its_member_users_replaced_key_through_the_member_role() {
    const R: &str = "eu-north-1";
    let member = &crate::common::env::org_member_accounts()[0];
    let iam = member_iam(member).await;
    let sm = secrets(R);
    let (user, k, secret) = cross_account_pair(&iam, &sm, member, "xsweep").await;
    // Member-side data: a secret of the member account written by whoever holds the account.
    let member_sm = member_secrets(member, R).await;
    let claimant = rotation_secret(
        &member_sm,
        &unique("xsweep/member"),
        Held::of(&user, &k[0], Some(&k[1])),
    )
    .await;

    // SWEEP=report: says what it would do, does nothing.
    let (auditor, _) = auditor_at(org_config(R, "report"), R, 2);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(
        actions_on(&report, member, &user),
        BTreeMap::from([
            (
                k[0].clone(),
                Some("WouldUpdateAccessKey (not done)".to_owned())
            ),
            (k[1].clone(), None),
        ])
    );
    let status = key_status(&iam, &user).await;
    assert!(status.values().all(|s| s == "Active"), "{status:?}");

    // Two days after the rotation: deactivated, through the member's role.
    let (auditor, _) = auditor_at(org_config(R, "true"), R, 2);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(
        actions_on(&report, member, &user),
        BTreeMap::from([
            (k[0].clone(), Some("UpdateAccessKey".to_owned())),
            (k[1].clone(), None),
        ])
    );
    let f = the_finding(&report, Kind::IamAccessKey, &k[0]);
    assert_eq!(f.account.as_deref(), Some(member.as_str()));
    assert!(
        f.reason
            .contains(&format!("by a rotation of secret {secret}"))
            && f.reason.contains("deactivated by the sweep")
            && f.reason.contains(&format!(
                "secret {claimant} names it as its AWSCURRENT key, a claim that changes nothing"
            )),
        "{f:#?}"
    );
    // Its user is in an audited account: nothing to report on the secret.
    let s = the_finding(&report, Kind::Secret, &secret);
    assert!(!s.reason.contains("does not cover"), "{s:#?}");
    let status = key_status(&iam, &user).await;
    assert_eq!(
        (status[&k[0]].as_str(), status[&k[1]].as_str()),
        ("Inactive", "Active")
    );
    let tags: BTreeMap<String, String> = user_tags(&iam, &user).await.into_iter().collect();
    assert!(
        tags.get(DEACTIVATED_TAG)
            .is_some_and(|v| v.starts_with(&format!("{}:", k[0]))),
        "{tags:?}"
    );

    // Ten days after: deleted; the current key stays.
    let (auditor, _) = auditor_at(org_config(R, "true"), R, 10);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(
        actions_on(&report, member, &user),
        BTreeMap::from([
            (k[0].clone(), Some("DeleteAccessKey".to_owned())),
            (k[1].clone(), None),
        ])
    );
    assert_eq!(key_ids_of(&iam, &user).await, vec![k[1].clone()]);
}

/// A central secret whose user is in an account the audit does not cover (not in the
/// Organization) is reported, and no role is assumed and nothing is called there.
#[tokio::test]
async fn a_central_secret_of_an_account_not_audited_is_reported_never_acted_on() {
    const R: &str = "eu-south-1";
    let members = crate::common::env::org_member_accounts();
    let sm = secrets(R);
    let outsider = "999999999999";
    let secret = central_secret(
        &sm,
        &unique("xsweep/outside"),
        "stranger",
        outsider,
        "AKIAOUTSIDECURRENT00",
        "AKIAOUTSIDEPREVIOUS0",
    )
    .await;

    let (auditor, _) = auditor_at(org_config(R, "true"), R, 2);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    let f = the_finding(&report, Kind::Secret, &secret);
    assert!(
        f.reason.contains(&format!(
            "its user stranger is in account {outsider}, which this audit does not cover"
        )),
        "{f:#?}"
    );
    assert!(f.action.is_none(), "{f:#?}");
    let elsewhere: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.account.as_deref() == Some(outsider))
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");
    assert_eq!(
        report.stats.aws_calls.get("sts:AssumeRole"),
        Some(&(members.len() as u64)),
        "one role per member, none in {outsider}"
    );
}

/// A writer of a central secret who retargets its tags at a user of another member account
/// (naming that user's current key as the replaced one, and the user's account) cannot make the
/// sweep retire it: the user is bound to another secret, and the key was not created by the
/// rotator for the writer's secret. The victim's own secret still retires its replaced key.
#[tokio::test]
async fn a_central_secret_writer_cannot_aim_the_sweep_at_another_members_user() {
    const R: &str = "sa-east-1";
    let members = crate::common::env::org_member_accounts();
    let victim_account = &members[1];
    let iam = member_iam(victim_account).await;
    let sm = secrets(R);
    let (victim, k, _) = cross_account_pair(&iam, &sm, victim_account, "xsweep-victim").await;
    let attacker = central_secret(
        &sm,
        &unique("xsweep/attacker"),
        &victim,
        victim_account,
        &k[0],
        &k[1],
    )
    .await;

    for days in [2, 40] {
        let (auditor, _) = auditor_at(org_config(R, "true"), R, days);
        let report = auditor.handle(scheduled_event()).await.unwrap();
        let f = the_finding(&report, Kind::IamAccessKey, &k[1]);
        assert!(f.action.is_none(), "day {days}: {f:#?}");
        assert!(
            f.reason
                .contains(&format!("secret {attacker} names it as its AWSCURRENT key"))
                || f.reason
                    .contains(&format!("not bound to secret {attacker}")),
            "day {days}: {f:#?}"
        );
    }
    let status = key_status(&iam, &victim).await;
    assert_eq!(status.get(&k[1]).map(String::as_str), Some("Active"));
    assert_eq!(
        status.keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([&k[1]]),
        "the victim's own replaced key, and only it, went"
    );
}

/// End to end: a cross-account rotation by the rotator (secret here, user in the account of
/// the cross-account role) records the user's ARN on the secret, and the audit of that account,
/// through its role, retires the replaced key: deactivated once idle past OLD_KEY_MAX_WAIT_DAYS,
/// deleted after the grace period; the current key stays.
#[tokio::test]
async fn a_cross_account_rotation_is_swept_in_the_users_account() {
    use crate::common::rotation::Harness;
    const R: &str = "il-central-1";
    let h = Harness::in_region(R);
    let other = h.other_account_iam().await;
    let user = unique("xsweep-e2e");
    h.create_user(&other, &user).await;
    let (old_id, _, mut doc) = h.create_key(&other, &user).await;
    let role = crate::common::env::cross_account_role();
    doc["RoleArn"] = json!(role);
    let secret = h
        .create_secret(&unique("xsweep/e2e"), &doc.to_string())
        .await;
    h.bind(&other, &user, &secret).await;
    let rotation = aws_key_rotation::rotation::config::RotationConfig {
        test_timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    };
    h.rotate(&h.rotator(rotation), &secret).await;
    let account = aws_key_rotation::arn::Arn::parse(&role)
        .and_then(|a| a.account_id())
        .unwrap()
        .to_owned();
    let tags = h.secret_tags(&secret).await;
    assert_eq!(tags.get(USER_ACCOUNT_TAG), Some(&account));
    let new_id = tags[CURRENT_KEY_TAG].clone();

    let cfg = |sweep: &str| {
        config(&[
            ("AUDIT_ROLE_ARNS", &role),
            ("AUDIT_REGIONS", R),
            ("SWEEP", sweep),
            ("OLD_KEY_GRACE_DAYS", "7"),
            ("OLD_KEY_MAX_WAIT_DAYS", "1"),
        ])
    };
    for (days, action) in [(2, "UpdateAccessKey"), (10, "DeleteAccessKey")] {
        let (auditor, _) = auditor_at(cfg("true"), R, days);
        let report = auditor.handle(scheduled_event()).await.unwrap();
        assert_eq!(
            actions_on(&report, &account, &user),
            BTreeMap::from([
                (old_id.clone(), Some(action.to_owned())),
                (new_id.clone(), None)
            ]),
            "day {days}"
        );
    }
    assert_eq!(key_ids_of(&other, &user).await, vec![new_id]);
}
