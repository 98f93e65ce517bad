//! The events of the rotation function: the one Secrets Manager sends for each step, and the
//! operator actions (`{"Action": "Status" | "Rollback" | "Cancel", "SecretId": ...}`).

use secrecy::SecretString;
use serde_json::Value;
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator action on a rotation secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Versions, stages, key ids and their IAM status and last use; never a secret value.
    Status,
    /// AWSCURRENT back on the AWSPREVIOUS version, its key reactivated.
    Rollback,
    /// Ends a stuck rotation: the pending key deleted if unused, AWSPENDING removed.
    Cancel,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Status, Action::Rollback, Action::Cancel];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Status => "Status",
            Action::Rollback => "Rollback",
            Action::Cancel => "Cancel",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator action request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEvent {
    pub action: Action,
    pub secret_id: String,
    /// Rollback only: the operator's explicit word that an Inactive previous key may be made
    /// Active again (someone, perhaps an incident responder, deactivated it).
    pub reactivate_key: bool,
}

impl ActionEvent {
    /// `None` when the event is not an action (it has no `Action` field).
    pub fn parse(event: &Value) -> Option<Result<Self, EventError>> {
        let obj = event.as_object().filter(|o| o.contains_key("Action"))?;
        Some((|| {
            let text = string_field(obj, "Action", 64)?;
            let action = Action::ALL
                .into_iter()
                .find(|a| a.as_str() == text)
                .ok_or_else(|| EventError::UnknownAction(text.into()))?;
            let reactivate_key = match obj.get("ReactivateKey") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(EventError::NotABool("ReactivateKey")),
            };
            Ok(Self {
                action,
                secret_id: string_field(obj, "SecretId", MAX_SECRET_ID)?.to_owned(),
                reactivate_key,
            })
        })())
    }
}

/// A rotation request. `RotationToken` (cross-account rotations) is sensitive and redacted.
pub struct RotationEvent {
    pub step: Step,
    pub secret_id: String,
    pub token: String,
    pub rotation_token: Option<SecretString>,
}

impl fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationEvent")
            .field("step", &self.step)
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// What is wrong with an event. Field values are echoed only for ids (SecretId, token, Step),
/// escaped by `{:?}` so that a crafted value cannot forge log lines.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is a JSON {0}, not an object")]
    NotObject(&'static str),
    #[error("the event has no \"{0}\" field")]
    Missing(&'static str),
    #[error("the event's \"{0}\" field must be a non-empty string")]
    NotAString(&'static str),
    #[error("the event's \"{0}\" field must be true or false")]
    NotABool(&'static str),
    #[error("the event's \"{field}\" is {len} characters long; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("unknown step {0:?}: expected createSecret, setSecret, testSecret or finishSecret")]
    UnknownStep(String),
    #[error("unknown action {0:?}: expected Status, Rollback or Cancel")]
    UnknownAction(String),
}

/// Longest SecretId (an ARN with a 512-character name) and ClientRequestToken AWS accepts.
const MAX_SECRET_ID: usize = 2048;
const MAX_TOKEN: usize = 64;
const MAX_ROTATION_TOKEN: usize = 4096;

fn string_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &'static str,
    max: usize,
) -> Result<&'a str, EventError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(EventError::Missing(name)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EventError::NotAString(name)),
        Some(Value::String(s)) if s.chars().count() > max => Err(EventError::TooLong {
            field: name,
            len: s.chars().count(),
            max,
        }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(EventError::NotAString(name)),
    }
}

/// The parts of an event an error can name even when the event as a whole is invalid.
pub fn best_effort_ids(event: &Value) -> (Option<String>, Option<String>) {
    let get = |k: &str, max: usize| {
        event
            .get(k)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(max).collect::<String>())
    };
    (
        get("SecretId", MAX_SECRET_ID),
        get("ClientRequestToken", MAX_TOKEN),
    )
}

impl RotationEvent {
    /// Validates an event before any AWS call.
    pub fn parse(event: &Value) -> Result<Self, EventError> {
        let obj = match event {
            Value::Object(o) => o,
            Value::Null => return Err(EventError::NotObject("null")),
            Value::Array(_) => return Err(EventError::NotObject("array")),
            Value::String(_) => return Err(EventError::NotObject("string")),
            Value::Number(_) => return Err(EventError::NotObject("number")),
            Value::Bool(_) => return Err(EventError::NotObject("boolean")),
        };
        let step_text = string_field(obj, "Step", 64)?;
        let step =
            Step::parse(step_text).ok_or_else(|| EventError::UnknownStep(step_text.into()))?;
        let secret_id = string_field(obj, "SecretId", MAX_SECRET_ID)?.to_owned();
        let token = string_field(obj, "ClientRequestToken", MAX_TOKEN)?.to_owned();
        let rotation_token = match obj.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(_) => Some(SecretString::from(
                string_field(obj, "RotationToken", MAX_ROTATION_TOKEN)?.to_owned(),
            )),
        };
        Ok(Self {
            step,
            secret_id,
            token,
            rotation_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_operator_actions() {
        let a = ActionEvent::parse(&json!({"Action": "Rollback", "SecretId": "s"}));
        assert_eq!(
            a,
            Some(Ok(ActionEvent {
                reactivate_key: false,
                action: Action::Rollback,
                secret_id: "s".into()
            }))
        );
        assert_eq!(
            ActionEvent::parse(&json!({"Action": "rollback", "SecretId": "s"})),
            Some(Err(EventError::UnknownAction("rollback".into())))
        );
        assert_eq!(
            ActionEvent::parse(&json!({"Action": "Cancel"})),
            Some(Err(EventError::Missing("SecretId")))
        );
        assert_eq!(ActionEvent::parse(&json!({"Step": "createSecret"})), None);
    }

    #[test]
    fn parses_a_cross_account_event_and_redacts_its_token() {
        let e = RotationEvent::parse(&json!({
            "Step": "testSecret", "SecretId": "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "ClientRequestToken": "tok", "RotationToken": "rt-sensitive"
        }))
        .unwrap();
        assert_eq!(e.step, Step::TestSecret);
        assert!(e.rotation_token.is_some());
        assert!(!format!("{e:?}").contains("rt-sensitive"));
    }

    #[test]
    fn rejects_bad_events_with_specific_errors() {
        let ok = |step: &str| json!({"Step": step, "SecretId": "s", "ClientRequestToken": "t"});
        assert_eq!(
            RotationEvent::parse(&ok("rotateSecret")).unwrap_err(),
            EventError::UnknownStep("rotateSecret".into())
        );
        assert_eq!(
            RotationEvent::parse(&json!({"Step": "createSecret", "SecretId": "s"})).unwrap_err(),
            EventError::Missing("ClientRequestToken")
        );
        assert_eq!(
            RotationEvent::parse(&json!([1])).unwrap_err(),
            EventError::NotObject("array")
        );
        assert_eq!(
            RotationEvent::parse(
                &json!({"Step": "createSecret", "SecretId": 5, "ClientRequestToken": "t"})
            )
            .unwrap_err(),
            EventError::NotAString("SecretId")
        );
        let long = "t".repeat(65);
        assert!(matches!(
            RotationEvent::parse(
                &json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": long})
            ),
            Err(EventError::TooLong {
                field: "ClientRequestToken",
                ..
            })
        ));
        for step in Step::ALL {
            assert_eq!(RotationEvent::parse(&ok(step.as_str())).unwrap().step, step);
        }
    }

    #[test]
    fn unknown_step_is_escaped_in_the_message() {
        let e = RotationEvent::parse(
            &json!({"Step": "x\n{\"level\":\"INFO\"}", "SecretId": "s", "ClientRequestToken": "t"}),
        )
        .unwrap_err();
        assert!(!e.to_string().contains('\n'));
    }
}
