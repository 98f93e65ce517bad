//! Security Hub calls: importing a batch of findings, and reopening the ones a workflow status
//! of SUPPRESSED would otherwise hide for good.

use crate::aws::error::AwsError;
use aws_sdk_securityhub::types::AwsSecurityFinding;

/// What BatchImportFindings answered: how many it imported, and the id and error code of each
/// finding it refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub succeeded: usize,
    pub failed: Vec<(String, String)>,
}

/// BatchImportFindings (at most 100 findings per call).
pub async fn batch_import(
    client: &aws_sdk_securityhub::Client,
    findings: Vec<AwsSecurityFinding>,
) -> Result<Imported, AwsError> {
    let answer = client
        .batch_import_findings()
        .set_findings(Some(findings))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("securityhub:BatchImportFindings", e))?;
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

/// A finding as Security Hub identifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindingRef {
    pub id: String,
    pub product_arn: String,
}

/// The findings whose `GeneratorId` begins with `generator_prefix` and whose workflow status is
/// SUPPRESSED (GetFindings, 100 per page). The filters are checked again on every answer.
/// Pages of 100 that one look-up of suppressed findings reads at most.
pub const MAX_SUPPRESSED_PAGES: usize = 20;

pub async fn suppressed(
    client: &aws_sdk_securityhub::Client,
    generator_prefix: &str,
) -> Result<Vec<FindingRef>, AwsError> {
    use aws_sdk_securityhub::types::{
        AwsSecurityFindingFilters, StringFilter, StringFilterComparison, WorkflowStatus,
    };
    let filter = |value: &str, comparison: StringFilterComparison| {
        StringFilter::builder()
            .value(value)
            .comparison(comparison)
            .build()
    };
    let mut pages = client
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
    while let Some(page) = pages.next().await {
        // Whoever may import findings into the hub could import many with this generator: the
        // look-up is bounded, so a flood cannot hold the audit up.
        read += 1;
        if read > MAX_SUPPRESSED_PAGES {
            tracing::warn!(
                pages = MAX_SUPPRESSED_PAGES,
                "more suppressed findings with this audit's generator than one run looks at; the rest wait for later runs"
            );
            break;
        }
        let page = page.map_err(|e| AwsError::from_sdk("securityhub:GetFindings", e))?;
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

/// What BatchUpdateFindings answered: how many findings it updated, and the id and error code of
/// each it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Updated {
    pub processed: usize,
    pub unprocessed: Vec<(String, String)>,
}

/// BatchUpdateFindings setting the workflow status of `findings` (at most 100) to NEW.
pub async fn reopen(
    client: &aws_sdk_securityhub::Client,
    findings: &[FindingRef],
) -> Result<Updated, AwsError> {
    use aws_sdk_securityhub::types::{
        AwsSecurityFindingIdentifier, WorkflowStatus, WorkflowUpdate,
    };
    let answer = client
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
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("securityhub:BatchUpdateFindings", e))?;
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
