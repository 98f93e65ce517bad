//! Facts the verdict tables share: one clock reading, keys, uses and secrets.

use super::iam::{IamPolicy, LastUseLookup};
use super::DAY;
use crate::aws::iam::{AccessKey, LastUse};
use crate::binding::SecretKeyRefs;

pub const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

pub const IAM: IamPolicy = IamPolicy {
    max_age_days: 90,
    now: NOW,
};

pub fn access_key(id: &str, status: &str, age_days: Option<i64>) -> AccessKey {
    AccessKey {
        user: "alice".into(),
        id: id.into(),
        status: status.into(),
        created: age_days.map(|d| NOW - d * DAY - 60),
    }
}

pub fn used(days_ago: i64) -> LastUseLookup {
    LastUseLookup::Known(LastUse {
        date: Some(NOW - days_ago * DAY),
        service: Some("s3".into()),
        region: Some("us-east-1".into()),
    })
}

pub fn never() -> LastUseLookup {
    LastUseLookup::Known(LastUse::default())
}

pub fn secret(
    arn: &str,
    user: Option<&str>,
    current: Option<&str>,
    previous: Option<&str>,
) -> SecretKeyRefs {
    SecretKeyRefs {
        secret_arn: arn.into(),
        secret_name: arn.rsplit('/').next().unwrap_or(arn).into(),
        user: user.map(Into::into),
        user_account: None,
        current_key: current.map(Into::into),
        previous_key: previous.map(Into::into),
        pending_key: None,
        last_rotated: None,
    }
}
