//! Rotation of IAM access keys stored in AWS Secrets Manager, and an audit of KMS key rotation,
//! IAM access-key age and Secrets Manager rotation.
//!
//! # Layout
//! Arrows point down: `bin` → [`rotation`] / [`audit`] / [`root_keys`] → [`aws`]; the shared
//! modules at the root depend on nothing above them.
//! - `src/bin/`: the three Lambda entry points, thin.
//! - [`rotation`]: `rotate-access-key`: the four steps (`create`, `set`, `test`, `finish`),
//!   their pure decisions (`guard`, `plan`, `intent`), operator actions (`operator`, deciding in
//!   `operator::plan`), what a warm container keeps between steps (`kept`), and the function's
//!   `config`, `event`, `error` and `metrics`.
//! - [`audit`]: `audit-key-rotation`: `run` (one invocation, top-down) calls the stages
//!   `accounts`, `kms`, `iam`, `secret_index`, `sweep`, `fanout` (one job each, over the
//!   invocation's `context`); pure `verdict`s per subject, the `report` and its `export`, and the
//!   function's `config`, `events`, `error` and `metrics`.
//! - [`root_keys`]: `remove-root-keys`: the root user's access keys of member accounts, listed
//!   and (when set to) deleted through a privileged root session; pure decisions in
//!   `root_keys::plan`.
//! - [`aws`]: every SDK client is built there and every AWS call made by its adapters (one
//!   struct per service holding its client and its [`aws::gate::Lane`]); the bundles
//!   [`aws::RotationAws`], [`aws::AuditAws`], [`aws::RootKeysAws`] and [`aws::Aws`] say what
//!   each function reaches; [`aws::error::AwsError`] is the one error of a failed call.
//! - Shared: [`arn`] (the one ARN type), [`binding`] (the tags that tie a user to its secret),
//!   [`secret`] (the secret's fields), [`settings`] (environment parsing), [`emf`] (metrics
//!   documents), [`time`] (the clock), [`logging`].

// Errors carry the AWS error they wrap; they are built on cold paths only.
#![allow(clippy::result_large_err)]

pub mod arn;
pub mod audit;
pub mod aws;
pub mod binding;
pub mod emf;
pub mod logging;
pub mod root_keys;
pub mod rotation;
pub mod secret;
pub mod settings;
pub mod time;
