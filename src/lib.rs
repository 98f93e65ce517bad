//! Rotation of IAM access keys stored in AWS Secrets Manager, and an audit of KMS key
//! rotation and IAM access-key age. The binaries in `src/bin` are thin Lambda entry points.

// Errors carry the AWS error they wrap; they are built on cold paths only.
#![allow(clippy::result_large_err)]

pub mod arn;
pub mod audit;
pub mod aws;
pub mod binding;
pub mod config;
pub mod error;
pub mod event;
pub mod logging;
pub mod metrics;
pub mod rotation;
pub mod secret;
pub mod time;
