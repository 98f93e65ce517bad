//! A fault at any AWS call, on moto behind the fault proxy (`common::proxy`), followed by the
//! retries AWS or the operator would make, converges.

mod matrix;
mod operator_actions;
