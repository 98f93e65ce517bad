//! Log capture for the leak checks: every line the code logs, as JSON, at DEBUG (the most
//! verbose level the functions allow in production), and the check itself.

use lambda_runtime::tracing::subscriber;
use std::fmt::{Debug, Display};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The subscriber the binaries install for `AWS_LAMBDA_LOG_LEVEL=DEBUG`, JSON format,
    /// writing here.
    pub fn subscriber(&self) -> impl lambda_runtime::tracing::Subscriber + Send + Sync {
        subscriber::fmt()
            .json()
            .with_env_filter(aws_key_rotation::logging::filter_for(Some("debug")))
            .with_writer(self.clone())
            .finish()
    }

    /// Captures every thread's logs for the rest of the process. Tests that share a process
    /// share the buffer, which only widens what each leak check searches.
    pub fn global() -> Captured {
        static GLOBAL: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let c = Captured::default();
                lambda_runtime::tracing::subscriber::util::SubscriberInitExt::try_init(
                    c.subscriber(),
                )
                .expect("no other global subscriber");
                c
            })
            .clone()
    }
}

/// No secret value appears in `haystack`.
pub fn assert_no_secret(what: &str, haystack: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            s.len() >= 8,
            "too short to search for: {} characters",
            s.len()
        );
        assert!(
            !haystack.contains(s.as_str()),
            "a secret value leaked into {what}: …{}…",
            &s[..4]
        );
    }
}

/// What a test handled, for its leak check: every secret value, and the text of every error
/// it got back.
pub struct Handled {
    secrets: Mutex<Vec<String>>,
    errors: Mutex<String>,
}

impl Handled {
    pub const fn new() -> Self {
        Self {
            secrets: Mutex::new(Vec::new()),
            errors: Mutex::new(String::new()),
        }
    }

    pub fn secret(&self, s: impl Into<String>) {
        self.secrets.lock().unwrap().push(s.into());
    }

    pub fn secrets(&self, all: impl IntoIterator<Item = String>) {
        self.secrets.lock().unwrap().extend(all);
    }

    /// Keeps the error as a user and a developer would see it; returns that text.
    pub fn error(&self, e: &(impl Display + Debug)) -> String {
        let text = format!("{e}\n{e:?}\n");
        self.errors.lock().unwrap().push_str(&text);
        text
    }

    /// No secret value handled (nor any of `also`) appears in `logs` or in an error. Returns
    /// how many secret values were searched for.
    pub fn assert_no_leak(&self, logs: &Captured, also: &[String]) -> usize {
        let secrets = self.secrets.lock().unwrap().clone();
        let mut searched = secrets.clone();
        searched.extend_from_slice(also);
        let text = logs.text();
        let errors = self.errors.lock().unwrap();
        assert_no_secret("the logs", &text, &searched);
        assert_no_secret("the errors", &errors, &searched);
        println!(
            "leak check: {} DEBUG log lines and {} error bytes searched for {} key secrets and {} other values",
            text.lines().count(),
            errors.len(),
            secrets.len(),
            also.len()
        );
        secrets.len()
    }
}
