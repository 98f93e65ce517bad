//! The SAM template agrees with the crate: one function per binary, every environment variable
//! the binaries read set from a parameter whose values the binaries accept, least-privilege
//! policies, and the rotation wiring Secrets Manager needs. The member-account roles
//! (member-roles.yaml) hold what the functions do in another account, and trust only them.

use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::rotation::config::RotationConfig;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROTATOR: &str = "rotate-access-key";
const AUDITOR: &str = "audit-key-rotation";
const MEMBER_ROLES: &str = "member-roles.yaml";

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

/// (logical id, resource, effective properties) of the function built from `binary`.
fn function(t: &Value, binary: &str) -> (String, Value, Map<String, Value>) {
    let found: Vec<_> = of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"] == binary)
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
        assert!(
            !refs.is_empty(),
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
    assert_eq!(functions.len(), 2, "two functions");
    let binaries: BTreeSet<String> = functions
        .iter()
        .map(|(id, r)| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary"))
                .to_owned()
        })
        .collect();
    assert_eq!(
        binaries,
        cargo_binaries(),
        "functions' binaries == Cargo.toml's [[bin]] names"
    );
    assert_eq!(
        binaries,
        BTreeSet::from([ROTATOR.to_owned(), AUDITOR.to_owned()])
    );
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
    // The stack adds what the binary cannot default to: the topic it creates.
    let expected = RotationConfig {
        notify_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:NotificationTopic".into()),
        ..RotationConfig::default()
    };
    assert_eq!(
        format!("{deployed:?}"),
        format!("{expected:?}"),
        "the template's defaults are the binary's defaults"
    );
}

#[test]
fn auditor_environment_is_audit_config() {
    let t = template();
    let deployed = check_environment(&t, AUDITOR, AuditConfig::ENV_VARS, |lookup| {
        AuditConfig::from_lookup(lookup).map_err(|e| e.to_string())
    });
    // The stack turns the sweep on (so that no replaced key left Active by the rotator's
    // default stays Active for ever) and adds the topic and the report bucket it creates.
    assert_eq!(
        deployed,
        AuditConfig {
            sweep: true,
            notify_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:NotificationTopic".into()),
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
fn outputs_name_both_functions_and_the_dead_letter_queue() {
    let t = template();
    let (rotator, _, _) = function(&t, ROTATOR);
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

/// Whether `s` writes to keys; if it does, it may do so only on users bound to a secret
/// (`KeyRotationSecret`), and the one user tag it may write is `own_tag`, never the binding.
fn bound_key_write(who: &str, s: &Value, own_tag: &str) -> bool {
    use aws_key_rotation::binding::BINDING_TAG;
    let acts = actions(s);
    if !acts.iter().any(|a| KEY_WRITES.contains(&a.as_str())) {
        return false;
    }
    assert_eq!(
        condition(s, "Null", &format!("aws:ResourceTag/{BINDING_TAG}")),
        Some(&json!("false")),
        "{who}: key writes only on users carrying {BINDING_TAG}: {s}"
    );
    if acts
        .iter()
        .any(|a| a == "iam:TagUser" || a == "iam:UntagUser")
    {
        assert_eq!(tag_keys_allowed(s), vec![own_tag.to_owned()], "{who}: {s}");
    }
    true
}

#[test]
fn key_writes_need_a_bound_user_and_no_role_can_bind_one() {
    use aws_key_rotation::rotation::intent::INTENT_TAG;
    let t = template();
    let mut writes = 0;
    for binary in [ROTATOR, AUDITOR] {
        for s in function_statements(&t, binary) {
            let acts = actions(&s);
            assert!(
                !acts.iter().any(|a| a.contains('*')),
                "{binary}: wildcard action {acts:?}"
            );
            // The rotator records its intent, the sweep its deactivations; neither binds.
            let own = if binary == ROTATOR {
                INTENT_TAG
            } else {
                aws_key_rotation::binding::DEACTIVATED_TAG
            };
            if bound_key_write(binary, &s, own) {
                writes += 1;
            }
        }
    }
    assert!(
        writes >= 4,
        "rotator key writes, intent tag, audit sweep, deactivation record"
    );
}

#[test]
fn the_rotator_tags_its_secrets_with_key_ids_only() {
    use aws_key_rotation::binding::SECRET_KEY_TAGS;
    let t = template();
    let tagging: Vec<Value> = function_statements(&t, ROTATOR)
        .into_iter()
        .filter(|s| {
            actions(s)
                .iter()
                .any(|a| a.starts_with("secretsmanager:") && a.contains("TagResource"))
        })
        .collect();
    assert_eq!(tagging.len(), 2, "tagged secrets and listed secrets");
    for s in &tagging {
        assert_eq!(
            tag_keys_allowed(s),
            SECRET_KEY_TAGS.map(str::to_owned),
            "{s}"
        );
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
    let all: Vec<String> = function_statements(&t, AUDITOR)
        .iter()
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
    // The alarm topic is encrypted with a rotating key that CloudWatch may use.
    let topic = &r["AlarmTopic"]["Properties"];
    assert_eq!(topic["KmsMasterKeyId"], json!({"Ref": "AlarmTopicKey"}));
    let key = &r["AlarmTopicKey"]["Properties"];
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
            acts == ["s3:PutObject"] || acts == ["securityhub:BatchImportFindings"],
            "{s}"
        );
        assert!(
            s["Resource"].to_string().contains("ReportPrefix")
                || s["Resource"].to_string().contains("product/"),
            "{s}"
        );
    }
    assert_eq!(writes.len(), 2, "{writes:?}");
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
            Value::Object(_) => out.push(s.clone()),
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
        ("SecurityHub", &["securityhub:BatchImportFindings"]),
    ];
    for (param, _) in &switches {
        assert_eq!(
            parameters(&m)[*param]["Default"],
            "false",
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
        5
    );
}

/// The audit makes the same calls in a member account as in its own: the member role holds the
/// audit function's own statements for the audited services, switch for switch.
#[test]
fn member_audit_role_holds_what_the_audit_function_has_in_its_own_account() {
    let t = template();
    let m = member_roles();
    let (_, _, props) = function(&t, AUDITOR);
    for remediate in ["false", "true"] {
        for sweep in ["false", "true"] {
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
                    })
                    .collect();
                let member = role_statements(&m, MEMBER_AUDIT_ROLE, &choice);
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

#[test]
fn member_roles_trust_only_the_central_function_roles_of_the_organization() {
    let t = template();
    let m = member_roles();
    let outputs = t["Outputs"].as_object().expect("Outputs");
    for required in ["CentralAccountId", "OrganizationId", "AuditFunctionRoleArn"] {
        assert!(
            parameters(&m)[required].get("Default").is_none(),
            "{required} has no default"
        );
    }
    for (binary, role, param) in [
        (AUDITOR, MEMBER_AUDIT_ROLE, "AuditFunctionRoleArn"),
        (ROTATOR, MEMBER_ROTATOR_ROLE, "RotatorFunctionRoleArn"),
    ] {
        // The function roles have generated names: the central stack outputs their ARNs under
        // the names of the parameters that take them here.
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
        for external_id in ["", "shared-external-id"] {
            let pairs = [
                (param, CENTRAL_ROLE_ARN),
                ("RotatorExternalId", external_id),
            ];
            let choice = deployment(&pairs);
            if let Some(c) = member_role(&m, role).get("Condition") {
                let c = c.as_str().expect("a condition name");
                assert!(
                    condition_holds(&m, &m["Conditions"][c], &choice),
                    "{role} exists once {param} is given"
                );
            }
            for s in trust_statements(&m, role, &choice) {
                assert_eq!(s["Effect"], "Allow", "{role}: {s}");
                assert_eq!(actions(&s), ["sts:AssumeRole"], "{role}: {s}");
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
                assert_eq!(
                    condition(&s, "ArnEquals", "aws:PrincipalArn"),
                    Some(&json!({ "Ref": param })),
                    "{role}: only the function role: {s}"
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
                assert_eq!(
                    operators,
                    BTreeSet::from(["ArnEquals", "StringEquals"]),
                    "{role}: no IfExists that a missing key would pass: {s}"
                );
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
    assert!(created(&[("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN)]));
    for (external_id, required) in [("", false), ("shared-external-id", true)] {
        let pairs = [
            ("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN),
            ("RotatorExternalId", external_id),
        ];
        for s in trust_statements(&m, MEMBER_ROTATOR_ROLE, &deployment(&pairs)) {
            let given = condition(&s, "StringEquals", "sts:ExternalId");
            if required {
                assert_eq!(given, Some(&json!({ "Ref": "RotatorExternalId" })), "{s}");
            } else {
                assert_eq!(given, None, "{s}");
            }
        }
    }
    // The audit assumes its roles without an ExternalId.
    for s in trust_statements(&m, MEMBER_AUDIT_ROLE, &deployment(&[])) {
        assert_eq!(condition(&s, "StringEquals", "sts:ExternalId"), None);
    }
}

/// In a member account the rotator does the IAM half of a rotation: the role holds the
/// rotator function's own IAM statements, scoped the same way.
#[test]
fn member_rotator_role_holds_the_rotator_function_iam_statements() {
    let t = template();
    let m = member_roles();
    let central: Vec<Value> = function_statements(&t, ROTATOR)
        .into_iter()
        .filter(|s| actions(s).iter().all(|a| a.starts_with("iam:")))
        .collect();
    assert!(central.len() >= 3, "{central:?}");
    let pairs = [("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN)];
    let member = role_statements(&m, MEMBER_ROTATOR_ROLE, &deployment(&pairs));
    assert_eq!(member, central, "the rotator function's IAM statements");
}

#[test]
fn member_key_writes_need_a_bound_user_and_neither_role_can_bind_one() {
    use aws_key_rotation::binding::DEACTIVATED_TAG;
    use aws_key_rotation::rotation::intent::INTENT_TAG;
    let m = member_roles();
    let pairs = [
        ("Remediate", "true"),
        ("Sweep", "true"),
        ("SecurityHub", "true"),
        ("RotatorFunctionRoleArn", CENTRAL_ROLE_ARN),
    ];
    let mut writes = 0;
    for (role, own_tag) in [
        (MEMBER_AUDIT_ROLE, DEACTIVATED_TAG),
        (MEMBER_ROTATOR_ROLE, INTENT_TAG),
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
            if !bound_key_write(role, &s, own_tag) {
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
        "sweep, deactivation record, rotator key writes, intent tag"
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
    assert_eq!(queue["SqsManagedSseEnabled"], true);
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
