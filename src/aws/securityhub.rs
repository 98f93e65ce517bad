//! Security Hub calls: importing a batch of findings.

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
