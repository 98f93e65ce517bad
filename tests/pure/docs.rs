//! The operator docs stay true of the code: every errorType the functions can return has its
//! runbook entry, the SQL of docs/findings.md answers as documented (DuckDB, on a report the
//! code writes), the event fixtures name what `make demo ARGS=--keep` leaves behind, and every
//! relative link in the docs resolves. Pure: no AWS, no moto.

use aws_key_rotation::audit::export;
use aws_key_rotation::audit::report::{Action, Finding, IamDetail, Kind, KmsDetail, Report, Stats};
use aws_key_rotation::audit::verdict::{Exemption, Verdict};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `"Rotation.<Name>"`, `"Audit.<Name>"` and `"RootKeys.<Name>"` string literal under
/// src/: the errorTypes the functions return (each error enum maps its kinds to such literals).
fn error_types_in_code() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices('"') {
            let rest = &text[i + 1..];
            for prefix in ERROR_TYPE_PREFIXES {
                let Some(name) = rest.strip_prefix(prefix) else {
                    continue;
                };
                let end = name
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(name.len());
                if end > 0
                    && name[end..].starts_with('"')
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    found.insert(format!("{prefix}{}", &name[..end]));
                }
            }
        }
    }
    found
}

/// The prefixes of the functions' errorTypes.
const ERROR_TYPE_PREFIXES: [&str; 3] = ["Rotation.", "Audit.", "RootKeys."];

/// The errorTypes docs/runbook.md has an entry for: a heading that names one in backticks.
fn error_types_in_runbook() -> BTreeSet<String> {
    read("docs/runbook.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_owned))
        .filter(|s| ERROR_TYPE_PREFIXES.iter().any(|p| s.starts_with(p)))
        .collect()
}

#[test]
fn every_error_type_the_code_returns_has_a_runbook_entry() {
    let code = error_types_in_code();
    // The parse found the error enums (a guard against a parse that finds nothing).
    for known in [
        "Rotation.InvalidEvent",
        "Rotation.UserNotBound",
        "Rotation.AwsError",
        "Audit.InvalidEvent",
        "Audit.NoRegion",
    ] {
        assert!(
            code.contains(known),
            "{known} not found under src/: {code:?}"
        );
    }
    let runbook = error_types_in_runbook();
    let missing: Vec<_> = code.difference(&runbook).collect();
    assert!(
        missing.is_empty(),
        "docs/runbook.md has no entry (a heading naming it in backticks) for {missing:?}"
    );
    let stale: Vec<_> = runbook.difference(&code).collect();
    assert!(
        stale.is_empty(),
        "docs/runbook.md documents errorTypes the code no longer returns: {stale:?}"
    );
    // Each entry says what it means and what to do.
    let doc = read("docs/runbook.md");
    for error_type in &code {
        let heading = format!("### `{error_type}`");
        let start = doc.find(&heading).unwrap() + heading.len();
        let entry = &doc[start..];
        let entry = &entry[..entry.find("\n#").unwrap_or(entry.len())];
        for part in ["- Means:", "- Do:"] {
            assert!(
                entry.contains(part),
                "docs/runbook.md: {heading} has no \"{part}\""
            );
        }
    }
}

#[test]
fn every_event_fixture_the_docs_name_exists() {
    let mut docs = vec!["README.md".to_owned(), "CONTRIBUTING.md".to_owned()];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            docs.push(format!("docs/{name}"));
        }
    }
    let mut named = BTreeSet::new();
    for doc in &docs {
        let text = read(doc);
        for (i, _) in text.match_indices("events/") {
            let name: String = text[i + "events/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*'))
                .collect();
            if let Some(name) = name.strip_suffix(".json").filter(|n| !n.contains('*')) {
                named.insert((doc.clone(), format!("events/{name}.json")));
            }
        }
    }
    assert!(
        named.iter().any(|(_, f)| f == "events/audit-schedule.json"),
        "{named:?}"
    );
    for (doc, file) in &named {
        assert!(
            root().join(file).exists(),
            "{doc} names {file}, which does not exist"
        );
    }
}

/// A fenced block of a markdown file: its language, its text, and the line after it.
struct Block {
    lang: String,
    text: String,
    end: usize,
}

fn fenced_blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```") {
            let start = i + 1;
            let mut j = start;
            while j < lines.len() && !lines[j].starts_with("```") {
                j += 1;
            }
            blocks.push(Block {
                lang: lang.trim().to_owned(),
                text: lines[start..j].join("\n"),
                end: j + 1,
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    blocks
}

/// The markdown table that follows line `from`: its header and rows (an empty cell is null).
fn table_after(doc: &str, from: usize) -> (Vec<String>, Rows) {
    let rows: Rows = doc
        .lines()
        .skip(from)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| Some(c.trim().to_owned()).filter(|c| !c.is_empty()))
                .collect()
        })
        .collect();
    let (header, rows) = rows.split_first().expect("a table after the query");
    (
        header
            .iter()
            .map(|c| c.clone().unwrap_or_default())
            .collect(),
        rows.to_vec(),
    )
}

/// A table's rows, an empty cell as `None`.
type Rows = Vec<Vec<Option<String>>>;

struct FindingsDoc {
    ddl: String,
    csv_header: String,
    /// Each query with the table that documents its answer on the example report.
    queries: Vec<(String, Vec<String>, Rows)>,
}

fn findings_doc() -> FindingsDoc {
    let doc = read("docs/findings.md");
    let blocks = fenced_blocks(&doc);
    let ddl = blocks
        .iter()
        .find(|b| b.lang == "sql" && b.text.contains("CREATE EXTERNAL TABLE"))
        .expect("docs/findings.md: the Athena DDL")
        .text
        .clone();
    let csv_header = blocks
        .iter()
        .find(|b| b.lang == "csv")
        .expect("docs/findings.md: the CSV header")
        .text
        .clone();
    let queries: Vec<_> = blocks
        .iter()
        .filter(|b| b.lang == "sql" && !b.text.contains("CREATE EXTERNAL TABLE"))
        .map(|b| {
            let (header, rows) = table_after(&doc, b.end);
            (b.text.clone(), header, rows)
        })
        .collect();
    assert!(queries.len() >= 4, "docs/findings.md: too few queries");
    FindingsDoc {
        ddl,
        csv_header,
        queries,
    }
}

/// Names declared at one depth of `<...>` nesting inside the DDL's `findings` column: the
/// fields of a finding the table reads.
fn ddl_finding_fields(ddl: &str) -> Vec<String> {
    let start = ddl.find("findings array<").expect("the DDL has findings") + "findings ".len();
    let mut depth = 0;
    let mut fields = Vec::new();
    let mut word = String::new();
    for c in ddl[start..].chars() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ':' if depth == 2 => fields.push(word.trim().trim_matches('`').to_owned()),
            _ => {}
        }
        if c.is_alphanumeric() || c == '_' || c == '`' {
            word.push(c);
        } else if c != ':' {
            word.clear();
        }
    }
    fields
}

/// The top-level columns of the DDL.
fn ddl_columns(ddl: &str) -> Vec<String> {
    let body = &ddl[ddl.find('(').unwrap() + 1..ddl.find("PARTITIONED BY").unwrap()];
    let mut depth = 0;
    let mut columns = Vec::new();
    let mut at_start = true;
    for line_part in body.split_inclusive([',', '<', '>']) {
        if depth == 0 && at_start {
            if let Some(name) = line_part.split_whitespace().next() {
                columns.push(name.trim_matches('`').to_owned());
            }
        }
        depth += line_part.matches('<').count() as i32;
        depth -= line_part.matches('>').count() as i32;
        at_start = line_part.ends_with(',') && depth == 0;
    }
    columns
}

/// A report the audit would write, built through the library, with every field the DDL reads.
fn built_report() -> Report {
    let account = "111122223333";
    let kms = |id: &str, verdict, reason: &str, detail: KmsDetail| Finding {
        account: Some(account.into()),
        region: Some("eu-west-1".into()),
        kms: Some(KmsDetail {
            key_id: id.into(),
            key_state: Some("Enabled".into()),
            key_spec: Some("SYMMETRIC_DEFAULT".into()),
            origin: Some("AWS_KMS".into()),
            ..detail
        }),
        ..Finding::new(
            Kind::KmsKey,
            format!("arn:aws:kms:eu-west-1:{account}:key/{id}"),
            verdict,
            reason,
        )
    };
    let iam = |key: &str, user: &str, verdict, reason: &str, managed_by: Option<&str>| Finding {
        account: Some(account.into()),
        iam: Some(IamDetail {
            user: user.into(),
            managed_by: managed_by.map(str::to_owned),
            status: Some("Active".into()),
            age_days: Some(97),
            created: Some("2026-08-28T08:00:00Z".into()),
            last_used: Some("2026-12-02T17:00:00Z".into()),
            last_used_service: Some("s3".into()),
        }),
        ..Finding::new(Kind::IamAccessKey, key, verdict, reason)
    };
    let mut off = kms(
        "k-off",
        Verdict::NonCompliant,
        "rotation disabled",
        KmsDetail {
            remediable: true,
            rotation_enabled: Some(false),
            ..KmsDetail::default()
        },
    );
    off.action = Some(Action {
        action: "EnableKeyRotation",
        succeeded: true,
        detail: "every 365 days".into(),
    });
    let on = kms(
        "k-on",
        Verdict::Compliant,
        "rotation every 365 days",
        KmsDetail {
            rotation_enabled: Some(true),
            rotation_period_days: Some(365),
            ..KmsDetail::default()
        },
    );
    let mut exempt = iam(
        "AKIAEXEMPT",
        "batch",
        Verdict::Exempt,
        "exempt until 2026-12-10: SEC-42",
        None,
    );
    exempt.exemption = Some(Exemption {
        reason: "SEC-42".into(),
        until: "2026-12-10".into(),
        expires_in_days: 7,
        expiring_soon: true,
    });
    let mut denied = Finding::scope_error(
        "kms:ListKeys",
        Some(account),
        Some("ap-south-1"),
        "AccessDeniedException".into(),
        Some("AccessDeniedException"),
    );
    denied.reason = "kms:ListKeys denied".into();
    let mut report = Report::new(
        "schedule".into(),
        "2026-12-03T08:00:00Z".into(),
        vec![account.into()],
        vec!["eu-west-1".into(), "ap-south-1".into()],
        vec![
            off,
            on,
            iam(
                "AKIAOLD",
                "alice",
                Verdict::NonCompliant,
                "age 97 days",
                Some("arn:aws:secretsmanager:eu-west-1:111122223333:secret:svc/alice-AbCdEf"),
            ),
            exempt,
            denied,
        ],
        Stats::default(),
    );
    report.finished_at = "2026-12-03T08:00:04Z".into();
    report
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aws-key-rotation-docs-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `json` (and `csv`) where the audit stores a report of `audited_at`.
fn store(dir: &Path, audited_at: &str, json: &[u8], csv: Option<&[u8]>) {
    let key = export::object_key("key-rotation/", audited_at, "0a1b2c");
    let path = dir.join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, json).unwrap();
    if let Some(csv) = csv {
        std::fs::write(dir.join(key.replace(".json", ".csv")), csv).unwrap();
    }
}

/// The docs' Python venv with DuckDB (requirements-docs.txt), created or refreshed by
/// scripts/venv.sh (as `make test` does before the tests): a missing DuckDB fails, never skips.
fn docs_python() -> PathBuf {
    let venv = root().join(".venv-docs");
    let status = Command::new(root().join("scripts/venv.sh"))
        .arg("requirements-docs.txt")
        .env("VENV", &venv)
        .stdin(Stdio::null())
        .status()
        .expect("scripts/venv.sh runs");
    assert!(
        status.success(),
        "scripts/venv.sh requirements-docs.txt (VENV=.venv-docs) failed: DuckDB is needed"
    );
    venv.join("bin/python")
}

type Answer = (Vec<String>, Rows);

/// The answers of `queries` over the reports under `dir`, from DuckDB (scripts/findings_sql.py).
fn duckdb(python: &Path, ddl: &str, dir: &Path, queries: &[String]) -> Vec<Answer> {
    let job = json!({"ddl": ddl, "root": dir, "queries": queries});
    let mut child = Command::new(python)
        .arg(root().join("scripts/findings_sql.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    serde_json::to_writer(child.stdin.take().unwrap(), &job).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "findings_sql.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let columns = r["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            let rows = r["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .collect();
            (columns, rows)
        })
        .collect()
}

fn cell<'a>(answer: &'a Answer, row: usize, column: &str) -> Option<&'a str> {
    let i = answer
        .0
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", answer.0));
    answer.1[row][i].as_deref()
}

#[test]
fn the_findings_doc_matches_the_report_the_code_writes() {
    let doc = findings_doc();
    let report = built_report();
    // `findings_omitted` is written only when not 0.
    let mut shape = report.clone();
    shape.findings_omitted = 1;
    let v = serde_json::to_value(&shape).unwrap();
    // Every column and finding field the DDL reads is one the code writes.
    for column in ddl_columns(&doc.ddl) {
        assert!(
            v.get(&column).is_some(),
            "the DDL reads {column:?}, which the report does not have"
        );
    }
    let written: BTreeSet<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f.as_object().unwrap().keys().cloned())
        .collect();
    let fields = ddl_finding_fields(&doc.ddl);
    assert!(fields.len() > 10, "{fields:?}");
    for field in &fields {
        assert!(
            written.contains(field),
            "the DDL reads findings.{field}, which no finding has: {written:?}"
        );
    }
    // The CSV header is the one documented, and the example's.
    let csv = String::from_utf8(export::csv(&report).unwrap()).unwrap();
    assert_eq!(csv.lines().next(), Some(doc.csv_header.as_str()));
    assert_eq!(
        read("docs/examples/audit-report.csv").lines().next(),
        Some(doc.csv_header.as_str())
    );
}

#[test]
fn the_findings_queries_answer_as_documented_with_duckdb() {
    let doc = findings_doc();
    let python = docs_python();
    let queries: Vec<String> = doc.queries.iter().map(|q| q.0.clone()).collect();

    // The example report (a `make demo` run): each answer is the table under its query.
    let example = read("docs/examples/audit-report.json");
    let audited_at = serde_json::from_str::<Value>(&example).unwrap()["audited_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = scratch_dir("example");
    store(&dir, &audited_at, example.as_bytes(), None);
    let answers = duckdb(&python, &doc.ddl, &dir, &queries);
    for ((query, header, rows), (columns, got)) in doc.queries.iter().zip(&answers) {
        assert_eq!(columns, header, "columns of\n{query}");
        assert_eq!(got, rows, "answer of\n{query}");
    }
    std::fs::remove_dir_all(&dir).ok();

    // A report the code builds now, stored as the audit stores it (its CSV beside it, which
    // the table must not count): the queries still run and answer from it.
    let report = built_report();
    let dir = scratch_dir("built");
    store(
        &dir,
        &report.audited_at,
        &serde_json::to_vec(&report).unwrap(),
        Some(&export::csv(&report).unwrap()),
    );
    let answers = duckdb(&python, &doc.ddl, &dir, &queries);
    std::fs::remove_dir_all(&dir).ok();
    for ((query, header, _), (columns, _)) in doc.queries.iter().zip(&answers) {
        assert_eq!(columns, header, "columns of\n{query}");
    }
    let count = |a: &Answer| a.1.len();
    // 1. Per account, kind and verdict: the findings of the day, counted.
    let mut expected: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for f in &report.findings {
        *expected
            .entry((
                f.account.clone().unwrap_or_default(),
                f.kind.as_str().to_owned(),
                f.verdict.as_str().to_owned(),
            ))
            .or_default() += 1;
    }
    let got: BTreeMap<(String, String, String), usize> = (0..count(&answers[0]))
        .map(|r| {
            let c = |n| cell(&answers[0], r, n).unwrap().to_owned();
            (
                (c("account"), c("kind"), c("verdict")),
                c("findings").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // 2. What to fix: the NON_COMPLIANT and ERROR findings.
    let to_fix: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::NonCompliant | Verdict::Error))
        .map(|f| f.resource.as_str())
        .collect();
    let got: BTreeSet<&str> = (0..count(&answers[1]))
        .map(|r| cell(&answers[1], r, "resource").unwrap())
        .collect();
    assert_eq!(got, to_fix);
    // 3. IAM access keys, with the secret that holds one.
    let keys: Vec<(&str, Option<&str>)> = (0..count(&answers[2]))
        .map(|r| {
            (
                cell(&answers[2], r, "access_key_id").unwrap(),
                cell(&answers[2], r, "managed_by"),
            )
        })
        .collect();
    // Ordered by account, user and key: alice's key, held by her secret, then batch's.
    let alice = report
        .findings_of(Kind::IamAccessKey)
        .find(|f| f.resource == "AKIAOLD")
        .and_then(Finding::managed_by);
    assert!(alice.is_some());
    assert_eq!(keys, [("AKIAOLD", alice), ("AKIAEXEMPT", None)]);
    // 4. The exemption that ends within 14 days.
    assert_eq!(count(&answers[3]), 1);
    assert_eq!(cell(&answers[3], 0, "resource"), Some("AKIAEXEMPT"));
    assert_eq!(cell(&answers[3], 0, "until"), Some("2026-12-10"));
    // 5. The run's summary, once (the CSV beside the report adds no row).
    assert_eq!(count(&answers[4]), 1);
    let s = report.summary;
    let summary: Vec<Option<String>> = [
        s.compliant,
        s.non_compliant,
        s.not_applicable,
        s.exempt,
        s.error,
    ]
    .iter()
    .map(|n| Some(n.to_string()))
    .collect();
    assert_eq!(answers[4].1[0][1..], summary[..]);
}

/// The ids GitHub gives a markdown file's headings.
fn anchors(doc: &str) -> BTreeSet<String> {
    let mut in_code = false;
    doc.lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Every `](target)` of a markdown text outside code blocks.
fn links(doc: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in doc.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut docs = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path.strip_prefix(root()).unwrap().to_owned());
        }
    }
    let mut checked = 0;
    let mut broken = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            checked += 1;
            let path = root().join(&target);
            if !path.exists() {
                broken.push(format!(
                    "{}: {link} (no {})",
                    doc.display(),
                    target.display()
                ));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {link} (no heading #{anchor})", doc.display()));
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `NAME = "value"` in a Python script.
fn python_constant(path: &str, name: &str) -> String {
    read(path)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{path}: no {name} = \"…\""))
        .to_owned()
}

#[test]
fn the_rotation_fixtures_name_the_secret_the_kept_demo_leaves() {
    // scripts/demo.py creates the secret; Secrets Manager (and moto) accept the ARN without its
    // random suffix, so a fixture can name it before it exists.
    let secret = python_constant("scripts/demo.py", "SECRET");
    let region = python_constant("scripts/player.py", "REGION");
    let account = python_constant("scripts/player.py", "ACCOUNT");
    let expected = format!("arn:aws:secretsmanager:{region}:{account}:secret:{secret}");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        // The cross-account event names a secret of another team, with its RotationToken.
        if !name.starts_with("rotation-") || name == "rotation-cross-account.json" {
            continue;
        }
        let v: Value = serde_json::from_str(&read(&format!("events/{name}"))).unwrap();
        assert_eq!(v["SecretId"], expected.as_str(), "events/{name}");
        checked.push(name);
    }
    assert!(
        checked.iter().any(|n| n == "rotation-action-Status.json"),
        "{checked:?}"
    );
}

#[test]
fn the_readme_is_short_and_keeps_its_two_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines (at most 200)");
    for needle in [
        "make demo",
        "make test",
        "docs/deploy.md",
        "docs/runbook.md",
    ] {
        assert!(readme.contains(needle), "README.md lacks {needle}");
    }
    let makefile = read("Makefile");
    for target in ["demo:", "test:"] {
        assert!(
            makefile.lines().any(|l| l.starts_with(target)),
            "Makefile lacks {target}"
        );
    }
}

/// The alarms template.yaml and root-keys.yaml declare: a top-level resource whose next line
/// is its alarm type.
fn alarms_in_template() -> BTreeSet<String> {
    let mut alarms = BTreeSet::new();
    for file in ["template.yaml", "root-keys.yaml"] {
        let template = read(file);
        let lines: Vec<&str> = template.lines().collect();
        alarms.extend(
            lines
                .windows(2)
                .filter(|pair| pair[1].trim() == "Type: AWS::CloudWatch::Alarm")
                .filter_map(|pair| {
                    let name = pair[0].strip_prefix("  ")?.strip_suffix(':')?;
                    (!name.starts_with(' ')).then(|| name.to_owned())
                }),
        );
    }
    alarms
}

#[test]
fn every_alarm_the_template_raises_has_a_runbook_row() {
    let alarms = alarms_in_template();
    assert!(alarms.len() >= 10, "template.yaml alarms: {alarms:?}");
    let runbook = read("docs/runbook.md");
    let section = runbook
        .split("\n## Alarms\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/runbook.md has an \"## Alarms\" section");
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let missing: Vec<&String> = alarms
        .iter()
        .filter(|alarm| {
            let named = format!("`{alarm}`");
            !rows
                .iter()
                .any(|row| row.split(" | ").next().is_some_and(|c| c.contains(&named)))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/runbook.md's Alarms table has no row naming {missing:?}: on-call gets an alarm the runbook does not explain"
    );
}
