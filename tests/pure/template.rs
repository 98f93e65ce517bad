//! The SAM template agrees with the crate: one function per binary (the rotator's binary twice:
//! the rotator and its operator deployment), every environment variable the binaries read set
//! from a parameter whose values the binaries accept, least-privilege policies, key writes only
//! through a key-writer session tagged with the secret (attribute-based access control), and
//! the rotation wiring Secrets Manager needs. The member-account roles (member-roles.yaml) hold
//! what the functions do in another account, and trust only them.

use aws_key_rotation::audit::config::{AuditConfig, SweepMode};
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::settings::Shared;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROTATOR: &str = "rotate-access-key";
const AUDITOR: &str = "audit-key-rotation";
/// The operator deployment of the rotator's binary: the function started with
/// `OPERATOR_ACTIONS=true` (Status, Rollback, Cancel), which Secrets Manager cannot invoke.
const OPERATOR: &str = "rotate-access-key (OPERATOR_ACTIONS=true)";
const MEMBER_ROLES: &str = "member-roles.yaml";
/// The root-keys function's own SAM template, and its binary.
const ROOT_KEYS: &str = "root-keys.yaml";
const REMOVER: &str = "remove-root-keys";

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A template as JSON, with CloudFormation's short tags in their long form
/// (`!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is
/// `{"Fn::Sub": "s"}`, ...).
fn load(file: &str) -> Value {
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(&read(file)).unwrap_or_else(|e| panic!("{file} is YAML: {e}"));
    to_json(yaml)
}

/// The SAM template of both functions.
fn template() -> Value {
    load("template.yaml")
}

/// The roles an Organization rolls out to its member accounts (a plain CloudFormation template).
fn member_roles() -> Value {
    load(MEMBER_ROLES)
}

fn to_json(value: yaml_serde::Value) -> Value {
    use yaml_serde::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => yaml_serde::to_string(&other)
                            .expect("a scalar key")
                            .trim()
                            .to_owned(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) =
                            s.split_once('.').expect("!GetAtt Resource.Attribute");
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

/// The `name = "..."` of every `[[bin]]` table of Cargo.toml, read line by line.
fn cargo_binaries() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for raw in read("Cargo.toml").lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if !in_bin {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            if key.trim() == "name" {
                let value = value.trim();
                assert!(
                    value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
                    "bin name {value}"
                );
                names.insert(value[1..value.len() - 1].to_owned());
            }
        }
    }
    names
}

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("Resources")
}

fn parameters(t: &Value) -> &Map<String, Value> {
    t["Parameters"].as_object().expect("Parameters")
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// A function's properties with the template's `Globals.Function` applied, as SAM does:
/// the function's own values win, environment variables are merged.
fn effective_properties(t: &Value, function: &Value) -> Map<String, Value> {
    let mut props = t["Globals"]["Function"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let own = function["Properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut variables = props
        .get("Environment")
        .and_then(|e| e["Variables"].as_object().cloned())
        .unwrap_or_default();
    if let Some(v) = own
        .get("Environment")
        .and_then(|e| e["Variables"].as_object())
    {
        variables.extend(v.clone());
    }
    props.extend(own);
    if !variables.is_empty() {
        props.insert("Environment".into(), json!({ "Variables": variables }));
    }
    props
}

/// Whether a function is an operator deployment (`OPERATOR_ACTIONS: "true"`).
fn is_operator(t: &Value, function: &Value) -> bool {
    environment(&effective_properties(t, function))
        .get("OPERATOR_ACTIONS")
        .is_some_and(|v| v == "true")
}

/// (logical id, resource, effective properties) of the function built from `binary`
/// ([`OPERATOR`]: the operator deployment of the rotator's binary).
fn function(t: &Value, binary: &str) -> (String, Value, Map<String, Value>) {
    let (built_from, operator) = if binary == OPERATOR {
        (ROTATOR, true)
    } else {
        (binary, false)
    };
    let found: Vec<_> = of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, r)| {
            r["Metadata"]["BuildProperties"]["Binary"] == built_from
                && is_operator(t, r) == operator
        })
        .collect();
    assert_eq!(found.len(), 1, "exactly one function builds {binary}");
    let (id, resource) = found[0];
    (
        id.clone(),
        resource.clone(),
        effective_properties(t, resource),
    )
}

fn environment(props: &Map<String, Value>) -> Map<String, Value> {
    props
        .get("Environment")
        .and_then(|e| e["Variables"].as_object().cloned())
        .unwrap_or_default()
}

/// Parameters an expression refers to (`Ref` and `${Name}` in `Fn::Sub`), pseudo parameters left out.
fn referenced_parameters(expr: &Value, out: &mut BTreeSet<String>) {
    match expr {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("Ref", Value::String(name)) if !name.starts_with("AWS::") => {
                        out.insert(name.clone());
                    }
                    ("Fn::Sub", sub) => {
                        let text = match sub {
                            Value::Array(parts) => {
                                parts.first().and_then(Value::as_str).unwrap_or("")
                            }
                            other => other.as_str().unwrap_or(""),
                        };
                        for piece in text.split("${").skip(1) {
                            let name = piece.split('}').next().unwrap_or("");
                            if !name.starts_with("AWS::") && !name.contains('.') {
                                out.insert(name.to_owned());
                            }
                        }
                        if let Value::Array(parts) = sub {
                            parts
                                .iter()
                                .skip(1)
                                .for_each(|p| referenced_parameters(p, out));
                        }
                    }
                    _ => referenced_parameters(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| referenced_parameters(i, out)),
        _ => {}
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value an environment variable gets when the stack is deployed with `choice(parameter)`
/// for each parameter (its default when `None`), for the forms the template uses:
/// `!Ref Param`, `!Join [",", !Ref ListParam]`, `!If [Condition, a, b]` and `!Ref Resource`.
/// The conditions of every `!If` in `expr`.
fn if_conditions(expr: &Value) -> Vec<String> {
    match expr {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| {
                let here = (k == "Fn::If")
                    .then(|| v[0].as_str().map(str::to_owned))
                    .flatten();
                here.into_iter().chain(if_conditions(v))
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(if_conditions).collect(),
        _ => Vec::new(),
    }
}

fn resolve(t: &Value, expr: &Value, choice: &dyn Fn(&str) -> Option<String>) -> String {
    let value_of = |name: &str| {
        choice(name).unwrap_or_else(|| {
            let p = &parameters(t)[name];
            scalar_text(&p["Default"]).unwrap_or_else(|| panic!("parameter {name} has no default"))
        })
    };
    match expr {
        Value::Object(m)
            if m.get("Ref")
                .and_then(Value::as_str)
                .is_some_and(|r| parameters(t).contains_key(r)) =>
        {
            value_of(m["Ref"].as_str().expect("Ref of a name"))
        }
        // `!If [Condition, a, b]` over the template's Conditions.
        Value::Object(m) if m.contains_key("Fn::If") => {
            let args = m["Fn::If"].as_array().expect("!If [cond, a, b]");
            let condition = args[0].as_str().expect("condition name");
            let holds = condition_holds(t, &t["Conditions"][condition], choice);
            resolve(t, &args[if holds { 1 } else { 2 }], choice)
        }
        // A resource the stack creates: what `!Ref` gives for it (a bucket's name, a topic's ARN).
        Value::Object(m)
            if m.get("Ref")
                .and_then(Value::as_str)
                .is_some_and(|r| resources(t).contains_key(r)) =>
        {
            let id = m["Ref"].as_str().unwrap();
            if resources(t)[id]["Type"] == "AWS::S3::Bucket" {
                return format!("stack-{}", id.to_ascii_lowercase());
            }
            if resources(t)[id]["Type"] == "AWS::SQS::Queue" {
                return format!("https://sqs.us-east-1.amazonaws.com/123456789012/{id}");
            }
            let service = resources(t)[id]["Type"]
                .as_str()
                .and_then(|ty| ty.split("::").nth(1))
                .unwrap_or("x")
                .to_ascii_lowercase();
            format!("arn:aws:{service}:us-east-1:123456789012:{id}")
        }
        // A role the stack creates: `!GetAtt Role.Arn`.
        Value::Object(m) if m.contains_key("Fn::GetAtt") => {
            let id = m["Fn::GetAtt"][0]
                .as_str()
                .expect("!GetAtt Resource.Attribute");
            let resource = resources(t)
                .get(id)
                .unwrap_or_else(|| panic!("!GetAtt of an unknown resource {id}"));
            assert_eq!(m["Fn::GetAtt"][1], "Arn", "{other}", other = expr);
            assert_eq!(resource["Type"], "AWS::IAM::Role", "cannot resolve {expr}");
            format!("arn:aws:iam::123456789012:role/stack-{id}-ABCDEF123456")
        }
        Value::Object(m) if m.contains_key("Fn::Join") => {
            let args = m["Fn::Join"].as_array().expect("!Join [sep, list]");
            let name = args[1]["Ref"]
                .as_str()
                .expect("!Join over !Ref of a list parameter");
            value_of(name)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(args[0].as_str().expect("separator"))
        }
        other => scalar_text(other).unwrap_or_else(|| panic!("cannot resolve {other}")),
    }
}

/// Whether a condition (`!Equals`, `!Not`, `!Ref`s of parameters) holds for the deployment.
fn condition_holds(t: &Value, c: &Value, choice: &dyn Fn(&str) -> Option<String>) -> bool {
    if let Some(args) = c["Fn::Not"].as_array() {
        return !condition_holds(t, &args[0], choice);
    }
    if let Some(args) = c["Fn::Equals"].as_array() {
        return resolve(t, &args[0], choice) == resolve(t, &args[1], choice);
    }
    if let Some(name) = c["Condition"].as_str() {
        return condition_holds(t, &t["Conditions"][name], choice);
    }
    panic!("condition form not handled: {c}")
}

/// Every value a parameter can be deployed with that is worth checking: its default, its
/// allowed values, its numeric bounds.
fn candidate_values(parameter: &Value) -> Vec<String> {
    let mut values: Vec<String> = scalar_text(&parameter["Default"]).into_iter().collect();
    if let Some(allowed) = parameter["AllowedValues"].as_array() {
        values.extend(allowed.iter().filter_map(scalar_text));
    }
    values.extend(scalar_text(&parameter["MinValue"]));
    values.extend(scalar_text(&parameter["MaxValue"]));
    values
}

/// Checks a function's environment against the variables its binary reads and what its config
/// parser accepts: the default deployment, and every allowed value or bound of each parameter.
fn check_environment<T>(
    t: &Value,
    binary: &str,
    env_vars: &[&str],
    from_lookup: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, String>,
) -> T {
    let (_, _, props) = function(t, binary);
    let env = environment(&props);
    let keys: BTreeSet<&str> = env.keys().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = env_vars.iter().copied().collect();
    assert_eq!(
        keys, wanted,
        "{binary}: Environment.Variables == the variables the binary reads"
    );

    let mut params_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (var, expr) in &env {
        let mut refs = BTreeSet::new();
        referenced_parameters(expr, &mut refs);
        // `!If [Condition, …]`: the parameters the condition reads decide the value too.
        for condition in if_conditions(expr) {
            referenced_parameters(&t["Conditions"][condition.as_str()], &mut refs);
        }
        // Resources the stack creates (the notification topic) are not parameters.
        refs.retain(|name| !resources(t).contains_key(name));
        // What the stack fixes: a literal (OPERATOR_ACTIONS) or a resource it creates
        // (KEY_WRITER_ROLE_ARN). Their values are checked by the deployment below.
        let fixed = scalar_text(expr).is_some()
            || expr
                .get("Fn::GetAtt")
                .and_then(|g| g[0].as_str())
                .is_some_and(|id| resources(t).contains_key(id));
        assert!(
            !refs.is_empty() || fixed,
            "{binary}: {var} is not set from a parameter: {expr}"
        );
        for name in &refs {
            assert!(
                parameters(t).contains_key(name),
                "{binary}: {var} refers to a parameter {name} that does not exist"
            );
        }
        params_of.insert(var, refs);
    }

    let deploy = |choice: &dyn Fn(&str) -> Option<String>| -> Result<T, String> {
        let values: BTreeMap<String, String> = env
            .iter()
            .map(|(var, expr)| (var.clone(), resolve(t, expr, choice)))
            .collect();
        from_lookup(&|var| values.get(var).cloned())
    };
    let defaults =
        deploy(&|_| None).unwrap_or_else(|e| panic!("{binary}: default deployment: {e}"));
    for (var, names) in &params_of {
        for name in names {
            for candidate in candidate_values(&parameters(t)[name.as_str()]) {
                let chosen = candidate.clone();
                let param = name.clone();
                if let Err(e) = deploy(&move |p| (p == param).then(|| chosen.clone())) {
                    panic!("{binary}: {var} from parameter {name}={candidate:?} is refused: {e}");
                }
            }
        }
    }
    defaults
}

#[test]
fn one_function_per_binary_built_with_cargo_lambda() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert_eq!(
        functions.len(),
        3,
        "the rotator, its operator deployment, the audit"
    );
    let binary_of = |(id, r): &(&String, &Value)| {
        r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary"))
            .to_owned()
    };
    let binaries: BTreeSet<String> = functions.iter().map(binary_of).collect();
    assert_eq!(
        binaries,
        BTreeSet::from([ROTATOR.to_owned(), AUDITOR.to_owned()])
    );
    // The third binary is deployed on its own, in the management or IAM delegated-administrator
    // account: root-keys.yaml.
    let root_keys = load(ROOT_KEYS);
    let own: Vec<String> = of_type(&root_keys, "AWS::Serverless::Function")
        .iter()
        .map(binary_of)
        .collect();
    assert_eq!(own, [REMOVER]);
    assert_eq!(
        binaries.into_iter().chain(own).collect::<BTreeSet<_>>(),
        cargo_binaries(),
        "the templates' functions' binaries == Cargo.toml's [[bin]] names"
    );
    // The rotator's binary twice: once as the rotator, once as the operator function.
    let (rotator, _, _) = function(&t, ROTATOR);
    let (operator, _, _) = function(&t, OPERATOR);
    assert_ne!(rotator, operator);
    for (id, resource) in functions {
        let props = effective_properties(&t, resource);
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        assert_eq!(props["Runtime"], "provided.al2023", "{id}");
        assert_eq!(props["Handler"], "bootstrap", "{id}");
        assert_eq!(props["CodeUri"], ".", "{id}: built from the crate root");
        assert_eq!(props["LoggingConfig"]["LogFormat"], "JSON", "{id}");
    }
}

#[test]
fn rotator_environment_is_rotation_config() {
    let t = template();
    let deployed = check_environment(&t, ROTATOR, RotationConfig::ENV_VARS, |lookup| {
        RotationConfig::from_lookup(lookup).map_err(|e| e.to_string())
    });
    // The stack adds what the binary cannot default to: the topic and the key-writer role it
    // creates.
    let expected = RotationConfig {
        shared: Shared {
            notify_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:NotificationTopic".into()),
            ..Shared::default()
        },
        key_writer_role_arn: Some(
            "arn:aws:iam::123456789012:role/stack-KeyWriterRole-ABCDEF123456".into(),
        ),
        ..RotationConfig::default()
    };
    assert!(
        !deployed.operator_actions,
        "the rotator refuses operator actions"
    );
    assert_eq!(
        format!("{deployed:?}"),
        format!("{expected:?}"),
        "the template's defaults are the binary's defaults"
    );
}

/// The operator function is the rotator with OPERATOR_ACTIONS=true: every other variable is the
/// rotator's, so both act on the same secrets, users and topic.
#[test]
fn operator_environment_is_the_rotators_with_operator_actions() {
    let t = template();
    let deployed = check_environment(&t, OPERATOR, RotationConfig::ENV_VARS, |lookup| {
        RotationConfig::from_lookup(lookup).map_err(|e| e.to_string())
    });
    assert!(deployed.operator_actions);
    let (_, _, rotator) = function(&t, ROTATOR);
    let (_, _, operator) = function(&t, OPERATOR);
    let mut rotator_env = environment(&rotator);
    let mut operator_env = environment(&operator);
    assert_eq!(rotator_env.remove("OPERATOR_ACTIONS"), Some(json!("false")));
    assert_eq!(operator_env.remove("OPERATOR_ACTIONS"), Some(json!("true")));
    assert_eq!(operator_env, rotator_env);
    assert_eq!(
        operator_env["KEY_WRITER_ROLE_ARN"],
        json!({"Fn::GetAtt": ["KeyWriterRole", "Arn"]})
    );
}

#[test]
fn auditor_environment_is_audit_config() {
    let t = template();
    let deployed = check_environment(&t, AUDITOR, AuditConfig::ENV_VARS, |lookup| {
        AuditConfig::from_lookup(lookup).map_err(|e| e.to_string())
    });
    // The stack runs the sweep as a report first (what it would do, changing nothing: a safe
    // first run, to be turned on once the report reads right) and adds the topic and the
    // report bucket it creates.
    assert_eq!(
        deployed,
        AuditConfig {
            sweep: SweepMode::Report,
            shared: Shared {
                notify_topic_arn: Some(
                    "arn:aws:sns:us-east-1:123456789012:NotificationTopic".into()
                ),
                ..Shared::default()
            },
            report_bucket: Some("stack-reportbucket".into()),
            ..AuditConfig::default()
        },
        "the template's defaults are the binary's defaults"
    );
}

/// (condition-free) statements of every policy document in the template; both branches of an
/// `!If`, `AWS::NoValue` left out.
fn statements(expr: &Value, out: &mut Vec<Value>) {
    fn push(statement: &Value, out: &mut Vec<Value>) {
        match statement {
            Value::Object(m) if m.contains_key("Fn::If") => {
                let branches = m["Fn::If"].as_array().expect("!If [cond, a, b]");
                branches[1..].iter().for_each(|b| push(b, out));
            }
            Value::Object(m) if m.get("Ref") == Some(&json!("AWS::NoValue")) => {}
            Value::Object(_) => out.push(statement.clone()),
            Value::Array(items) => items.iter().for_each(|s| push(s, out)),
            other => panic!("not a statement: {other}"),
        }
    }
    match expr {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "Statement" {
                    push(value, out);
                } else {
                    statements(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| statements(i, out)),
        _ => {}
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

#[test]
fn no_write_action_on_every_resource() {
    let t = template();
    let mut all = Vec::new();
    statements(&t["Resources"], &mut all);
    assert!(
        all.len() >= 10,
        "the policies were found ({} statements)",
        all.len()
    );
    for statement in &all {
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{statement}"
        );
        // A resource policy (it names a Principal) is attached to its one resource: there
        // "Resource": "*" means that resource (a KMS key policy must say so).
        if statement["Effect"] != "Allow" || statement.get("Principal").is_some() {
            continue;
        }
        let on_everything = as_list(&statement["Resource"]).iter().any(|r| *r == "*");
        if !on_everything {
            continue;
        }
        for action in as_list(&statement["Action"]) {
            let action = action.as_str().unwrap_or_else(|| panic!("action {action}"));
            let verb = action.split_once(':').map_or(action, |(_, verb)| verb);
            assert!(
                ["List", "Get", "Describe"]
                    .iter()
                    .any(|read| verb.starts_with(read)),
                "{action} is allowed on Resource \"*\": {statement}"
            );
        }
    }
}

/// The number of seconds an expression gives with the parameters at `choice` (default when `None`).
fn seconds(t: &Value, expr: &Value, choice: Option<&str>) -> u64 {
    match expr {
        Value::Number(n) => n.as_u64().expect("whole seconds"),
        Value::Object(m) if m.contains_key("Fn::FindInMap") => {
            let args = m["Fn::FindInMap"]
                .as_array()
                .expect("!FindInMap [map, key, attribute]");
            let key = match &args[1] {
                Value::Object(k) if k.contains_key("Ref") => {
                    let name = k["Ref"].as_str().expect("a parameter");
                    choice.map(str::to_owned).unwrap_or_else(|| {
                        scalar_text(&parameters(t)[name]["Default"]).expect("default")
                    })
                }
                other => scalar_text(other).expect("a literal key"),
            };
            let map = args[0].as_str().expect("map name");
            let attribute = args[2].as_str().expect("attribute");
            t["Mappings"][map][&key][attribute]
                .as_u64()
                .unwrap_or_else(|| panic!("Mappings.{map}.{key}.{attribute}"))
        }
        other => panic!("cannot resolve a timeout from {other}"),
    }
}

#[test]
fn rotator_timeout_exceeds_the_test_timeout() {
    let t = template();
    let (id, _, props) = function(&t, ROTATOR);
    let code_default = RotationConfig::default().test_timeout.as_secs();
    let timeout = seconds(&t, &props["Timeout"], None);
    assert!(
        timeout > code_default,
        "{id}: Timeout {timeout} must exceed TEST_TIMEOUT_SECONDS' default {code_default}"
    );
    assert!(timeout <= 900, "{id}: Lambda's maximum timeout is 900 s");

    // Whatever TEST_TIMEOUT_SECONDS the stack is deployed with, the function outlives it.
    let env = environment(&props);
    let mut refs = BTreeSet::new();
    referenced_parameters(&env["TEST_TIMEOUT_SECONDS"], &mut refs);
    let param = &parameters(&t)[refs.iter().next().expect("a parameter").as_str()];
    for value in candidate_values(param) {
        let test_timeout: u64 = value.parse().expect("seconds");
        let timeout = seconds(&t, &props["Timeout"], Some(&value));
        assert!(
            timeout > test_timeout && timeout <= 900,
            "{id}: TEST_TIMEOUT_SECONDS={test_timeout} gives Timeout {timeout}"
        );
    }
}

fn names_resource(expr: &Value, logical_id: &str) -> bool {
    match expr {
        Value::Object(m) if m.contains_key("Fn::GetAtt") => m["Fn::GetAtt"][0] == logical_id,
        Value::Object(m) if m.contains_key("Ref") => m["Ref"] == logical_id,
        _ => false,
    }
}

#[test]
fn secrets_manager_can_invoke_the_rotator_on_a_schedule() {
    let t = template();
    let (rotator, _, _) = function(&t, ROTATOR);

    let schedules = of_type(&t, "AWS::SecretsManager::RotationSchedule");
    assert!(!schedules.is_empty(), "a RotationSchedule");
    for (id, schedule) in schedules {
        let props = &schedule["Properties"];
        assert!(
            !props["RotationRules"]["ScheduleExpression"].is_null(),
            "{id}: RotationRules.ScheduleExpression"
        );
        assert!(
            names_resource(&props["RotationLambdaARN"], &rotator),
            "{id}: RotationLambdaARN is {rotator}"
        );
    }

    let permissions: Vec<_> = of_type(&t, "AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["Principal"] == "secretsmanager.amazonaws.com")
        .collect();
    assert_eq!(
        permissions.len(),
        1,
        "one Lambda permission for Secrets Manager"
    );
    let props = &permissions[0].1["Properties"];
    assert!(
        names_resource(&props["FunctionName"], &rotator),
        "the permission is on {rotator}"
    );
    assert_eq!(props["Action"], "lambda:InvokeFunction");
    assert_eq!(
        props["SourceAccount"],
        json!({ "Ref": "AWS::AccountId" }),
        "SourceAccount limits it to this account"
    );
}

#[test]
fn auditor_is_triggered_by_every_event_the_contract_lists() {
    let t = template();
    let (id, _, props) = function(&t, AUDITOR);
    let events = props["Events"].as_object().expect("Events");
    let mut scheduled = false;
    let mut matched: BTreeSet<(String, String)> = BTreeSet::new();
    for event in events.values() {
        match event["Type"].as_str() {
            Some("Schedule") | Some("ScheduleV2") => scheduled = true,
            Some("EventBridgeRule") | Some("CloudWatchEvent") => {
                let pattern = &event["Properties"]["Pattern"];
                for source in as_list(&pattern["source"]) {
                    for detail_type in as_list(&pattern["detail-type"]) {
                        let names = as_list(&pattern["detail"]["eventName"]);
                        if names.is_empty() {
                            matched.insert((source.to_string(), detail_type.to_string()));
                        }
                        for name in names {
                            matched.insert((source.to_string(), name.to_string()));
                        }
                    }
                }
            }
            other => panic!("{id}: unexpected event type {other:?}"),
        }
    }
    assert!(scheduled, "{id}: a schedule");
    use aws_key_rotation::audit::events::{IAM_CALLS, KMS_CALLS, KMS_NATIVE_EVENTS};
    let kms: Vec<&str> = KMS_CALLS.iter().chain(KMS_NATIVE_EVENTS).copied().collect();
    let iam = IAM_CALLS;
    let wanted = kms
        .iter()
        .map(|n| ("aws.kms", *n))
        .chain(iam.iter().map(|n| ("aws.iam", *n)));
    for (source, name) in wanted {
        let key = (json!(source).to_string(), json!(name).to_string());
        assert!(
            matched.contains(&key),
            "{id}: no rule matches {name} from {source}"
        );
    }
}

#[test]
fn outputs_name_every_function_and_the_dead_letter_queue() {
    let t = template();
    let (rotator, _, _) = function(&t, ROTATOR);
    let (operator, _, _) = function(&t, OPERATOR);
    let (auditor, auditor_resource, _) = function(&t, AUDITOR);
    let outputs: Vec<&Value> = t["Outputs"]
        .as_object()
        .expect("Outputs")
        .values()
        .map(|o| &o["Value"])
        .collect();
    assert!(
        outputs.iter().any(|v| names_resource(v, &rotator)),
        "an output names {rotator}"
    );
    assert!(
        outputs.iter().any(|v| names_resource(v, &auditor)),
        "an output names {auditor}"
    );
    assert!(
        outputs.iter().any(|v| names_resource(v, &operator)),
        "an output names {operator}"
    );
    let destination =
        &auditor_resource["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(
        destination["Type"], "SQS",
        "failed audit invocations go to a queue"
    );
    let queue = destination["Destination"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a queue of this template");
    assert_eq!(resources(&t)[queue]["Type"], "AWS::SQS::Queue");
    assert!(
        outputs.iter().any(|v| names_resource(v, queue)),
        "an output names the queue {queue}"
    );
}

/// The Allow statements of a function's policies.
fn function_statements(t: &Value, binary: &str) -> Vec<Value> {
    let (_, _, props) = function(t, binary);
    let mut out = Vec::new();
    statements(&props["Policies"], &mut out);
    out.retain(|s| s["Effect"] == "Allow");
    assert!(!out.is_empty(), "{binary} has policies");
    out
}

/// The Allow statements a function's role holds: its own policies, and the policies of the
/// template attached to its role (`AWS::IAM::Policy`, `AWS::IAM::ManagedPolicy`).
fn function_role_statements(t: &Value, binary: &str) -> Vec<Value> {
    let (id, _, _) = function(t, binary);
    let role = json!({ "Ref": format!("{id}Role") });
    let mut out = function_statements(t, binary);
    for ty in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (_, policy) in of_type(t, ty) {
            if as_list(&policy["Properties"]["Roles"]).contains(&&role) {
                statements(&policy["Properties"]["PolicyDocument"], &mut out);
            }
        }
    }
    out.retain(|s| s["Effect"] == "Allow");
    out
}

fn actions(statement: &Value) -> Vec<String> {
    as_list(&statement["Action"])
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The values a condition operator gives a key (`None` when the statement has no such test).
fn condition<'a>(statement: &'a Value, operator: &str, key: &str) -> Option<&'a Value> {
    statement.get("Condition")?.get(operator)?.get(key)
}

fn tag_keys_allowed(statement: &Value) -> Vec<String> {
    assert_eq!(
        condition(statement, "Null", "aws:TagKeys"),
        Some(&json!("false")),
        "a request without tag keys passes ForAllValues: {statement}"
    );
    as_list(
        condition(statement, "ForAllValues:StringEquals", "aws:TagKeys")
            .unwrap_or_else(|| panic!("tag writes limited by aws:TagKeys: {statement}")),
    )
    .iter()
    .map(|k| k.as_str().unwrap().to_owned())
    .collect()
}

const KEY_WRITES: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:TagUser",
    "iam:UntagUser",
];

/// The policy variable of a key-writer session's own secret (its session tag).
const SESSION_SECRET: &str = "${aws:PrincipalTag/KeyRotationSecret}";

/// What a key write requires of the user's binding tag (`KeyRotationSecret`): the condition
/// operator and its value(s).
struct Bound<'a> {
    operator: &'a str,
    value: Value,
}

impl Bound<'_> {
    /// The binding names the secret the session is tagged with (attribute-based access control).
    fn to_the_session_secret() -> Self {
        Bound {
            operator: "StringEquals",
            value: json!(SESSION_SECRET),
        }
    }
}

/// Whether `s` writes to keys; if it does, it may do so only on users whose binding satisfies
/// `bound` (and no other test on the binding, such as an IfExists or a Null that a user without
/// it would pass), and the user tags it may write are `own_tags`, never the binding.
fn bound_key_write(who: &str, s: &Value, bound: &Bound, own_tags: &[&str]) -> bool {
    use aws_key_rotation::binding::BINDING_TAG;
    let acts = actions(s);
    if !acts.iter().any(|a| KEY_WRITES.contains(&a.as_str())) {
        return false;
    }
    let key = format!("aws:ResourceTag/{BINDING_TAG}");
    assert_eq!(
        condition(s, bound.operator, &key),
        Some(&bound.value),
        "{who}: key writes only on users bound by {BINDING_TAG}: {s}"
    );
    for (operator, keys) in s["Condition"].as_object().expect("Condition") {
        if operator != bound.operator {
            assert!(
                keys.get(&key).is_none(),
                "{who}: a second test on {key}: {s}"
            );
        }
    }
    if acts
        .iter()
        .any(|a| a == "iam:TagUser" || a == "iam:UntagUser")
    {
        let allowed = tag_keys_allowed(s);
        assert_eq!(allowed, own_tags, "{who}: {s}");
        assert!(!allowed.iter().any(|k| k == BINDING_TAG), "{who}: {s}");
    }
    true
}

/// The binding of the sweep's writes in the central account: a secret of this account.
fn sweep_bound_here() -> Bound<'static> {
    Bound {
        operator: "StringLike",
        value: json!({ "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*" }),
    }
}

/// The key-writer role's policy statements.
fn key_writer_statements(t: &Value) -> Vec<Value> {
    let role = &resources(t)["KeyWriterRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(role.get("Condition").is_none(), "always created");
    let mut out = Vec::new();
    statements(&role["Properties"]["Policies"], &mut out);
    out
}

/// The rotator and the operator function change no key with their own credentials: every IAM
/// call for a rotation's user goes through a key-writer session, which writes only to the user
/// bound to the session's secret; the sweep only to users bound to a secret of this account.
/// No role can bind a user.
#[test]
fn key_writes_need_a_bound_user_and_no_role_can_bind_one() {
    use aws_key_rotation::binding::{DEACTIVATED_TAG, OWN_KEYS_TAG, SWITCHED_TAG};
    use aws_key_rotation::rotation::intent::INTENT_TAG;
    let t = template();
    for binary in [ROTATOR, OPERATOR] {
        let iam: Vec<Value> = function_role_statements(&t, binary)
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| a.starts_with("iam:")))
            .collect();
        assert_eq!(
            iam,
            Vec::<Value>::new(),
            "{binary}: no IAM permission of its own"
        );
    }
    let mut writes = 0;
    for s in key_writer_statements(&t) {
        assert_eq!(s["Effect"], "Allow");
        let acts = actions(&s);
        assert!(
            !acts.iter().any(|a| a.contains('*')),
            "wildcard action {acts:?}"
        );
        assert!(acts.iter().all(|a| a.starts_with("iam:")), "{s}");
        let bound = Bound::to_the_session_secret();
        let own_tags = [INTENT_TAG, OWN_KEYS_TAG, SWITCHED_TAG];
        if bound_key_write("KeyWriterRole", &s, &bound, &own_tags) {
            writes += 1;
        } else {
            assert!(acts.iter().all(|a| is_read(a)), "{s}");
        }
    }
    for s in function_statements(&t, AUDITOR) {
        let acts = actions(&s);
        assert!(
            !acts.iter().any(|a| a.contains('*')),
            "{AUDITOR}: wildcard action {acts:?}"
        );
        if bound_key_write(AUDITOR, &s, &sweep_bound_here(), &[DEACTIVATED_TAG]) {
            writes += 1;
        }
    }
    assert_eq!(
        writes, 4,
        "key-writer key writes, rotation tags, audit sweep, deactivation record"
    );
}

/// The key-writer policy, word for word: reads under the path; key writes and the rotation's
/// own user tags only where the user's binding equals the session's tag.
#[test]
fn the_key_writer_policy_is_attribute_based() {
    let t = template();
    let users =
        json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${IamUserPath}*" });
    let bound =
        json!({ "aws:ResourceTag/KeyRotationSecret": "${aws:PrincipalTag/KeyRotationSecret}" });
    assert_eq!(
        resources(&t)["KeyWriterRole"]["Properties"]["Policies"],
        json!([{
            "PolicyName": "key-writer",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "BindingOfUsersUnderPath",
                        "Effect": "Allow",
                        "Action": "iam:GetUser",
                        "Resource": users
                    },
                    {
                        "Sid": "ReadTheSessionsUser",
                        "Effect": "Allow",
                        "Action": [
                            "iam:ListAccessKeys",
                            "iam:GetAccessKeyLastUsed",
                            "iam:ListAttachedUserPolicies"
                        ],
                        "Resource": users,
                        "Condition": { "StringEquals": bound }
                    },
                    {
                        "Sid": "KeysOfTheSessionsUser",
                        "Effect": "Allow",
                        "Action": ["iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"],
                        "Resource": users,
                        "Condition": { "StringEquals": bound }
                    },
                    {
                        "Sid": "RotationTagsOfTheSessionsUser",
                        "Effect": "Allow",
                        "Action": ["iam:TagUser", "iam:UntagUser"],
                        "Resource": users,
                        "Condition": {
                            "StringEquals": bound,
                            "Null": { "aws:TagKeys": "false" },
                            "ForAllValues:StringEquals": {
                                "aws:TagKeys": [
                                    "KeyRotationIntent",
                                    "KeyRotationOwnKeys",
                                    "KeyRotationSwitched"
                                ]
                            }
                        }
                    }
                ]
            }
        }])
    );
    // The policy variable is IAM's, not CloudFormation's: a `!Sub` would have to escape it.
    for (file, t) in [("template.yaml", &t), (MEMBER_ROLES, &member_roles())] {
        let mut subs = Vec::new();
        sub_texts(t, &mut subs);
        assert!(subs.len() > 10, "{file}: {subs:?}");
        for text in subs {
            assert!(
                !text.contains("${aws:"),
                "{file}: unescaped policy variable in {text}"
            );
        }
    }
}

/// The text of every `!Sub` under `expr`.
fn sub_texts(expr: &Value, out: &mut Vec<String>) {
    match expr {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "Fn::Sub" {
                    let text = match v {
                        Value::Array(parts) => &parts[0],
                        other => other,
                    };
                    out.push(text.as_str().expect("a !Sub string").to_owned());
                }
                sub_texts(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| sub_texts(i, out)),
        _ => {}
    }
}

/// Only the rotator's and the operator's roles may open a key-writer session, and only tagged
/// with one tag, `KeyRotationSecret`, naming a secret of this account.
#[test]
fn the_key_writer_role_trusts_the_two_function_roles_with_a_secret_tag() {
    use aws_key_rotation::binding::BINDING_TAG;
    let t = template();
    let (rotator, _, _) = function(&t, ROTATOR);
    let (operator, _, _) = function(&t, OPERATOR);
    let roles = json!([
        { "Fn::GetAtt": [format!("{rotator}Role"), "Arn"] },
        { "Fn::GetAtt": [format!("{operator}Role"), "Arn"] },
    ]);
    let mut trust = Vec::new();
    statements(
        &resources(&t)["KeyWriterRole"]["Properties"]["AssumeRolePolicyDocument"],
        &mut trust,
    );
    let mut granted = BTreeSet::new();
    for s in &trust {
        assert_eq!(s["Effect"], "Allow", "{s}");
        assert_eq!(
            s["Principal"],
            json!({ "AWS": roles }),
            "exactly the two function roles: {s}"
        );
        for a in actions(s) {
            granted.insert(a.clone());
            if a == "sts:TagSession" {
                let secret = condition(s, "StringLike", &format!("aws:RequestTag/{BINDING_TAG}"))
                    .unwrap_or_else(|| panic!("the session tag names a secret: {s}"));
                assert_eq!(
                    secret,
                    &json!({ "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*" })
                );
                let pattern = substitute(
                    secret,
                    &[
                        ("AWS::Partition", "aws"),
                        ("AWS::AccountId", "111122223333"),
                    ],
                );
                assert!(pattern_matches(
                    &pattern,
                    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:team/alice-AbCdEf"
                ));
                for other in [
                    "arn:aws:secretsmanager:eu-west-1:444455556666:secret:team/alice-AbCdEf",
                    "arn:aws:iam::111122223333:user/key-rotation/alice",
                    "alice",
                ] {
                    assert!(!pattern_matches(&pattern, other), "{other}");
                }
                assert_eq!(
                    condition(s, "ForAllValues:StringEquals", "aws:TagKeys"),
                    Some(&json!([BINDING_TAG])),
                    "no other session tag: {s}"
                );
            } else {
                assert_eq!(a, "sts:AssumeRole", "{s}");
            }
        }
    }
    assert_eq!(
        granted,
        BTreeSet::from(["sts:AssumeRole".to_owned(), "sts:TagSession".to_owned()])
    );
    // Both functions may open the sessions (the policy is attached to both roles), and every
    // rotation of the stack (the example, at deployment) waits for it.
    for binary in [ROTATOR, OPERATOR] {
        let sts: Vec<Value> = function_role_statements(&t, binary)
            .into_iter()
            .filter(|s| s["Resource"] == json!({ "Fn::GetAtt": ["KeyWriterRole", "Arn"] }))
            .collect();
        assert_eq!(sts.len(), 1, "{binary}: {sts:?}");
        assert_eq!(actions(&sts[0]), ["sts:AssumeRole", "sts:TagSession"]);
        let (_, _, props) = function(&t, binary);
        assert_eq!(
            environment(&props)["KEY_WRITER_ROLE_ARN"],
            json!({ "Fn::GetAtt": ["KeyWriterRole", "Arn"] }),
            "{binary}"
        );
    }
    for (id, schedule) in of_type(&t, "AWS::SecretsManager::RotationSchedule") {
        let depends: Vec<&Value> = as_list(&schedule["DependsOn"]);
        for policy in of_type(&t, "AWS::IAM::Policy") {
            assert!(
                depends.contains(&&json!(policy.0)),
                "{id} waits for {}",
                policy.0
            );
        }
    }
}

/// No policy of either template lets anyone write the binding tag: every user-tag write is
/// limited to named keys, and `KeyRotationSecret` is never one of them.
#[test]
fn no_policy_can_write_the_binding_tag() {
    use aws_key_rotation::binding::BINDING_TAG;
    let mut tag_writes = 0;
    for (file, t) in [
        ("template.yaml", template()),
        (MEMBER_ROLES, member_roles()),
    ] {
        let mut all = Vec::new();
        statements(&t["Resources"], &mut all);
        for s in all.iter().filter(|s| s["Effect"] == "Allow") {
            let acts = actions(s);
            assert!(
                !acts
                    .iter()
                    .any(|a| a == "iam:*" || a == "iam:Tag*" || a == "*"),
                "{file}: {s}"
            );
            if acts
                .iter()
                .any(|a| a == "iam:TagUser" || a == "iam:UntagUser")
            {
                tag_writes += 1;
                let keys = tag_keys_allowed(s);
                assert!(!keys.iter().any(|k| k == BINDING_TAG), "{file}: {s}");
            }
        }
    }
    assert_eq!(
        tag_writes, 4,
        "rotation tags and deactivation record, in both templates"
    );
}

#[test]
fn the_rotator_tags_its_secrets_with_key_ids_only() {
    use aws_key_rotation::binding::{OWN_KEYS_TAG, SECRET_KEY_TAGS};
    assert!(
        !SECRET_KEY_TAGS.contains(&OWN_KEYS_TAG),
        "a user tag, never a secret's"
    );
    let t = template();
    for binary in [ROTATOR, OPERATOR] {
        let tagging: Vec<Value> = function_statements(&t, binary)
            .into_iter()
            .filter(|s| {
                actions(s)
                    .iter()
                    .any(|a| a.starts_with("secretsmanager:") && a.contains("TagResource"))
            })
            .collect();
        assert_eq!(
            tagging.len(),
            2,
            "{binary}: tagged secrets and listed secrets"
        );
        for s in &tagging {
            assert_eq!(
                tag_keys_allowed(s),
                SECRET_KEY_TAGS.map(str::to_owned),
                "{binary}: {s}"
            );
        }
    }
}

#[test]
fn the_audit_role_needs_no_key_alias_list() {
    let t = template();
    let all: Vec<String> = function_statements(&t, AUDITOR)
        .iter()
        .flat_map(actions)
        .collect();
    assert!(!all.iter().any(|a| a == "kms:ListAliases"), "{all:?}");
}

/// The audit learns which keys a secret holds from the secret's tags: it can read no secret
/// value, and it reads the binding (GetUser) before the sweep deletes anything.
#[test]
fn the_audit_role_reads_no_secret_value() {
    let t = template();
    // The stack's key, for its own queues, bucket and topic only (never through Secrets
    // Manager), is not a secret's.
    let stack_key = json!({"Fn::If": ["CreateKmsKey", {"Fn::GetAtt": ["StackKey", "Arn"]}, {"Ref": "KmsKeyArn"}]});
    let all: Vec<String> = function_statements(&t, AUDITOR)
        .iter()
        .filter(|s| {
            let through = condition(s, "StringEquals", "kms:ViaService")
                .map(Value::to_string)
                .unwrap_or_default();
            !(s["Resource"] == stack_key
                && !through.is_empty()
                && !through.contains("secretsmanager"))
        })
        .flat_map(actions)
        .collect();
    for denied in [
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "secretsmanager:*",
        "kms:*",
    ] {
        assert!(!all.iter().any(|a| a == denied), "{denied} in {all:?}");
    }
    for needed in ["secretsmanager:ListSecrets", "iam:GetUser"] {
        assert!(
            all.iter().any(|a| a == needed),
            "{needed} missing from {all:?}"
        );
    }
}

#[test]
fn hardening_of_the_stack() {
    let t = template();
    let r = resources(&t);
    // Users under a dedicated path by default, not every user of the account.
    assert_ne!(parameters(&t)["IamUserPath"]["Default"], "/");
    // The audit cannot take every concurrent execution of the account.
    let (audit, _, _) = function(&t, AUDITOR);
    let reserved = &r[&audit]["Properties"]["ReservedConcurrentExecutions"];
    assert!(
        reserved.to_string().contains("AuditReservedConcurrency"),
        "{reserved}"
    );
    // The alarm topic is encrypted with the stack's rotating key (or KmsKeyArn), which
    // CloudWatch may use.
    let topic = &r["AlarmTopic"]["Properties"];
    assert_eq!(
        topic["KmsMasterKeyId"],
        json!({"Fn::If": ["CreateKmsKey", {"Fn::GetAtt": ["StackKey", "Arn"]}, {"Ref": "KmsKeyArn"}]})
    );
    let key = &r["StackKey"]["Properties"];
    assert_eq!(key["EnableKeyRotation"], true);
    assert!(key["KeyPolicy"]
        .to_string()
        .contains("cloudwatch.amazonaws.com"));
    // The dead-letter queue refuses requests that are not over TLS.
    let mut dlq = Vec::new();
    statements(&r["AuditDeadLetterQueuePolicy"], &mut dlq);
    assert!(
        dlq.iter().any(|s| s["Effect"] == "Deny"
            && condition(s, "Bool", "aws:SecureTransport") == Some(&json!("false"))),
        "{dlq:?}"
    );
    // The example user is created bound to the example secret.
    let user = &r["ExampleUser"]["Properties"];
    assert_eq!(
        user["Tags"],
        json!([{"Key": aws_key_rotation::binding::BINDING_TAG, "Value": {"Ref": "ExampleSecret"}}])
    );
    // The report bucket: encrypted, never public, reports expire, TLS only.
    let bucket = &r["ReportBucket"]["Properties"];
    assert!(bucket["BucketEncryption"]
        .to_string()
        .contains("SSEAlgorithm"));
    let block = &bucket["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[flag], true, "{flag}");
    }
    assert!(bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"].is_object());
    let mut policy = Vec::new();
    statements(&r["ReportBucketPolicy"], &mut policy);
    assert!(
        policy.iter().any(|s| s["Effect"] == "Deny"
            && condition(s, "Bool", "aws:SecureTransport") == Some(&json!("false"))),
        "{policy:?}"
    );
    // The audit may write reports under the prefix only, and import only its own findings.
    let writes: Vec<Value> = function_statements(&t, AUDITOR)
        .into_iter()
        .filter(|s| {
            actions(s)
                .iter()
                .any(|a| a.starts_with("s3:") || a.starts_with("securityhub:"))
        })
        .collect();
    for s in &writes {
        let acts = actions(s);
        assert!(
            acts == ["s3:PutObject"]
                || acts == ["securityhub:BatchImportFindings"]
                || acts == ["securityhub:GetFindings"]
                || acts == ["securityhub:BatchUpdateFindings"],
            "{s}"
        );
        // Findings are only ever set back to NEW: the audit role can never suppress one, nor
        // change another field of any product's finding.
        if acts == ["securityhub:BatchUpdateFindings"] {
            assert_eq!(
                condition(
                    s,
                    "StringEquals",
                    "securityhub:ASFFSyntaxPath/Workflow.Status"
                ),
                Some(&json!("NEW")),
                "{s}"
            );
            assert!(
                s["Condition"]["Null"]
                    .as_object()
                    .is_some_and(|m| m.len() >= 5 && m.values().all(|v| v == "true")),
                "{s}"
            );
        }
        assert!(
            s["Resource"].to_string().contains("ReportPrefix")
                || s["Resource"].to_string().contains("product/")
                || s["Resource"].to_string().contains(":hub/default"),
            "{s}"
        );
        // A bucket name can be taken by anyone once deleted: reports go to this account's only.
        if acts == ["s3:PutObject"] {
            assert_eq!(
                s["Condition"],
                json!({ "StringEquals": { "s3:ResourceAccount": { "Ref": "AWS::AccountId" } } }),
                "{s}"
            );
        }
    }
    assert_eq!(writes.len(), 4, "{writes:?}");
}

// ------------------------------------------------------------ member-account roles

/// The logical ids of member-roles.yaml's two roles.
const MEMBER_AUDIT_ROLE: &str = "AuditRole";
const MEMBER_ROTATOR_ROLE: &str = "RotatorRole";
/// A function role ARN as the central stack's outputs give it.
const CENTRAL_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/central-FunctionRole-ABC";
/// Services the audit calls in every account it audits, through the role it assumes there
/// (S3 reports, SNS, STS and Organizations are called from its own account only).
const AUDITED_SERVICES: &[&str] = &["kms", "iam", "secretsmanager", "securityhub", "account"];

/// A deployment: the parameters given, every other one at its default.
fn deployment<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(p, _)| *p == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// `expr` as the stack deployed with `choice` has it: each `!If` resolved through the
/// template's Conditions, `AWS::NoValue` left out (of a list or a mapping).
fn resolve_ifs(t: &Value, expr: &Value, choice: &dyn Fn(&str) -> Option<String>) -> Value {
    let no_value = |v: &Value| v.get("Ref") == Some(&json!("AWS::NoValue"));
    match expr {
        Value::Object(m) if m.contains_key("Fn::If") => {
            let args = m["Fn::If"].as_array().expect("!If [cond, a, b]");
            let name = args[0].as_str().expect("condition name");
            let holds = condition_holds(t, &t["Conditions"][name], choice);
            resolve_ifs(t, &args[if holds { 1 } else { 2 }], choice)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve_ifs(t, v, choice)))
                .filter(|(_, v)| !no_value(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_ifs(t, v, choice))
                .filter(|v| !no_value(v))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The statements of the policy documents under `expr` as the stack deployed with `choice` has
/// them: each `!If` resolved through the template's Conditions, `AWS::NoValue` left out.
fn deployed_statements(
    t: &Value,
    expr: &Value,
    choice: &dyn Fn(&str) -> Option<String>,
) -> Vec<Value> {
    fn push(t: &Value, s: &Value, choice: &dyn Fn(&str) -> Option<String>, out: &mut Vec<Value>) {
        match s {
            Value::Object(m) if m.contains_key("Fn::If") => {
                let args = m["Fn::If"].as_array().expect("!If [cond, a, b]");
                let name = args[0].as_str().expect("condition name");
                let holds = condition_holds(t, &t["Conditions"][name], choice);
                push(t, &args[if holds { 1 } else { 2 }], choice, out);
            }
            Value::Object(m) if m.get("Ref") == Some(&json!("AWS::NoValue")) => {}
            Value::Object(_) => out.push(resolve_ifs(t, s, choice)),
            Value::Array(items) => items.iter().for_each(|i| push(t, i, choice, out)),
            other => panic!("not a statement: {other}"),
        }
    }
    fn walk(t: &Value, e: &Value, choice: &dyn Fn(&str) -> Option<String>, out: &mut Vec<Value>) {
        match e {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "Statement" {
                        push(t, value, choice, out);
                    } else {
                        walk(t, value, choice, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(t, i, choice, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(t, expr, choice, &mut out);
    out
}

fn member_role<'a>(m: &'a Value, id: &str) -> &'a Value {
    let role = resources(m)
        .get(id)
        .unwrap_or_else(|| panic!("{MEMBER_ROLES}: no resource {id}"));
    assert_eq!(role["Type"], "AWS::IAM::Role", "{id}");
    role
}

/// The permission statements of a member role in a deployment.
fn role_statements(m: &Value, id: &str, choice: &dyn Fn(&str) -> Option<String>) -> Vec<Value> {
    let out = deployed_statements(m, &member_role(m, id)["Properties"]["Policies"], choice);
    assert!(!out.is_empty(), "{id} has policies");
    for s in &out {
        assert_eq!(s["Effect"], "Allow", "{id}: {s}");
    }
    out
}

/// The trust statements of a member role in a deployment.
fn trust_statements(m: &Value, id: &str, choice: &dyn Fn(&str) -> Option<String>) -> Vec<Value> {
    let out = deployed_statements(
        m,
        &member_role(m, id)["Properties"]["AssumeRolePolicyDocument"],
        choice,
    );
    assert!(!out.is_empty(), "{id} trusts someone");
    out
}

fn is_read(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, verb)| verb);
    ["List", "Get", "Describe"]
        .iter()
        .any(|read| verb.starts_with(read))
}

/// The text of `!Sub "..."` with `${Name}` replaced by the values given.
fn substitute(expr: &Value, values: &[(&str, &str)]) -> String {
    let mut text = expr["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("a !Sub string: {expr}"))
        .to_owned();
    for (name, value) in values {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    assert!(!text.contains("${"), "unresolved: {text}");
    text
}

/// Whether an IAM resource pattern (`*` for any run of characters) matches `arn`.
fn pattern_matches(pattern: &str, arn: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == arn;
    }
    if !arn.starts_with(first) || !arn[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &arn[first.len()..arn.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn member_audit_role_reads_metadata_and_writes_only_behind_its_own_parameter() {
    let m = member_roles();
    assert!(
        member_role(&m, MEMBER_AUDIT_ROLE)
            .get("Condition")
            .is_none(),
        "the audit role is in every member account"
    );
    let switches: [(&str, &[&str]); 3] = [
        ("Remediate", &["kms:EnableKeyRotation"]),
        (
            "Sweep",
            &["iam:DeleteAccessKey", "iam:TagUser", "iam:UpdateAccessKey"],
        ),
        (
            "SecurityHub",
            &[
                "securityhub:BatchImportFindings",
                "securityhub:BatchUpdateFindings",
            ],
        ),
    ];
    for (param, _) in &switches {
        // The sweep's default is the central stack's: report, which writes nothing either.
        let off = if *param == "Sweep" { "report" } else { "false" };
        assert_eq!(
            parameters(&m)[*param]["Default"],
            off,
            "{param} is off by default"
        );
    }
    let writes_with = |pairs: &[(&str, &str)]| -> BTreeSet<String> {
        let all: Vec<String> = role_statements(&m, MEMBER_AUDIT_ROLE, &deployment(pairs))
            .iter()
            .flat_map(actions)
            .collect();
        for a in &all {
            assert!(!a.contains('*'), "wildcard action {a}");
            assert!(
                !["secretsmanager:GetSecretValue", "kms:Decrypt"].contains(&a.as_str()),
                "{a}: the audit role reads no secret value"
            );
        }
        for needed in [
            "secretsmanager:ListSecrets",
            "iam:GetUser",
            "kms:ListResourceTags",
        ] {
            assert!(all.iter().any(|a| a == needed), "{needed} missing: {all:?}");
        }
        all.into_iter().filter(|a| !is_read(a)).collect()
    };
    assert_eq!(writes_with(&[]), BTreeSet::new(), "read only by default");
    for off in ["false", "report"] {
        assert_eq!(
            writes_with(&[("Sweep", off)]),
            BTreeSet::new(),
            "Sweep={off} writes nothing"
        );
    }
    for (param, granted) in &switches {
        let expected: BTreeSet<String> = granted.iter().map(|a| (*a).to_owned()).collect();
        assert_eq!(
            writes_with(&[(*param, "true")]),
            expected,
            "{param}=true grants exactly its own writes"
        );
    }
    assert_eq!(
        writes_with(&[
            ("Remediate", "true"),
            ("Sweep", "true"),
            ("SecurityHub", "true")
        ])
        .len(),
        6
    );
}

/// A statement without its test on the user's binding tag (the one place where the sweep's
/// statements differ between the central account and a member account).
fn without_binding_test(s: &Value) -> Value {
    let mut s = s.clone();
    if let Some(conditions) = s.get_mut("Condition").and_then(Value::as_object_mut) {
        for keys in conditions.values_mut() {
            if let Some(keys) = keys.as_object_mut() {
                keys.remove("aws:ResourceTag/KeyRotationSecret");
            }
        }
        conditions.retain(|_, keys| keys.as_object().is_none_or(|k| !k.is_empty()));
    }
    s
}

/// The audit's use of the stack's key (its queues, report bucket and notification topic): in
/// the central account only.
const STACK_KEY_SIDS: &[&str] = &["NotificationTopicKey", "QueueAndReportKey"];

/// The audit makes the same calls in a member account as in its own: the member role holds the
/// audit function's own statements for the audited services, switch for switch (the sweep's
/// binding test aside: a member account's users may be bound to its own secrets or to the
/// central account's).
#[test]
fn member_audit_role_holds_what_the_audit_function_has_in_its_own_account() {
    let t = template();
    let m = member_roles();
    let (_, _, props) = function(&t, AUDITOR);
    for remediate in ["false", "true"] {
        for sweep in ["false", "report", "true"] {
            for hub in ["false", "true"] {
                let pairs = [
                    ("Remediate", remediate),
                    ("Sweep", sweep),
                    ("SecurityHub", hub),
                    ("AuditRegions", "all"),
                ];
                let choice = deployment(&pairs);
                let central: Vec<Value> = deployed_statements(&t, &props["Policies"], &choice)
                    .into_iter()
                    .filter(|s| {
                        actions(s)
                            .iter()
                            .all(|a| AUDITED_SERVICES.contains(&a.split(':').next().unwrap_or("")))
                            && !STACK_KEY_SIDS.contains(&s["Sid"].as_str().unwrap_or(""))
                    })
                    .map(|s| without_binding_test(&s))
                    .collect();
                let member: Vec<Value> = role_statements(&m, MEMBER_AUDIT_ROLE, &choice)
                    .iter()
                    .map(without_binding_test)
                    .collect();
                for s in &member {
                    assert!(
                        central.contains(s),
                        "{pairs:?}: {s} is not in the audit function's policy"
                    );
                }
                for s in &central {
                    assert!(
                        member.contains(s),
                        "{pairs:?}: the member audit role lacks {s}"
                    );
                }
                assert_eq!(member.len(), central.len(), "{pairs:?}");
            }
        }
    }
}

/// Function role ARNs as the central stack's outputs give them.
const CENTRAL_AUDIT_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/central-AuditFunctionRole-A";
const CENTRAL_OPERATOR_ROLE_ARN: &str =
    "arn:aws:iam::111122223333:role/central-OperatorFunctionRole-O";

#[test]
fn member_roles_trust_only_the_central_function_roles_of_the_organization() {
    use aws_key_rotation::binding::BINDING_TAG;
    let t = template();
    let m = member_roles();
    let outputs = t["Outputs"].as_object().expect("Outputs");
    for required in ["CentralAccountId", "OrganizationId", "AuditFunctionRoleArn"] {
        assert!(
            parameters(&m)[required].get("Default").is_none(),
            "{required} has no default"
        );
    }
    // The function roles have generated names: the central stack outputs their ARNs under the
    // names of the parameters that take them here.
    for (binary, param) in [
        (AUDITOR, "AuditFunctionRoleArn"),
        (ROTATOR, "RotatorFunctionRoleArn"),
        (OPERATOR, "OperatorFunctionRoleArn"),
    ] {
        let (function_id, _, props) = function(&t, binary);
        assert!(
            props.get("Role").is_none(),
            "{function_id}: SAM generates its role {function_id}Role"
        );
        assert_eq!(
            outputs
                .get(param)
                .unwrap_or_else(|| panic!("template.yaml outputs {param}"))["Value"],
            json!({ "Fn::GetAtt": [format!("{function_id}Role"), "Arn"] }),
            "{param}"
        );
        assert!(
            parameters(&m)[param]["AllowedPattern"]
                .as_str()
                .is_some_and(|p| p.contains(":role/")),
            "{param} takes a role ARN"
        );
    }
    let arn = |param: &str| json!({ "Ref": param });
    for external_id in ["", "shared-external-id"] {
        for operator in ["", CENTRAL_OPERATOR_ROLE_ARN] {
            let pairs = [
                ("AuditFunctionRoleArn", CENTRAL_AUDIT_ROLE_ARN),
                ("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN),
                ("OperatorFunctionRoleArn", operator),
                ("RotatorExternalId", external_id),
            ];
            let choice = deployment(&pairs);
            let rotation_roles = if operator.is_empty() {
                vec![arn("RotatorFunctionRoleArn")]
            } else {
                vec![
                    arn("RotatorFunctionRoleArn"),
                    arn("OperatorFunctionRoleArn"),
                ]
            };
            for (role, trusted) in [
                (MEMBER_AUDIT_ROLE, vec![arn("AuditFunctionRoleArn")]),
                (MEMBER_ROTATOR_ROLE, rotation_roles),
            ] {
                if let Some(c) = member_role(&m, role).get("Condition") {
                    let c = c.as_str().expect("a condition name");
                    assert!(
                        condition_holds(&m, &m["Conditions"][c], &choice),
                        "{role} exists once its function role is given"
                    );
                }
                let mut granted = BTreeSet::new();
                for s in trust_statements(&m, role, &choice) {
                    assert_eq!(s["Effect"], "Allow", "{role}: {s}");
                    let principal = s["Principal"]
                        .as_object()
                        .unwrap_or_else(|| panic!("{role}: Principal {{AWS: ...}}: {s}"));
                    assert_eq!(principal.keys().collect::<Vec<_>>(), ["AWS"], "{role}: {s}");
                    let mut refs = BTreeSet::new();
                    referenced_parameters(&principal["AWS"], &mut refs);
                    assert_eq!(
                        refs,
                        BTreeSet::from(["CentralAccountId".to_owned()]),
                        "{role}: the central account: {s}"
                    );
                    let root = substitute(
                        &principal["AWS"],
                        &[
                            ("AWS::Partition", "aws"),
                            ("CentralAccountId", "111122223333"),
                        ],
                    );
                    assert_eq!(root, "arn:aws:iam::111122223333:root", "{role}");
                    let principals = condition(&s, "ArnEquals", "aws:PrincipalArn")
                        .unwrap_or_else(|| panic!("{role}: only the function roles: {s}"));
                    assert_eq!(
                        as_list(principals),
                        trusted.iter().collect::<Vec<_>>(),
                        "{role}: only the function roles: {s}"
                    );
                    assert_eq!(
                        condition(&s, "StringEquals", "aws:PrincipalOrgID"),
                        Some(&json!({ "Ref": "OrganizationId" })),
                        "{role}: only from the Organization: {s}"
                    );
                    let operators: BTreeSet<&str> = s["Condition"]
                        .as_object()
                        .expect("Condition")
                        .keys()
                        .map(String::as_str)
                        .collect();
                    let acts = actions(&s);
                    granted.extend(acts.clone());
                    if acts == ["sts:AssumeRole"] {
                        assert_eq!(
                            operators,
                            BTreeSet::from(["ArnEquals", "StringEquals"]),
                            "{role}: no IfExists that a missing key would pass: {s}"
                        );
                        continue;
                    }
                    // A session tag: the one binding tag, naming a secret of the central account.
                    assert_eq!(acts, ["sts:TagSession"], "{role}: {s}");
                    assert_eq!(role, MEMBER_ROTATOR_ROLE, "the audit tags no session");
                    assert_eq!(
                        operators,
                        BTreeSet::from([
                            "ArnEquals",
                            "StringEquals",
                            "StringLike",
                            "ForAllValues:StringEquals"
                        ]),
                        "{role}: {s}"
                    );
                    let secret =
                        condition(&s, "StringLike", &format!("aws:RequestTag/{BINDING_TAG}"))
                            .unwrap_or_else(|| {
                                panic!("{role}: the session tag names a secret: {s}")
                            });
                    let pattern = substitute(
                        secret,
                        &[
                            ("AWS::Partition", "aws"),
                            ("CentralAccountId", "111122223333"),
                        ],
                    );
                    assert_eq!(pattern, "arn:aws:secretsmanager:*:111122223333:secret:*");
                    assert_eq!(
                        condition(&s, "ForAllValues:StringEquals", "aws:TagKeys"),
                        Some(&json!([BINDING_TAG])),
                        "{role}: no other session tag: {s}"
                    );
                }
                let expected: BTreeSet<String> = if role == MEMBER_ROTATOR_ROLE {
                    BTreeSet::from(["sts:AssumeRole".into(), "sts:TagSession".into()])
                } else {
                    BTreeSet::from(["sts:AssumeRole".into()])
                };
                assert_eq!(granted, expected, "{role}");
            }
        }
    }
}

#[test]
fn member_rotator_role_is_optional_and_requires_the_external_id_when_given() {
    let m = member_roles();
    let role = member_role(&m, MEMBER_ROTATOR_ROLE);
    let created_if = role["Condition"]
        .as_str()
        .expect("the rotator role is optional");
    let created = |pairs: &[(&str, &str)]| {
        condition_holds(&m, &m["Conditions"][created_if], &deployment(pairs))
    };
    assert!(!created(&[]), "no rotator role by default");
    assert!(
        !created(&[("OperatorFunctionRoleArn", CENTRAL_OPERATOR_ROLE_ARN)]),
        "the operator function alone makes no rotator role"
    );
    assert!(created(&[("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN)]));
    for (external_id, required) in [("", false), ("shared-external-id", true)] {
        let pairs = [
            ("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN),
            ("OperatorFunctionRoleArn", CENTRAL_OPERATOR_ROLE_ARN),
            ("RotatorExternalId", external_id),
        ];
        let mut assume = 0;
        for s in trust_statements(&m, MEMBER_ROTATOR_ROLE, &deployment(&pairs)) {
            if !actions(&s).iter().any(|a| a == "sts:AssumeRole") {
                continue;
            }
            assume += 1;
            let given = condition(&s, "StringEquals", "sts:ExternalId");
            if required {
                assert_eq!(given, Some(&json!({ "Ref": "RotatorExternalId" })), "{s}");
            } else {
                assert_eq!(given, None, "{s}");
            }
        }
        assert_eq!(assume, 1);
    }
    // The audit assumes its roles without an ExternalId.
    for s in trust_statements(&m, MEMBER_AUDIT_ROLE, &deployment(&[])) {
        assert_eq!(condition(&s, "StringEquals", "sts:ExternalId"), None);
    }
}

/// In a member account the rotator and the operator function do the IAM half of a rotation:
/// the role holds the central key-writer role's policy, word for word.
#[test]
fn member_rotator_role_holds_the_key_writer_policy() {
    let t = template();
    let m = member_roles();
    let central = key_writer_statements(&t);
    assert_eq!(central.len(), 4, "{central:?}");
    let pairs = [("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN)];
    let member = role_statements(&m, MEMBER_ROTATOR_ROLE, &deployment(&pairs));
    assert_eq!(member, central, "the key-writer role's statements");
}

#[test]
fn member_key_writes_need_a_bound_user_and_neither_role_can_bind_one() {
    use aws_key_rotation::binding::{DEACTIVATED_TAG, OWN_KEYS_TAG, SWITCHED_TAG};
    use aws_key_rotation::rotation::intent::INTENT_TAG;
    let m = member_roles();
    let pairs = [
        ("Remediate", "true"),
        ("Sweep", "true"),
        ("SecurityHub", "true"),
        ("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN),
    ];
    // The sweep: users bound to a secret of this account or of the central account.
    let sweep = Bound {
        operator: "StringLike",
        value: json!([
            { "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*" },
            { "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${CentralAccountId}:secret:*" },
        ]),
    };
    let patterns: Vec<String> = as_list(&sweep.value)
        .into_iter()
        .map(|p| {
            substitute(
                p,
                &[
                    ("AWS::Partition", "aws"),
                    ("AWS::AccountId", "444455556666"),
                    ("CentralAccountId", "111122223333"),
                ],
            )
        })
        .collect();
    for (secret, matched) in [
        (
            "arn:aws:secretsmanager:eu-west-1:444455556666:secret:alice-AbCdEf",
            true,
        ),
        (
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:alice-AbCdEf",
            true,
        ),
        (
            "arn:aws:secretsmanager:us-east-1:777788889999:secret:alice-AbCdEf",
            false,
        ),
        ("alice", false),
    ] {
        assert_eq!(
            patterns.iter().any(|p| pattern_matches(p, secret)),
            matched,
            "{secret}"
        );
    }
    let session = Bound::to_the_session_secret();
    let mut writes = 0;
    for (role, bound, own_tags) in [
        (MEMBER_AUDIT_ROLE, &sweep, &[DEACTIVATED_TAG][..]),
        (
            MEMBER_ROTATOR_ROLE,
            &session,
            &[INTENT_TAG, OWN_KEYS_TAG, SWITCHED_TAG][..],
        ),
    ] {
        for s in role_statements(&m, role, &deployment(&pairs)) {
            let acts = actions(&s);
            assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none());
            if as_list(&s["Resource"]).iter().any(|r| *r == "*") {
                assert!(
                    acts.iter().all(|a| is_read(a)),
                    "{role}: a write on every resource: {s}"
                );
            }
            if !bound_key_write(role, &s, bound, own_tags) {
                continue;
            }
            writes += 1;
            let resource = substitute(
                &s["Resource"],
                &[
                    ("AWS::Partition", "aws"),
                    ("AWS::AccountId", "444455556666"),
                    ("IamUserPath", "/key-rotation/"),
                ],
            );
            assert_eq!(
                resource, "arn:aws:iam::444455556666:user/key-rotation/*",
                "{role}: users under IamUserPath of this account"
            );
        }
    }
    assert_eq!(
        writes, 4,
        "sweep, deactivation record, rotator key writes, rotation tags"
    );
}

#[test]
fn member_role_names_are_what_the_central_functions_assume() {
    let t = template();
    let m = member_roles();
    for (role, param) in [
        (MEMBER_AUDIT_ROLE, "AuditRoleName"),
        (MEMBER_ROTATOR_ROLE, "RotatorRoleName"),
    ] {
        let props = &member_role(&m, role)["Properties"];
        assert_eq!(props["RoleName"], json!({ "Ref": param }), "{role}");
        assert!(
            props.get("Path").is_none_or(|p| p == "/"),
            "{role}: at the root path, as arn:<partition>:iam::<account>:role/<name>"
        );
    }
    // AUDIT_ORG_ROLE_NAME names the member audit role: the central audit may assume that role
    // in every account, and no other role.
    let name = parameters(&m)["AuditRoleName"]["Default"]
        .as_str()
        .expect("a default audit role name");
    let (_, _, props) = function(&t, AUDITOR);
    assert_eq!(
        environment(&props)["AUDIT_ORG_ROLE_NAME"],
        json!({ "Ref": "AuditOrgRoleName" })
    );
    let pairs = [("AuditOrgRoleName", name)];
    let assumable: Vec<String> = deployed_statements(&t, &props["Policies"], &deployment(&pairs))
        .iter()
        .filter(|s| actions(s).iter().any(|a| a == "sts:AssumeRole"))
        .flat_map(|s| as_list(&s["Resource"]).into_iter().cloned())
        .map(|r| substitute(&r, &[("AWS::Partition", "aws"), ("AuditOrgRoleName", name)]))
        .collect();
    let member_arn = format!("arn:aws:iam::444455556666:role/{name}");
    assert!(
        assumable.iter().any(|p| pattern_matches(p, &member_arn)),
        "{member_arn} not assumable: {assumable:?}"
    );
    for other in [
        "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole",
        "arn:aws:iam::444455556666:role/team/KeyRotationAudit",
    ] {
        assert!(
            !assumable.iter().any(|p| pattern_matches(p, other)),
            "{other} assumable: {assumable:?}"
        );
    }
    // Both parameters accept the same names (the central one may also be empty).
    let member_pattern = parameters(&m)["AuditRoleName"]["AllowedPattern"]
        .as_str()
        .expect("AllowedPattern");
    let central_pattern = parameters(&t)["AuditOrgRoleName"]["AllowedPattern"]
        .as_str()
        .expect("AllowedPattern");
    assert_eq!(
        central_pattern,
        format!(
            "^({})?$",
            member_pattern.trim_start_matches('^').trim_end_matches('$')
        )
    );
}

#[test]
fn member_roles_template_outputs_both_roles() {
    let m = member_roles();
    assert!(
        m.get("Transform").is_none(),
        "plain CloudFormation, for StackSets"
    );
    let outputs = m["Outputs"].as_object().expect("Outputs");
    let naming = |role: &str| -> Vec<&Value> {
        outputs
            .values()
            .filter(|o| names_resource(&o["Value"], role))
            .collect()
    };
    assert_eq!(naming(MEMBER_AUDIT_ROLE).len(), 1, "{MEMBER_AUDIT_ROLE}");
    let rotator = naming(MEMBER_ROTATOR_ROLE);
    assert_eq!(rotator.len(), 1, "{MEMBER_ROTATOR_ROLE}");
    assert_eq!(
        rotator[0]["Condition"],
        member_role(&m, MEMBER_ROTATOR_ROLE)["Condition"],
        "the rotator role's output exists when the role does"
    );
}

#[test]
fn audit_org_role_name_grants_organizations_and_assume_role_only_when_set() {
    let t = template();
    assert_eq!(
        parameters(&t)["AuditOrgRoleName"]["Default"],
        "",
        "no Organization-wide audit by default"
    );
    let (_, _, props) = function(&t, AUDITOR);
    let granted = |pairs: &[(&str, &str)], wanted: &[&str]| -> Vec<(String, Value)> {
        deployed_statements(&t, &props["Policies"], &deployment(pairs))
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| {
                actions(s)
                    .into_iter()
                    .map(|a| (a, s["Resource"].clone()))
                    .collect::<Vec<_>>()
            })
            .filter(|(a, _)| wanted.contains(&a.as_str()))
            .collect()
    };
    let org = [
        "organizations:ListAccounts",
        "organizations:DescribeAccount",
        "sts:AssumeRole",
    ];
    assert_eq!(granted(&[], &org), vec![], "default deployment");
    assert_eq!(
        granted(&[("AuditOrgRoleName", "KeyRotationAudit")], &org),
        vec![
            ("organizations:ListAccounts".to_owned(), json!("*")),
            ("organizations:DescribeAccount".to_owned(), json!("*")),
            (
                "sts:AssumeRole".to_owned(),
                json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${AuditOrgRoleName}" })
            ),
        ],
        "with AuditOrgRoleName"
    );
    // Every enabled region (AUDIT_REGIONS=all) needs the account's region list, in this
    // account only.
    let regions = ["account:ListRegions"];
    assert_eq!(granted(&[], &regions), vec![]);
    assert_eq!(
        granted(&[("AuditRegions", "us-east-1,eu-west-1")], &regions),
        vec![]
    );
    let all = granted(&[("AuditRegions", "all")], &regions);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        substitute(
            &all[0].1,
            &[
                ("AWS::Partition", "aws"),
                ("AWS::AccountId", "111122223333")
            ]
        ),
        "arn:aws:account::111122223333:account"
    );
}

#[test]
fn the_fan_out_queue_is_the_audits_alone_and_outlives_its_invocations() {
    let t = template();
    let (_, _, props) = function(&t, AUDITOR);
    let fan_out = [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ];
    let granted = |pairs: &[(&str, &str)]| -> Vec<(String, Value)> {
        deployed_statements(&t, &props["Policies"], &deployment(pairs))
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| {
                actions(s)
                    .into_iter()
                    .map(|a| (a, s["Resource"].clone()))
                    .collect::<Vec<_>>()
            })
            .filter(|(a, _)| fan_out.contains(&a.as_str()))
            .collect()
    };
    assert_eq!(parameters(&t)["AuditFanOut"]["Default"], "false");
    assert_eq!(granted(&[]), vec![], "no queue access by default");
    let with = granted(&[("AuditFanOut", "true")]);
    assert_eq!(with.len(), fan_out.len(), "{with:?}");
    for (action, resource) in &with {
        assert_eq!(
            resource,
            &json!({"Fn::GetAtt": ["AuditFanOutQueue", "Arn"]}),
            "{action}: on the fan-out queue only"
        );
    }

    let r = resources(&t);
    for id in [
        "AuditFanOutQueue",
        "AuditFanOutDeadLetterQueue",
        "AuditFanOutQueuePolicy",
        "AuditFanOutMapping",
        "AuditFanOutDeadLetterAlarm",
    ] {
        assert_eq!(
            r[id]["Condition"], "FanOut",
            "{id} exists only with AuditFanOut"
        );
    }
    let queue = &r["AuditFanOutQueue"]["Properties"];
    let timeout = props["Timeout"].as_u64().expect("a fixed audit timeout");
    assert!(
        queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout,
        "a message stays hidden for six function timeouts"
    );
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["AuditFanOutDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        queue["KmsMasterKeyId"],
        json!({"Fn::If": ["CreateKmsKey", {"Fn::GetAtt": ["StackKey", "Arn"]}, {"Ref": "KmsKeyArn"}]})
    );
    let mapping = &r["AuditFanOutMapping"]["Properties"];
    assert_eq!(mapping["FunctionName"], json!({"Ref": "AuditFunction"}));
    assert_eq!(mapping["BatchSize"], 1, "one account per invocation");
    assert_eq!(
        mapping["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "AuditFanOutConcurrency"})
    );
    // Only the audit function's role may send; nothing without TLS.
    let policy = &r["AuditFanOutQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let denies: Vec<&Value> = as_list(policy)
        .into_iter()
        .filter(|s| s["Effect"] == "Deny")
        .collect();
    assert!(denies.iter().any(|s| {
        actions(s) == ["sqs:SendMessage"]
            && s["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
                == json!({"Fn::GetAtt": ["AuditFunctionRole", "Arn"]})
    }));
    assert!(denies
        .iter()
        .any(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    assert_eq!(
        environment(&props)["AUDIT_FANOUT_QUEUE_URL"],
        json!({"Fn::If": ["FanOut", {"Ref": "AuditFanOutQueue"}, ""]})
    );
}

/// Every Secrets Manager call the rotator makes on a secret (src/aws/secrets.rs) is allowed on
/// the secrets it may rotate, tagged or listed.
#[test]
fn the_rotator_may_make_every_secrets_manager_call_it_makes() {
    let source = read("src/aws/secrets.rs");
    let called: BTreeSet<String> = source
        .split('"')
        .filter(|s| s.starts_with("secretsmanager:") && !s.contains(' '))
        .map(str::to_owned)
        .collect();
    assert!(
        called.contains("secretsmanager:ListSecretVersionIds"),
        "{called:?}"
    );
    let t = template();
    let (_, _, props) = function(&t, ROTATOR);
    let statements = deployed_statements(
        &t,
        &props["Policies"],
        &deployment(&[(
            "ExistingSecretArns",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
        )]),
    );
    let allowed: BTreeSet<String> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(actions)
        .collect();
    // ListSecrets is the audit's (the secret index), not a call on one secret.
    for op in called
        .iter()
        .filter(|op| *op != "secretsmanager:ListSecrets")
    {
        assert!(allowed.contains(op), "the rotator's role lacks {op}");
    }
    // Both grants (tagged secrets, ExistingSecretArns) carry the same per-secret calls.
    let per_secret: Vec<BTreeSet<String>> = statements
        .iter()
        .filter(|s| {
            actions(s)
                .iter()
                .any(|a| a == "secretsmanager:GetSecretValue")
        })
        .map(|s| actions(s).into_iter().collect())
        .collect();
    assert_eq!(per_secret.len(), 2, "{per_secret:?}");
    assert_eq!(per_secret[0], per_secret[1]);
}

/// Operator actions run only in the operator function: Secrets Manager cannot invoke it (no
/// resource policy, no event source), it cannot write a secret's value, and the right to invoke
/// it is a managed policy for the on-call roles, on this function alone.
#[test]
fn the_operator_function_is_invoked_by_operators_only() {
    let t = template();
    let (operator, resource, props) = function(&t, OPERATOR);
    let (rotator, _, rotator_props) = function(&t, ROTATOR);
    for (_, permission) in of_type(&t, "AWS::Lambda::Permission") {
        assert!(
            !names_resource(&permission["Properties"]["FunctionName"], &operator),
            "{operator} has a resource policy: {permission}"
        );
    }
    assert!(props.get("Events").is_none(), "{operator}: no event source");
    assert!(
        !of_type(&t, "AWS::SecretsManager::RotationSchedule")
            .iter()
            .any(|(_, s)| names_resource(&s["Properties"]["RotationLambdaARN"], &operator)),
        "no secret rotates with {operator}"
    );
    assert!(
        resource["Properties"]
            .get("ReservedConcurrentExecutions")
            .is_none()
            || resource["Properties"]["ReservedConcurrentExecutions"].is_object()
    );

    // Its own log group, kept as long as the rotator's.
    let log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        .as_str()
        .expect("LoggingConfig.LogGroup: !Ref LogGroup");
    assert_ne!(
        rotator_props["LoggingConfig"]["LogGroup"]["Ref"], log_group,
        "{operator} and {rotator} log apart"
    );
    let group = &resources(&t)[log_group];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        json!({ "Ref": "LogRetentionDays" })
    );
    assert_eq!(group["DeletionPolicy"], "Retain");

    // Stages, versions and key-id tags of the rotation secrets; no new value; the topic.
    let allowed: BTreeSet<String> = function_role_statements(&t, OPERATOR)
        .iter()
        .flat_map(actions)
        .collect();
    let wanted: BTreeSet<String> = [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        "sns:Publish",
        "sts:AssumeRole",
        "sts:TagSession",
        "kms:Decrypt",
        // The notification topic's key.
        "kms:GenerateDataKey",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(allowed, wanted, "{operator}");

    // The on-call roles' policy: invoke this function, nothing else; attached to no one here.
    let policy = &resources(&t)["OperatorInvokePolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    for attachment in ["Roles", "Users", "Groups"] {
        assert!(
            policy["Properties"].get(attachment).is_none(),
            "{attachment}"
        );
    }
    let mut invoke = Vec::new();
    statements(&policy["Properties"]["PolicyDocument"], &mut invoke);
    assert_eq!(
        invoke,
        vec![json!({
            "Sid": "InvokeOperatorFunction",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": { "Fn::GetAtt": [operator, "Arn"] }
        })]
    );
    // No other statement of the stack names the operator function.
    let mut all = Vec::new();
    statements(&t["Resources"], &mut all);
    let naming: Vec<&Value> = all
        .iter()
        .filter(|s| {
            as_list(&s["Resource"])
                .iter()
                .any(|r| names_resource(r, &operator))
        })
        .collect();
    assert_eq!(naming.len(), 1, "{naming:?}");
    let outputs = &t["Outputs"];
    assert_eq!(
        outputs["OperatorFunctionArn"]["Value"],
        json!({ "Fn::GetAtt": [operator, "Arn"] })
    );
    assert_eq!(
        outputs["OperatorInvokePolicyArn"]["Value"],
        json!({ "Ref": "OperatorInvokePolicy" })
    );
}

/// An operator action sent to the rotator (which every team calling RotateSecret may invoke)
/// is refused and counted (OperatorActionsRefused, with the rotation metrics' namespace and
/// dimension); the count raises an alarm, like a failed rotation.
#[test]
fn operator_actions_sent_to_the_rotator_raise_an_alarm() {
    use aws_key_rotation::rotation::metrics::{RotationMetrics, REFUSED_ACTION_STEP};
    const METRIC: &str = "OperatorActionsRefused";
    let t = template();
    let alarms: Vec<(&String, &Value)> = of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["MetricName"] == METRIC)
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let alarm = &alarms[0].1["Properties"];
    // What the rotator emits for a refused action.
    let refused = RotationMetrics::default();
    RotationMetrics::add(&refused.operator_actions_refused, 1);
    let doc = refused.to_emf("KeyRotation", REFUSED_ACTION_STEP, false, 0);
    assert_eq!(doc[METRIC], 1, "{doc}");
    let declared = &doc["_aws"]["CloudWatchMetrics"][0];
    assert!(
        declared["Metrics"]
            .as_array()
            .expect("Metrics")
            .iter()
            .any(|m| m["Name"] == METRIC),
        "{doc}"
    );
    let dimensions: Vec<Value> = declared["Dimensions"][0]
        .as_array()
        .expect("one dimension set")
        .iter()
        .map(|name| json!({ "Name": name, "Value": doc[name.as_str().unwrap()] }))
        .collect();
    assert_eq!(
        alarm["Dimensions"],
        json!(dimensions),
        "the rotator's dimensions"
    );
    assert_eq!(alarm["Namespace"], json!({ "Ref": "MetricsNamespace" }));
    let (_, _, rotator) = function(&t, ROTATOR);
    assert_eq!(
        environment(&rotator)["METRICS_NAMESPACE"],
        json!({ "Ref": "MetricsNamespace" })
    );
    assert_eq!(alarm["Statistic"], "Sum");
    assert_eq!(alarm["Period"], 300);
    assert_eq!(alarm["EvaluationPeriods"], 1);
    assert_eq!(alarm["Threshold"], 1);
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
    assert_eq!(
        alarm["AlarmActions"],
        resources(&t)["RotatorErrorsAlarm"]["Properties"]["AlarmActions"]
    );
}

/// With OrganizationId, every role the functions assume in another account is in the
/// Organization (aws:ResourceOrgID); without it, nothing changes.
#[test]
fn organization_id_limits_every_role_the_functions_assume() {
    let t = template();
    let m = member_roles();
    let param = &parameters(&t)["OrganizationId"];
    assert_eq!(param["Default"], "", "no Organization check by default");
    let member_pattern = parameters(&m)["OrganizationId"]["AllowedPattern"]
        .as_str()
        .expect("AllowedPattern");
    assert_eq!(
        param["AllowedPattern"],
        format!(
            "^({})?$",
            member_pattern.trim_start_matches('^').trim_end_matches('$')
        ),
        "the member roles' Organization id, or empty"
    );
    for organization in ["", "o-abcdefghij"] {
        let pairs = [
            ("OrganizationId", organization),
            (
                "AuditRoleArns",
                "arn:aws:iam::444455556666:role/KeyRotationAudit",
            ),
            ("AuditOrgRoleName", "KeyRotationAudit"),
            (
                "CrossAccountRoleArns",
                "arn:aws:iam::444455556666:role/KeyRotationRotator",
            ),
        ];
        let choice = deployment(&pairs);
        for (binary, expected) in [(AUDITOR, 2), (ROTATOR, 1), (OPERATOR, 1)] {
            let (_, _, props) = function(&t, binary);
            let deployed = deployed_statements(&t, &props["Policies"], &choice);
            let assume: Vec<&Value> = deployed
                .iter()
                .filter(|s| actions(s).iter().any(|a| a == "sts:AssumeRole"))
                .collect();
            assert_eq!(assume.len(), expected, "{binary}: {assume:?}");
            for s in assume {
                assert_eq!(actions(s), ["sts:AssumeRole"], "{binary}: {s}");
                let org = condition(s, "StringEquals", "aws:ResourceOrgID");
                if organization.is_empty() {
                    assert!(s.get("Condition").is_none(), "{binary}: {s}");
                } else {
                    assert_eq!(
                        org,
                        Some(&json!({ "Ref": "OrganizationId" })),
                        "{binary}: {s}"
                    );
                }
            }
            // The cross-account session carries the binding tag alone.
            for s in deployed
                .iter()
                .filter(|s| actions(s).iter().any(|a| a == "sts:TagSession"))
            {
                assert_eq!(actions(s), ["sts:TagSession"], "{binary}: {s}");
                assert_eq!(s["Resource"], json!({ "Ref": "CrossAccountRoleArns" }));
                assert_eq!(
                    tag_keys_allowed(s),
                    [aws_key_rotation::binding::BINDING_TAG],
                    "{binary}: {s}"
                );
            }
        }
    }
}

/// Every test docs/security.md cites exists: the threat model stays tied to its proofs.
#[test]
fn the_security_doc_cites_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/security.md")).expect("docs/security.md");
    let mut file: Option<String> = None;
    let mut cited = 0;
    for (i, span) in doc.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let (path, name) = match span.split_once("::") {
            Some((p, n)) if p.starts_with("tests/") || p.starts_with("src/") => {
                file = Some(p.to_owned());
                (p.to_owned(), n)
            }
            Some(("", n)) => match &file {
                Some(f) => (f.clone(), n),
                None => panic!("`{span}` follows no file"),
            },
            _ => {
                if span.starts_with("tests/") && span.ends_with(".rs") {
                    assert!(root.join(span).exists(), "{span} does not exist");
                }
                continue;
            }
        };
        let text = std::fs::read_to_string(root.join(&path))
            .unwrap_or_else(|e| panic!("{path} (cited in docs/security.md): {e}"));
        assert!(
            text.contains(&format!("fn {name}(")),
            "docs/security.md cites {path}::{name}, which does not exist"
        );
        if path.starts_with("tests/") {
            assert_compiled_test_module(root, &path);
        }
        cited += 1;
    }
    assert!(cited >= 20, "only {cited} tests cited");
}

/// A file under `tests/<level>/` runs only if its parent module declares it (`mod <name>;` in
/// the `main.rs` or `mod.rs` beside it), up to the level's `main.rs`, a `[[test]]` of
/// Cargo.toml.
fn assert_compiled_test_module(root: &Path, path: &str) {
    let mut file = std::path::PathBuf::from(path);
    loop {
        let dir = file.parent().expect("a parent").to_path_buf();
        let name = file
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a file name");
        let (module, parent) = if name == "mod" {
            let module = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a dir name");
            let up = dir.parent().expect("a parent").to_path_buf();
            (module.to_owned(), up)
        } else {
            (name.to_owned(), dir)
        };
        if module == "main" {
            let cargo = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
            assert!(
                cargo.contains(&format!("path = \"{}\"", file.display())),
                "{} is no [[test]] of Cargo.toml (cited in docs/security.md)",
                file.display()
            );
            return;
        }
        let declaring = ["main.rs", "mod.rs"]
            .iter()
            .map(|f| parent.join(f))
            .find(|f| root.join(f).exists())
            .unwrap_or_else(|| panic!("{path}: no main.rs or mod.rs in {}", parent.display()));
        let text = std::fs::read_to_string(root.join(&declaring)).expect("the parent module");
        assert!(
            text.lines().any(|l| l
                .trim_start()
                .trim_start_matches("pub ")
                .starts_with(&format!("mod {module};"))),
            "{path} is cited in docs/security.md but {} does not declare `mod {module};`",
            declaring.display()
        );
        file = declaring;
    }
}

/// An Organization-wide audit cannot be deployed without the Organization's id, which every
/// AssumeRole statement then carries.
#[test]
fn an_organization_role_needs_the_organization_id() {
    let t = template();
    let rule = &t["Rules"]["OrganizationIdWithOrganizationRole"];
    assert_eq!(
        rule["RuleCondition"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AuditOrgRoleName"}, ""]}]})
    );
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]})
    );
}

// ------------------------------------------------------------ deploy checks
/// What a first deploy into a real account needs, checked without AWS: the capabilities
/// samconfig.toml grants, what deleting the stack keeps and whether it deploys again, the
/// toolchain and tool versions the docs name, the alarms, the dashboard and the defaults.
/// `make lint` runs these (`deploy::`).
mod deploy {
    use super::*;
    use aws_key_rotation::audit::metrics::emf_documents;
    use aws_key_rotation::audit::report::{Finding, Kind, Report, Stats};
    use aws_key_rotation::audit::verdict::Verdict;
    use aws_key_rotation::rotation::event::Step;
    use aws_key_rotation::rotation::metrics::{RotationMetrics, REFUSED_ACTION_STEP};

    /// The `key = "value"` pairs of one `[table]` of a TOML file, read line by line.
    fn toml_table(file: &str, table: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut inside = false;
        for raw in read(file).lines() {
            let line = raw.trim();
            if line.starts_with('[') {
                inside = line == format!("[{table}]");
                continue;
            }
            if let (true, Some((k, v))) = (inside, line.split_once('=')) {
                if !k.trim_start().starts_with('#') {
                    out.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
                }
            }
        }
        out
    }

    /// IAM resource types, and the property that gives one a fixed name.
    const IAM_NAMES: &[(&str, &str)] = &[
        ("AWS::IAM::User", "UserName"),
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::IAM::Group", "GroupName"),
        ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
        ("AWS::IAM::InstanceProfile", "InstanceProfileName"),
        ("AWS::IAM::Policy", ""),
        ("AWS::IAM::AccessKey", ""),
    ];

    /// `sam deploy` with samconfig.toml grants what the template's IAM resources need: a named
    /// one (ExampleUserName's user) needs CAPABILITY_NAMED_IAM, or the documented
    /// `--parameter-overrides ExampleUserName=alice` fails.
    #[test]
    fn samconfig_grants_the_capabilities_the_templates_iam_resources_need() {
        let t = template();
        let deploy = toml_table("samconfig.toml", "default.deploy.parameters");
        let granted: BTreeSet<&str> = deploy
            .get("capabilities")
            .expect("samconfig.toml: default.deploy.parameters.capabilities")
            .split_whitespace()
            .collect();
        let mut needed = BTreeSet::new();
        for (id, r) in resources(&t) {
            let ty = r["Type"].as_str().unwrap_or("");
            // A SAM function without a Role gets one made for it.
            if ty == "AWS::Serverless::Function" && r["Properties"].get("Role").is_none() {
                needed.insert("CAPABILITY_IAM");
            }
            if let Some((_, name)) = IAM_NAMES.iter().find(|(t, _)| *t == ty) {
                needed.insert("CAPABILITY_IAM");
                if !name.is_empty() && r["Properties"].get(*name).is_some() {
                    needed.insert("CAPABILITY_NAMED_IAM");
                    assert_eq!(id, "ExampleUser", "a new named IAM resource: {id}");
                }
            }
        }
        assert!(needed.contains("CAPABILITY_NAMED_IAM"), "{needed:?}");
        for c in &needed {
            assert!(granted.contains(c), "samconfig.toml lacks {c}: {granted:?}");
        }
    }

    /// root-keys.yaml deploys with its own samconfig environment: its template, a stack name of
    /// its own (the central stack may live in the same account: the default name would replace
    /// it), and the capability its function's generated role needs.
    #[test]
    fn the_root_keys_stack_deploys_under_a_name_of_its_own() {
        let default = toml_table("samconfig.toml", "default.global.parameters");
        let own = toml_table("samconfig.toml", "root-keys.global.parameters");
        assert_ne!(own.get("stack_name"), None);
        assert_ne!(own.get("stack_name"), default.get("stack_name"));
        for table in [
            "root-keys.build.parameters",
            "root-keys.validate.parameters",
        ] {
            assert_eq!(
                toml_table("samconfig.toml", table)
                    .get("template_file")
                    .map(String::as_str),
                Some(ROOT_KEYS),
                "{table}"
            );
        }
        let deploy = toml_table("samconfig.toml", "root-keys.deploy.parameters");
        assert_eq!(
            deploy.get("capabilities").map(String::as_str),
            Some("CAPABILITY_IAM")
        );
        let t = load(ROOT_KEYS);
        for ty in [
            "AWS::IAM::Role",
            "AWS::IAM::User",
            "AWS::IAM::ManagedPolicy",
        ] {
            assert!(of_type(&t, ty).is_empty(), "no named IAM resource: {ty}");
        }
    }

    /// Resource types that hold data, and the property that would give one a fixed name.
    const STATEFUL: &[(&str, &str)] = &[
        ("AWS::Logs::LogGroup", "LogGroupName"),
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::S3::Bucket", "BucketName"),
        ("AWS::KMS::Key", ""),
        ("AWS::SecretsManager::Secret", "Name"),
        ("AWS::SNS::Topic", "TopicName"),
        ("AWS::DynamoDB::Table", "TableName"),
    ];

    /// Every stateful resource says what deleting or replacing it does; what is kept has a name
    /// CloudFormation generates, so the stack can be deleted and deployed again under the same
    /// name (a kept log group of a fixed name would make that fail: "already exists"). The
    /// functions log to the kept log groups, and the log groups are kept.
    #[test]
    fn stateful_resources_say_what_deletion_keeps_and_the_stack_deploys_again() {
        for (file, t) in [
            ("template.yaml", template()),
            (MEMBER_ROLES, member_roles()),
            (ROOT_KEYS, load(ROOT_KEYS)),
        ] {
            for (id, r) in resources(&t) {
                let ty = r["Type"].as_str().unwrap_or("");
                let Some((_, name)) = STATEFUL.iter().find(|(s, _)| *s == ty) else {
                    continue;
                };
                for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                    assert!(
                        ["Retain", "Delete", "RetainExceptOnCreate", "Snapshot"]
                            .contains(&r[policy].as_str().unwrap_or("")),
                        "{file}: {id} has no explicit {policy}"
                    );
                }
                if r["DeletionPolicy"] != "Delete" && !name.is_empty() {
                    assert!(
                        r["Properties"].get(*name).is_none(),
                        "{file}: {id} is kept on deletion under a fixed {name}: a new stack of the same name cannot create it again"
                    );
                }
            }
        }
        let t = template();
        let r = resources(&t);
        for binary in [ROTATOR, OPERATOR, AUDITOR] {
            let (id, _, props) = function(&t, binary);
            let group = &props["LoggingConfig"]["LogGroup"];
            let group = group["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: {group}"));
            assert_eq!(r[group]["Type"], "AWS::Logs::LogGroup", "{id}");
            assert_eq!(r[group]["DeletionPolicy"], "Retain", "{id}: logs are kept");
        }
    }

    /// `rust-version` in Cargo.toml is what the locked crates need: the highest rust-version
    /// of the packages Cargo.lock resolves for this platform (cargo metadata reads them).
    #[test]
    fn rust_version_is_what_the_locked_crates_need() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let host = std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc -vV");
        let host = String::from_utf8_lossy(&host.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .expect("rustc -vV names the host");
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--locked", "--format-version", "1"])
            .args(["--filter-platform", &host])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
        let parse = |v: &str| -> Vec<u64> { v.split('.').map(|n| n.parse().unwrap()).collect() };
        let ours = env!("CARGO_PKG_NAME");
        let (needed, by) = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] != ours)
            .filter_map(|p| Some((parse(p["rust_version"].as_str()?), p["name"].to_string())))
            .max()
            .expect("locked crates declare a rust-version");
        let declared = toml_table("Cargo.toml", "package")["rust-version"].clone();
        let mut declared_parts = parse(&declared);
        declared_parts.resize(3, 0);
        let mut needed_parts = needed.clone();
        needed_parts.resize(3, 0);
        assert_eq!(
            declared_parts, needed_parts,
            "Cargo.toml's rust-version {declared}; the lock needs {needed:?} ({by})"
        );
        // The README names the same minimum.
        assert!(
            read("README.md").contains(&format!("Rust {declared} or later")),
            "README.md must say \"Rust {declared} or later\""
        );
    }

    /// The README's `pip install` pins are the requirements files' (cargo-lambda at least, which
    /// the build and the emulator need at one version).
    #[test]
    fn readme_pins_the_tools_the_requirements_files_pin() {
        let mut pins = BTreeMap::new();
        for entry in std::fs::read_dir(env!("CARGO_MANIFEST_DIR")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("requirements-") && name.ends_with(".txt") {
                for line in read(&name).lines() {
                    if let Some((pkg, version)) = line.split('#').next().unwrap().split_once("==") {
                        let pkg = pkg.split('[').next().unwrap().trim().to_owned();
                        pins.insert(pkg, (version.trim().to_owned(), name.clone()));
                    }
                }
            }
        }
        let readme = read("README.md");
        let mut seen = BTreeSet::new();
        for word in readme.split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')') {
            let Some((pkg, version)) = word.split_once("==") else {
                continue;
            };
            let (want, file) = pins
                .get(pkg)
                .unwrap_or_else(|| panic!("README pins {pkg}, which no requirements file pins"));
            assert_eq!(version, want, "README pins {pkg}=={version}, {file} {want}");
            seen.insert(pkg.to_owned());
        }
        assert!(
            seen.contains("cargo-lambda"),
            "README installs cargo-lambda without its pin ({:?})",
            pins.get("cargo-lambda")
        );
    }

    fn alarm_target() -> Value {
        json!([{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}])
    }

    /// Every alarm reaches someone: AlarmTopicArn (the pager) or the stack's topic, on ALARM and
    /// on OK, whatever the parameters.
    #[test]
    fn every_alarm_notifies_the_alarm_topic_on_alarm_and_on_ok() {
        let t = template();
        let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
        assert!(alarms.len() >= 14, "{}", alarms.len());
        for (id, a) in alarms {
            for actions in ["AlarmActions", "OKActions"] {
                assert_eq!(a["Properties"][actions], alarm_target(), "{id}: {actions}");
            }
        }
        let r = resources(&t);
        assert_eq!(r["AlarmTopic"]["Condition"], "CreateAlarmTopic");
        assert_eq!(
            parameters(&t)["AlarmTopicArn"]["Default"],
            "",
            "the stack's own topic by default"
        );
    }

    fn alarms_on<'a>(t: &'a Value, namespace: &Value, metric: &str) -> Vec<&'a Value> {
        of_type(t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, a)| &a["Properties"])
            .filter(|p| &p["Namespace"] == namespace && p["MetricName"] == metric)
            .collect()
    }

    /// The failures that matter each have an alarm: a rotation step (one per step), Secrets
    /// Manager's RotationFailed (its rule on the notification topic, which EventBridge may use),
    /// ERROR findings of full audits, a full audit that did not happen, throttles, dead letters.
    #[test]
    fn the_failures_that_matter_raise_alarms() {
        let t = template();
        let r = resources(&t);
        let ns = json!({"Ref": "MetricsNamespace"});
        let steps: BTreeSet<String> = alarms_on(&t, &ns, "StepFailed")
            .iter()
            .map(|a| a["Dimensions"][0]["Value"].as_str().unwrap().to_owned())
            .collect();
        let all: BTreeSet<String> = Step::ALL.iter().map(|s| s.as_str().to_owned()).collect();
        assert_eq!(steps, all);
        // Secrets Manager's own events: RotationFailed pages, RotationAbandoned only notifies.
        for (rule, event) in [
            ("RotationFailedRule", "RotationFailed"),
            ("RotationAbandonedRule", "RotationAbandoned"),
        ] {
            let p = &r[rule]["Properties"];
            assert_eq!(p["EventPattern"]["source"], json!(["aws.secretsmanager"]));
            assert_eq!(
                p["EventPattern"]["detail-type"],
                json!(["AWS Service Event via CloudTrail"])
            );
            assert_eq!(p["EventPattern"]["detail"]["eventName"], json!([event]));
            assert_eq!(
                p["Targets"][0]["Arn"],
                json!({"Fn::If": ["HasNotificationTopicArn", {"Ref": "NotificationTopicArn"}, {"Ref": "NotificationTopic"}]})
            );
        }
        let matched = alarms_on(&t, &json!("AWS/Events"), "MatchedEvents");
        assert_eq!(matched.len(), 1);
        assert_eq!(
            matched[0]["Dimensions"][0]["Value"],
            json!({"Ref": "RotationFailedRule"})
        );
        let mut topic_policy = Vec::new();
        statements(&r["NotificationTopicPolicy"], &mut topic_policy);
        assert_eq!(topic_policy.len(), 1);
        assert_eq!(
            topic_policy[0]["Principal"],
            json!({"Service": "events.amazonaws.com"})
        );
        assert_eq!(
            condition(&topic_policy[0], "ArnEquals", "aws:SourceArn"),
            Some(&json!([
                {"Fn::GetAtt": ["RotationFailedRule", "Arn"]},
                {"Fn::GetAtt": ["RotationAbandonedRule", "Arn"]}
            ]))
        );
        // The topic's key lets EventBridge and CloudWatch use it.
        assert_ne!(
            r["NotificationTopic"]["Properties"]["KmsMasterKeyId"],
            "alias/aws/sns"
        );
        // ERROR findings: the total of full audits' per-account documents.
        let errors = alarms_on(&t, &ns, "ErrorFindings");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].get("Dimensions").is_none());
        // A full audit that did not finish: missing data is breaching.
        let missed = alarms_on(&t, &ns, "FullAudits");
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0]["TreatMissingData"], "breaching");
        assert_eq!(missed[0]["ComparisonOperator"], "LessThanThreshold");
        assert_eq!(
            missed[0]["EvaluationPeriods"],
            json!({"Ref": "AuditMissedAfterHours"})
        );
        assert_eq!(parameters(&t)["AuditMissedAfterHours"]["Default"], 26);
        let throttled: BTreeSet<String> = alarms_on(&t, &json!("AWS/Lambda"), "Throttles")
            .iter()
            .map(|a| {
                a["Dimensions"][0]["Value"]["Ref"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            throttled,
            BTreeSet::from(["AuditFunction".to_owned(), "RotatorFunction".to_owned()])
        );
        let queues: BTreeSet<String> =
            alarms_on(&t, &json!("AWS/SQS"), "ApproximateNumberOfMessagesVisible")
                .iter()
                .map(|a| {
                    a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
        assert_eq!(
            queues,
            BTreeSet::from([
                "AuditDeadLetterQueue".to_owned(),
                "AuditEventDeadLetterQueue".to_owned(),
                "AuditFailedInvocationQueue".to_owned(),
                "AuditFanOutDeadLetterQueue".to_owned()
            ])
        );
    }

    /// (namespace, metric, dimension names) → the dimension values seen.
    type Emitted = BTreeMap<(String, BTreeSet<String>), BTreeSet<Vec<String>>>;

    fn record(doc: &Value, out: &mut Emitted) {
        let decl = &doc["_aws"]["CloudWatchMetrics"][0];
        for set in decl["Dimensions"].as_array().unwrap() {
            let keys: Vec<String> = set
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            let values: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}={}", doc[k].as_str().unwrap()))
                .collect();
            for m in decl["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap().to_owned();
                out.entry((name, keys.iter().cloned().collect()))
                    .or_default()
                    .insert(values.clone());
            }
        }
    }

    /// Every metric the code emits, from the functions' own EMF documents: the rotator's for
    /// every step and a refused operator action, the audit's for a full audit and an event's.
    fn emitted() -> Emitted {
        let mut out = Emitted::new();
        let m = RotationMetrics::default();
        for step in Step::ALL
            .iter()
            .map(|s| s.as_str())
            .chain([REFUSED_ACTION_STEP])
        {
            for ok in [true, false] {
                record(&m.to_emf("KeyRotation", step, ok, 0), &mut out);
            }
        }
        let kinds = [
            Kind::KmsKey,
            Kind::IamAccessKey,
            Kind::IamUser,
            Kind::Secret,
            Kind::Scope,
        ];
        let findings: Vec<Finding> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| Finding {
                account: Some("111122223333".into()),
                region: (i % 2 == 0).then(|| "eu-west-1".to_owned()),
                ..Finding::new(*k, format!("r{i}"), Verdict::Error, "x")
            })
            .collect();
        for trigger in ["schedule", "kms:EnableKeyRotation"] {
            let report = Report::new(
                trigger.into(),
                "2027-01-15T08:00:00Z".into(),
                vec!["111122223333".into()],
                vec!["eu-west-1".into()],
                findings.clone(),
                Stats::default(),
            );
            for doc in emf_documents(&report, "KeyRotation", 0) {
                record(&doc, &mut out);
            }
        }
        out
    }

    /// A `SEARCH('{"ns",Dim} MetricName="M"', ...)` expression: namespace, dimension names and
    /// metric.
    fn search_expression(expr: &str) -> (String, BTreeSet<String>, String) {
        let schema = expr
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .unwrap_or_else(|| panic!("a SEARCH schema: {expr}"))
            .0;
        let mut parts = schema
            .split(',')
            .map(|p| p.trim().trim_matches('"').to_owned());
        let ns = parts.next().unwrap();
        let dims = parts.collect();
        let metric = expr
            .split_once("MetricName=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .unwrap_or_else(|| panic!("a MetricName: {expr}"))
            .0
            .to_owned();
        (ns, dims, metric)
    }

    /// AWS's own metrics the dashboard and alarms may draw, with their dimension.
    const AWS_METRICS: &[(&str, &str, &str)] = &[
        ("AWS/Lambda", "Errors", "FunctionName"),
        ("AWS/Lambda", "Throttles", "FunctionName"),
        ("AWS/Events", "MatchedEvents", "RuleName"),
        ("AWS/Events", "FailedInvocations", "RuleName"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"),
    ];

    /// The dashboard draws rotations by step, replaced keys retiring, findings by verdict, kind
    /// and account, the audit's duration and coverage, and errors; every metric it or an alarm
    /// draws from METRICS_NAMESPACE is one the code emits, under the same dimension names (and
    /// values, where it names them).
    #[test]
    fn the_dashboard_and_the_alarms_draw_only_metrics_the_code_emits() {
        const NS: &str = "KeyRotation";
        let t = template();
        let emitted = emitted();
        let body = &resources(&t)["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
        let body = body.as_str().expect("DashboardBody: !Sub of a JSON text");
        assert!(body.contains("${MetricsNamespace}"));
        // The variables the dashboard names: the namespace parameter, and resources.
        let mut text = body.replace("${MetricsNamespace}", NS);
        while let Some(start) = text.find("${") {
            let end = start + text[start..].find('}').unwrap();
            let var = text[start + 2..end].to_owned();
            let resource = var.split('.').next().unwrap();
            assert!(
                resource.starts_with("AWS::") || resources(&t).contains_key(resource),
                "dashboard names {var}"
            );
            text.replace_range(start..=end, &format!("<{var}>"));
        }
        let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
        let mut drawn: Vec<(String, BTreeSet<String>, String, Vec<String>)> = Vec::new();
        for w in dashboard["widgets"].as_array().unwrap() {
            for row in w["properties"]["metrics"].as_array().into_iter().flatten() {
                if let Some(expr) = row["expression"].as_str() {
                    let (ns, dims, metric) = search_expression(expr);
                    drawn.push((ns, dims, metric, Vec::new()));
                    continue;
                }
                let items: Vec<&str> = row
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let dims = items[2..].chunks(2);
                drawn.push((
                    items[0].to_owned(),
                    dims.clone().map(|d| d[0].to_owned()).collect(),
                    items[1].to_owned(),
                    dims.map(|d| format!("{}={}", d[0], d[1])).collect(),
                ));
            }
        }
        for (_, a) in of_type(&t, "AWS::CloudWatch::Alarm") {
            let p = &a["Properties"];
            if p["Namespace"] == json!({"Ref": "MetricsNamespace"}) {
                let dims = p["Dimensions"].as_array().cloned().unwrap_or_default();
                drawn.push((
                    NS.to_owned(),
                    dims.iter()
                        .map(|d| d["Name"].as_str().unwrap().to_owned())
                        .collect(),
                    p["MetricName"].as_str().unwrap().to_owned(),
                    dims.iter()
                        .map(|d| {
                            format!(
                                "{}={}",
                                d["Name"].as_str().unwrap(),
                                d["Value"].as_str().unwrap()
                            )
                        })
                        .collect(),
                ));
            }
        }
        let mut ours = BTreeSet::new();
        for (ns, dims, metric, values) in &drawn {
            if ns == NS {
                let seen = emitted
                    .get(&(metric.clone(), dims.clone()))
                    .unwrap_or_else(|| panic!("{metric} {dims:?} is drawn but not emitted"));
                if !values.is_empty() {
                    assert!(
                        seen.contains(values),
                        "{metric} {values:?}: emitted {seen:?}"
                    );
                }
                ours.insert(metric.as_str());
            } else {
                assert!(
                    AWS_METRICS.iter().any(|(n, m, d)| n == ns
                        && m == metric
                        && dims == &BTreeSet::from([d.to_string()])),
                    "{ns} {metric} {dims:?}"
                );
            }
        }
        // What the dashboard must show.
        for metric in [
            "StepSucceeded",
            "StepFailed",
            "ReplacedKeysRetiring",
            "ReplacedKeysOverdue",
            "Compliant",
            "NonCompliant",
            "ErrorFindings",
            "AuditDurationMs",
            "AccountsAudited",
            "RegionsAudited",
            "Errors",
        ] {
            assert!(ours.contains(metric), "the dashboard lacks {metric}");
        }
        for dim in ["Kind", "Account", "Step"] {
            assert!(
                drawn
                    .iter()
                    .any(|(ns, dims, _, _)| ns == NS && dims.contains(dim)),
                "the dashboard draws nothing by {dim}"
            );
        }
    }

    /// A new account's Lambda quota can be as low as 10 concurrent executions, none of which
    /// can be reserved: by default nothing is reserved; a reservation is a parameter (0: none),
    /// and the fan-out's default stays below the audit's reservation whenever one is made.
    #[test]
    fn concurrency_defaults_deploy_with_a_low_lambda_quota() {
        let t = template();
        let p = parameters(&t);
        let r = resources(&t);
        for (param, function_id, condition) in [
            (
                "AuditReservedConcurrency",
                "AuditFunction",
                "ReserveAuditConcurrency",
            ),
            (
                "RotatorReservedConcurrency",
                "RotatorFunction",
                "ReserveRotatorConcurrency",
            ),
        ] {
            assert_eq!(p[param]["Default"], 0, "{param}");
            assert_eq!(p[param]["MinValue"], 0, "{param}");
            assert_eq!(
                r[function_id]["Properties"]["ReservedConcurrentExecutions"],
                json!({"Fn::If": [condition, {"Ref": param}, {"Ref": "AWS::NoValue"}]})
            );
            assert_eq!(
                t["Conditions"][condition],
                json!({"Fn::Not": [{"Fn::Equals": [{"Ref": param}, 0]}]})
            );
        }
        let fan_out = p["AuditFanOutConcurrency"]["Default"].as_u64().unwrap();
        let reserved = p["AuditReservedConcurrency"]["Default"].as_u64().unwrap();
        // SQS's MaximumConcurrency is at least 2.
        assert!(fan_out >= 2);
        assert!(reserved == 0 || fan_out < reserved, "{fan_out} {reserved}");
        assert_eq!(
            r["AuditFanOutMapping"]["Properties"]["ScalingConfig"]["MaximumConcurrency"],
            json!({"Ref": "AuditFanOutConcurrency"})
        );
    }

    fn stack_key() -> Value {
        json!({"Fn::If": ["CreateKmsKey", {"Fn::GetAtt": ["StackKey", "Arn"]}, {"Ref": "KmsKeyArn"}]})
    }

    /// What a security team expects: one key (KmsKeyArn, or the stack's rotating key whose policy
    /// lets CloudWatch alarms, EventBridge and this stack's log groups use it) for the log
    /// groups, queues, report bucket and topics; AWS secret access keys masked in the logs; S3
    /// access logging and code signing as options; every checkov skip with its reason.
    #[test]
    fn encryption_masking_logging_and_signing_options() {
        let t = template();
        let r = resources(&t);
        for (id, res) in r {
            let p = &res["Properties"];
            match res["Type"].as_str().unwrap() {
                "AWS::Logs::LogGroup" => {
                    assert_eq!(p["KmsKeyId"], stack_key(), "{id}");
                    let policy = p["DataProtectionPolicy"].to_string();
                    assert!(
                        policy.contains("data-identifier/AwsSecretKey")
                            && policy.contains("Deidentify")
                            && policy.contains("MaskConfig"),
                        "{id}: {policy}"
                    );
                }
                "AWS::SQS::Queue" => assert_eq!(p["KmsMasterKeyId"], stack_key(), "{id}"),
                "AWS::SNS::Topic" => assert_eq!(p["KmsMasterKeyId"], stack_key(), "{id}"),
                "AWS::S3::Bucket" => {
                    let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                        ["ServerSideEncryptionByDefault"];
                    assert_eq!(sse["SSEAlgorithm"], "aws:kms", "{id}");
                    assert_eq!(sse["KMSMasterKeyID"], stack_key(), "{id}");
                    assert_eq!(p["LoggingConfiguration"]["Fn::If"][0], "HasAccessLogBucket");
                }
                "AWS::Serverless::Function" => {
                    assert_eq!(
                        p["CodeSigningConfigArn"],
                        json!({"Fn::If": ["HasCodeSigning", {"Ref": "CodeSigningConfig"}, {"Ref": "AWS::NoValue"}]}),
                        "{id}"
                    );
                }
                _ => {}
            }
        }
        let key = &r["StackKey"];
        assert_eq!(key["Condition"], "CreateKmsKey");
        assert_eq!(key["Properties"]["EnableKeyRotation"], true);
        let mut policy = Vec::new();
        statements(&key["Properties"]["KeyPolicy"], &mut policy);
        let service = |s: &Value| s["Principal"]["Service"].clone();
        let cloudwatch = policy
            .iter()
            .find(|s| service(s) == "cloudwatch.amazonaws.com")
            .expect("CloudWatch alarms may use the key");
        assert!(condition(cloudwatch, "StringEquals", "aws:SourceAccount").is_some());
        assert!(policy.iter().any(|s| service(s) == "events.amazonaws.com"));
        let logs = policy
            .iter()
            .find(|s| service(s) == json!({"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}))
            .expect("CloudWatch Logs may use the key");
        assert!(
            condition(logs, "ArnLike", "kms:EncryptionContext:aws:logs:arn")
                .is_some_and(|v| v.to_string().contains("log-group:${AWS::StackName}-")),
            "{logs}"
        );
        // Every other statement names a principal of this account or a service.
        for s in &policy {
            assert!(s["Principal"] != "*", "{s}");
        }
        assert_eq!(
            r["CodeSigningConfig"]["Properties"]["CodeSigningPolicies"]
                ["UntrustedArtifactOnDeployment"],
            "Enforce"
        );
        // checkov's skips: each with its reason, in the resource's Metadata.
        for (file, t) in [
            ("template.yaml", template()),
            (MEMBER_ROLES, member_roles()),
        ] {
            for (id, res) in resources(&t) {
                for skip in res["Metadata"]["checkov"]["skip"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        skip["id"].as_str().is_some_and(|i| i.starts_with("CKV")),
                        "{file}: {id}"
                    );
                    assert!(
                        skip["comment"].as_str().is_some_and(|c| c.len() > 30),
                        "{file}: {id}: {skip} needs its reason"
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------ the Organization's events
/// The members' IAM and KMS events reach the central audit (issue 20 §5): member-events.yaml's
/// rules, in every member account and audited region, forward them through the forwarder role
/// of member-roles.yaml to the central stack's bus, which admits that role of the
/// Organization's accounts alone and queues the events for the audit in batches. And the
/// default rotation schedule replaces a key before the audit's maximum age (§2).
mod org_events {
    use super::*;

    const MEMBER_EVENTS: &str = "member-events.yaml";
    const FORWARDER_ROLE: &str = "EventForwarderRole";
    const CENTRAL_BUS: &str =
        "arn:aws:events:eu-west-1:111122223333:event-bus/central-organization-events";

    fn member_events() -> Value {
        load(MEMBER_EVENTS)
    }

    /// A value of member-events.yaml's conditions for a stack instance in `account` and
    /// `region`, its parameters at their defaults except CentralEventBusArn.
    fn value(t: &Value, e: &Value, account: &str, region: &str) -> String {
        match e {
            Value::String(s) => s.clone(),
            Value::Object(m) if m.contains_key("Ref") => match m["Ref"].as_str().unwrap() {
                "AWS::AccountId" => account.to_owned(),
                "AWS::Region" => region.to_owned(),
                "CentralEventBusArn" => CENTRAL_BUS.to_owned(),
                name => scalar_text(&parameters(t)[name]["Default"])
                    .unwrap_or_else(|| panic!("{name} has no default")),
            },
            Value::Object(m) if m.contains_key("Fn::Select") => {
                let args = m["Fn::Select"].as_array().unwrap();
                let index = args[0].as_u64().expect("an index") as usize;
                let split = args[1]["Fn::Split"].as_array().expect("!Select of !Split");
                let text = value(t, &split[1], account, region);
                text.split(split[0].as_str().unwrap())
                    .nth(index)
                    .expect("in range")
                    .to_owned()
            }
            other => panic!("cannot evaluate {other}"),
        }
    }

    fn holds(t: &Value, c: &Value, account: &str, region: &str) -> bool {
        if let Some(name) = c["Condition"].as_str() {
            return holds(t, &t["Conditions"][name], account, region);
        }
        if let Some(args) = c["Fn::Not"].as_array() {
            return !holds(t, &args[0], account, region);
        }
        if let Some(args) = c["Fn::And"].as_array() {
            return args.iter().all(|a| holds(t, a, account, region));
        }
        if let Some(args) = c["Fn::Or"].as_array() {
            return args.iter().any(|a| holds(t, a, account, region));
        }
        if let Some(args) = c["Fn::Equals"].as_array() {
            return value(t, &args[0], account, region) == value(t, &args[1], account, region);
        }
        panic!("condition form not handled: {c}")
    }

    /// The sources and detail-types or event names an event pattern matches.
    fn matched(pattern: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for source in as_list(&pattern["source"]) {
            for detail_type in as_list(&pattern["detail-type"]) {
                let names = as_list(&pattern["detail"]["eventName"]);
                if names.is_empty() {
                    out.insert((source.to_string(), detail_type.to_string()));
                }
                for name in names {
                    out.insert((source.to_string(), name.to_string()));
                }
            }
        }
        out
    }

    /// The patterns of the audit function's own EventBridge rules (the stack's own account
    /// and region).
    fn own_patterns(t: &Value) -> Vec<Value> {
        let (_, _, props) = function(t, AUDITOR);
        let mut out: Vec<Value> = props["Events"]
            .as_object()
            .expect("Events")
            .values()
            .filter(|e| e["Type"] == "EventBridgeRule")
            .map(|e| e["Properties"]["Pattern"].clone())
            .collect();
        out.sort_by_key(Value::to_string);
        out
    }

    fn sorted(mut patterns: Vec<Value>) -> Vec<Value> {
        patterns.sort_by_key(Value::to_string);
        patterns
    }

    /// The bus policy: Principal "*", narrowed to the Organization (aws:PrincipalOrgID) AND
    /// to the forwarder role's name in any of its accounts (aws:PrincipalArn), for PutEvents
    /// on this bus only. No other statement, no other principal: a user or another role of a
    /// member account, or any principal outside the Organization, cannot put events on it.
    #[test]
    fn the_bus_policy_admits_only_the_forwarder_role_of_the_organization() {
        let t = template();
        let m = member_roles();
        let r = resources(&t);
        let bus = &r["OrgEventBus"];
        assert_eq!(bus["Type"], "AWS::Events::EventBus");
        assert_eq!(bus["Condition"], "HasOrganizationId");
        assert!(
            bus["Properties"].get("Policy").is_none(),
            "the bus's one policy is OrgEventBusPolicy"
        );
        let policies = of_type(&t, "AWS::Events::EventBusPolicy");
        assert_eq!(policies.len(), 1, "{policies:?}");
        let (id, policy) = policies[0];
        assert_eq!(id, "OrgEventBusPolicy");
        assert_eq!(policy["Condition"], "HasOrganizationId");
        let p = &policy["Properties"];
        assert_eq!(p["EventBusName"], json!({"Ref": "OrgEventBus"}));
        for legacy in ["Action", "Principal", "Condition"] {
            assert!(p.get(legacy).is_none(), "{legacy}: the Statement form only");
        }
        let s = &p["Statement"];
        assert!(s.is_object(), "one statement: {s}");
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(actions(s), ["events:PutEvents"]);
        assert_eq!(s["Resource"], json!({"Fn::GetAtt": ["OrgEventBus", "Arn"]}));
        assert_eq!(s["Principal"], "*", "narrowed by its conditions below");
        let operators: BTreeSet<&str> = s["Condition"]
            .as_object()
            .expect("Condition")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            operators,
            BTreeSet::from(["StringEquals", "ArnLike"]),
            "both conditions, no IfExists that a missing key would pass: {s}"
        );
        assert_eq!(
            s["Condition"]["StringEquals"],
            json!({"aws:PrincipalOrgID": {"Ref": "OrganizationId"}})
        );
        let principal = s["Condition"]["ArnLike"].as_object().expect("ArnLike");
        assert_eq!(principal.keys().collect::<Vec<_>>(), ["aws:PrincipalArn"]);
        let name = parameters(&t)["EventForwarderRoleName"]["Default"]
            .as_str()
            .expect("a default forwarder role name");
        let pattern = substitute(
            &principal["aws:PrincipalArn"],
            &[("AWS::Partition", "aws"), ("EventForwarderRoleName", name)],
        );
        assert!(pattern_matches(
            &pattern,
            &format!("arn:aws:iam::444455556666:role/{name}")
        ));
        for other in [
            "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole".to_owned(),
            "arn:aws:iam::444455556666:user/admin".to_owned(),
            "arn:aws:iam::444455556666:root".to_owned(),
            format!("arn:aws:iam::444455556666:role/team/{name}"),
            format!("arn:aws:iam::444455556666:role/{name}-other"),
            format!("arn:aws:sts::444455556666:assumed-role/other/{name}"),
        ] {
            assert!(
                !pattern_matches(&pattern, &other),
                "{other} admitted by {pattern}"
            );
        }
        // The name is the role member-roles.yaml creates, at the root path, under the same
        // default and the same allowed names.
        let role = member_role(&m, FORWARDER_ROLE);
        assert_eq!(
            role["Properties"]["RoleName"],
            json!({"Ref": "EventForwarderRoleName"})
        );
        assert!(role["Properties"].get("Path").is_none_or(|p| p == "/"));
        for field in ["Default", "AllowedPattern"] {
            assert_eq!(
                parameters(&m)["EventForwarderRoleName"][field],
                parameters(&t)["EventForwarderRoleName"][field],
                "{field}"
            );
        }
        // member-roles.yaml and member-events.yaml take the bus the central stack outputs.
        assert_eq!(
            t["Outputs"]["OrgEventBusArn"]["Value"],
            json!({"Fn::GetAtt": ["OrgEventBus", "Arn"]})
        );
        assert_eq!(
            t["Outputs"]["OrgEventBusArn"]["Condition"],
            "HasOrganizationId"
        );
        let e = member_events();
        for (file, template) in [(MEMBER_ROLES, &m), (MEMBER_EVENTS, &e)] {
            let bus_pattern = parameters(template)["CentralEventBusArn"]["AllowedPattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: CentralEventBusArn"));
            let bus_pattern = bus_pattern.trim_start_matches("^(").trim_end_matches(")?$");
            assert!(
                bus_pattern.contains(":events:") && bus_pattern.contains(":event-bus/"),
                "{file}: {bus_pattern}"
            );
        }
    }

    /// member-events.yaml: plain CloudFormation for a StackSet in every account and region,
    /// with no IAM resource (one per region would collide under the one name); its rules send
    /// to the central bus with the forwarder role; the IAM rule exists in us-east-1 only, and
    /// no rule where the central stack's own rules already audit (its account and region).
    #[test]
    fn the_member_rules_target_the_central_bus_with_the_forwarder_role() {
        let e = member_events();
        assert!(
            e.get("Transform").is_none(),
            "plain CloudFormation, for StackSets"
        );
        let role = json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${EventForwarderRoleName}"});
        let mut iam_rules = Vec::new();
        for (id, r) in resources(&e) {
            assert_eq!(
                r["Type"], "AWS::Events::Rule",
                "{id}: rules only, no IAM resource"
            );
            let p = &r["Properties"];
            assert!(
                p.get("EventBusName").is_none(),
                "{id}: on the default bus, where AWS's events arrive"
            );
            assert_eq!(p["State"], "ENABLED", "{id}");
            let targets = as_list(&p["Targets"]);
            assert_eq!(targets.len(), 1, "{id}");
            assert_eq!(
                targets[0]["Arn"],
                json!({"Ref": "CentralEventBusArn"}),
                "{id}"
            );
            assert_eq!(targets[0]["RoleArn"], role, "{id}: the forwarder role");
            if as_list(&p["EventPattern"]["source"]).contains(&&json!("aws.iam")) {
                iam_rules.push(id.clone());
            }
        }
        assert_eq!(iam_rules, ["IamApiCallsRule"]);
        assert_eq!(parameters(&e)["IamEventsRegion"]["Default"], "us-east-1");
        assert!(
            parameters(&e)["CentralEventBusArn"]
                .get("Default")
                .is_none(),
            "the bus is required"
        );
        let (central, home) = ("111122223333", "eu-west-1");
        let member = "444455556666";
        let rules_in = |account: &str, region: &str| -> BTreeSet<String> {
            resources(&e)
                .iter()
                .filter(|(_, r)| {
                    let c = r["Condition"].as_str().expect("every rule has a condition");
                    holds(&e, &json!({ "Condition": c }), account, region)
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let kms = || BTreeSet::from(["KmsApiCallsRule".to_owned(), "KmsKeyEventsRule".to_owned()]);
        let all = || {
            let mut all = kms();
            all.insert("IamApiCallsRule".to_owned());
            all
        };
        assert_eq!(
            rules_in(member, "us-east-1"),
            all(),
            "a member in us-east-1"
        );
        assert_eq!(
            rules_in(member, home),
            kms(),
            "a member in the bus's region"
        );
        assert_eq!(
            rules_in(member, "ap-southeast-2"),
            kms(),
            "a member elsewhere"
        );
        assert_eq!(
            rules_in(central, home),
            BTreeSet::new(),
            "the central stack's own rules audit its account and region"
        );
        assert_eq!(
            rules_in(central, "us-east-1"),
            all(),
            "the central account's IAM events, with the central stack outside us-east-1"
        );
        // Every output exists when its rule does.
        for (name, output) in e["Outputs"].as_object().expect("Outputs") {
            let rule = output["Value"]["Fn::GetAtt"][0]
                .as_str()
                .expect("a rule's ARN");
            assert_eq!(
                output["Condition"],
                resources(&e)[rule]["Condition"],
                "{name}"
            );
        }
    }

    /// The members forward, and the central bus routes, exactly what the audit's own rules
    /// match in the stack's account and region: the same three patterns.
    #[test]
    fn forwarded_and_routed_patterns_are_the_audits_own() {
        let t = template();
        let e = member_events();
        let own = own_patterns(&t);
        assert_eq!(own.len(), 3, "{own:?}");
        let forwarded = sorted(
            resources(&e)
                .values()
                .map(|r| r["Properties"]["EventPattern"].clone())
                .collect(),
        );
        assert_eq!(forwarded, own, "{MEMBER_EVENTS}");
        let on_bus: Vec<(&String, &Value)> = of_type(&t, "AWS::Events::Rule")
            .into_iter()
            .filter(|(_, r)| r["Properties"]["EventBusName"] == json!({"Ref": "OrgEventBus"}))
            .collect();
        let routed = sorted(
            on_bus
                .iter()
                .map(|(_, r)| r["Properties"]["EventPattern"].clone())
                .collect(),
        );
        assert_eq!(routed, own, "the Organization bus's rules");
        let all: BTreeSet<(String, String)> = own.iter().flat_map(matched).collect();
        use aws_key_rotation::audit::events::{IAM_CALLS, KMS_CALLS, KMS_NATIVE_EVENTS};
        for name in KMS_CALLS.iter().chain(KMS_NATIVE_EVENTS) {
            assert!(all.contains(&(json!("aws.kms").to_string(), json!(name).to_string())));
        }
        for name in IAM_CALLS {
            assert!(all.contains(&(json!("aws.iam").to_string(), json!(name).to_string())));
        }
        // Each rule of the bus queues its events for the audit, and what it cannot deliver
        // goes to the audit's dead-letter queue, whose policy names it.
        let mut dlq = Vec::new();
        statements(&resources(&t)["AuditDeadLetterQueuePolicy"], &mut dlq);
        let dlq_sources = dlq
            .iter()
            .find(|s| s["Sid"] == "EventBridgeUndeliveredEvents")
            .map(|s| s["Condition"]["ArnEquals"]["aws:SourceArn"].to_string())
            .expect("the dead-letter queue's EventBridge statement");
        for (id, r) in &on_bus {
            assert_eq!(r["Condition"], "HasOrganizationId", "{id}");
            let targets = as_list(&r["Properties"]["Targets"]);
            assert_eq!(targets.len(), 1, "{id}");
            assert_eq!(
                targets[0]["Arn"],
                json!({"Fn::GetAtt": ["AuditEventQueue", "Arn"]}),
                "{id}"
            );
            assert_eq!(
                targets[0]["DeadLetterConfig"]["Arn"],
                json!({"Fn::GetAtt": ["AuditDeadLetterQueue", "Arn"]}),
                "{id}"
            );
            assert!(
                dlq_sources.contains(&format!("\"{id}\"")),
                "{id}: {dlq_sources}"
            );
        }
    }

    /// The forwarder role: created with the central bus's ARN, assumable by EventBridge of its
    /// own account only, and allowed events:PutEvents on that one bus, nothing else.
    #[test]
    fn the_forwarder_role_may_only_put_events_on_the_central_bus() {
        let m = member_roles();
        let role = member_role(&m, FORWARDER_ROLE);
        let c = role["Condition"].as_str().expect("a condition");
        for (bus, exists) in [("", false), (CENTRAL_BUS, true)] {
            let pairs = [("CentralEventBusArn", bus)];
            assert_eq!(
                condition_holds(&m, &m["Conditions"][c], &deployment(&pairs)),
                exists,
                "CentralEventBusArn {bus:?}"
            );
        }
        assert_eq!(parameters(&m)["CentralEventBusArn"]["Default"], "");
        let choice = deployment(&[("CentralEventBusArn", CENTRAL_BUS)]);
        let granted = role_statements(&m, FORWARDER_ROLE, &choice);
        assert_eq!(granted.len(), 1, "{granted:?}");
        assert_eq!(actions(&granted[0]), ["events:PutEvents"]);
        assert_eq!(granted[0]["Resource"], json!({"Ref": "CentralEventBusArn"}));
        assert!(granted[0].get("NotResource").is_none() && granted[0].get("NotAction").is_none());
        let trust = trust_statements(&m, FORWARDER_ROLE, &choice);
        assert_eq!(trust.len(), 1, "{trust:?}");
        let s = &trust[0];
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(actions(s), ["sts:AssumeRole"]);
        assert_eq!(s["Principal"], json!({"Service": "events.amazonaws.com"}));
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}),
            "EventBridge of this account only"
        );
        let output = &m["Outputs"]["EventForwarderRoleArn"];
        assert_eq!(
            output["Value"],
            json!({"Fn::GetAtt": [FORWARDER_ROLE, "Arn"]})
        );
        assert_eq!(output["Condition"], c);
    }

    /// The central side of the events: a queue only the bus's rules may send to, read by the
    /// audit in batches (a burst for one account arrives as one batch, which the audit
    /// deduplicates), never more than two at once, with its own dead-letter queue and alarm.
    #[test]
    fn organization_events_reach_the_audit_in_batches_through_a_queue_of_their_own() {
        let t = template();
        let r = resources(&t);
        for id in [
            "OrgEventBus",
            "OrgEventBusPolicy",
            "AuditEventQueue",
            "AuditEventDeadLetterQueue",
            "AuditEventQueuePolicy",
            "AuditEventMapping",
            "AuditEventDeadLetterAlarm",
        ] {
            assert_eq!(r[id]["Condition"], "HasOrganizationId", "{id}");
        }
        let (_, _, props) = function(&t, AUDITOR);
        let timeout = props["Timeout"].as_u64().expect("a fixed audit timeout");
        let queue = &r["AuditEventQueue"]["Properties"];
        assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
        assert_eq!(
            queue["RedrivePolicy"]["deadLetterTargetArn"],
            json!({"Fn::GetAtt": ["AuditEventDeadLetterQueue", "Arn"]})
        );
        let mapping = &r["AuditEventMapping"]["Properties"];
        assert_eq!(mapping["FunctionName"], json!({"Ref": "AuditFunction"}));
        assert_eq!(
            mapping["EventSourceArn"],
            json!({"Fn::GetAtt": ["AuditEventQueue", "Arn"]})
        );
        assert!(
            mapping["BatchSize"].as_u64().unwrap() > 10,
            "a burst in one batch"
        );
        let window = mapping["MaximumBatchingWindowInSeconds"].as_u64().unwrap();
        assert!((1..=300).contains(&window), "{window}");
        assert_eq!(mapping["ScalingConfig"]["MaximumConcurrency"], 2);
        // Only the bus's rules send: an Allow for EventBridge with their aws:SourceArn, and a
        // Deny for every request without it.
        let rules = json!([
            {"Fn::GetAtt": ["OrgKmsApiCallsRule", "Arn"]},
            {"Fn::GetAtt": ["OrgIamApiCallsRule", "Arn"]},
            {"Fn::GetAtt": ["OrgKmsKeyEventsRule", "Arn"]}
        ]);
        let mut policy = Vec::new();
        statements(&r["AuditEventQueuePolicy"], &mut policy);
        let allows: Vec<&Value> = policy.iter().filter(|s| s["Effect"] == "Allow").collect();
        assert_eq!(allows.len(), 1, "{allows:?}");
        assert_eq!(
            allows[0]["Principal"],
            json!({"Service": "events.amazonaws.com"})
        );
        assert_eq!(actions(allows[0]), ["sqs:SendMessage"]);
        assert_eq!(
            condition(allows[0], "ArnEquals", "aws:SourceArn"),
            Some(&rules)
        );
        assert!(policy.iter().any(|s| s["Effect"] == "Deny"
            && s["Principal"] == "*"
            && actions(s) == ["sqs:SendMessage"]
            && s["Condition"] == json!({"ArnNotEquals": {"aws:SourceArn": rules}})));
        assert!(policy.iter().any(|s| s["Effect"] == "Deny"
            && condition(s, "Bool", "aws:SecureTransport") == Some(&json!("false"))));
        // The audit reads that queue only with OrganizationId, and nothing more of it.
        let receive = [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        ];
        let on_queue = |pairs: &[(&str, &str)]| -> Vec<Value> {
            deployed_statements(&t, &props["Policies"], &deployment(pairs))
                .into_iter()
                .filter(|s| s["Resource"] == json!({"Fn::GetAtt": ["AuditEventQueue", "Arn"]}))
                .collect()
        };
        assert_eq!(on_queue(&[]), Vec::<Value>::new());
        let with = on_queue(&[("OrganizationId", "o-abcdefghij")]);
        assert_eq!(with.len(), 1, "{with:?}");
        assert_eq!(actions(&with[0]), receive);
        assert_eq!(
            t["Outputs"]["AuditEventDeadLetterQueueUrl"]["Value"],
            json!({"Ref": "AuditEventDeadLetterQueue"})
        );
    }

    /// The days of a `rate(N days)` expression.
    fn rate_days(expr: &str) -> u64 {
        expr.strip_prefix("rate(")
            .and_then(|r| r.strip_suffix(" days)"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not rate(N days): {expr}"))
    }

    fn number(t: &Value, name: &str, field: &str) -> u64 {
        parameters(t)[name][field]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}.{field}"))
    }

    /// The default schedule replaces the current key before the audit's maximum age, and after
    /// the hard stop of the last rotation's replaced key; retirement windows that would stop
    /// the functions at start (the hard stop not after the wait, KMS's maximum under the
    /// shortest period KMS rotates with) are refused at deploy.
    #[test]
    fn the_default_schedule_rotates_before_the_maximum_key_age() {
        let t = template();
        let schedule = parameters(&t)["RotationScheduleExpression"]["Default"]
            .as_str()
            .expect("a default schedule");
        let period = rate_days(schedule);
        let max_age = number(&t, "IamMaxKeyAgeDays", "Default");
        assert!(
            period < max_age,
            "rotate every {period} days against {max_age}"
        );
        assert!(
            period > number(&t, "OldKeyForceDays", "Default"),
            "the replaced key is Inactive by the next rotation"
        );
        assert!(
            number(&t, "OldKeyMaxWaitDays", "MaxValue") < number(&t, "OldKeyForceDays", "MinValue"),
            "no deployable OldKeyMaxWaitDays reaches a deployable OldKeyForceDays"
        );
        assert!(number(&t, "KmsMaxRotationDays", "MinValue") >= 90);
        assert_eq!(
            number(&t, "RemediateRotationDays", "MinValue"),
            90,
            "KMS's shortest period"
        );
        // The documented commands rotate on the same schedule.
        let existing = parameters(&t)["ExistingSecretArns"]["Description"]
            .as_str()
            .unwrap();
        assert!(existing.contains(&format!("\"{schedule}\"")), "{existing}");
        let onboarding = read("docs/onboarding.md");
        assert!(
            onboarding.contains(&format!("AutomaticallyAfterDays={period}")),
            "docs/onboarding.md rotates every {period} days"
        );
    }
}

/// The stack's key lets AWS services use it for this stack's resources only: a grant to a
/// service principal with no condition (EventBridge's) lets that service use the key for
/// whoever asks it, in any account: an EventBridge rule of another account, delivering to a
/// queue or topic its owner encrypted with this key's ARN, spends this account's KMS request
/// quota (the one the functions' queues, topics, reports and logs need) and uses the key
/// outside the stack. Each service statement must tie the use to this account: its
/// aws:SourceAccount or aws:SourceArn, or an encryption context (or kms:ViaService with an
/// encryption context) that names this account's resources.
#[test]
fn every_service_grant_of_the_stack_key_is_tied_to_this_account() {
    let t = template();
    let r = resources(&t);
    let mut policy = Vec::new();
    statements(&r["StackKey"]["Properties"]["KeyPolicy"], &mut policy);
    let mut services = 0;
    for s in &policy {
        if s["Principal"]["Service"].is_null() {
            continue;
        }
        services += 1;
        let conditions = s["Condition"].to_string();
        let tied = conditions.contains("aws:SourceAccount")
            || conditions.contains("aws:SourceArn")
            || (conditions.contains("kms:EncryptionContext:")
                && conditions.contains("${AWS::AccountId}"));
        assert!(
            tied,
            "{}: {} may use the stack's key for anyone's resources: {s}",
            s["Sid"], s["Principal"]["Service"]
        );
    }
    assert!(services >= 3, "{policy:?}");
}

// ------------------------------------------------------------------ root-keys.yaml

/// The one sts:AssumeRoot statement of the root-keys function: on any account's root, only
/// with the task policy that reads root credentials when RemediateRootKeys is false and the one
/// that deletes them when it is true; no IAM action at all for its own
/// credentials (the IAM calls are made in the root session, which the task policy scopes); no
/// other write than sns:Publish on its topic and the stack key through SNS and SQS.
#[test]
fn the_root_keys_function_may_assume_root_only_with_the_task_policy_of_its_mode() {
    let t = load(ROOT_KEYS);
    let all = function_role_statements(&t, REMOVER);
    let mut seen = BTreeSet::new();
    for s in &all {
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{s}"
        );
        for action in actions(s) {
            assert!(!action.contains('*'), "{action}: no wildcard action ({s})");
            assert!(
                !action.starts_with("iam:"),
                "{action}: no IAM action with the function's own credentials ({s})"
            );
            assert!(
                [
                    "sts:AssumeRoot",
                    "organizations:ListAccounts",
                    "organizations:DescribeOrganization",
                    "sns:Publish",
                    "kms:GenerateDataKey",
                    "kms:Decrypt",
                ]
                .contains(&action.as_str()),
                "{action}: not an action the function needs ({s})"
            );
            seen.insert(action);
        }
    }
    assert!(seen.contains("sts:AssumeRoot"), "{seen:?}");

    let assume: Vec<&Value> = all
        .iter()
        .filter(|s| actions(s).iter().any(|a| a.starts_with("sts:")))
        .collect();
    assert_eq!(assume.len(), 1, "one STS statement: {assume:?}");
    let s = assume[0];
    assert_eq!(actions(s), ["sts:AssumeRoot"]);
    assert_eq!(
        s["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:iam::*:root"})
    );
    let conditions = s["Condition"].as_object().expect("a condition");
    assert_eq!(conditions.len(), 1, "{s}");
    // The task policy follows RemediateRootKeys, as the code's choice does: the read-only one
    // while reporting, the delete one only while remediating, never both.
    use aws_key_rotation::root_keys::plan::{AUDIT_TASK_POLICY, DELETE_TASK_POLICY};
    let arn = |policy: &str| json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:iam::aws:policy/{policy}")});
    let allowed = condition(s, "StringEquals", "sts:TaskPolicyArn").expect("a task policy");
    for (value, expected) in [
        (None, AUDIT_TASK_POLICY),
        (Some("false"), AUDIT_TASK_POLICY),
        (Some("true"), DELETE_TASK_POLICY),
    ] {
        let choice = |p: &str| {
            value
                .filter(|_| p == "RemediateRootKeys")
                .map(str::to_owned)
        };
        assert_eq!(
            resolve_ifs(&t, allowed, &choice),
            arn(expected),
            "RemediateRootKeys={value:?}: {s}"
        );
    }
    assert_eq!(conditions["StringEquals"].as_object().unwrap().len(), 1);

    // The KMS grants go through SNS and SQS only.
    for s in all
        .iter()
        .filter(|s| actions(s).iter().any(|a| a.starts_with("kms:")))
    {
        assert!(
            condition(s, "StringEquals", "kms:ViaService").is_some(),
            "{s}"
        );
    }
    // sns:Publish on the topic only.
    for s in all
        .iter()
        .filter(|s| actions(s).contains(&"sns:Publish".to_owned()))
    {
        assert_ne!(s["Resource"], "*", "{s}");
    }
}

/// Report-only unless the deployer says otherwise, with the values the binary accepts; the
/// shared notification and metrics settings; the shape of the other functions (log group kept,
/// on-failure queue, alarms with OK actions).
#[test]
fn the_root_keys_function_reports_only_by_default_and_is_shaped_like_the_others() {
    use aws_key_rotation::root_keys::RootKeysConfig;
    let t = load(ROOT_KEYS);
    let (id, _, props) = function(&t, REMOVER);
    let env = environment(&props);
    assert_eq!(
        env["REMEDIATE_ROOT_KEYS"],
        json!({"Ref": "RemediateRootKeys"})
    );
    let p = &parameters(&t)["RemediateRootKeys"];
    assert_eq!(p["Default"], "false");
    let allowed: Vec<&str> = p["AllowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for v in &allowed {
        let c = RootKeysConfig::from_lookup(&|k: &str| {
            (k == "REMEDIATE_ROOT_KEYS").then(|| (*v).to_owned())
        })
        .unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(c.remediate, *v == "true");
    }
    assert_eq!(
        env.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "REMEDIATE_ROOT_KEYS".to_owned(),
            "NOTIFY_TOPIC_ARN".to_owned(),
            "METRICS_NAMESPACE".to_owned()
        ])
    );
    assert_eq!(props["Architectures"], json!([{"Ref": "Architecture"}]));
    assert_eq!(parameters(&t)["Architecture"]["Default"], "arm64");
    assert_eq!(props["Runtime"], "provided.al2023");
    assert_eq!(props["ReservedConcurrentExecutions"], 1);

    let log_group = props["LoggingConfig"]["LogGroup"]["Ref"].as_str().unwrap();
    let lg = &resources(&t)[log_group];
    assert_eq!(lg["Type"], "AWS::Logs::LogGroup");
    assert_eq!(lg["DeletionPolicy"], "Retain");
    assert!(
        lg["Properties"].get("LogGroupName").is_none(),
        "a generated name"
    );
    assert!(lg["Properties"].get("KmsKeyId").is_some());

    let on_failure = &props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    let schedule = &props["Events"]["Schedule"];
    assert_eq!(schedule["Type"], "Schedule");
    assert!(schedule["Properties"]["DeadLetterConfig"]["Arn"].is_object());

    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 3, "{id}: alarms");
    for (name, alarm) in alarms {
        let p = &alarm["Properties"];
        assert!(
            !as_list(&p["AlarmActions"]).is_empty() && p["OKActions"] == p["AlarmActions"],
            "{name}: alarm and OK actions to the alarm topic"
        );
    }
    // The EMF alarms watch what the code emits: accounts in error, and accounts whose
    // AssumeRoot was refused (feature off, or an SCP or boundary denying it), from one account.
    for (alarm, metric) in [
        ("RootKeysAccountErrorsAlarm", "RootKeyAccountErrors"),
        ("RootKeysNotRemediableAlarm", "RootKeyAccountsNotRemediable"),
    ] {
        let p = &resources(&t)[alarm]["Properties"];
        assert_eq!(p["MetricName"], metric, "{alarm}");
        assert_eq!(
            p["Namespace"],
            json!({"Ref": "MetricsNamespace"}),
            "{alarm}"
        );
        assert_eq!(
            p["Dimensions"],
            json!([{"Name": "Function", "Value": aws_key_rotation::root_keys::FUNCTION}]),
            "{alarm}"
        );
        assert_eq!(
            (&p["Statistic"], &p["Threshold"], &p["ComparisonOperator"]),
            (
                &json!("Sum"),
                &json!(1),
                &json!("GreaterThanOrEqualToThreshold")
            ),
            "{alarm}"
        );
        assert_eq!(
            p["AlarmActions"],
            json!([{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]),
            "{alarm}"
        );
    }
}
