//! The audit of KMS key rotation and IAM access-key age (`audit-key-rotation`).

pub mod config;
pub mod events;
