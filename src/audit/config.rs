//! Typed configuration of `audit-key-rotation`, read from the environment once at start-up.

use crate::settings::{parse_bool, parse_days, parse_list, parse_var, ConfigError, Shared};

/// `SWEEP`: what the audit does with replaced keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SweepMode {
    /// `false`: nothing; their verdicts still follow the retirement rules.
    #[default]
    Off,
    /// `report`: decides exactly as [`SweepMode::On`] and says in each finding what it would do,
    /// but makes no IAM write and sends no notification (a safe first run).
    Report,
    /// `true`: deactivates and deletes replaced keys, and announces it.
    On,
}

impl SweepMode {
    /// Whether the sweep decides at all.
    pub fn decides(self) -> bool {
        self != SweepMode::Off
    }

    /// Whether the sweep changes IAM and notifies.
    pub fn acts(self) -> bool {
        self == SweepMode::On
    }

    fn parse(v: &str) -> Option<Self> {
        match v.to_ascii_lowercase().as_str() {
            "report" => Some(SweepMode::Report),
            other => parse_bool(other).map(|on| if on { SweepMode::On } else { SweepMode::Off }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub kms_max_rotation_days: u32,
    pub iam_max_key_age_days: u32,
    /// `KMS_UNUSED_DAYS`: a customer-managed key without a recorded use for this long gets its
    /// own reason line (consider disabling it) and is counted in the summary.
    pub kms_unused_days: u32,
    /// Empty: the function's own region (or, with `all_regions`, every enabled region).
    pub regions: Vec<String>,
    /// `AUDIT_REGIONS=all`: every region enabled in each account (account:ListRegions).
    pub all_regions: bool,
    /// Empty: the function's own account.
    pub role_arns: Vec<String>,
    /// `AUDIT_ORG_ROLE_NAME`: every ACTIVE account of the Organization, through this role
    /// (a name, with its path if it has one: `path/name`).
    pub org_role_name: Option<String>,
    /// `AUDIT_FANOUT_QUEUE_URL`: a scheduled audit sends one message per account to this SQS
    /// queue, whose messages invoke this function to audit one account each.
    pub fanout_queue_url: Option<String>,
    /// `AUDIT_EVENT_QUEUE_ARN`: the SQS queue the Organization's events bus sends the members'
    /// events to; its records are EventBridge events (audited in batches), never fan-out messages.
    pub event_queue_arn: Option<String>,
    pub concurrency: usize,
    pub remediate: bool,
    pub remediate_rotation_days: u32,
    pub sweep: SweepMode,
    /// What both functions read alike: the sweep's windows for a replaced key, the metrics
    /// namespace, the topic the sweep's actions are announced on.
    pub shared: Shared,
    /// The S3 bucket that keeps every run's report (`REPORT_BUCKET`); `None`: not stored.
    pub report_bucket: Option<String>,
    /// The key prefix of the reports (`REPORT_PREFIX`).
    pub report_prefix: String,
    /// One ASFF finding per resource in Security Hub (`SECURITY_HUB`).
    pub security_hub: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            kms_max_rotation_days: 365,
            iam_max_key_age_days: 90,
            kms_unused_days: 90,
            regions: Vec::new(),
            all_regions: false,
            role_arns: Vec::new(),
            org_role_name: None,
            fanout_queue_url: None,
            event_queue_arn: None,
            concurrency: 16,
            remediate: false,
            remediate_rotation_days: 365,
            sweep: SweepMode::Off,
            shared: Shared::default(),
            report_bucket: None,
            report_prefix: "key-rotation/".to_owned(),
            security_hub: false,
        }
    }
}

impl AuditConfig {
    /// Every environment variable `audit-key-rotation` reads.
    pub const ENV_VARS: &'static [&'static str] = &[
        "KMS_MAX_ROTATION_DAYS",
        "KMS_UNUSED_DAYS",
        "IAM_MAX_KEY_AGE_DAYS",
        "AUDIT_REGIONS",
        "AUDIT_ROLE_ARNS",
        "AUDIT_ORG_ROLE_NAME",
        "AUDIT_FANOUT_QUEUE_URL",
        "AUDIT_EVENT_QUEUE_ARN",
        "AUDIT_CONCURRENCY",
        "REMEDIATE",
        "REMEDIATE_ROTATION_DAYS",
        "SWEEP",
        "OLD_KEY_IDLE_HOURS",
        "OLD_KEY_GRACE_DAYS",
        "OLD_KEY_MAX_WAIT_DAYS",
        "OLD_KEY_FORCE_DAYS",
        "METRICS_NAMESPACE",
        "NOTIFY_TOPIC_ARN",
        "REPORT_BUCKET",
        "REPORT_PREFIX",
        "SECURITY_HUB",
    ];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let config = Self::parse(&lookup)?;
        // A remediated key must come out compliant: its new period may not exceed the maximum.
        if config.remediate && config.remediate_rotation_days > config.kms_max_rotation_days {
            return Err(ConfigError {
                var: "REMEDIATE_ROTATION_DAYS",
                value: config.remediate_rotation_days.to_string(),
                expected: "a period no longer than KMS_MAX_ROTATION_DAYS when REMEDIATE=true",
            });
        }
        Ok(config)
    }

    fn parse(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup = |k: &str| lookup(k);
        let d = Self::default();
        let days = |v: &str| parse_days(v, 1, 3650);
        Ok(Self {
            shared: Shared::from_lookup(&lookup)?,
            kms_max_rotation_days: parse_var(
                &lookup,
                "KMS_MAX_ROTATION_DAYS",
                d.kms_max_rotation_days,
                "days (1-3650)",
                days,
            )?,
            kms_unused_days: parse_var(
                &lookup,
                "KMS_UNUSED_DAYS",
                d.kms_unused_days,
                "days (1-3650)",
                days,
            )?,
            iam_max_key_age_days: parse_var(
                &lookup,
                "IAM_MAX_KEY_AGE_DAYS",
                d.iam_max_key_age_days,
                "days (1-3650)",
                days,
            )?,
            regions: parse_var(
                &lookup,
                "AUDIT_REGIONS",
                d.regions,
                "a comma-separated list of regions (us-east-1,eu-west-1), or all",
                |v| match v.trim() {
                    "all" => Some(Vec::new()),
                    v => parse_list(v).filter(|l| l.iter().all(|r| is_region_name(r))),
                },
            )?,
            all_regions: lookup("AUDIT_REGIONS").is_some_and(|v| v.trim() == "all"),
            role_arns: parse_var(
                &lookup,
                "AUDIT_ROLE_ARNS",
                d.role_arns,
                "a comma-separated list of IAM role ARNs",
                |v| {
                    parse_list(v).filter(|l| {
                        l.iter()
                            .all(|a| crate::arn::Arn::parse(a).is_some_and(|a| a.is_iam_role()))
                    })
                },
            )?,
            org_role_name: parse_var(
                &lookup,
                "AUDIT_ORG_ROLE_NAME",
                d.org_role_name,
                "an IAM role name (path/name allowed), the same in every member account",
                |v| is_role_name(v).then(|| Some(v.to_owned())),
            )?,
            fanout_queue_url: parse_var(
                &lookup,
                "AUDIT_FANOUT_QUEUE_URL",
                d.fanout_queue_url,
                "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)",
                |v| {
                    let ok = (v.starts_with("https://") || v.starts_with("http://"))
                        && v.len() <= 1024
                        && !v.contains(char::is_whitespace);
                    ok.then(|| Some(v.to_owned()))
                },
            )?,
            event_queue_arn: parse_var(
                &lookup,
                "AUDIT_EVENT_QUEUE_ARN",
                d.event_queue_arn,
                "an SQS queue ARN (arn:<partition>:sqs:<region>:<account>:<queue>)",
                |v| {
                    let ok = crate::arn::Arn::parse(v).is_some_and(|a| a.service == "sqs")
                        && v.len() <= 1024;
                    ok.then(|| Some(v.to_owned()))
                },
            )?,
            concurrency: parse_var(
                &lookup,
                "AUDIT_CONCURRENCY",
                d.concurrency,
                "a number of calls (1-256)",
                |v| v.parse::<usize>().ok().filter(|n| (1..=256).contains(n)),
            )?,
            remediate: parse_var(
                &lookup,
                "REMEDIATE",
                d.remediate,
                "true or false",
                parse_bool,
            )?,
            remediate_rotation_days: parse_var(
                &lookup,
                "REMEDIATE_ROTATION_DAYS",
                d.remediate_rotation_days,
                "days between 90 and 2560 (KMS's range)",
                |v| v.parse::<u32>().ok().filter(|n| (90..=2560).contains(n)),
            )?,
            sweep: parse_var(
                &lookup,
                "SWEEP",
                d.sweep,
                "true, false or report",
                SweepMode::parse,
            )?,
            report_bucket: parse_var(
                &lookup,
                "REPORT_BUCKET",
                d.report_bucket,
                "an S3 bucket name",
                |v| {
                    let ok = (3..=63).contains(&v.len())
                        && v.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                        });
                    ok.then(|| Some(v.to_owned()))
                },
            )?,
            report_prefix: parse_var(
                &lookup,
                "REPORT_PREFIX",
                d.report_prefix,
                "an S3 key prefix (up to 512 characters)",
                |v| (v.len() <= 512).then(|| v.to_owned()),
            )?,
            security_hub: parse_var(
                &lookup,
                "SECURITY_HUB",
                d.security_hub,
                "true or false",
                parse_bool,
            )?,
        })
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`…
fn is_region_name(r: &str) -> bool {
    r.split('-').count() >= 3
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// An IAM role name, with its path if any: `[\w+=,.@-]` segments joined by `/`, at most 64
/// characters of name.
fn is_role_name(n: &str) -> bool {
    let name = n.rsplit('/').next().unwrap_or(n);
    (1..=64).contains(&name.len())
        && n.len() <= 512
        && n.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::lookup;

    fn cfg(pairs: &[(&str, &str)]) -> Result<AuditConfig, ConfigError> {
        AuditConfig::from_lookup(lookup(pairs))
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c, AuditConfig::default());
        assert_eq!(
            (
                c.kms_max_rotation_days,
                c.iam_max_key_age_days,
                c.concurrency
            ),
            (365, 90, 16)
        );
        assert_eq!(c.kms_unused_days, 90);
        assert!(c.regions.is_empty() && c.role_arns.is_empty());
        assert!(!c.remediate && c.sweep == SweepMode::Off);
        assert_eq!(c.shared, Shared::default());
        assert_eq!(c.remediate_rotation_days, 365);
    }

    #[test]
    fn parses_every_variable() {
        let c = cfg(&[
            ("KMS_MAX_ROTATION_DAYS", "180"),
            ("IAM_MAX_KEY_AGE_DAYS", "45"),
            ("AUDIT_REGIONS", "us-east-1, eu-west-1,"),
            (
                "AUDIT_ROLE_ARNS",
                "arn:aws:iam::111111111111:role/Audit,arn:aws:iam::222222222222:role/Audit",
            ),
            ("AUDIT_CONCURRENCY", "4"),
            ("REMEDIATE", "true"),
            ("REMEDIATE_ROTATION_DAYS", "90"),
            ("SWEEP", "yes"),
            ("OLD_KEY_GRACE_DAYS", "0"),
            ("OLD_KEY_MAX_WAIT_DAYS", "3"),
            ("OLD_KEY_FORCE_DAYS", "21"),
            ("METRICS_NAMESPACE", "Sec/Keys"),
        ])
        .unwrap();
        assert_eq!(c.kms_max_rotation_days, 180);
        assert_eq!(c.iam_max_key_age_days, 45);
        assert_eq!(c.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(c.role_arns.len(), 2);
        assert_eq!(c.concurrency, 4);
        assert!(c.remediate && c.sweep == SweepMode::On);
        assert_eq!(
            (c.shared.old_key_max_wait_days, c.shared.old_key_force_days),
            (3, 21)
        );
        assert_eq!(c.remediate_rotation_days, 90);
        assert_eq!(c.shared.old_key_grace_days, 0);
        assert_eq!(c.shared.metrics_namespace, "Sec/Keys");
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        assert_eq!(
            cfg(&[("AUDIT_CONCURRENCY", "0")]).unwrap_err().var,
            "AUDIT_CONCURRENCY"
        );
        assert_eq!(
            cfg(&[("AUDIT_ROLE_ARNS", "Audit")]).unwrap_err().var,
            "AUDIT_ROLE_ARNS"
        );
        assert_eq!(cfg(&[("REMEDIATE", "maybe")]).unwrap_err().var, "REMEDIATE");
        assert_eq!(
            cfg(&[("REMEDIATE_ROTATION_DAYS", "30")]).unwrap_err().var,
            "REMEDIATE_ROTATION_DAYS"
        );
        assert_eq!(
            cfg(&[("KMS_MAX_ROTATION_DAYS", "0")]).unwrap_err().var,
            "KMS_MAX_ROTATION_DAYS"
        );
    }

    #[test]
    fn sweep_is_true_false_or_report() {
        for (v, want) in [
            ("true", SweepMode::On),
            ("YES", SweepMode::On),
            ("false", SweepMode::Off),
            ("0", SweepMode::Off),
            ("report", SweepMode::Report),
            (" Report ", SweepMode::Report),
        ] {
            assert_eq!(cfg(&[("SWEEP", v)]).unwrap().sweep, want, "{v}");
        }
        assert!(SweepMode::Report.decides() && !SweepMode::Report.acts());
        assert!(SweepMode::On.decides() && SweepMode::On.acts());
        assert!(!SweepMode::Off.decides() && !SweepMode::Off.acts());
        for bad in ["dry-run", "reports", "maybe"] {
            let e = cfg(&[("SWEEP", bad)]).unwrap_err();
            assert_eq!(e.var, "SWEEP", "{bad}");
            assert!(e.to_string().contains("true, false or report"), "{e}");
        }
        // The retirement windows are the shared parser's, checked the same way.
        let e = cfg(&[
            ("OLD_KEY_MAX_WAIT_DAYS", "30"),
            ("OLD_KEY_FORCE_DAYS", "30"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "OLD_KEY_FORCE_DAYS");
    }

    #[test]
    fn an_organization_and_every_region() {
        let c = cfg(&[
            ("AUDIT_ORG_ROLE_NAME", "security/KeyRotationAudit"),
            ("AUDIT_REGIONS", " all "),
        ])
        .unwrap();
        assert_eq!(
            c.org_role_name.as_deref(),
            Some("security/KeyRotationAudit")
        );
        assert!(c.all_regions && c.regions.is_empty());
        let fanned = cfg(&[(
            "AUDIT_FANOUT_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/key-rotation-audit",
        )])
        .unwrap();
        assert!(fanned.fanout_queue_url.is_some());
        assert_eq!(
            cfg(&[("AUDIT_FANOUT_QUEUE_URL", "key-rotation-audit")])
                .unwrap_err()
                .var,
            "AUDIT_FANOUT_QUEUE_URL"
        );
        let listed = cfg(&[("AUDIT_REGIONS", "us-east-1")]).unwrap();
        assert!(!listed.all_regions);
        for bad in ["us-east-1,all", "US-EAST-1", "useast1"] {
            assert_eq!(
                cfg(&[("AUDIT_REGIONS", bad)]).unwrap_err().var,
                "AUDIT_REGIONS",
                "{bad}"
            );
        }
        let long = "r".repeat(65);
        for bad in [
            "/Audit",
            "Audit/",
            "a role",
            "arn:aws:iam::1:role/x",
            long.as_str(),
        ] {
            assert_eq!(
                cfg(&[("AUDIT_ORG_ROLE_NAME", bad)]).unwrap_err().var,
                "AUDIT_ORG_ROLE_NAME",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn remediation_may_not_set_a_period_over_the_maximum() {
        let e = cfg(&[("REMEDIATE", "true"), ("KMS_MAX_ROTATION_DAYS", "180")]).unwrap_err();
        assert_eq!(e.var, "REMEDIATE_ROTATION_DAYS");
        assert!(e.to_string().contains("KMS_MAX_ROTATION_DAYS"), "{e}");
        // Report-only audits do not care.
        assert!(cfg(&[("KMS_MAX_ROTATION_DAYS", "180")]).is_ok());
        assert!(cfg(&[
            ("REMEDIATE", "true"),
            ("KMS_MAX_ROTATION_DAYS", "180"),
            ("REMEDIATE_ROTATION_DAYS", "180")
        ])
        .is_ok());
    }
}
