//! The events that trigger an audit, as EventBridge delivers them:
//!
//! - `Scheduled Event` from `aws.events`: a full audit;
//! - `AWS API Call via CloudTrail` from `aws.kms` or `aws.iam`, for the calls that change a key's
//!   rotation or an access key: an audit of the KMS key(s) or the IAM user the call named;
//! - the native `aws.kms` events (`KMS CMK Rotation`, `KMS Imported Key Material Expiration`,
//!   `KMS CMK Deletion`): an audit of that key;
//! - SQS messages of the fan-out queue (`{"audit_account": "<id>"}`, sent by a scheduled audit
//!   with `AUDIT_FANOUT_QUEUE_URL`): a full audit of each account named.
//!
//! Anything else is refused with an error that says what was received and what is accepted.
//! The envelope is `aws_lambda_events`' `EventBridgeEvent`, a native KMS event's detail its
//! `CMKEvent`. CloudTrail details are read with a small struct of their own: the crate's
//! `AWSAPICall` requires fields (`sourceIPAddress`, `userAgent`, `requestID`, a full
//! `userIdentity`) that service-originated records and trimmed test events lack, and the audit
//! needs none of them.

use crate::arn::Arn;
use aws_lambda_events::event::cloudwatch_events::kms::CMKEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub const SCHEDULED_EVENT: &str = "Scheduled Event";
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// The native KMS events, all with `{"key-id": ...}` as detail.
pub const KMS_NATIVE_EVENTS: &[&str] = &[
    "KMS CMK Rotation",
    "KMS Imported Key Material Expiration",
    "KMS CMK Deletion",
];
/// The KMS API calls whose CloudTrail records trigger an audit of the key they name.
pub const KMS_CALLS: &[&str] = &[
    "CreateKey",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "ReplicateKey",
    "UpdatePrimaryRegion",
    "RotateKeyOnDemand",
];
/// The IAM API calls whose CloudTrail records trigger an audit of the user they name.
pub const IAM_CALLS: &[&str] = &["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"];

/// A KMS key named by an event: a key id or key ARN, and the region it lives in when the event
/// says so (an ARN always does).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KmsKeyRef {
    pub key: String,
    pub region: Option<String>,
}

impl KmsKeyRef {
    fn new(key: &str, region: Option<&str>) -> Self {
        let region = Arn::parse(key)
            .and_then(|a| a.region_name())
            .or(region)
            .map(str::to_owned);
        Self {
            key: key.to_owned(),
            region,
        }
    }
}

/// The IAM user an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamUserRef {
    Named(String),
    /// The account's root user (a root CreateAccessKey without `userName`).
    Root,
}

/// What an event asks the audit to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A scheduled event: every account and region configured.
    Full,
    /// The KMS keys a CloudTrail record or a native KMS event names.
    KmsKeys {
        /// The account the event came from, when it says.
        account: Option<String>,
        /// What happened (`EnableKeyRotation`, `KMS CMK Rotation`, ...).
        cause: String,
        keys: Vec<KmsKeyRef>,
    },
    /// The IAM user a CloudTrail record names.
    IamUser {
        account: Option<String>,
        cause: String,
        user: IamUserRef,
    },
    /// Messages of the fan-out queue (`AUDIT_FANOUT_QUEUE_URL`): each names one account to
    /// audit in full.
    Accounts { accounts: Vec<String> },
    /// A batch of the event queue (`AUDIT_EVENT_QUEUE_ARN`): the members' events the
    /// Organization's bus forwarded, deduplicated.
    Events(EventBatch),
    /// A recognised event with nothing to audit: a CloudTrail record of a call that failed
    /// (for example an AccessDenied CreateKey, which made no key).
    Nothing { cause: String, why: String },
}

impl Trigger {
    /// A short description for the report and the logs.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Full => "schedule".to_owned(),
            Trigger::Accounts { accounts } => format!("fan-out ({})", accounts.join(", ")),
            Trigger::Events(batch) => format!(
                "events ({} received, {} audited)",
                batch.received,
                batch.targets.len()
            ),
            Trigger::KmsKeys { cause, .. }
            | Trigger::IamUser { cause, .. }
            | Trigger::Nothing { cause, .. } => cause.clone(),
        }
    }
}

/// Why an event was refused. Echoes only the envelope's identifying fields, `{:?}`-escaped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TriggerError {
    #[error("the event is not an EventBridge event (it needs \"source\", \"detail-type\" and \"detail\"): {0}")]
    NotEventBridge(String),
    #[error(
        "unsupported event: source {sender:?}, detail-type {detail_type:?}; the audit accepts a \
         \"Scheduled Event\", \"AWS API Call via CloudTrail\" from aws.kms or aws.iam, and the native \
         aws.kms events (KMS CMK Rotation, KMS Imported Key Material Expiration, KMS CMK Deletion)"
    )]
    Unsupported { sender: String, detail_type: String },
    #[error(
        "unsupported CloudTrail call {event_source}/{event_name:?}: the audit handles {expected}"
    )]
    UnsupportedCall {
        event_source: String,
        event_name: String,
        expected: String,
    },
    #[error("the CloudTrail record's eventSource {event_source:?} does not match the event source {sender:?}")]
    SourceMismatch {
        sender: String,
        event_source: String,
    },
    #[error(
        "SQS message {index} of the batch is not a fan-out message: its body must be \
         {{\"audit_account\": \"<12-digit account id>\"}}"
    )]
    NotFanOut { index: usize },
    #[error("the {what} event names no {missing}")]
    MissingTarget { what: String, missing: &'static str },
    #[error("the CloudTrail detail cannot be read: {0}")]
    BadDetail(String),
    #[error("the event names an account that is not a 12-digit account id")]
    MalformedAccount,
}

/// The part of a CloudTrail record the audit reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailDetail {
    #[serde(default)]
    event_source: Option<String>,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    request_parameters: Option<Value>,
    #[serde(default)]
    response_elements: Option<Value>,
    #[serde(default)]
    user_identity: Option<UserIdentity>,
    #[serde(default)]
    resources: Option<Vec<CloudTrailResource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CloudTrailResource {
    #[serde(default, rename = "ARN")]
    arn: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

fn str_at<'a>(v: Option<&'a Value>, path: &[&str]) -> Option<&'a str> {
    let mut cur = v?;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str().filter(|s| !s.trim().is_empty())
}

mod queue;
use queue::{parse_event_batch, parse_fan_out};
pub use queue::{EventBatch, FanOutMessage, Queues, RefusedRecord, Target};

/// Reads an event, as [`parse_trigger_from`] without an event queue. Never calls AWS.
pub fn parse_trigger(event: &Value) -> Result<Trigger, TriggerError> {
    parse_trigger_from(event, &Queues::default())
}

/// Reads an event. An SQS batch is a batch of the event queue when one of its records comes
/// from `queues.event_queue_arn` (or, with an event queue configured, when its records come
/// from neither queue: each is then refused), else fan-out messages. Never calls AWS.
pub fn parse_trigger_from(event: &Value, queues: &Queues<'_>) -> Result<Trigger, TriggerError> {
    // An SQS batch (its first record from aws:sqs). Other `Records` events (S3, SNS
    // notifications) are refused below as not EventBridge events.
    let from_sqs = event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs");
    if from_sqs {
        let batch: SqsEvent = serde_json::from_value(event.clone())
            .map_err(|e| TriggerError::NotEventBridge(envelope_error(event, &e)))?;
        let all_fan_out = batch.records.iter().all(|r| {
            let arn = r.event_source_arn.as_deref();
            arn.is_none_or(|a| Some(a) != queues.event_queue_arn) && queues.is_fan_out(arn)
        });
        if queues.event_queue_arn.is_none() || all_fan_out {
            return parse_fan_out(&batch.records);
        }
        return Ok(Trigger::Events(parse_event_batch(&batch.records, queues)));
    }
    parse_eventbridge(event)
}

/// Reads an EventBridge event (never an SQS batch).
fn parse_eventbridge(event: &Value) -> Result<Trigger, TriggerError> {
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
        .map_err(|e| TriggerError::NotEventBridge(envelope_error(event, &e)))?;
    let source = envelope.source.as_str();
    let detail_type = envelope.detail_type.as_str();
    let unsupported = || TriggerError::Unsupported {
        sender: source.to_owned(),
        detail_type: detail_type.to_owned(),
    };
    let trigger = match (source, detail_type) {
        ("aws.events" | "aws.scheduler", SCHEDULED_EVENT) => Ok(Trigger::Full),
        ("aws.kms" | "aws.iam", CLOUDTRAIL_API_CALL) => parse_cloudtrail(&envelope),
        ("aws.kms", dt) if KMS_NATIVE_EVENTS.contains(&dt) => parse_native_kms(&envelope),
        _ => Err(unsupported()),
    }?;
    // Whoever may put events on the bus writes the account: twelve digits or nothing is done.
    match &trigger {
        Trigger::KmsKeys {
            account: Some(a), ..
        }
        | Trigger::IamUser {
            account: Some(a), ..
        } if !is_account_id(a) => Err(TriggerError::MalformedAccount),
        _ => Ok(trigger),
    }
}

pub use crate::arn::is_account_id;

/// Says which envelope field is missing or wrong without echoing the event.
fn envelope_error(event: &Value, e: &serde_json::Error) -> String {
    let Some(obj) = event.as_object() else {
        return "it is not a JSON object".to_owned();
    };
    for field in ["source", "detail-type", "detail"] {
        match obj.get(field) {
            None => return format!("no \"{field}\" field"),
            Some(v) if field != "detail" && !v.is_string() => {
                return format!("\"{field}\" is not a string")
            }
            _ => {}
        }
    }
    // serde's message may quote values; keep only its category and position.
    format!(
        "{:?} error at line {}, column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn parse_native_kms(envelope: &EventBridgeEvent<Value>) -> Result<Trigger, TriggerError> {
    let what = envelope.detail_type.clone();
    let region = envelope.region.as_deref();
    // Prefer the key ARN in `resources` (it carries region and account), then `detail.key-id`.
    let arn = envelope.resources.iter().flatten().find(|r| {
        Arn::parse(r).is_some_and(|a| a.service == "kms" && a.resource.starts_with("key/"))
    });
    let key = match arn {
        Some(arn) => KmsKeyRef::new(arn, region),
        None => {
            let detail: CMKEvent =
                serde_json::from_value(envelope.detail.clone()).map_err(|_| {
                    TriggerError::MissingTarget {
                        what: what.clone(),
                        missing: "key (no key ARN in resources, no detail.key-id)",
                    }
                })?;
            if detail.key_id.trim().is_empty() {
                return Err(TriggerError::MissingTarget {
                    what,
                    missing: "key (detail.key-id is empty)",
                });
            }
            KmsKeyRef::new(&detail.key_id, region)
        }
    };
    let account = arn
        .and_then(|a| Arn::parse(a)?.account_id())
        .map(str::to_owned)
        .or_else(|| envelope.account.clone());
    Ok(Trigger::KmsKeys {
        account,
        cause: what,
        keys: vec![key],
    })
}

fn parse_cloudtrail(envelope: &EventBridgeEvent<Value>) -> Result<Trigger, TriggerError> {
    let detail: CloudTrailDetail =
        serde_json::from_value(envelope.detail.clone()).map_err(|e| {
            TriggerError::BadDetail(format!(
                "{:?} error: a field has the wrong type",
                e.classify()
            ))
        })?;
    let event_source = detail.event_source.clone().unwrap_or_default();
    let event_name = detail.event_name.clone().unwrap_or_default();
    let (expected_source, calls) = match envelope.source.as_str() {
        "aws.kms" => ("kms.amazonaws.com", KMS_CALLS),
        _ => ("iam.amazonaws.com", IAM_CALLS),
    };
    if event_source != expected_source {
        return Err(TriggerError::SourceMismatch {
            sender: envelope.source.clone(),
            event_source,
        });
    }
    if !calls.contains(&event_name.as_str()) {
        return Err(TriggerError::UnsupportedCall {
            event_source,
            event_name,
            expected: calls.join(", "),
        });
    }
    // The account EventBridge recorded (no sender sets it), before the one the record names.
    let account = envelope
        .account
        .clone()
        .or_else(|| detail.recipient_account_id.clone());
    let cause = format!("{}:{event_name}", &expected_source[..3]);
    let region = detail.aws_region.as_deref().or(envelope.region.as_deref());
    if expected_source == "kms.amazonaws.com" {
        let keys = kms_keys_of_call(&event_name, &detail, region);
        if keys.is_empty() {
            if let Some(code) = &detail.error_code {
                return Ok(Trigger::Nothing {
                    cause,
                    why: format!("the call failed ({code}) and names no key"),
                });
            }
            return Err(TriggerError::MissingTarget {
                what: format!("CloudTrail {event_name}"),
                missing:
                    "KMS key (requestParameters.keyId, responseElements.keyMetadata or resources)",
            });
        }
        Ok(Trigger::KmsKeys {
            account,
            cause,
            keys,
        })
    } else {
        let params = detail.request_parameters.as_ref();
        let user = match str_at(params, &["userName"]) {
            Some(u) => IamUserRef::Named(u.to_owned()),
            // Without userName IAM acts on the calling user.
            None => match detail.user_identity.as_ref() {
                Some(UserIdentity { kind: Some(k), .. }) if k == "Root" => IamUserRef::Root,
                Some(UserIdentity {
                    kind: Some(k),
                    user_name: Some(u),
                }) if k == "IAMUser" && !u.trim().is_empty() => IamUserRef::Named(u.clone()),
                _ => {
                    if let Some(code) = &detail.error_code {
                        return Ok(Trigger::Nothing {
                            cause,
                            why: format!("the call failed ({code}) and names no user"),
                        });
                    }
                    return Err(TriggerError::MissingTarget {
                        what: format!("CloudTrail {event_name}"),
                        missing: "IAM user (requestParameters.userName, or an IAMUser/Root caller)",
                    });
                }
            },
        };
        Ok(Trigger::IamUser {
            account,
            cause,
            user,
        })
    }
}

/// The keys a KMS call acted on: the key itself, and for ReplicateKey and UpdatePrimaryRegion
/// the same multi-Region key in the other region as well.
fn kms_keys_of_call(
    event_name: &str,
    detail: &CloudTrailDetail,
    region: Option<&str>,
) -> Vec<KmsKeyRef> {
    let params = detail.request_parameters.as_ref();
    let response = detail.response_elements.as_ref();
    let mut keys = Vec::new();
    let named = str_at(params, &["keyId"])
        .or_else(|| str_at(response, &["keyMetadata", "arn"]))
        .or_else(|| str_at(response, &["keyMetadata", "keyId"]))
        .or_else(|| str_at(response, &["keyId"]))
        .map(|k| KmsKeyRef::new(k, region))
        .or_else(|| {
            detail
                .resources
                .iter()
                .flatten()
                .filter(|r| r.kind.as_deref().is_none_or(|k| k == "AWS::KMS::Key"))
                .find_map(|r| r.arn.as_deref())
                .filter(|a| a.contains(":key/"))
                .map(|a| KmsKeyRef::new(a, region))
        });
    if let Some(k) = named {
        keys.push(k);
    }
    match event_name {
        "ReplicateKey" => {
            let replica =
                str_at(response, &["replicaKeyMetadata", "arn"]).map(|a| KmsKeyRef::new(a, None));
            let replica = replica.or_else(|| {
                let id = str_at(params, &["keyId"])?;
                let id = id.rsplit('/').next().unwrap_or(id);
                Some(KmsKeyRef::new(
                    id,
                    Some(str_at(params, &["replicaRegion"])?),
                ))
            });
            keys.extend(replica);
        }
        "UpdatePrimaryRegion" => {
            if let (Some(id), Some(primary)) = (
                str_at(params, &["keyId"]),
                str_at(params, &["primaryRegion"]),
            ) {
                let id = id.rsplit('/').next().unwrap_or(id);
                keys.push(KmsKeyRef::new(id, Some(primary)));
            }
        }
        _ => {}
    }
    keys.dedup();
    keys
}
