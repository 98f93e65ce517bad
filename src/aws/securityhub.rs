//! Security Hub calls: importing a batch of findings (built here, as ASFF, from plain data), and
//! reopening the ones a workflow status of SUPPRESSED would otherwise hide for good.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, Compliance,
    ComplianceStatus, RecordState, Resource, Severity, SeverityLabel, StringFilter,
    StringFilterComparison, Workflow, WorkflowStatus, WorkflowUpdate,
};
use aws_sdk_securityhub::Client;

/// ASFF's schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";

/// The `ProductFields` key naming the Security Hub control a finding corresponds to.
pub const SECURITY_CONTROL_FIELD: &str = "aws-key-rotation/SecurityControlId";

/// A finding's compliance status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Warning,
    NotAvailable,
}

/// A finding's severity label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Informational,
    Low,
    Medium,
    Critical,
}

/// One finding as plain data; [`SecurityHub::batch_import`] sends it as ASFF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFinding {
    /// Stable per resource, so that the next import updates it in place.
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub account: String,
    pub region: String,
    pub partition: String,
    /// `AwsKmsKey`, `AwsIamAccessKey`, ...
    pub resource_type: &'static str,
    pub resource_id: String,
    /// The Security Hub control the finding corresponds to (`IAM.3`, `KMS.4`, ...): sent as the
    /// product field [`SECURITY_CONTROL_FIELD`] (Security Hub fills `Compliance.SecurityControlId`
    /// for its own controls' findings only).
    pub security_control: Option<&'static str>,
    /// CIS AWS Foundations Benchmark requirements with their version, in Security Hub's format
    /// (`CIS AWS Foundations Benchmark v3.0.0/1.14`): `Compliance.RelatedRequirements`.
    pub related_requirements: &'static [&'static str],
    pub title: &'static str,
    pub description: String,
    pub status: Status,
    pub level: Level,
    /// RESOLVED, else NEW (a finding is never imported SUPPRESSED).
    pub resolved: bool,
    /// RFC 3339.
    pub now: String,
}

impl HubFinding {
    /// The ASFF finding.
    pub fn to_asff(&self) -> Option<AwsSecurityFinding> {
        let status = match self.status {
            Status::Passed => ComplianceStatus::Passed,
            Status::Failed => ComplianceStatus::Failed,
            Status::Warning => ComplianceStatus::Warning,
            Status::NotAvailable => ComplianceStatus::NotAvailable,
        };
        let label = match self.level {
            Level::Informational => SeverityLabel::Informational,
            Level::Low => SeverityLabel::Low,
            Level::Medium => SeverityLabel::Medium,
            Level::Critical => SeverityLabel::Critical,
        };
        let workflow = if self.resolved {
            WorkflowStatus::Resolved
        } else {
            WorkflowStatus::New
        };
        let compliance = Compliance::builder()
            .status(status)
            .set_related_requirements((!self.related_requirements.is_empty()).then(|| {
                self.related_requirements
                    .iter()
                    .map(|r| (*r).to_owned())
                    .collect()
            }));
        let mut finding = AwsSecurityFinding::builder();
        if let Some(control) = self.security_control {
            finding = finding.product_fields(SECURITY_CONTROL_FIELD, control);
        }
        finding
            .schema_version(SCHEMA_VERSION)
            .id(&self.id)
            .product_arn(&self.product_arn)
            .generator_id(&self.generator_id)
            .aws_account_id(&self.account)
            .types("Software and Configuration Checks/AWS Security Best Practices")
            .created_at(&self.now)
            .updated_at(&self.now)
            .severity(Severity::builder().label(label).build())
            .title(self.title)
            .description(&self.description)
            .resources(
                Resource::builder()
                    .r#type(self.resource_type)
                    .id(&self.resource_id)
                    .region(&self.region)
                    .partition(self.partition.as_str().into())
                    .build(),
            )
            .compliance(compliance.build())
            .workflow(Workflow::builder().status(workflow).build())
            .record_state(RecordState::Active)
            .build()
            .into()
    }
}

/// What BatchImportFindings answered: how many it imported, and the id and error code of each
/// finding it refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub succeeded: usize,
    pub failed: Vec<(String, String)>,
}

/// A finding as Security Hub identifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindingRef {
    pub id: String,
    pub product_arn: String,
}

/// Pages of 100 that one look-up of suppressed findings reads at most.
pub const MAX_SUPPRESSED_PAGES: usize = 20;

/// What BatchUpdateFindings answered: how many findings it updated, and the id and error code of
/// each it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Updated {
    pub processed: usize,
    pub unprocessed: Vec<(String, String)>,
}

/// A Security Hub client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct SecurityHub {
    client: Client,
    lane: Lane,
}

impl From<Client> for SecurityHub {
    fn from(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }
}

impl SecurityHub {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    /// BatchImportFindings (at most 100 findings per call) of `findings`, as ASFF.
    pub async fn batch_import(&self, findings: &[HubFinding]) -> Result<Imported, AwsError> {
        let asff = findings.iter().filter_map(HubFinding::to_asff).collect();
        let request = self
            .client
            .batch_import_findings()
            .set_findings(Some(asff))
            .send();
        let answer = self
            .lane
            .send("securityhub:BatchImportFindings", request)
            .await?;
        Ok(Imported {
            succeeded: usize::try_from(answer.success_count().unwrap_or(0)).unwrap_or(0),
            failed: answer
                .failed_findings()
                .iter()
                .map(|f| {
                    (
                        f.id().unwrap_or_default().to_owned(),
                        f.error_code().unwrap_or("failed").to_owned(),
                    )
                })
                .collect(),
        })
    }

    /// The findings whose `GeneratorId` begins with `generator_prefix` and whose workflow status
    /// is SUPPRESSED (GetFindings, 100 per page, at most [`MAX_SUPPRESSED_PAGES`] pages). The
    /// filters are checked again on every answer.
    pub async fn suppressed(&self, generator_prefix: &str) -> Result<Vec<FindingRef>, AwsError> {
        let filter = |value: &str, comparison: StringFilterComparison| {
            StringFilter::builder()
                .value(value)
                .comparison(comparison)
                .build()
        };
        let mut pages = self
            .client
            .get_findings()
            .filters(
                AwsSecurityFindingFilters::builder()
                    .generator_id(filter(generator_prefix, StringFilterComparison::Prefix))
                    .workflow_status(filter(
                        WorkflowStatus::Suppressed.as_str(),
                        StringFilterComparison::Equals,
                    ))
                    .build(),
            )
            .max_results(100)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        let mut read = 0;
        while let Some(page) = self
            .lane
            .next_page("securityhub:GetFindings", pages.next())
            .await
        {
            // Whoever may import findings into the hub could import many with this generator:
            // the look-up is bounded, so a flood cannot hold the audit up.
            read += 1;
            if read > MAX_SUPPRESSED_PAGES {
                tracing::warn!(
                    pages = MAX_SUPPRESSED_PAGES,
                    "more suppressed findings with this audit's generator than one run looks at; the rest wait for later runs"
                );
                break;
            }
            let page = page?;
            found.extend(
                page.findings()
                    .iter()
                    .filter(|f| {
                        f.workflow().and_then(|w| w.status()) == Some(&WorkflowStatus::Suppressed)
                            && f.generator_id()
                                .is_some_and(|g| g.starts_with(generator_prefix))
                    })
                    .filter_map(|f| {
                        Some(FindingRef {
                            id: f.id()?.to_owned(),
                            product_arn: f.product_arn()?.to_owned(),
                        })
                    }),
            );
        }
        Ok(found)
    }

    /// BatchUpdateFindings setting the workflow status of `findings` (at most 100) to NEW.
    pub async fn reopen(&self, findings: &[FindingRef]) -> Result<Updated, AwsError> {
        let request = self
            .client
            .batch_update_findings()
            .set_finding_identifiers(Some(
                findings
                    .iter()
                    .map(|f| {
                        AwsSecurityFindingIdentifier::builder()
                            .id(&f.id)
                            .product_arn(&f.product_arn)
                            .build()
                    })
                    .collect(),
            ))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::New)
                    .build(),
            )
            .send();
        let answer = self
            .lane
            .send("securityhub:BatchUpdateFindings", request)
            .await?;
        Ok(Updated {
            processed: answer.processed_findings().len(),
            unprocessed: answer
                .unprocessed_findings()
                .iter()
                .map(|u| {
                    (
                        u.finding_identifier()
                            .and_then(|i| i.id())
                            .unwrap_or_default()
                            .to_owned(),
                        u.error_code().unwrap_or("failed").to_owned(),
                    )
                })
                .collect(),
        })
    }
}
