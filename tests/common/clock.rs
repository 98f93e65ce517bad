//! Waiting for the wall clock, where IAM's whole-second dates make a test's order of events
//! ambiguous. Not a timing assertion: tests wait for a condition, then assert behaviour.

/// Returns once the system clock is past the second `secs` (epoch seconds): a call made after
/// this is dated later than anything IAM dated `secs`.
pub async fn wait_past_second(secs: i64) {
    while aws_key_rotation::time::now_secs() <= secs {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
