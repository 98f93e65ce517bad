//! The report in the logs: a summary table, and one structured line per non-compliant or failed
//! finding.

use super::{Report, Summary};
use crate::audit::verdict::Verdict;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tracing::{error, info, warn};

impl Report {
    /// A fixed-width table of the counts per account, region and kind, with a total line.
    pub fn summary_table(&self) -> String {
        let mut rows: BTreeMap<(String, String, &'static str), Summary> = BTreeMap::new();
        for f in &self.findings {
            rows.entry((
                f.account.clone().unwrap_or_else(|| "-".into()),
                f.metric_region().to_owned(),
                f.kind.as_str(),
            ))
            .or_default()
            .add(f.verdict);
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "key rotation audit ({}): {} findings",
            self.trigger,
            self.summary.total()
        );
        let _ = writeln!(
            out,
            "{:<14} {:<16} {:<15} {:>9} {:>13} {:>14} {:>6} {:>6}",
            "account",
            "region",
            "kind",
            "COMPLIANT",
            "NON_COMPLIANT",
            "NOT_APPLICABLE",
            "EXEMPT",
            "ERROR"
        );
        let line = |out: &mut String, a: &str, r: &str, k: &str, s: &Summary| {
            let _ = writeln!(
                out,
                "{a:<14} {r:<16} {k:<15} {:>9} {:>13} {:>14} {:>6} {:>6}",
                s.compliant, s.non_compliant, s.not_applicable, s.exempt, s.error
            );
        };
        for ((a, r, k), s) in &rows {
            line(&mut out, a, r, k, s);
        }
        // The total counts omitted findings too.
        line(&mut out, "total", "", "", &self.summary);
        if !self.exemptions.is_empty() {
            let _ = writeln!(
                out,
                "exemptions {} (expiring within 14 days {})",
                self.exemptions.len(),
                self.exemptions_expiring_soon
            );
        }
        let a = &self.actions;
        if a.remediated + a.remediation_failed + a.swept + a.sweep_failed > 0 {
            let _ = writeln!(
                out,
                "remediated {} (failed {}), swept {} (failed {})",
                a.remediated, a.remediation_failed, a.swept, a.sweep_failed
            );
        }
        if a.sweep_report_only > 0 {
            let _ = writeln!(
                out,
                "sweep report only (SWEEP=report): would act on {}",
                a.sweep_report_only
            );
        }
        out
    }

    /// The log lines: one per non-compliant finding (WARN), one per failed finding or action
    /// (ERROR), then the summary table (INFO).
    pub fn log(&self) {
        for f in &self.findings {
            let kms = f.kms.as_ref();
            match f.verdict {
                Verdict::NonCompliant => warn!(
                    kind = f.kind.as_str(),
                    resource = %f.resource,
                    account = f.account.as_deref().unwrap_or(""),
                    region = f.metric_region(),
                    user = f.user().unwrap_or(""),
                    managed_by = f.managed_by().unwrap_or(""),
                    remediable = f.remediable(),
                    key_state = kms.and_then(|k| k.key_state.as_deref()).unwrap_or(""),
                    reason = %f.reason,
                    "non-compliant"
                ),
                Verdict::Exempt => info!(
                    kind = f.kind.as_str(),
                    resource = %f.resource,
                    account = f.account.as_deref().unwrap_or(""),
                    region = f.metric_region(),
                    user = f.user().unwrap_or(""),
                    until = f.exemption.as_ref().map_or("", |e| e.until.as_str()),
                    expiring_soon = f.exemption.as_ref().is_some_and(|e| e.expiring_soon),
                    reason = %f.reason,
                    "exempt"
                ),
                Verdict::Error => error!(
                    kind = f.kind.as_str(),
                    resource = %f.resource,
                    account = f.account.as_deref().unwrap_or(""),
                    region = f.metric_region(),
                    error_code = f.error_code.as_deref().unwrap_or(""),
                    reason = %f.reason,
                    "audit error"
                ),
                _ => {}
            }
            if let Some(a) = f.action.as_ref().filter(|a| a.attempted() && !a.succeeded) {
                error!(
                    kind = f.kind.as_str(),
                    resource = %f.resource,
                    action = a.action,
                    detail = %a.detail,
                    "audit action failed"
                );
            }
        }
        info!("{}", self.summary_table());
    }
}
