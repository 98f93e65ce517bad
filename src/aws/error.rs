//! A failed AWS call as every module sees it: the operation, AWS's error code, whether a retry
//! may succeed and whether the call may have taken effect.

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error as StdError;
use thiserror::Error;

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Error codes AWS uses for throttling across the services called here.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// A failed AWS call: the operation, the error code AWS gave, and the SDK error as source.
#[derive(Debug, Error)]
#[error("{op} failed: {rendered}")]
pub struct AwsError {
    pub op: &'static str,
    pub code: Option<String>,
    /// Throttling, a 5xx answer, a timeout or a connection failure: a later attempt may succeed.
    pub retryable: bool,
    /// No answer says whether the call took effect (a timeout, a lost or garbled response, a
    /// 5xx): only a read can tell.
    pub outcome_unknown: bool,
    rendered: String,
    #[source]
    source: BoxError,
}

impl AwsError {
    pub fn from_sdk<E>(
        op: &'static str,
        err: aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let code = err.code().map(str::to_owned).or_else(|| match &err {
            SdkError::ServiceError(se) => se.raw().body().bytes().and_then(code_in_body),
            _ => None,
        });
        let retryable = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(se) => {
                se.raw().status().is_server_error()
                    || code
                        .as_deref()
                        .is_some_and(|c| THROTTLING_CODES.contains(&c))
            }
            _ => false,
        };
        let outcome_unknown = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(se) => se.raw().status().is_server_error(),
            _ => false,
        };
        let rendered = match &err {
            SdkError::ServiceError(se) => {
                let meta = se.err().meta();
                format!(
                    "{} (HTTP {}{}): {}",
                    code.as_deref().unwrap_or("unrecognised error"),
                    se.raw().status().as_u16(),
                    meta.extra("aws_request_id")
                        .or_else(|| se.raw().headers().get("x-amzn-requestid"))
                        .map(|id| format!(", request id {id}"))
                        .unwrap_or_default(),
                    meta.message().unwrap_or("no message"),
                )
            }
            other => DisplayErrorContext(other).to_string(),
        };
        Self {
            op,
            code,
            retryable,
            outcome_unknown,
            rendered,
            source: Box::new(err),
        }
    }

    /// A request that could not be built, or an answer that lacks what its operation promises:
    /// not retryable, and no outcome in doubt.
    pub fn invalid(op: &'static str, what: impl Into<BoxError>) -> Self {
        let source = what.into();
        Self {
            op,
            code: None,
            retryable: false,
            outcome_unknown: false,
            rendered: format!("invalid request or answer: {source}"),
            source,
        }
    }

    /// The error code, or the rendered message when AWS gave no code (a timeout, a connection
    /// failure).
    pub fn code_or_message(&self) -> String {
        self.code.clone().unwrap_or_else(|| self.to_string())
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The `<Code>` of an XML error body the SDK could not parse. AWS's answers always parse; some
/// emulators wrap query-protocol errors in an extra `<Errors>` element the parser does not expect.
fn code_in_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    (!code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    .then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_from_an_unparsed_xml_error_body() {
        let body = b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error></Errors></ErrorResponse>";
        assert_eq!(code_in_body(body).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(code_in_body(b"<html>500</html>"), None);
        assert_eq!(code_in_body(b"<Code><script>x</script></Code>"), None);
    }
}
