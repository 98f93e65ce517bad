//! The secret value: a JSON object holding one IAM user's access key.
//!
//! Canonical fields are those `aws iam create-access-key` prints; the PAM-style aliases
//! `aws_access_key_id`/`aws_secret_access_key` are accepted too. Fields this project does not
//! own are kept and written back unchanged. The secret key lives in a [`SecretString`] from
//! parse to use and never appears in `Debug` output or in an error.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;
use thiserror::Error;

pub const USER_NAME: &str = "UserName";
pub const ACCESS_KEY_ID: &str = "AccessKeyId";
pub const SECRET_ACCESS_KEY: &str = "SecretAccessKey";
pub const CREATE_DATE: &str = "CreateDate";
pub const PREVIOUS_ACCESS_KEY_ID: &str = "PreviousAccessKeyId";
pub const ROLE_ARN: &str = "RoleArn";
pub const EXTERNAL_ID: &str = "ExternalId";
pub const DELETE_ALL_KEYS: &str = "DeleteAllKeysBeforeRotating";
pub const ALIAS_ACCESS_KEY_ID: &str = "aws_access_key_id";
pub const ALIAS_SECRET_ACCESS_KEY: &str = "aws_secret_access_key";

/// Why a secret value could not be used. Never carries any part of the value itself.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretFormatError {
    #[error(
        "the secret value is binary (SecretBinary); a JSON object in SecretString is required"
    )]
    Binary,
    #[error("the secret value is empty")]
    Empty,
    #[error(
        "the secret value is not valid JSON ({category} error at line {line}, column {column})"
    )]
    NotJson {
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("the secret value is a JSON {0}, not an object")]
    NotObject(&'static str),
    #[error("the secret has no \"UserName\" field: the IAM user to rotate must be named")]
    MissingUserName,
    #[error("the secret's \"{0}\" field is empty")]
    EmptyField(&'static str),
    #[error("the secret's \"{field}\" field must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("the secret holds \"{0}\" and \"{1}\" with different values")]
    Conflict(&'static str, &'static str),
}

/// An access key as IAM hands it out at creation.
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Seconds since the epoch.
    pub create_date: i64,
}

impl fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[REDACTED]")
            .field("create_date", &self.create_date)
            .finish()
    }
}

/// A parsed secret value.
pub struct AccessKeySecret {
    pub user_name: String,
    pub access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    pub create_date: Option<String>,
    pub previous_access_key_id: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub delete_all_keys_before_rotating: bool,
    /// Which of the alias names the stored value used, so a rotation writes them too.
    uses_alias_id: bool,
    uses_alias_secret: bool,
    /// The whole object as stored. Values may be sensitive: never formatted.
    fields: Map<String, Value>,
}

impl fmt::Debug for AccessKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeySecret")
            .field("user_name", &self.user_name)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("previous_access_key_id", &self.previous_access_key_id)
            .field("role_arn", &self.role_arn)
            .field(
                "delete_all_keys_before_rotating",
                &self.delete_all_keys_before_rotating,
            )
            .field("field_names", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn opt_string(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, SecretFormatError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(SecretFormatError::EmptyField(name)),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SecretFormatError::WrongType {
            field: name,
            expected: "a string",
        }),
    }
}

/// The value of a field that may be stored under its canonical name or a PAM alias.
fn aliased_string(
    fields: &Map<String, Value>,
    canonical: &'static str,
    alias: &'static str,
) -> Result<(Option<String>, bool), SecretFormatError> {
    let a = opt_string(fields, canonical)?;
    let b = opt_string(fields, alias)?;
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(SecretFormatError::Conflict(canonical, alias)),
        (Some(a), b) => Ok((Some(a), b.is_some())),
        (None, Some(b)) => Ok((Some(b), true)),
        (None, None) => Ok((None, false)),
    }
}

impl AccessKeySecret {
    /// Parses a SecretString. Errors name the problem, never the content.
    pub fn parse(secret_string: &str) -> Result<Self, SecretFormatError> {
        if secret_string.trim().is_empty() {
            return Err(SecretFormatError::Empty);
        }
        let value: Value =
            serde_json::from_str(secret_string).map_err(|e| SecretFormatError::NotJson {
                category: match e.classify() {
                    serde_json::error::Category::Io => "read",
                    serde_json::error::Category::Syntax => "syntax",
                    serde_json::error::Category::Data => "data",
                    serde_json::error::Category::Eof => "unexpected end",
                },
                line: e.line(),
                column: e.column(),
            })?;
        let fields = match value {
            Value::Object(map) => map,
            other => return Err(SecretFormatError::NotObject(json_kind(&other))),
        };
        let user_name = match fields.get(USER_NAME) {
            None | Some(Value::Null) => return Err(SecretFormatError::MissingUserName),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(SecretFormatError::EmptyField(USER_NAME))
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(SecretFormatError::WrongType {
                    field: USER_NAME,
                    expected: "a string",
                })
            }
        };
        let (access_key_id, uses_alias_id) =
            aliased_string(&fields, ACCESS_KEY_ID, ALIAS_ACCESS_KEY_ID)?;
        let (secret_access_key, uses_alias_secret) =
            aliased_string(&fields, SECRET_ACCESS_KEY, ALIAS_SECRET_ACCESS_KEY)?;
        let delete_all_keys_before_rotating = match fields.get(DELETE_ALL_KEYS) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(SecretFormatError::WrongType {
                    field: DELETE_ALL_KEYS,
                    expected: "true or false",
                })
            }
        };
        Ok(Self {
            user_name,
            access_key_id,
            secret_access_key: secret_access_key.map(SecretString::from),
            create_date: opt_string(&fields, CREATE_DATE)?,
            previous_access_key_id: opt_string(&fields, PREVIOUS_ACCESS_KEY_ID)?,
            role_arn: opt_string(&fields, ROLE_ARN)?,
            external_id: opt_string(&fields, EXTERNAL_ID)?,
            delete_all_keys_before_rotating,
            uses_alias_id,
            uses_alias_secret,
            fields,
        })
    }

    pub fn secret_access_key(&self) -> Option<&SecretString> {
        self.secret_access_key.as_ref()
    }

    /// The value of the next version: every field carried over, the key fields replaced by
    /// `new`'s (under the alias names as well where the stored value used them), `CreateDate`
    /// of the new key and `PreviousAccessKeyId` naming the key it replaces.
    pub fn rotated_to(&self, new: &NewAccessKey) -> SecretString {
        let mut fields = self.fields.clone();
        let id = Value::String(new.access_key_id.clone());
        let key = Value::String(new.secret_access_key.expose_secret().to_owned());
        fields.insert(ACCESS_KEY_ID.into(), id.clone());
        fields.insert(SECRET_ACCESS_KEY.into(), key.clone());
        if self.uses_alias_id {
            fields.insert(ALIAS_ACCESS_KEY_ID.into(), id);
        }
        if self.uses_alias_secret {
            fields.insert(ALIAS_SECRET_ACCESS_KEY.into(), key);
        }
        fields.insert(
            CREATE_DATE.into(),
            Value::String(crate::time::rfc3339(new.create_date)),
        );
        match &self.access_key_id {
            Some(previous) => {
                fields.insert(
                    PREVIOUS_ACCESS_KEY_ID.into(),
                    Value::String(previous.clone()),
                );
            }
            None => {
                fields.remove(PREVIOUS_ACCESS_KEY_ID);
            }
        }
        let text = Value::Object(fields).to_string();
        SecretString::from(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"UserName":"alice","AccessKeyId":"AKIAOLD","SecretAccessKey":"old-secret-value","CreateDate":"2026-11-22T09:00:00Z","Team":"payments","Nested":{"a":[1,2]}}"#;

    fn new_key() -> NewAccessKey {
        NewAccessKey {
            access_key_id: "AKIANEW".into(),
            secret_access_key: SecretString::from("new-secret-value"),
            create_date: 1_795_338_000,
        }
    }

    #[test]
    fn parses_the_create_access_key_output() {
        let s = AccessKeySecret::parse(SAMPLE).unwrap();
        assert_eq!(s.user_name, "alice");
        assert_eq!(s.access_key_id.as_deref(), Some("AKIAOLD"));
        assert_eq!(
            s.secret_access_key().unwrap().expose_secret(),
            "old-secret-value"
        );
        assert!(!s.delete_all_keys_before_rotating);
    }

    #[test]
    fn accepts_pam_aliases_and_writes_them_back() {
        let s = AccessKeySecret::parse(
            r#"{"UserName":"bob","aws_access_key_id":"AKIAOLD","aws_secret_access_key":"old","DeleteAllKeysBeforeRotating":"true"}"#,
        )
        .unwrap();
        assert_eq!(s.access_key_id.as_deref(), Some("AKIAOLD"));
        assert!(s.delete_all_keys_before_rotating);
        let out: Value = serde_json::from_str(s.rotated_to(&new_key()).expose_secret()).unwrap();
        assert_eq!(out["aws_access_key_id"], "AKIANEW");
        assert_eq!(out["aws_secret_access_key"], "new-secret-value");
        assert_eq!(out["AccessKeyId"], "AKIANEW");
        assert_eq!(out["PreviousAccessKeyId"], "AKIAOLD");
    }

    #[test]
    fn rotation_keeps_foreign_fields_and_records_the_replaced_key() {
        let s = AccessKeySecret::parse(SAMPLE).unwrap();
        let out: Value = serde_json::from_str(s.rotated_to(&new_key()).expose_secret()).unwrap();
        assert_eq!(out["Team"], "payments");
        assert_eq!(out["Nested"]["a"][1], 2);
        assert_eq!(out["UserName"], "alice");
        assert_eq!(out["AccessKeyId"], "AKIANEW");
        assert_eq!(out["SecretAccessKey"], "new-secret-value");
        assert_eq!(out["CreateDate"], "2026-11-22T09:00:00Z");
        assert_eq!(out["PreviousAccessKeyId"], "AKIAOLD");
        assert!(out.get("aws_access_key_id").is_none());
    }

    #[test]
    fn first_key_of_a_bare_secret_has_no_previous() {
        let s = AccessKeySecret::parse(r#"{"UserName":"carol","PreviousAccessKeyId":"AKIASTALE"}"#)
            .unwrap();
        assert_eq!(s.access_key_id, None);
        let out: Value = serde_json::from_str(s.rotated_to(&new_key()).expose_secret()).unwrap();
        assert!(out.get("PreviousAccessKeyId").is_none());
    }

    #[test]
    fn bad_values_give_specific_errors_without_content() {
        use SecretFormatError::*;
        let cases: &[(&str, SecretFormatError)] = &[
            ("", Empty),
            ("[1,2]", NotObject("array")),
            ("\"hunter2\"", NotObject("string")),
            (r#"{"AccessKeyId":"AKIA"}"#, MissingUserName),
            (r#"{"UserName":"  "}"#, EmptyField("UserName")),
            (
                r#"{"UserName":7}"#,
                WrongType {
                    field: "UserName",
                    expected: "a string",
                },
            ),
            (
                r#"{"UserName":"a","AccessKeyId":"X","aws_access_key_id":"Y"}"#,
                Conflict("AccessKeyId", "aws_access_key_id"),
            ),
            (
                r#"{"UserName":"a","DeleteAllKeysBeforeRotating":"maybe"}"#,
                WrongType {
                    field: "DeleteAllKeysBeforeRotating",
                    expected: "true or false",
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                &AccessKeySecret::parse(input).unwrap_err(),
                want,
                "input {input}"
            );
        }
        let e = AccessKeySecret::parse(r#"{"UserName":"a","SecretAccessKey":"sekrit-value"#)
            .unwrap_err();
        assert!(matches!(e, NotJson { .. }));
        assert!(!e.to_string().contains("sekrit"));
    }

    #[test]
    fn debug_output_redacts_every_value_it_does_not_own() {
        let s = AccessKeySecret::parse(
            r#"{"UserName":"alice","AccessKeyId":"AKIAOLD","SecretAccessKey":"old-secret-value","DbPassword":"pw-123"}"#,
        )
        .unwrap();
        let dbg = format!("{s:?} {:?}", new_key());
        assert!(!dbg.contains("old-secret-value"));
        assert!(!dbg.contains("new-secret-value"));
        assert!(!dbg.contains("pw-123"));
        assert!(dbg.contains("AKIAOLD") && dbg.contains("DbPassword"));
    }
}
